package rollout

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/rollout/judge"
)

// kpiTestDB creates a database with an "items" table of 1000 rows.
func kpiTestDB(t *testing.T) string {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE items (id int PRIMARY KEY, note text);
		INSERT INTO items SELECT g, 'x' FROM generate_series(1, 1000) g`); err != nil {
		t.Fatal(err)
	}
	return dsn
}

func TestPgstatDeltas(t *testing.T) {
	t.Parallel()
	dsn := kpiTestDB(t)
	ctx := context.Background()
	store := NewMemoryStore(0)
	src, err := NewPgstat(PgstatConfig{Classes: map[string]string{"items_by_id": `FROM items WHERE id = \$1`}}, store)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	target := Target{Instance: "db1", DSN: dsn}
	holder, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	waiter, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close(ctx)
	if err := src.Warm(ctx, target); err != nil {
		t.Fatal(err)
	}
	// A first short window leaves a snapshot at its end, t1; the work then
	// runs synchronously (however slow the machine) and the second window
	// [t1, t2) sees all of it.
	t0 := time.Now()
	t1 := t0.Add(200 * time.Millisecond)
	if _, err := src.Collect(ctx, target, t0, t1); err != nil {
		t.Fatal(err)
	}
	// 40 lookups and 5 rolled-back transactions on a connection that then
	// closes (a backend flushes its stats when it exits).
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 40; i++ {
		var note string
		if err := conn.QueryRow(ctx, "SELECT note FROM items WHERE id = $1", i).Scan(&note); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "UPDATE items SET note = 'y' WHERE id = 1"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// A session left waiting on a lock when the window ends.
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE items IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		_, _ = waiter.Exec(ctx, "SELECT count(*) FROM items") // waits for the lock
	}()
	defer func() { _ = tx.Rollback(ctx); <-waited }() // before the connections close
	// Poll from a connection outside any transaction (stats snapshots are
	// frozen inside one).
	watch, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	for deadline := time.Now().Add(30 * time.Second); ; {
		var n int
		if err := watch.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the waiter never waited")
		}
		time.Sleep(20 * time.Millisecond)
	}
	from := t1
	to := time.Now().Add(300 * time.Millisecond)
	samples, err := src.Collect(ctx, target, from, to)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]judge.Sample{}
	for _, s := range samples {
		if s.Instance != "db1" || !s.At.Equal(to) {
			t.Errorf("sample %+v: want instance db1 at window end", s)
		}
		got[s.KPI] = s
	}
	if s := got["latency:items_by_id"]; s.Count != 40 || s.Value <= 0 || s.Value > 50 {
		t.Errorf("latency:items_by_id = %+v, want 40 calls with a small mean", s)
	}
	if s := got[judge.KPIErrorRate]; s.Errors != 5 || s.Count < 45 {
		t.Errorf("error_rate = %+v, want 5 rollbacks out of >= 45 transactions", s)
	}
	if s := got[judge.KPIDeadlocks]; s.Errors != 0 || s.Count == 0 {
		t.Errorf("deadlocks = %+v", s)
	}
	if s := got[judge.KPILockWaits]; s.Value < 1 {
		t.Errorf("lock_waits = %+v, want >= 1 waiting session", s)
	}

	// Idempotent: the same window again is answered from the store.
	start := time.Now()
	again, err := src.Collect(ctx, target, from, to)
	if err != nil || !reflect.DeepEqual(samplesJSONish(again), samplesJSONish(samples)) || time.Since(start) > 100*time.Millisecond {
		t.Errorf("second Collect: err=%v, %d samples vs %d, took %v", err, len(again), len(samples), time.Since(start))
	}
	// A past window never collected is lost.
	if _, err := src.Collect(ctx, target, from.Add(-time.Hour), to.Add(-time.Hour)); !errors.Is(err, ErrWindowLost) {
		t.Errorf("past window: %v, want ErrWindowLost", err)
	}
	// The next window starts from the stored snapshot at to: no lookups
	// happened, so no latency sample.
	next, err := src.Collect(ctx, target, to, to.Add(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range next {
		if s.KPI == "latency:items_by_id" {
			t.Errorf("next window has %+v, want no lookups", s)
		}
	}
}

// samplesJSONish normalizes times (monotonic clock readings) for comparison.
func samplesJSONish(s []judge.Sample) []judge.Sample {
	out := append([]judge.Sample(nil), s...)
	for i := range out {
		out[i].At = out[i].At.UTC().Round(0)
	}
	return out
}

// TestPgstatResumesFromDirStore: a new source over the same DirStore (a
// restarted daemon) answers an already collected window identically.
func TestPgstatResumesFromDirStore(t *testing.T) {
	t.Parallel()
	dsn := kpiTestDB(t)
	ctx := context.Background()
	store, err := NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Instance: "db1", DSN: dsn}
	first, err := NewPgstat(PgstatConfig{}, store)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Warm(ctx, target); err != nil {
		t.Fatal(err)
	}
	from := time.Now()
	to := from.Add(time.Second)
	a, err := first.Collect(ctx, target, from, to)
	first.Close()
	if err != nil || len(a) == 0 {
		t.Fatalf("collect: %v (%d samples)", err, len(a))
	}
	second, err := NewPgstat(PgstatConfig{}, store)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	b, err := second.Collect(ctx, target, from, to)
	if err != nil || !reflect.DeepEqual(samplesJSONish(a), samplesJSONish(b)) {
		t.Errorf("after restart: err=%v\n got %+v\nwant %+v", err, b, a)
	}
	if _, err := NewPgstat(PgstatConfig{Classes: map[string]string{"bad": "("}}, nil); !errors.Is(err, ErrBadConfig) {
		t.Errorf("bad regexp: %v", err)
	}
}
