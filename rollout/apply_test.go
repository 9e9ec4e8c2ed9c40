package rollout

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// testChange builds a Plan from up and down SQL.
func testChange(version int64, name, up, down string, tables []string, lock string) *Plan {
	src := "-- +goose Up\n" + up + "\n-- +goose Down\n" + down + "\n"
	return &Plan{Version: version, Name: name, Source: []byte(src), Tables: tables, Lock: lock}
}

func fastCanary() CanaryConfig {
	return CanaryConfig{LockTimeout: 100 * time.Millisecond, Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		LongTransaction: 300 * time.Millisecond, Interval: 200 * time.Millisecond, Bake: 2 * time.Second}
}

// holdLock opens a transaction that runs stmt and keeps it open until the
// returned function is called.
func holdLock(t *testing.T, dsn, stmt string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, stmt); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_ = tx.Commit(ctx)
			conn.Close(ctx)
		})
	}
	t.Cleanup(release)
	return release
}

func TestApplyRevertLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	pgtest.Exec(t, dsn, "CREATE TABLE orders (id bigserial PRIMARY KEY, total int)")
	inst := Instance{Name: "db1", DSN: dsn}
	ch := testChange(20240101000001, "add_note", "ALTER TABLE orders ADD COLUMN note text;", "ALTER TABLE orders DROP COLUMN note;",
		[]string{"public.orders"}, "AccessExclusiveLock")
	var mu sync.Mutex
	var steps []Step
	a, err := NewApplier(fastCanary(), WithObserver(func(e Event) { mu.Lock(); steps = append(steps, e.Step); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	colCount := "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'note'"
	for round := 0; round < 2; round++ {
		res, err := a.Apply(ctx, inst, ch)
		if err != nil || res.AlreadyDone || res.Attempts != 1 {
			t.Fatalf("round %d apply: %+v %v", round, res, err)
		}
		if pgtest.QueryInt(t, dsn, colCount) != 1 || pgtest.QueryInt(t, dsn, "SELECT count(*) FROM goose_db_version WHERE version_id = $1", ch.Version) != 1 {
			t.Fatalf("round %d: column or goose row missing after apply", round)
		}
		if ok, err := a.Applied(ctx, inst, ch.Version); err != nil || !ok {
			t.Fatalf("Applied = %v, %v", ok, err)
		}
		res, err = a.Apply(ctx, inst, ch)
		if err != nil || !res.AlreadyDone {
			t.Fatalf("second apply not idempotent: %+v %v", res, err)
		}
		res, err = a.Revert(ctx, inst, ch)
		if err != nil || res.AlreadyDone {
			t.Fatalf("revert: %+v %v", res, err)
		}
		if pgtest.QueryInt(t, dsn, colCount) != 0 || pgtest.QueryInt(t, dsn, "SELECT count(*) FROM goose_db_version WHERE version_id = $1", ch.Version) != 0 {
			t.Fatalf("round %d: column or goose row still there after revert", round)
		}
		if res, err := a.Revert(ctx, inst, ch); err != nil || !res.AlreadyDone {
			t.Fatalf("second revert not idempotent: %+v %v", res, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(steps) == 0 || steps[0] != StepApplied {
		t.Fatalf("events: %v", steps)
	}
}

func TestApplyOutOfOrderWithOtherVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	inst := Instance{Name: "db1", DSN: dsn}
	a, err := NewApplier(fastCanary())
	if err != nil {
		t.Fatal(err)
	}
	later := testChange(3, "t3", "CREATE TABLE t3 (id int);", "DROP TABLE t3;", nil, "")
	earlier := testChange(2, "t2", "CREATE TABLE t2 (id int);", "DROP TABLE t2;", nil, "")
	for _, ch := range []*Plan{later, earlier} {
		if _, err := a.Apply(ctx, inst, ch); err != nil {
			t.Fatalf("apply %d: %v", ch.Version, err)
		}
	}
	if _, err := a.Revert(ctx, inst, later); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Applied(ctx, inst, 2); !ok {
		t.Fatal("version 2 lost")
	}
}

func TestApplyMigrationErrorIsApplyError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	inst := Instance{Name: "db1", DSN: dsn}
	a, _ := NewApplier(fastCanary())
	ch := testChange(7, "bad", "CREATE TABLE ok (id int);\nALTER TABLE missing ADD COLUMN x int;", "DROP TABLE ok;", nil, "")
	_, err := a.Apply(ctx, inst, ch)
	var ae *ApplyError
	if !errors.As(err, &ae) || errors.Is(err, ErrLockTimeout) {
		t.Fatalf("want *ApplyError, got %T %v", err, err)
	}
	if pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_class WHERE relname = 'ok'") != 0 {
		t.Fatal("failed transactional migration left a table behind")
	}
	if ok, _ := a.Applied(ctx, inst, 7); ok {
		t.Fatal("failed migration recorded as applied")
	}
}

func TestApplyWaitsForLongTransactionWithoutQueueing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	pgtest.Exec(t, dsn, "CREATE TABLE hot (id int PRIMARY KEY)", "INSERT INTO hot SELECT generate_series(1, 100)")
	release := holdLock(t, dsn, "SELECT count(*) FROM hot")
	time.Sleep(400 * time.Millisecond) // older than LongTransaction
	inst := Instance{Name: "db1", DSN: dsn}
	a, _ := NewApplier(fastCanary())
	ch := testChange(11, "add_col", "ALTER TABLE hot ADD COLUMN note text;", "ALTER TABLE hot DROP COLUMN note;", []string{"public.hot"}, "AccessExclusiveLock")
	done := make(chan error, 1)
	var res *StepResult
	go func() {
		var err error
		res, err = a.Apply(ctx, inst, ch)
		done <- err
	}()
	// While the applier waits it requests no lock, so nobody queues
	// behind it: pg_locks shows no ungranted lock, and readers get through.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		var waiting, n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
			WHERE NOT l.granted AND d.datname = current_database()`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting != 0 {
			t.Fatalf("%d lock request(s) queued while the applier waited", waiting)
		}
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM hot").Scan(&n); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("apply finished while a long transaction held the table: %v", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 1 || res.Waited < 500*time.Millisecond {
		t.Fatalf("want one attempt after waiting >= 0.5s, got %+v", res)
	}
}

func TestApplyGivesUpWithLockTimeoutError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	pgtest.Exec(t, dsn, "CREATE TABLE hot (id int PRIMARY KEY)")
	holdLock(t, dsn, "SELECT count(*) FROM hot")
	time.Sleep(400 * time.Millisecond)
	cfg := fastCanary()
	cfg.MaxWait = 500 * time.Millisecond
	a, _ := NewApplier(cfg)
	inst := Instance{Name: "db1", DSN: dsn}
	ch := testChange(12, "add_col", "ALTER TABLE hot ADD COLUMN note text;", "ALTER TABLE hot DROP COLUMN note;", []string{"public.hot"}, "AccessExclusiveLock")
	_, err := a.Apply(ctx, inst, ch)
	var lte *LockTimeoutError
	if !errors.Is(err, ErrLockTimeout) || !errors.As(err, &lte) || len(lte.Holders) != 1 || lte.Holders[0].Mode != "AccessShareLock" {
		t.Fatalf("want LockTimeoutError naming the AccessShareLock holder, got %v", err)
	}
	if !strings.Contains(err.Error(), "SELECT count(*) FROM hot") {
		t.Fatalf("error does not show the holder's query: %v", err)
	}
}

func TestApplyRetriesLockTimeouts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	pgtest.Exec(t, dsn, "CREATE TABLE hot (id int PRIMARY KEY)")
	release := holdLock(t, dsn, "SELECT count(*) FROM hot")
	time.AfterFunc(600*time.Millisecond, release)
	cfg := fastCanary()
	cfg.LongTransaction = time.Hour // never wait: exercise the retries
	cfg.Retries = 50
	a, _ := NewApplier(cfg)
	inst := Instance{Name: "db1", DSN: dsn}
	ch := testChange(13, "add_col", "ALTER TABLE hot ADD COLUMN note text;", "ALTER TABLE hot DROP COLUMN note;", []string{"public.hot"}, "AccessExclusiveLock")
	res, err := a.Apply(ctx, inst, ch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts < 2 {
		t.Fatalf("want retries after lock timeouts, got %+v", res)
	}
}

func TestApplyFailedConcurrentIndexLeavesNoInvalidIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	pgtest.Exec(t, dsn, "CREATE TABLE hot (id int PRIMARY KEY, v int)")
	inst := Instance{Name: "db1", DSN: dsn}
	src := "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY hot_v_idx ON hot (v);\n-- +goose Down\nDROP INDEX CONCURRENTLY hot_v_idx;\n"
	ch := &Plan{Version: 14, Name: "idx", Source: []byte(src), Tables: []string{"public.hot"}, Lock: "ShareUpdateExclusiveLock", NoTransaction: true,
		Indexes: []IndexRef{{Schema: "public", Table: "hot", Name: "hot_v_idx"}}}
	validIdx := "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'hot_v_idx' AND i.indisvalid"
	anyIdx := "SELECT count(*) FROM pg_class WHERE relname = 'hot_v_idx'"

	// 1. An open writer makes CREATE INDEX CONCURRENTLY time out after it
	// created its catalog entry; the writer ends after a second, so the
	// cleanup (DROP INDEX CONCURRENTLY) and a retry succeed.
	release := holdLock(t, dsn, "INSERT INTO hot VALUES (1, 1)")
	time.AfterFunc(time.Second, release)
	cfg := fastCanary()
	cfg.LongTransaction = time.Hour // attempt at once: exercise the failure
	a, _ := NewApplier(cfg)
	res, err := a.Apply(ctx, inst, ch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.CleanedIndexes) == 0 || res.Attempts < 2 || pgtest.QueryInt(t, dsn, validIdx) != 1 {
		t.Fatalf("want a cleaned INVALID index, a retry and a valid index at the end: %+v", res)
	}
	if _, err := a.Revert(ctx, inst, ch); err != nil || pgtest.QueryInt(t, dsn, anyIdx) != 0 {
		t.Fatalf("revert: %v", err)
	}

	// 2. The writer stays past max_wait: the applier gives up with
	// ErrLockTimeout; the INVALID index it could not drop is dropped by
	// the next Apply before it tries again.
	release = holdLock(t, dsn, "INSERT INTO hot VALUES (2, 2)")
	cfg.MaxWait = 300 * time.Millisecond
	cfg.Retries = 1
	a, _ = NewApplier(cfg)
	if _, err := a.Apply(ctx, inst, ch); !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("want ErrLockTimeout, got %v", err)
	}
	release()
	res, err = a.Apply(ctx, inst, ch)
	if err != nil {
		t.Fatal(err)
	}
	if pgtest.QueryInt(t, dsn, validIdx) != 1 || pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_index WHERE NOT indisvalid") != 0 {
		t.Fatalf("index not valid or INVALID leftovers remain: %+v", res)
	}

	// 3. Someone else's INVALID index whose name the migration's text
	// contains ("hot_v" in "hot_v_idx") is not the change's: it stays.
	if _, err := a.Revert(ctx, inst, ch); err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, dsn, "INSERT INTO hot VALUES (3, 7), (4, 7)")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE UNIQUE INDEX CONCURRENTLY hot_v ON hot (v)"); err == nil {
		t.Fatal("a unique index over duplicates was built")
	}
	conn.Close(ctx)
	otherInvalid := "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'hot_v' AND NOT i.indisvalid"
	if pgtest.QueryInt(t, dsn, otherInvalid) != 1 {
		t.Fatal("no INVALID index hot_v to leave alone")
	}
	res, err = a.Apply(ctx, inst, ch)
	if err != nil {
		t.Fatal(err)
	}
	if pgtest.QueryInt(t, dsn, otherInvalid) != 1 || len(res.CleanedIndexes) != 0 {
		t.Fatalf("the apply dropped an INVALID index it did not create (cleaned %v)", res.CleanedIndexes)
	}
}

func TestConflictingModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode string
		want string
	}{
		{"AccessShareLock", "AccessExclusiveLock"},
		{"ACCESS EXCLUSIVE", "AccessShareLock,RowShareLock,RowExclusiveLock,ShareUpdateExclusiveLock,ShareLock,ShareRowExclusiveLock,ExclusiveLock,AccessExclusiveLock"},
		{"ShareUpdateExclusiveLock", "ShareUpdateExclusiveLock,ShareLock,ShareRowExclusiveLock,ExclusiveLock,AccessExclusiveLock"},
		{"share", "RowExclusiveLock,ShareUpdateExclusiveLock,ShareRowExclusiveLock,ExclusiveLock,AccessExclusiveLock"},
		{"ShareRowExclusiveLock", "RowExclusiveLock,ShareUpdateExclusiveLock,ShareLock,ShareRowExclusiveLock,ExclusiveLock,AccessExclusiveLock"},
		{"RowExclusiveLock", "ShareLock,ShareRowExclusiveLock,ExclusiveLock,AccessExclusiveLock"},
		{"", "AccessShareLock,RowShareLock,RowExclusiveLock,ShareUpdateExclusiveLock,ShareLock,ShareRowExclusiveLock,ExclusiveLock,AccessExclusiveLock"},
	}
	for _, tt := range tests {
		if got := strings.Join(ConflictingModes(tt.mode), ","); got != tt.want {
			t.Errorf("ConflictingModes(%q) = %s, want %s", tt.mode, got, tt.want)
		}
	}
	// The matrix is symmetric, as PostgreSQL's is.
	for i := range lockModes {
		for _, j := range conflictMatrix[i] {
			found := false
			for _, k := range conflictMatrix[j] {
				found = found || k == i
			}
			if !found {
				t.Errorf("%s conflicts with %s but not the reverse", lockModes[i], lockModes[j])
			}
		}
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	t.Parallel()
	for attempt := 1; attempt <= 8; attempt++ {
		base := min(100*time.Millisecond<<(attempt-1), time.Second)
		for i := 0; i < 50; i++ {
			d := backoff(100*time.Millisecond, time.Second, attempt)
			if d < base/2 || d > base*3/2 {
				t.Fatalf("attempt %d: %s outside [%s, %s]", attempt, d, base/2, base*3/2)
			}
		}
	}
}

// A NO TRANSACTION migration whose second statement fails after the first
// committed is not run again (its first statement would run twice): a
// lock timeout there is not retried, and every such error says the
// migration is partly applied and how far it got.
func TestApplyDoesNotRerunAPartlyAppliedNoTransactionMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	pgtest.Exec(t, dsn, "CREATE TABLE hot (id int PRIMARY KEY)")
	pgtest.Exec(t, dsn, "CREATE TABLE audit (n int)")
	release := holdLock(t, dsn, "SELECT count(*) FROM hot")
	cfg := fastCanary()
	cfg.LongTransaction = time.Hour // attempt at once: exercise the lock timeout
	cfg.Retries = 5
	a, _ := NewApplier(cfg)
	inst := Instance{Name: "db1", DSN: dsn}
	src := "-- +goose NO TRANSACTION\n-- +goose Up\nINSERT INTO audit VALUES (1);\nALTER TABLE hot ADD COLUMN note text;\n" +
		"-- +goose Down\nALTER TABLE hot DROP COLUMN note;\nDELETE FROM audit;\n"
	ch := &Plan{Version: 15, Name: "partly", Source: []byte(src), Tables: []string{"public.audit", "public.hot"},
		Lock: "AccessExclusiveLock", NoTransaction: true}
	res, err := a.Apply(ctx, inst, ch)
	var ae *ApplyError
	if !errors.As(err, &ae) || !errors.Is(err, ErrPartlyApplied) || errors.Is(err, ErrLockTimeout) {
		t.Fatalf("want an ApplyError wrapping ErrPartlyApplied, got %v", err)
	}
	if !strings.Contains(err.Error(), "statement 2") || !strings.Contains(err.Error(), "the 1 before it committed") {
		t.Errorf("the error does not say how far the migration got: %v", err)
	}
	if res.Attempts != 1 || pgtest.QueryInt(t, dsn, "SELECT count(*) FROM audit") != 1 {
		t.Fatalf("attempts %d, %d audit rows: the committed INSERT ran again", res.Attempts, pgtest.QueryInt(t, dsn, "SELECT count(*) FROM audit"))
	}
	if applied, err := a.Applied(ctx, inst, 15); err != nil || applied {
		t.Fatalf("applied %v (%v): goose must not record a partly applied migration", applied, err)
	}

	// Any other failure after the first statement says so too.
	pgtest.Exec(t, dsn, "DELETE FROM audit")
	broken := &Plan{Version: 17, Name: "broken", NoTransaction: true, Tables: []string{"public.audit"}, Lock: "RowExclusiveLock",
		Source: []byte("-- +goose NO TRANSACTION\n-- +goose Up\nINSERT INTO audit VALUES (1);\nINSERT INTO no_such_table VALUES (1);\n" +
			"-- +goose Down\nDELETE FROM audit;\n")}
	if _, err := a.Apply(ctx, inst, broken); !errors.Is(err, ErrPartlyApplied) || !strings.Contains(err.Error(), "no_such_table") {
		t.Fatalf("want ErrPartlyApplied with the cause, got %v", err)
	}

	// A lock timeout on the first statement committed nothing: retried.
	pgtest.Exec(t, dsn, "DELETE FROM audit")
	first := &Plan{Version: 16, Name: "first", NoTransaction: true, Tables: []string{"public.audit", "public.hot"}, Lock: "AccessExclusiveLock",
		Source: []byte("-- +goose NO TRANSACTION\n-- +goose Up\nALTER TABLE hot ADD COLUMN note text;\nINSERT INTO audit VALUES (1);\n" +
			"-- +goose Down\nDELETE FROM audit;\nALTER TABLE hot DROP COLUMN note;\n")}
	time.AfterFunc(600*time.Millisecond, release)
	cfg.Retries = 50
	a, _ = NewApplier(cfg)
	res, err = a.Apply(ctx, inst, first)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts < 2 || pgtest.QueryInt(t, dsn, "SELECT count(*) FROM audit") != 1 {
		t.Fatalf("want retries and one audit row, got %+v and %d rows", res, pgtest.QueryInt(t, dsn, "SELECT count(*) FROM audit"))
	}
}
