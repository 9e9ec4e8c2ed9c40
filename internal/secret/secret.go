// Package secret resolves credentials from the environment or files into values that never print,
// and scrubs them from errors and logs.
package secret

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// redacted is what a Secret prints as, everywhere.
const redacted = "[REDACTED]"

// Secret is a credential resolved from the environment or a file at the moment
// it is used. It never prints: String, GoString, LogValue, MarshalJSON and
// MarshalText all give "[REDACTED]". Reveal returns the value for the one call
// that needs it (a connection, an HTTP header).
type Secret struct{ v string }

// NewSecret wraps a value.
func NewSecret(v string) Secret { return Secret{v: v} }

// Reveal returns the secret's value. Do not log it.
func (s Secret) Reveal() string { return s.v }

// Empty reports whether the secret has no value.
func (s Secret) Empty() bool { return s.v == "" }

// String implements fmt.Stringer with "[REDACTED]".
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer with "[REDACTED]" (for %#v).
func (s Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer with "[REDACTED]".
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON writes "[REDACTED]".
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// MarshalText writes "[REDACTED]".
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Ref names where a secret lives: an environment variable or a file.
// Exactly one of Env and File is set. The value is read by Resolve, never by
// config loading, so a config file can be checked on a machine without the
// secrets.
type Ref struct {
	Env  string
	File string
}

// ErrUnset is returned by Ref.Resolve when the environment
// variable is unset or empty, or the file is empty.
var ErrUnset = errors.New("secret is not set")

// Resolve reads the secret and registers it with the redactor so it can never
// reach a log line or error text produced through it.
func (r Ref) Resolve(red *Redactor) (Secret, error) {
	var v string
	switch {
	case r.Env != "":
		v = os.Getenv(r.Env)
		if v == "" {
			return Secret{}, fmt.Errorf("environment variable %s: %w", r.Env, ErrUnset)
		}
	case r.File != "":
		b, err := os.ReadFile(r.File)
		if err != nil {
			return Secret{}, fmt.Errorf("read secret file %s: %w", r.File, err)
		}
		v = strings.TrimSpace(string(b))
		if v == "" {
			return Secret{}, fmt.Errorf("secret file %s: %w", r.File, ErrUnset)
		}
	default:
		return Secret{}, ErrUnset
	}
	red.Add(v)
	return Secret{v: v}, nil
}

// Redactor remembers every resolved secret (and, for DSNs, the password part
// alone) and scrubs them from text. It is safe for concurrent use; the zero
// value is ready and a nil *Redactor redacts nothing.
type Redactor struct {
	mu   sync.RWMutex
	vals []string
}

// Add registers a secret value. For a PostgreSQL DSN, the password inside it
// is registered too, so an error that quotes a rewritten connection string
// still hides it.
func (r *Redactor) Add(v string) {
	if r == nil || v == "" {
		return
	}
	add := []string{v}
	add = append(add, dsnPasswords(v)...)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range add {
		if len(a) >= 3 { // never redact "a" everywhere
			r.vals = append(r.vals, a)
		}
	}
}

// Scrub replaces every registered secret in s by "[REDACTED]".
func (r *Redactor) Scrub(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, v := range r.vals {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, redacted)
		}
	}
	return s
}

// Err wraps err so its text is scrubbed; errors.Is and errors.As still see the
// original chain.
func (r *Redactor) Err(err error) error {
	if err == nil || r == nil {
		return err
	}
	return &redactedError{msg: r.Scrub(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// dsnPasswords extracts passwords from a URL DSN (postgres://u:pw@h/db) or a
// keyword/value DSN (password=pw).
func dsnPasswords(dsn string) []string {
	var out []string
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok && pw != "" {
				out = append(out, pw)
			}
		}
	}
	for _, f := range strings.Fields(dsn) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "password") {
			out = append(out, strings.Trim(v, "'"))
		}
	}
	return out
}

// RedactingHandler is a slog.Handler that scrubs registered secrets from the
// message and every string-valued attribute (errors included) before passing
// the record on.
type RedactingHandler struct {
	next slog.Handler
	red  *Redactor
}

// NewRedactingHandler wraps next.
func NewRedactingHandler(next slog.Handler, red *Redactor) *RedactingHandler {
	return &RedactingHandler{next: next, red: red}
}

var _ slog.Handler = (*RedactingHandler)(nil)

// Enabled defers to the wrapped handler.
func (h *RedactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// Handle scrubs the record and passes it on.
func (h *RedactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.red.Scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.scrubAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs scrubs the attributes and returns a wrapped handler.
func (h *RedactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	s := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		s[i] = h.scrubAttr(a)
	}
	return &RedactingHandler{next: h.next.WithAttrs(s), red: h.red}
}

// WithGroup returns a wrapped handler.
func (h *RedactingHandler) WithGroup(name string) slog.Handler {
	return &RedactingHandler{next: h.next.WithGroup(name), red: h.red}
}

func (h *RedactingHandler) scrubAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.red.Scrub(v.String()))
	case slog.KindGroup:
		g := v.Group()
		s := make([]any, len(g))
		for i, x := range g {
			s[i] = h.scrubAttr(x)
		}
		return slog.Group(a.Key, s...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.red.Scrub(err.Error()))
		}
		return slog.String(a.Key, h.red.Scrub(fmt.Sprint(v.Any())))
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}
