package app

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler"
)

const alertsYAML = `alerts:
  status_url: https://canary.example.com/
  webhooks:
    - url: https://alerts.example.com/schemacanary
      secret_env: ALERTS_HMAC
      events: [awaiting_approval, rolled_back, failed]
    - name: slack
      url_env: SLACK_WEBHOOK_URL
      format: slack
      timeout: 5s
      queue: 20
    - {name: local, url: "http://127.0.0.1:9000/hook", secret_file: /run/secrets/hmac, max_attempts: 3}
`

func TestParseConfigAlerts(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig([]byte(minimalConfig + alertsYAML))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Alerts.Webhooks
	if len(w) != 3 || c.Alerts.StatusURL != "https://canary.example.com/" {
		t.Fatalf("alerts = %+v", c.Alerts)
	}
	if w[0].Name != "alerts.example.com" || w[0].Format != "json" || len(w[0].Events) != 3 {
		t.Errorf("webhook 0 = %+v (name from the host, format json by default)", w[0])
	}
	if w[1].Name != "slack" || w[1].Format != "slack" || w[1].Timeout.D().Seconds() != 5 || w[1].Queue != 20 {
		t.Errorf("webhook 1 = %+v", w[1])
	}
	if w[2].URL != "http://127.0.0.1:9000/hook" || w[2].MaxAttempts != 3 {
		t.Errorf("webhook 2 = %+v (plain http to loopback is allowed)", w[2])
	}
}

func TestParseConfigAlertsErrors(t *testing.T) {
	t.Parallel()
	hook := func(fields string) string { return minimalConfig + "alerts:\n  webhooks:\n    - {" + fields + "}\n" }
	cases := []struct {
		name, yaml, want string
	}{
		{"http to a remote host", hook("url: 'http://alerts.example.com/services/TOKEN', secret_env: S"),
			"alerts.webhooks[0].url: http://alerts.example.com/…: the alert (and any token in the URL) would travel in clear text"},
		{"missing secret", hook("url: 'https://a.example/'"), "alerts.webhooks[0]: secret_env (or secret_file) is required"},
		{"two secrets", hook("url: 'https://a.example/', secret_env: S, secret_file: /f"), "at most one of secret_env and secret_file"},
		{"unknown format", hook("url: 'https://a.example/', secret_env: S, format: teams"), `alerts.webhooks[0].format: unknown format "teams"`},
		{"unknown event", hook("url: 'https://a.example/', secret_env: S, events: [done, exploded]"), `alerts.webhooks[0].events: unknown event "exploded"`},
		{"no url", hook("secret_env: S"), "set exactly one of url and url_env"},
		{"two urls", hook("url: 'https://a.example/', url_env: U, secret_env: S"), "set exactly one of url and url_env"},
		{"relative url", hook("url: '/hook', secret_env: S"), "want an absolute http(s) URL"},
		{"negative queue", hook("url: 'https://a.example/', secret_env: S, queue: -1"), "must not be negative"},
		{"unknown key", hook("url: 'https://a.example/', secret: hunter2"), "field secret not found"},
		{"same host twice", minimalConfig + "alerts:\n  webhooks:\n    - {url: 'https://a.example/1', secret_env: S}\n    - {url: 'https://a.example/2', secret_env: S}\n",
			`alerts.webhooks[1]: name "a.example" is used twice; set name`},
		{"status url", minimalConfig + "alerts:\n  status_url: canary.example.com\n", "alerts.status_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not wrap ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "TOKEN") {
				t.Errorf("error %q quotes the URL's path", err)
			}
		})
	}
}

// TestNewAlertsResolvesSecrets: the daemon's wiring resolves url_env and
// secret_env (an unset variable is an error naming the key), refuses an
// http URL from the environment, and registers both with the redactor.
func TestNewAlertsResolvesSecrets(t *testing.T) {
	t.Setenv("SC_TEST_ALERT_URL", "https://hooks.example.com/services/T0/B0/URLTOKEN")
	t.Setenv("SC_TEST_ALERT_KEY", "hmac-key-123")
	c, err := ParseConfig([]byte(minimalConfig + "alerts:\n  webhooks:\n    - {url_env: SC_TEST_ALERT_URL, secret_env: SC_TEST_ALERT_KEY}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var red secret.Redactor
	m := reconciler.NewMetrics()
	d, err := NewAlerts(c.Alerts, slog.New(slog.DiscardHandler), &red, m)
	if err != nil || d == nil {
		t.Fatalf("NewAlerts: %v, %v", d, err)
	}
	if s := red.Scrub("to https://hooks.example.com/services/T0/B0/URLTOKEN with hmac-key-123"); strings.Contains(s, "URLTOKEN") || strings.Contains(s, "hmac-key") {
		t.Errorf("not redacted: %s", s)
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if s := fmt.Sprint(names); !strings.Contains(s, "schemacanary_alerts_sent_total") || !strings.Contains(s, "schemacanary_alerts_dropped_total") {
		t.Errorf("delivery metrics not on the daemon's registry: %v", names)
	}
	if d, err := NewAlerts(AlertsConfig{}, slog.New(slog.DiscardHandler), &red, m); d != nil || err != nil {
		t.Errorf("no webhooks: %v, %v; want nil, nil", d, err)
	}

	c.Alerts.Webhooks[0].SecretEnv = "SC_TEST_ALERT_UNSET"
	if _, err := NewAlerts(c.Alerts, slog.New(slog.DiscardHandler), &red, nil); !errors.Is(err, secret.ErrUnset) ||
		!strings.Contains(err.Error(), "alerts.webhooks[0] secret: environment variable SC_TEST_ALERT_UNSET") {
		t.Errorf("missing secret env: %v", err)
	}
	t.Setenv("SC_TEST_ALERT_URL", "http://hooks.example.com/services/T0/B0/URLTOKEN")
	c.Alerts.Webhooks[0].SecretEnv = "SC_TEST_ALERT_KEY"
	_, err = NewAlerts(c.Alerts, slog.New(slog.DiscardHandler), &red, nil)
	if err == nil || !strings.Contains(err.Error(), "clear text") || strings.Contains(err.Error(), "URLTOKEN") {
		t.Errorf("http url from the environment: %v", err)
	}
}
