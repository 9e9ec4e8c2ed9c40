package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/store"
)

// TestDaemonStopsWhenAStepIgnoresCancel: a step that ignores its context
// does not keep the daemon from stopping: Run returns StopGrace after the
// cancel, abandoning it (as a killed process would; the state is persisted
// and resumed by the next leader).
func TestDaemonStopsWhenAStepIgnoresCancel(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	st, err := store.Open(context.Background(), secret.NewSecret(dsn), &secret.Redactor{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	src := newOneChangeSource(t, "migrations/00001_stuck.sql", migrationtest.Source(2, "CREATE TABLE t (id int);", "DROP TABLE t;"))
	an := stuckAssessor{started: make(chan struct{})}
	rec, err := reconciler.New(st, src, an, noRoller{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	leader, err := NewLeader(secret.NewSecret(dsn), &secret.Redactor{}, WithLeaderInterval(50*time.Millisecond), WithLeaderKey(4711))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig([]byte(minimalConfig))
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Config: cfg, Store: st, Reconcile: rec, Leader: leader, Metrics: reconciler.NewMetrics(), Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	select {
	case <-an.started:
	case <-time.After(deadlock):
		t.Fatal("the daemon never reached the analysis")
	}
	start := time.Now()
	cancel()
	select {
	case <-errc:
		t.Logf("Run returned %s after the cancel (StopGrace %s)", time.Since(start).Round(time.Millisecond), StopGrace)
	case <-time.After(StopGrace + deadlock):
		t.Fatal("Run did not return after its context was cancelled")
	}
}
