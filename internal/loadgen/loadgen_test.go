package loadgen

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	ok := Statement{Name: "a", SQL: "SELECT 1"}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no dsn", Config{Rate: 1, Statements: []Statement{ok}}},
		{"no rate", Config{DSN: "x", Statements: []Statement{ok}}},
		{"no statements", Config{DSN: "x", Rate: 1}},
		{"duplicate name", Config{DSN: "x", Rate: 1, Statements: []Statement{ok, ok}}},
		{"empty sql", Config{DSN: "x", Rate: 1, Statements: []Statement{{Name: "b"}}}},
		{"negative weight", Config{DSN: "x", Rate: 1, Statements: []Statement{{Name: "b", SQL: "SELECT 1", Weight: -1}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Start(context.Background(), tc.cfg)
			if !errors.Is(err, ErrBadConfig) {
				t.Fatalf("Start: got %v, want ErrBadConfig", err)
			}
		})
	}
}

func setup(t *testing.T) string {
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

func TestRateWeightsAndErrors(t *testing.T) {
	t.Parallel()
	dsn := setup(t)
	ctx := context.Background()
	g, err := Start(ctx, Config{
		DSN: dsn, Rate: 200, Workers: 4, Duration: 1500 * time.Millisecond, Interval: 500 * time.Millisecond,
		Statements: []Statement{
			{Name: "read", SQL: "SELECT note FROM items WHERE id = $1", Weight: 3, Args: []Arg{IntRange(1, 1000)}},
			{Name: "fail", SQL: "SELECT 1 / ($1::int - $1::int)", Weight: 1, Args: []Arg{IntRange(1, 5)}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	res := g.Wait(ctx)
	read, fail := res.Stats["read"], res.Stats["fail"]
	// The schedule follows the clock whatever the server does.
	total := read.Scheduled + fail.Scheduled
	if total < 290 || total > 300 {
		t.Errorf("scheduled %d statements in 1.5 s at 200/s, want ~300", total)
	}
	if share := float64(read.Scheduled) / float64(total); share < 0.65 || share > 0.85 {
		t.Errorf("read share %.2f, want ~0.75 for weights 3:1", share)
	}
	if read.Calls+read.Dropped > read.Scheduled || read.Calls == 0 {
		t.Errorf("read: %d calls + %d dropped of %d scheduled", read.Calls, read.Dropped, read.Scheduled)
	}
	if read.Errors != 0 || len(read.Latencies) != read.Calls {
		t.Errorf("read: %d errors, %d latencies for %d calls", read.Errors, len(read.Latencies), read.Calls)
	}
	if fail.Errors != fail.Calls || fail.ErrorCodes["22012"] != fail.Calls || fail.Calls == 0 {
		t.Errorf("fail: %d calls, errors %v; want every call to fail with 22012", fail.Calls, fail.ErrorCodes)
	}
	if len(read.Intervals) < 3 {
		t.Fatalf("intervals: %d, want >= 3", len(read.Intervals))
	}
	var sum int
	for _, iv := range read.Intervals {
		sum += iv.Calls
	}
	if sum != read.Calls {
		t.Errorf("interval calls sum %d != %d", sum, read.Calls)
	}
	if p50, p99 := read.Quantile(0.5), read.Quantile(0.99); p50 <= 0 || p99 < p50 {
		t.Errorf("read p50 %v, p99 %v", p50, p99)
	}
}

// TestLockPileUpShowsInLatency holds an ACCESS EXCLUSIVE lock for 600 ms:
// because latency runs from the scheduled start, every statement scheduled
// during the lock shows the wait, not just the few that were in flight.
func TestLockPileUpShowsInLatency(t *testing.T) {
	t.Parallel()
	dsn := setup(t)
	ctx := context.Background()
	g, err := Start(ctx, Config{
		DSN: dsn, Rate: 100, Workers: 2,
		Statements: []Statement{{Name: "read", SQL: "SELECT note FROM items WHERE id = $1", Args: []Arg{IntRange(1, 1000)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE items IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	lockedAt := time.Now()
	time.Sleep(600 * time.Millisecond)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	mid := g.Snapshot()
	res := g.Stop()
	if len(mid.Observations) > len(res.Observations) {
		t.Errorf("snapshot has more observations (%d) than the final result (%d)", len(mid.Observations), len(res.Observations))
	}
	slow := 0
	for _, o := range res.Observations {
		if o.Scheduled.After(lockedAt) && o.Scheduled.Before(lockedAt.Add(300*time.Millisecond)) && o.Latency > 300*time.Millisecond {
			slow++
		}
	}
	// ~30 statements were scheduled in the first 300 ms of the lock; all
	// of them waited > 300 ms, though only 2 workers were stuck.
	if slow < 20 {
		t.Errorf("%d statements scheduled during the lock waited > 300 ms, want >= 20", slow)
	}
	if max := res.Stats["read"].Quantile(1); max < 500*time.Millisecond {
		t.Errorf("max latency %v, want >= 500ms behind a 600 ms lock", max)
	}
	if got := res.Between("read", res.Start, lockedAt); len(got) < 20 {
		t.Errorf("Between before the lock: %d samples, want >= 20", len(got))
	}
}
