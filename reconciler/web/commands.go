package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler/change"
)

// Commander records an operator's rollout command (pause, resume, abort,
// promote_now, exclude, include): the daemon's is app.Commander over
// reconciler.Command, the path the CLI takes too. It returns the change's
// state and the recorded action; the errors wrap change.ErrNotFound,
// change.ErrRefused or change.ErrUnknownTarget when the command was
// refused (nothing recorded). Safe for concurrent use.
type Commander interface {
	Command(ctx context.Context, a change.OperatorAction) (change.State, change.OperatorAction, error)
}

// maxCommandBody bounds a command's JSON body.
const maxCommandBody = 64 << 10

// WithCommands serves the state-changing API, POST
// /api/changes/{version}/{command} (command: pause, resume, abort,
// promote-now, exclude, include) with a JSON body {"by", "why", "target"},
// for callers with "Authorization: Bearer TOKEN"; cmd records what they
// ask. Without this option, or with an empty token, those endpoints are
// off: they answer 404 and record nothing.
func WithCommands(token secret.Secret, cmd Commander) ServerOption {
	return func(o *serverOptions) error {
		if token.Empty() || cmd == nil {
			return errors.New("the command API needs a token and a commander")
		}
		o.token, o.commander = token, cmd
		return nil
	}
}

// CommandRequest is the JSON body of POST /api/changes/{version}/{command}.
type CommandRequest struct {
	// By is who gives the command (required).
	By string `json:"by"`
	// Why is the reason (required).
	Why string `json:"why"`
	// Target is the fleet instance of exclude and include.
	Target string `json:"target,omitempty"`
}

// CommandResponse is the answer to an accepted command (202).
type CommandResponse struct {
	State  change.State          `json:"state"`
	Action change.OperatorAction `json:"action"`
}

// commandHandler serves the command API behind the bearer token.
type commandHandler struct {
	// digest is the SHA-256 of the token: requests' tokens are hashed
	// and compared with it in constant time (equal lengths, so not even
	// the token's length leaks).
	digest [sha256.Size]byte
	cmd    Commander
	fail   func(http.ResponseWriter, error)
}

func newCommandHandler(token secret.Secret, cmd Commander, fail func(http.ResponseWriter, error)) *commandHandler {
	return &commandHandler{digest: sha256.Sum256([]byte(token.Reveal())), cmd: cmd, fail: fail}
}

// authorized reports whether r carries the bearer token.
func (h *commandHandler) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return false
	}
	got := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(got[:], h.digest[:]) == 1
}

func (h *commandHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="schemacanary"`)
		http.Error(w, "a bearer token is required (Authorization: Bearer TOKEN)", http.StatusUnauthorized)
		return
	}
	v, err := strconv.ParseInt(r.PathValue("version"), 10, 64)
	if err != nil || v <= 0 {
		http.Error(w, "version must be a positive integer", http.StatusBadRequest)
		return
	}
	cmd, err := change.ParseCommand(r.PathValue("command"))
	if err != nil {
		http.Error(w, fmt.Sprintf("unknown command %q: pause, resume, abort, promote-now, exclude, include", r.PathValue("command")), http.StatusNotFound)
		return
	}
	var body CommandRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCommandBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		http.Error(w, `body: a JSON object {"by": NAME, "why": TEXT, "target": INSTANCE (exclude, include)}: `+err.Error(), http.StatusBadRequest)
		return
	}
	st, rec, err := h.cmd.Command(r.Context(), change.OperatorAction{Version: v, Command: cmd, Target: body.Target, By: body.By, Why: body.Why, Source: "api"})
	switch {
	case errors.Is(err, change.ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, change.ErrUnknownTarget):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, change.ErrRefused):
		http.Error(w, err.Error(), http.StatusConflict)
	case err != nil:
		h.fail(w, err)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(CommandResponse{State: st, Action: rec}) // the client went away: nothing left to tell it
	}
}

// commandsOff answers the command API when no token is configured: off,
// not open.
func commandsOff(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "the command API is off: no http.api_token_env or http.api_token_file is configured", http.StatusNotFound)
}
