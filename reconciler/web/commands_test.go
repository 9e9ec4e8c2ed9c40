package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler/change"
)

// noAPI is an API with no changes.
type noAPI struct{}

func (noAPI) Ping(context.Context) error { return nil }
func (noAPI) List(context.Context, int) ([]*change.Request, error) {
	return nil, nil
}
func (noAPI) Get(_ context.Context, v int64) (*change.Request, error) {
	return nil, fmt.Errorf("change %d: %w", v, change.ErrNotFound)
}
func (noAPI) Transitions(context.Context, int64) ([]change.Transition, error) { return nil, nil }
func (noAPI) Prediction(context.Context, int64, string) (*change.PredictionRecord, error) {
	return nil, change.ErrNotFound
}
func (noAPI) Events(context.Context, int64) ([]change.Event, error) { return nil, nil }
func (noAPI) Actions(context.Context, int64) ([]change.OperatorAction, error) {
	return nil, nil
}

// recordingCommander records what it is asked; version 404 does not
// exist, a target "nope" is unknown, a resume is refused.
type recordingCommander struct {
	mu  sync.Mutex
	got []change.OperatorAction
}

func (c *recordingCommander) Command(_ context.Context, a change.OperatorAction) (change.State, change.OperatorAction, error) {
	switch {
	case a.Version == 404:
		return "", a, fmt.Errorf("%s %d: %w", a.Command, a.Version, change.ErrNotFound)
	case a.Target == "nope":
		return change.StateBaking, a, fmt.Errorf("%w %q", change.ErrUnknownTarget, a.Target)
	case a.Command == change.CommandResume:
		return change.StateBaking, a, fmt.Errorf("%w: not paused", change.ErrRefused)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a.ID = int64(len(c.got) + 1)
	c.got = append(c.got, a)
	return change.StateBaking, a, nil
}

func (c *recordingCommander) recorded() []change.OperatorAction {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]change.OperatorAction(nil), c.got...)
}

func post(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestCommandAPIBearerToken: the state-changing endpoints need the bearer
// token (missing, malformed, wrong, or a prefix of it: 401, nothing
// recorded); without a configured token they are off (404, even with a
// status page mounted at /); with the right token the command is recorded
// with who, why and the source "api", and refusals map to 404, 400, 409.
func TestCommandAPIBearerToken(t *testing.T) {
	t.Parallel()
	const token = "s3cret-operator-token"
	cmd := &recordingCommander{}
	srv, err := NewServer(noAPI{}, nil, WithCommands(secret.NewSecret(token), cmd))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	off, err := NewServer(noAPI{}, nil, WithStatusPage(http.NotFoundHandler()))
	if err != nil {
		t.Fatal(err)
	}
	tsOff := httptest.NewServer(off.Handler())
	defer tsOff.Close()
	if _, err := NewServer(noAPI{}, nil, WithCommands(secret.NewSecret(""), cmd)); err == nil {
		t.Error("an empty token was accepted")
	}

	body := `{"by": "alice", "why": "pager: checkout errors"}`
	bearer := "Bearer " + token
	cases := []struct {
		name, url, auth, body string
		want                  int
		inBody                string
	}{
		{"no token configured", tsOff.URL + "/api/changes/7/abort", bearer, body, http.StatusNotFound, "command API is off"},
		{"missing token", ts.URL + "/api/changes/7/abort", "", body, http.StatusUnauthorized, "bearer token is required"},
		{"not bearer", ts.URL + "/api/changes/7/abort", "Basic " + token, body, http.StatusUnauthorized, ""},
		{"wrong token", ts.URL + "/api/changes/7/abort", "Bearer nope", body, http.StatusUnauthorized, ""},
		{"prefix of the token", ts.URL + "/api/changes/7/abort", "Bearer " + token[:5], body, http.StatusUnauthorized, ""},
		{"token with a suffix", ts.URL + "/api/changes/7/abort", bearer + "x", body, http.StatusUnauthorized, ""},
		{"unknown command", ts.URL + "/api/changes/7/explode", bearer, body, http.StatusNotFound, "unknown command"},
		{"bad version", ts.URL + "/api/changes/x/abort", bearer, body, http.StatusBadRequest, ""},
		{"bad body", ts.URL + "/api/changes/7/abort", bearer, `{"by": "alice", "whom": 1}`, http.StatusBadRequest, "body"},
		{"unknown version", ts.URL + "/api/changes/404/abort", bearer, body, http.StatusNotFound, ""},
		{"unknown target", ts.URL + "/api/changes/7/exclude", bearer, `{"by": "a", "why": "b", "target": "nope"}`, http.StatusBadRequest, "unknown target"},
		{"refused", ts.URL + "/api/changes/7/resume", bearer, body, http.StatusConflict, "not paused"},
		{"abort", ts.URL + "/api/changes/7/abort", bearer, body, http.StatusAccepted, `"command": "abort"`},
		{"promote-now", ts.URL + "/api/changes/7/promote-now", bearer, body, http.StatusAccepted, `"command": "promote_now"`},
		{"exclude", ts.URL + "/api/changes/7/exclude", bearer, `{"by": "dave", "why": "freeze", "target": "m2"}`, http.StatusAccepted, `"target": "m2"`},
	}
	for _, c := range cases {
		code, got := post(t, c.url, c.auth, c.body)
		if code != c.want || !strings.Contains(got, c.inBody) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, code, got, c.want, c.inBody)
		}
		if strings.Contains(got, token) {
			t.Errorf("%s: the answer shows the token", c.name)
		}
	}
	rec := cmd.recorded()
	if len(rec) != 3 {
		t.Fatalf("recorded %+v, want the 3 authorized, valid commands only", rec)
	}
	if a := rec[0]; a.Version != 7 || a.Command != change.CommandAbort || a.By != "alice" || a.Why != "pager: checkout errors" || a.Source != "api" {
		t.Errorf("recorded %+v", a)
	}
	if rec[2].Target != "m2" || rec[2].Command != change.CommandExclude {
		t.Errorf("recorded %+v", rec[2])
	}
}
