package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler/change"
)

// Server is the daemon's HTTP server: /metrics, /healthz, /readyz,
// /api/changes, /api/changes/{version}, the operators' commands at POST
// /api/changes/{version}/{command} when a token is given (WithCommands),
// the GitHub webhook at /webhook/github, and the status page at / when one
// is given.
type Server struct {
	store  API
	leader func() bool
	mux    *http.ServeMux
	srv    *http.Server
	ln     net.Listener
	log    *slog.Logger
}

// ServerOption configures a Server.
type ServerOption func(*serverOptions) error

type serverOptions struct {
	status         http.Handler
	webhookSecret  secret.Secret
	webhookTrigger func()
	log            *slog.Logger
	leader         func() bool
	token          secret.Secret
	commander      Commander
}

// WithStatusPage mounts h (the status page, NewStatusHandler) at "/".
func WithStatusPage(h http.Handler) ServerOption {
	return func(o *serverOptions) error {
		if h == nil {
			return errors.New("status page handler is nil")
		}
		o.status = h
		return nil
	}
}

// WithWebhook serves the GitHub webhook at /webhook/github: requests signed
// with secret trigger a poll through trigger. Without it the path is 404.
func WithWebhook(secret secret.Secret, trigger func()) ServerOption {
	return func(o *serverOptions) error {
		if secret.Empty() || trigger == nil {
			return errors.New("webhook needs a secret and a trigger")
		}
		o.webhookSecret, o.webhookTrigger = secret, trigger
		return nil
	}
}

// WithServerLogger sets the logger.
func WithServerLogger(l *slog.Logger) ServerOption {
	return func(o *serverOptions) error { o.log = l; return nil }
}

// WithLeaderStatus reports leadership in /readyz's body.
func WithLeaderStatus(fn func() bool) ServerOption {
	return func(o *serverOptions) error { o.leader = fn; return nil }
}

// API is what the JSON API and /readyz read: the control store
// (reconciler/store implements it). Methods must be safe for concurrent use.
type API interface {
	// Ping checks the control database.
	Ping(ctx context.Context) error
	// List returns up to limit change requests, newest version first.
	List(ctx context.Context, limit int) ([]*change.Request, error)
	// Get returns one change request, or change.ErrNotFound.
	Get(ctx context.Context, version int64) (*change.Request, error)
	Transitions(ctx context.Context, version int64) ([]change.Transition, error)
	// Prediction returns the newest prediction of version at sha, or an error.
	Prediction(ctx context.Context, version int64, sha string) (*change.PredictionRecord, error)
	Events(ctx context.Context, version int64) ([]change.Event, error)
	// Actions returns the operators' commands on version, oldest first.
	Actions(ctx context.Context, version int64) ([]change.OperatorAction, error)
}

// NewServer builds the server; Serve starts it. It serves reg at /metrics
// (nil: no /metrics) and registers its own counter of refused webhook
// requests there.
func NewServer(store API, reg *prometheus.Registry, opts ...ServerOption) (*Server, error) {
	o := serverOptions{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	s := &Server{store: store, leader: o.leader, mux: http.NewServeMux(), log: o.log}
	var rejected *prometheus.CounterVec
	if reg != nil {
		rejected = newRejectedCounter()
		if err := reg.Register(rejected); err != nil {
			return nil, fmt.Errorf("server: metrics: %w", err)
		}
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	s.mux.HandleFunc("GET /readyz", s.ready)
	s.mux.HandleFunc("GET /api/changes", s.listChanges)
	s.mux.HandleFunc("GET /api/changes/{version}", s.getChange)
	if o.commander != nil {
		s.mux.Handle("POST /api/changes/{version}/{command}", newCommandHandler(o.token, o.commander, s.fail))
	} else {
		s.mux.HandleFunc("POST /api/changes/{version}/{command}", commandsOff)
	}
	if o.webhookTrigger != nil {
		s.mux.Handle("/webhook/github", newWebhookHandler(o.webhookSecret, o.webhookTrigger, o.log, rejected, webhookLogInterval))
	}
	if o.status != nil {
		s.mux.Handle("/", o.status)
	}
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	return s, nil
}

// Handler returns the server's handler (tests use it with httptest).
func (s *Server) Handler() http.Handler { return s.mux }

// Listen binds addr; Addr then reports the bound address.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address (after Listen).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Serve serves until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		return errors.New("server: Listen first")
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return err
	}
	return nil
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		http.Error(w, "control store unreachable", http.StatusServiceUnavailable)
		return
	}
	role := "follower"
	if s.leader != nil && s.leader() {
		role = "leader"
	}
	fmt.Fprintln(w, "ready", role)
}

func (s *Server) listChanges(w http.ResponseWriter, r *http.Request) {
	limit := 500
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5000 {
			http.Error(w, "limit: an integer in 1..5000", http.StatusBadRequest)
			return
		}
		limit = n
	}
	crs, err := s.store.List(r.Context(), limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	if crs == nil {
		crs = []*change.Request{}
	}
	writeJSON(w, map[string]any{"changes": crs})
}

// ChangeDetail is the JSON of /api/changes/{version}.
type ChangeDetail struct {
	*change.Request
	Transitions []change.Transition      `json:"transitions"`
	Prediction  *change.PredictionRecord `json:"prediction,omitempty"`
	Events      []change.Event           `json:"events"`
	// Operator is the operators' commands and their effect now (absent
	// when none was given).
	Operator *OperatorView `json:"operator,omitempty"`
}

// OperatorView is the operators' commands on a change and what is in
// force: a pause, an abort, the excluded instances.
type OperatorView struct {
	Paused   *change.OperatorAction           `json:"paused,omitempty"`
	Aborted  *change.OperatorAction           `json:"aborted,omitempty"`
	Excluded map[string]change.OperatorAction `json:"excluded,omitempty"`
	Actions  []change.OperatorAction          `json:"actions"`
}

func (s *Server) getChange(w http.ResponseWriter, r *http.Request) {
	v, err := strconv.ParseInt(r.PathValue("version"), 10, 64)
	if err != nil {
		http.Error(w, "version must be an integer", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	c, err := s.store.Get(ctx, v)
	if errors.Is(err, change.ErrNotFound) {
		http.Error(w, fmt.Sprintf("no change %d", v), http.StatusNotFound)
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	d := ChangeDetail{Request: c}
	if d.Transitions, err = s.store.Transitions(ctx, v); err != nil {
		s.fail(w, err)
		return
	}
	if p, err := s.store.Prediction(ctx, v, c.SHA256); err == nil {
		d.Prediction = p
	}
	if d.Events, err = s.store.Events(ctx, v); err != nil {
		s.fail(w, err)
		return
	}
	acts, err := s.store.Actions(ctx, v)
	if err != nil {
		s.fail(w, err)
		return
	}
	if len(acts) > 0 {
		f := change.Fold(acts)
		d.Operator = &OperatorView{Paused: f.Paused, Aborted: f.Aborted, Excluded: f.Excluded, Actions: acts}
	}
	writeJSON(w, d)
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	s.log.Error("api", "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away or the headers are sent: nothing left to tell it
}

// newRejectedCounter is schemacanary_webhook_rejected_total.
func newRejectedCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "schemacanary_webhook_rejected_total",
		Help: "Webhook requests refused, by reason (invalid signature, content length required, payload too large, too many concurrent webhook requests, payload unreadable)."}, []string{"reason"})
}
