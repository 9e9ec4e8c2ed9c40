package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/schemacanary/schemacanary/internal/secret"
)

// Webhook limits. GitHub caps payloads at 25 MB, but the push and
// pull_request events the daemon acts on are far smaller; a larger
// declared body is refused before a byte of it is read.
const (
	maxWebhookBody        = 5 << 20
	maxWebhookConcurrency = 4
	webhookLogInterval    = time.Minute
)

// webhookHandler serves GitHub's webhook. It authenticates before it reads:
// a request without a well-formed X-Hub-Signature-256 header, without a
// declared Content-Length, or declaring more than maxWebhookBody is refused
// without reading its body; at most maxWebhookConcurrency requests are read
// at once (others get 503). Then the HMAC-SHA256 of the body with the shared
// secret is compared in constant time, and push and pull_request events
// trigger a poll. Other events are acknowledged and ignored. Refusals are
// counted in schemacanary_webhook_rejected_total and logged as one summary
// line per interval, never one line per request.
type webhookHandler struct {
	secret  secret.Secret
	trigger func()
	slots   chan struct{}
	rejects *rejectLog
	// rejected counts refused requests by reason; nil counts nothing.
	rejected *prometheus.CounterVec
}

func newWebhookHandler(secret secret.Secret, trigger func(), log *slog.Logger, rejected *prometheus.CounterVec, interval time.Duration) *webhookHandler {
	return &webhookHandler{
		secret:   secret,
		trigger:  trigger,
		slots:    make(chan struct{}, maxWebhookConcurrency),
		rejects:  &rejectLog{log: log, interval: interval},
		rejected: rejected,
	}
}

func (h *webhookHandler) reject(w http.ResponseWriter, r *http.Request, code int, reason string) {
	h.rejects.add(reason, r.RemoteAddr)
	if h.rejected != nil {
		h.rejected.WithLabelValues(reason).Inc()
	}
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	http.Error(w, reason, code)
}

func (h *webhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	sig, ok := parseSignature(r.Header.Get("X-Hub-Signature-256"))
	switch {
	case !ok:
		h.reject(w, r, http.StatusUnauthorized, "invalid signature")
		return
	case r.ContentLength < 0:
		h.reject(w, r, http.StatusLengthRequired, "content length required")
		return
	case r.ContentLength > maxWebhookBody:
		h.reject(w, r, http.StatusRequestEntityTooLarge, "payload too large")
		return
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		h.reject(w, r, http.StatusServiceUnavailable, "too many concurrent webhook requests")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, r.ContentLength))
	if err != nil {
		h.reject(w, r, http.StatusBadRequest, "payload unreadable")
		return
	}
	if !validSignature(h.secret.Reveal(), body, sig) {
		h.reject(w, r, http.StatusUnauthorized, "invalid signature")
		return
	}
	event := r.Header.Get("X-GitHub-Event")
	switch event {
	case "push", "pull_request":
		h.rejects.log.Info("webhook: poll triggered", "event", event, "delivery", r.Header.Get("X-GitHub-Delivery"))
		h.trigger()
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "poll triggered\n")
	case "ping":
		io.WriteString(w, "pong\n")
	default:
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "ignored\n")
	}
}

// parseSignature decodes "sha256=<64 hex digits>"; ok is false for anything
// else, so a request that cannot be authentic is refused unread.
func parseSignature(header string) (sig []byte, ok bool) {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return nil, false
	}
	sig, err := hex.DecodeString(hexSig)
	return sig, err == nil
}

// validSignature checks sig against HMAC-SHA256(secret, body) with
// hmac.Equal (constant time).
func validSignature(secret string, body, sig []byte) bool {
	if secret == "" {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
}

// rejectLog summarises refused webhook requests: the first refusal after a
// quiet interval is logged at once, later ones are counted and logged as one
// line when the interval ends, so a flood costs one line per interval.
type rejectLog struct {
	log      *slog.Logger
	interval time.Duration

	mu      sync.Mutex
	counts  map[string]int
	remotes map[string]struct{}
	timer   *time.Timer
}

func (l *rejectLog) add(reason, remote string) {
	host := remote
	if i := strings.LastIndexByte(remote, ':'); i > 0 {
		host = remote[:i]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer == nil {
		l.log.Warn("webhook request refused", "reason", reason, "remote", host)
		l.timer = time.AfterFunc(l.interval, l.flush)
		return
	}
	if l.counts == nil {
		l.counts, l.remotes = map[string]int{}, map[string]struct{}{}
	}
	l.counts[reason]++
	l.remotes[host] = struct{}{}
}

// flush logs the refusals counted during the interval (if any) and ends it.
func (l *rejectLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = nil
	if len(l.counts) == 0 {
		return
	}
	total, parts := 0, make([]string, 0, len(l.counts))
	for reason, n := range l.counts {
		total += n
		parts = append(parts, fmt.Sprintf("%s: %d", reason, n))
	}
	l.log.Warn("webhook requests refused", "count", total, "reasons", strings.Join(parts, ", "),
		"remotes", len(l.remotes), "interval", l.interval)
	l.counts, l.remotes = nil, nil
	// A flood goes on: keep summarising it once per interval.
	l.timer = time.AfterFunc(l.interval, l.flush)
}
