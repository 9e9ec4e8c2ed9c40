package notify

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Delivery defaults.
const (
	// DefaultBackoff is the delay before the first retry; it doubles per
	// attempt up to DefaultMaxBackoff, each delay jittered by ±50%.
	DefaultBackoff = time.Second
	// DefaultMaxBackoff caps the computed delay between attempts.
	DefaultMaxBackoff = time.Minute
	// DefaultFlushTimeout is how long Run keeps delivering what is queued
	// after its context ends.
	DefaultFlushTimeout = 5 * time.Second
	// maxRetryAfter caps how long a receiver's Retry-After can hold a
	// sink's queue.
	maxRetryAfter = 5 * time.Minute
)

// Option configures a Dispatcher.
type Option func(*options) error

type options struct {
	log        *slog.Logger
	reg        prometheus.Registerer
	statusURL  string
	client     *http.Client
	scrub      func(string) string
	backoff    time.Duration
	maxBackoff time.Duration
	flush      time.Duration
	now        func() time.Time
}

func defaultOptions() options {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return options{
		log: slog.New(slog.DiscardHandler),
		client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a signed alert goes only where it was configured to
		}},
		scrub:      func(s string) string { return s },
		backoff:    DefaultBackoff,
		maxBackoff: DefaultMaxBackoff,
		flush:      DefaultFlushTimeout,
		now:        time.Now,
	}
}

// WithLogger logs deliveries, retries given up and drops to l (the daemon
// passes its redacting logger). Default: no logs.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("nil logger")
		}
		o.log = l
		return nil
	}
}

// WithRegisterer registers the metrics schemacanary_alerts_sent_total
// {sink,result}, schemacanary_alerts_dropped_total{sink,reason} and
// schemacanary_alerts_queued{sink} on reg (the daemon's registry). Default:
// not registered.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(o *options) error { o.reg = reg; return nil }
}

// WithStatusURL sets the base URL of the status page as operators reach it
// (https://schemacanary.example.com/); each event's Link is then
// base/changes/VERSION. Default: no link.
func WithStatusURL(base string) Option {
	return func(o *options) error {
		u, err := url.Parse(base)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return fmt.Errorf("status URL %q: want an absolute http(s) URL", base)
		}
		o.statusURL = base
		return nil
	}
}

// WithScrubber passes every error text through scrub before it is logged
// (the daemon passes its Redactor's Scrub). Delivery errors never quote a
// sink's URL in any case.
func WithScrubber(scrub func(string) string) Option {
	return func(o *options) error {
		if scrub == nil {
			return errors.New("nil scrubber")
		}
		o.scrub = scrub
		return nil
	}
}

// WithBackoff sets the first retry delay and the cap of the doubling
// delays; defaults DefaultBackoff and DefaultMaxBackoff.
func WithBackoff(first, max time.Duration) Option {
	return func(o *options) error {
		if first <= 0 || max < first {
			return fmt.Errorf("backoff %s..%s: want 0 < first <= max", first, max)
		}
		o.backoff, o.maxBackoff = first, max
		return nil
	}
}

// WithFlushTimeout sets how long Run keeps delivering queued events after
// its context ends; default DefaultFlushTimeout. What is left then is
// dropped and counted.
func WithFlushTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("flush timeout %s < 0", d)
		}
		o.flush = d
		return nil
	}
}
