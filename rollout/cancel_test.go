package rollout

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// waitRunning waits until a session of the database runs a statement
// containing what, and returns its pid.
func waitRunning(t *testing.T, dsn, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE $1", "%"+what+"%") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no session ever ran %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stillRunning counts sessions of the database, other than the query's own,
// that run (or sit in a transaction after) a statement containing what.
func stillRunning(t *testing.T, dsn, what string) int {
	t.Helper()
	return pgtest.QueryInt(t, dsn, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
		AND state <> 'idle' AND query LIKE $1`, "%"+what+"%")
}

// eventually polls cond for up to 10 s (the server needs a moment to see a
// cancel request or a closed connection).
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCancelStopsApplyAndRollbackOnTheServer: cancelling the context of an
// Apply or a Rollback whose statement is running (a daemon stopping)
// returns an "interrupted" error that wraps context.Canceled (not a
// migration failure), cancels the statement on the server (no session of
// ours keeps running it or holding its locks), and leaves the goose table
// as it was, so the next call resumes: the apply commits, the rollback
// completes.
func TestCancelStopsApplyAndRollbackOnTheServer(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	inst := Instance{Name: "db1", DSN: dsn}
	pgtest.Exec(t, dsn, "CREATE TABLE items (id int)", "CREATE TABLE delay (up float8, down float8)", "INSERT INTO delay VALUES (60, 0)")
	ch := testChange(5, "slow",
		"ALTER TABLE items ADD COLUMN note text;\nSELECT pg_sleep(up) FROM delay;",
		"SELECT pg_sleep(down) FROM delay;\nALTER TABLE items DROP COLUMN note;",
		[]string{"public.items", "public.delay"}, "AccessExclusiveLock")
	a, err := NewApplier(fastCanary())
	if err != nil {
		t.Fatal(err)
	}
	rb, err := NewRollbacker(RollbackConfig{}, fastCanary())
	if err != nil {
		t.Fatal(err)
	}
	goose := func() int {
		return pgtest.QueryInt(t, dsn, "SELECT count(*) FROM goose_db_version WHERE version_id = 5")
	}
	interrupt := func(name string, call func(context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- call(ctx) }()
		waitRunning(t, dsn, "pg_sleep")
		cancel()
		var err error
		select {
		case err = <-errc:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s ignored the cancel", name)
		}
		var ae *ApplyError
		if !errors.Is(err, context.Canceled) || errors.As(err, &ae) || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("%s after cancel: %v (%T), want an interruption wrapping context.Canceled", name, err, err)
		}
		eventually(t, func() bool { return stillRunning(t, dsn, "pg_sleep") == 0 }, name+": statement still running on the server")
	}

	interrupt("apply", func(ctx context.Context) error { _, err := a.Apply(ctx, inst, ch); return err })
	if n := goose(); n != 0 {
		t.Fatalf("goose rows after the interrupted apply: %d, want 0", n)
	}
	if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'note'"); n != 0 {
		t.Fatalf("the interrupted apply left its column")
	}
	pgtest.Exec(t, dsn, "UPDATE delay SET up = 0, down = 60")
	if _, err := a.Apply(context.Background(), inst, ch); err != nil || goose() != 1 {
		t.Fatalf("apply after the interruption: %v, goose rows %d", err, goose())
	}

	interrupt("rollback", func(ctx context.Context) error { _, err := rb.Rollback(ctx, inst, ch, "test"); return err })
	if n := goose(); n != 1 {
		t.Fatalf("goose rows after the interrupted rollback: %d, want 1 (still applied)", n)
	}
	pgtest.Exec(t, dsn, "UPDATE delay SET down = 0")
	res, err := rb.Rollback(context.Background(), inst, ch, "test")
	if err != nil || res.AlreadyDone || goose() != 0 {
		t.Fatalf("rollback after the interruption: %+v %v, goose rows %d", res, err, goose())
	}
}
