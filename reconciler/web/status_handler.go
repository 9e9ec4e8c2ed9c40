package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/schemacanary/schemacanary/reconciler/change"
)

//go:embed statuspage/*.html
var statusTemplates embed.FS

// StatusOption configures NewStatusHandler.
type StatusOption func(*statusOptions) error

type statusOptions struct {
	refresh time.Duration
	logger  *slog.Logger
}

// WithStatusRefresh makes the pages reload themselves every d (rounded to
// whole seconds); 0, the default, disables it. A negative d is an error.
func WithStatusRefresh(d time.Duration) StatusOption {
	return func(o *statusOptions) error {
		if d < 0 {
			return fmt.Errorf("status refresh %v is negative", d)
		}
		if d > 0 && d < time.Second {
			d = time.Second
		}
		o.refresh = d
		return nil
	}
}

// WithStatusLogger sets the logger for source errors; default: discard.
func WithStatusLogger(l *slog.Logger) StatusOption {
	return func(o *statusOptions) error {
		if l == nil {
			return errors.New("status logger is nil")
		}
		o.logger = l
		return nil
	}
}

// statusHandler serves the status page from a StatusSource.
type statusHandler struct {
	src    StatusSource
	opts   statusOptions
	list   *template.Template
	change *template.Template
	mux    *http.ServeMux
}

// NewStatusHandler returns the status page: GET / lists the change requests,
// GET /changes/{version} shows one with its timeline, prediction reasons and
// a chart of each KPI, canary vs control, with the rollback marked. The pages
// are plain HTML with inline CSS and SVG rendered by the server: no script,
// no external asset. Links are relative, so the handler can be mounted under
// a prefix: mux.Handle("/status/", http.StripPrefix("/status", h)).
// The handler is safe for concurrent use if src is.
func NewStatusHandler(src StatusSource, opts ...StatusOption) (http.Handler, error) {
	if src == nil {
		return nil, errors.New("status handler: nil StatusSource")
	}
	h := &statusHandler{src: src, opts: statusOptions{logger: slog.New(slog.DiscardHandler)}}
	for _, o := range opts {
		if err := o(&h.opts); err != nil {
			return nil, fmt.Errorf("status handler: %w", err)
		}
	}
	base, err := template.New("status").Funcs(statusFuncs).ParseFS(statusTemplates, "statuspage/layout.html")
	if err != nil {
		return nil, fmt.Errorf("status handler: %w", err)
	}
	for name, dst := range map[string]**template.Template{"list": &h.list, "change": &h.change} {
		t, err := template.Must(base.Clone()).ParseFS(statusTemplates, "statuspage/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("status handler: %w", err)
		}
		*dst = t
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /{$}", h.serveList)
	h.mux.HandleFunc("GET /changes/{version}", h.serveChange)
	return h, nil
}

func (h *statusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// page is what the layout template receives.
type page struct {
	Title   string
	Root    string
	Refresh int
	Changes []change.StatusChange

	Change          *change.StatusChangeDetail
	Charts          []template.HTML
	MaxContribution float64
}

func (h *statusHandler) newPage(title, root string) *page {
	return &page{Title: title, Root: root, Refresh: int(h.opts.refresh / time.Second)}
}

func (h *statusHandler) serveList(w http.ResponseWriter, r *http.Request) {
	changes, err := h.src.ListChanges(r.Context())
	if err != nil {
		h.fail(w, r, "list changes", err)
		return
	}
	p := h.newPage("Change requests", "./")
	p.Changes = changes
	h.render(w, r, h.list, p)
}

func (h *statusHandler) serveChange(w http.ResponseWriter, r *http.Request) {
	v, err := strconv.ParseInt(r.PathValue("version"), 10, 64)
	if err != nil || v <= 0 {
		http.Error(w, "a change is named by its migration version, a positive integer", http.StatusBadRequest)
		return
	}
	c, err := h.src.GetChange(r.Context(), v)
	if err != nil {
		h.fail(w, r, "get change", err)
		return
	}
	if c == nil {
		http.Error(w, fmt.Sprintf("no change request with version %d", v), http.StatusNotFound)
		return
	}
	p := h.newPage(fmt.Sprintf("%d %s", c.Version, c.Name), "../")
	p.Change = c
	marks := []chartMark{
		{At: c.AppliedAt, Label: "applied on canary", Class: "applied"},
		{At: c.RolledBackAt, Label: "rollback", Class: "rollback"},
	}
	for _, k := range c.KPIs {
		p.Charts = append(p.Charts, renderKPIChart(k, marks))
	}
	for _, rs := range c.Reasons {
		p.MaxContribution = math.Max(p.MaxContribution, math.Abs(rs.Contribution))
	}
	h.render(w, r, h.change, p)
}

func (h *statusHandler) render(w http.ResponseWriter, r *http.Request, t *template.Template, p *page) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		h.fail(w, r, "render", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away
}

func (h *statusHandler) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.opts.logger.ErrorContext(r.Context(), "status page", slog.String("step", what), slog.String("path", r.URL.Path), slog.Any("err", err))
	http.Error(w, "status page: "+what+" failed; see the daemon log", http.StatusInternalServerError)
}
