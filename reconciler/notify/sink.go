package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"time"
)

// Sink defaults.
const (
	// DefaultQueueSize is how many events a sink holds while its receiver
	// is slow or down; beyond it the oldest is dropped.
	DefaultQueueSize = 100
	// DefaultTimeout bounds one delivery attempt.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxAttempts caps the attempts of one event.
	DefaultMaxAttempts = 6
)

// Sink is one outbound webhook. URL and Secret are credentials (a Slack
// URL embeds a token): a Sink prints, logs and marshals as its name and
// format only, and delivery errors never quote the URL.
type Sink struct {
	// Name identifies the sink in logs and in the sink label of the
	// metrics. Required, unique within a Dispatcher.
	Name string
	// URL receives a POST per event. Required, absolute http(s); the caller
	// decides whether plain http is acceptable (the daemon allows it only
	// for loopback addresses).
	URL string
	// Format is the body format; default FormatJSON.
	Format Format
	// Secret is the HMAC-SHA256 key of the signature. Required for
	// FormatJSON; a FormatSlack sink without one sends no signature (Slack
	// cannot check it; its URL is the credential).
	Secret []byte
	// Events selects the kinds sent; empty means every kind.
	Events []Kind
	// QueueSize bounds the events waiting; default DefaultQueueSize.
	QueueSize int
	// Timeout bounds one attempt; default DefaultTimeout.
	Timeout time.Duration
	// MaxAttempts caps the attempts per event; default DefaultMaxAttempts.
	MaxAttempts int
}

// String names the sink without its URL or secret.
func (s Sink) String() string { return fmt.Sprintf("sink %s (%s)", s.Name, s.Format) }

// GoString is String, so %#v shows no credential either.
func (s Sink) GoString() string { return s.String() }

// LogValue logs the name and format only.
func (s Sink) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", s.Name), slog.String("format", string(s.Format)))
}

// MarshalJSON writes the name and format only.
func (s Sink) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name   string `json:"name"`
		Format Format `json:"format"`
	}{s.Name, s.Format})
}

// withDefaults fills the zero fields.
func (s Sink) withDefaults() Sink {
	if s.Format == "" {
		s.Format = FormatJSON
	}
	if s.QueueSize == 0 {
		s.QueueSize = DefaultQueueSize
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.MaxAttempts == 0 {
		s.MaxAttempts = DefaultMaxAttempts
	}
	return s
}

// validate reports every problem of a defaulted sink; the URL is never
// quoted beyond its scheme and host.
func (s Sink) validate() error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	u, err := url.Parse(s.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		errs = append(errs, errors.New("url must be an absolute http(s) URL"))
	}
	if _, err := ParseFormat(string(s.Format)); err != nil {
		errs = append(errs, err)
	}
	if len(s.Secret) == 0 && s.Format != FormatSlack {
		errs = append(errs, fmt.Errorf("a secret is required for the %s format (only slack may go unsigned)", s.Format))
	}
	for _, k := range s.Events {
		if _, err := ParseKind(string(k)); err != nil {
			errs = append(errs, err)
		}
	}
	if s.QueueSize < 1 || s.Timeout <= 0 || s.MaxAttempts < 1 {
		errs = append(errs, errors.New("queue size, timeout and max attempts must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sink %q: %w", s.Name, err)
	}
	return nil
}

// wants reports whether the sink sends events of kind k.
func (s Sink) wants(k Kind) bool { return len(s.Events) == 0 || slices.Contains(s.Events, k) }
