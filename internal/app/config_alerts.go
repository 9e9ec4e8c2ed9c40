package app

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler/notify"
)

// AlertsConfig sends the pipeline's events to outbound webhooks (package
// notify). Without webhooks nothing is sent; the events are still counted
// in schemacanary_alert_events_total{kind} for the Prometheus rules.
type AlertsConfig struct {
	// StatusURL is the status page's base URL as operators reach it
	// (https://schemacanary.example.com/); alerts then link to
	// StatusURL/changes/VERSION. Optional.
	StatusURL string `yaml:"status_url"`
	// Webhooks are the receivers; each gets every event its Events select.
	Webhooks []WebhookConfig `yaml:"webhooks"`
}

// WebhookConfig is one outbound webhook. Exactly one of URL and URLEnv;
// at most one of SecretEnv and SecretFile, and one is required for the json
// format.
type WebhookConfig struct {
	// Name labels the sink in logs and metrics; default the URL's host, or
	// URLEnv's name.
	Name string `yaml:"name"`
	// URL receives a POST per event. It must be https unless its host is a
	// loopback address.
	URL string `yaml:"url"`
	// URLEnv names an environment variable holding the URL, for URLs that
	// embed a token (Slack's incoming webhooks); it is redacted like any
	// secret.
	URLEnv string `yaml:"url_env"`
	// Format is "json" (default: the event as JSON) or "slack" (text and
	// section blocks).
	Format string `yaml:"format"`
	// SecretEnv names the environment variable holding the HMAC-SHA256 key
	// deliveries are signed with.
	SecretEnv string `yaml:"secret_env"`
	// SecretFile names a file holding that key.
	SecretFile string `yaml:"secret_file"`
	// Events selects the kinds sent (awaiting_approval, canary_started,
	// inconclusive, wave_promoted, rolled_back, failed, drift,
	// watch_regression, done); default all.
	Events []string `yaml:"events"`
	// Timeout bounds one delivery attempt; default 10s.
	Timeout Duration `yaml:"timeout"`
	// MaxAttempts caps the attempts per event; default 6.
	MaxAttempts int `yaml:"max_attempts"`
	// Queue bounds the events waiting for this receiver; beyond it the
	// oldest is dropped. Default 100.
	Queue int `yaml:"queue"`
}

// secret returns the reference to the HMAC key (empty when unsigned).
func (w WebhookConfig) secret() secret.Ref {
	return secret.Ref{Env: w.SecretEnv, File: w.SecretFile}
}

func (a *AlertsConfig) setDefaults() {
	for i := range a.Webhooks {
		w := &a.Webhooks[i]
		if w.Format == "" {
			w.Format = string(notify.FormatJSON)
		}
		if w.Name == "" {
			if u, err := url.Parse(w.URL); err == nil && w.URL != "" {
				w.Name = u.Host
			} else {
				w.Name = strings.ToLower(w.URLEnv)
			}
		}
	}
}

// validate reports every problem of the alerts section, each wrapping
// ErrConfig and naming its key. A URL is quoted only as scheme://host.
func (a *AlertsConfig) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if a.StatusURL != "" {
		if u, err := url.Parse(a.StatusURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			bad("alerts.status_url %q: want an absolute http(s) URL", a.StatusURL)
		}
	}
	names := map[string]bool{}
	for i, w := range a.Webhooks {
		key := fmt.Sprintf("alerts.webhooks[%d]", i)
		if names[w.Name] {
			bad("%s: name %q is used twice; set name", key, w.Name)
		}
		names[w.Name] = true
		switch {
		case (w.URL == "") == (w.URLEnv == ""):
			bad("%s: set exactly one of url and url_env", key)
		case w.URL != "":
			if err := checkAlertURL(w.URL); err != nil {
				bad("%s.url: %v", key, err)
			}
		}
		f, err := notify.ParseFormat(w.Format)
		if err != nil {
			bad("%s.format: %v", key, err)
		}
		switch {
		case w.SecretEnv != "" && w.SecretFile != "":
			bad("%s: set at most one of secret_env and secret_file", key)
		case w.SecretEnv == "" && w.SecretFile == "" && f == notify.FormatJSON:
			bad("%s: secret_env (or secret_file) is required: json deliveries are signed (only slack may go unsigned)", key)
		}
		for _, e := range w.Events {
			if _, err := notify.ParseKind(e); err != nil {
				bad("%s.events: %v", key, err)
			}
		}
		if w.Timeout < 0 || w.MaxAttempts < 0 || w.Queue < 0 {
			bad("%s: timeout, max_attempts and queue must not be negative", key)
		}
	}
	return errs
}

// checkAlertURL requires an absolute http(s) URL, https unless the host is
// a loopback address (checkBaseURL's rule). Its errors name only the
// scheme and host: the path may hold a token.
func checkAlertURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return errors.New("want an absolute http(s) URL")
	}
	if checkBaseURL(raw) != nil {
		return fmt.Errorf("%s://%s/…: the alert (and any token in the URL) would travel in clear text; use https (plain http is accepted only for a loopback address)", u.Scheme, u.Host)
	}
	return nil
}

// sinks resolves the webhooks' URLs and secrets (registering them with
// red) into notify sinks.
func (a *AlertsConfig) sinks(red *secret.Redactor) ([]notify.Sink, error) {
	out := make([]notify.Sink, 0, len(a.Webhooks))
	for i, w := range a.Webhooks {
		key := fmt.Sprintf("alerts.webhooks[%d]", i)
		s := notify.Sink{Name: w.Name, URL: w.URL, Format: notify.Format(w.Format), Timeout: w.Timeout.D(),
			MaxAttempts: w.MaxAttempts, QueueSize: w.Queue}
		if w.URLEnv != "" {
			u, err := secret.Ref{Env: w.URLEnv}.Resolve(red)
			if err != nil {
				return nil, fmt.Errorf("%s.url_env: %w", key, err)
			}
			if err := checkAlertURL(u.Reveal()); err != nil {
				return nil, fmt.Errorf("%s.url_env %s: %w", key, w.URLEnv, err)
			}
			s.URL = u.Reveal()
		} else {
			red.Add(w.URL) // the path may hold a token
		}
		if ref := w.secret(); ref != (secret.Ref{}) {
			sec, err := ref.Resolve(red)
			if err != nil {
				return nil, fmt.Errorf("%s secret: %w", key, err)
			}
			s.Secret = []byte(sec.Reveal())
		}
		for _, e := range w.Events {
			k, err := notify.ParseKind(e)
			if err != nil {
				return nil, fmt.Errorf("%s.events: %w", key, err)
			}
			s.Events = append(s.Events, k)
		}
		out = append(out, s)
	}
	return out, nil
}
