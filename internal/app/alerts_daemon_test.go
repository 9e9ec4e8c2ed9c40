package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/notify"
)

// TestDaemonDeliversAlerts: the daemon Build makes from a config with
// alerts: (a loopback receiver, a key from a file) posts a signed
// awaiting_approval alert when a risky migration merges, and counts the
// delivery in its own registry.
func TestDaemonDeliversAlerts(t *testing.T) {
	t.Parallel()
	key := "daemon-alert-key"
	events := make(chan notify.Event, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify([]byte(key), r.Header.Get(notify.HeaderTimestamp), r.Header.Get(notify.HeaderSignature), body, time.Now(), 0); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var e notify.Event
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("receiver: %v", err)
		}
		events <- e
	}))
	defer srv.Close()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "alert.key")
	writeTestFile(t, keyFile, key+"\n")
	w := newE2EWorld(t, fmt.Sprintf("alerts:\n  status_url: https://canary.example.com/\n  webhooks:\n    - {name: ops, url: %q, secret_file: %s}\n", srv.URL+"/hook", keyFile))
	w.merge("00001_risky.sql", migrationtest.Source(9, "ALTER TABLE items ADD COLUMN flag int;", "ALTER TABLE items DROP COLUMN flag;"))

	ctx, cancel := context.WithCancel(context.Background())
	d := w.build(ctx)
	if d.Alerts == nil {
		t.Fatal("Build made no dispatcher for alerts.webhooks")
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	select {
	case e := <-events:
		if e.Kind != notify.KindAwaitingApproval || e.Version != 1 || e.File != "migrations/00001_risky.sql" ||
			e.Link != "https://canary.example.com/changes/1" || e.Confidence == nil {
			t.Errorf("alert %+v", e)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("no alert within 2 minutes")
	}
	delivered := func() float64 {
		return counterValue(t, d.Metrics, "schemacanary_alerts_sent_total", map[string]string{"sink": "ops", "result": "delivered"})
	}
	deadline := time.Now().Add(30 * time.Second)
	for delivered() < 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := delivered(); n != 1 {
		t.Errorf(`schemacanary_alerts_sent_total{sink="ops",result="delivered"} = %v, want 1`, n)
	}
}

// counterValue reads the counter name{labels} from the daemon's registry
// (-1 when it has no such series).
func counterValue(t *testing.T, m *reconciler.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range s.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			return s.GetCounter().GetValue()
		}
	}
	return -1
}
