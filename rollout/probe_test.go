package rollout

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/schemacanary/schemacanary/rollout/judge"
)

func TestProbeLatencyAndErrors(t *testing.T) {
	t.Parallel()
	dsn := kpiTestDB(t)
	ctx := context.Background()
	src, err := NewProbe([]ProbeConfig{
		{Name: "sleepy", SQL: "SELECT pg_sleep(0.005)", Rate: 40},
		{Name: "broken", SQL: "SELECT 1/0", Rate: 20},
		{Name: "items", SQL: "SELECT count(*) FROM items", Rate: 40},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	target := Target{Instance: "db1", DSN: dsn}
	if err := src.Warm(ctx, target); err != nil {
		t.Fatal(err)
	}
	// Hold a lock on items from before the window until 600 ms into it:
	// the open-loop probe shows the wait for every execution scheduled
	// while it is held, not just the few in flight.
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
	from := time.Now()
	to := from.Add(1500 * time.Millisecond)
	released := make(chan struct{})
	defer func() { <-released }() // before conn.Close
	go func() {
		defer close(released)
		_ = sleepUntil(ctx, from.Add(600*time.Millisecond))
		_ = tx.Rollback(ctx)
	}()

	samples, err := src.Collect(ctx, target, from, to)
	if err != nil {
		t.Fatal(err)
	}
	sleepy := judge.SelectKPI(samples, "latency:sleepy")
	// ~60 at 40/s over 1.5 s; fewer when a loaded machine starts the
	// schedule late, never more.
	if len(sleepy) < 20 || len(sleepy) > 61 {
		t.Errorf("sleepy: %d samples, want 20..61 at 40/s over 1.5 s", len(sleepy))
	}
	for _, s := range sleepy {
		if s.Value < 5 || s.At.Before(from) || !s.At.Before(to) {
			t.Errorf("sleepy sample %+v: want >= 5 ms inside the window", s)
			break
		}
	}
	if got := judge.SelectKPI(samples, "latency:broken"); len(got) != 0 {
		t.Errorf("failed executions must not give latency samples: %d", len(got))
	}
	er := judge.SelectKPI(samples, "error_rate:broken")
	if len(er) != 1 || er[0].Errors != er[0].Count || er[0].Count < 10 || er[0].Value != 1 {
		t.Errorf("error_rate:broken = %+v, want every execution failed", er)
	}
	if judge.KindOf("error_rate:broken") != judge.KindProportion {
		t.Error("probe error rates must be judged as proportions")
	}
	var slow int
	var worst float64
	for _, s := range judge.SelectKPI(samples, "latency:items") {
		if s.Value > 100 {
			slow++
		}
		worst = max(worst, s.Value)
	}
	if slow < 3 || worst < 300 {
		t.Errorf("%d items probes took > 100 ms (worst %.0f ms), want >= 3 and one >= 300 ms behind a 600 ms lock", slow, worst)
	}
	again, err := src.Collect(ctx, target, from, to)
	if err != nil || len(again) != len(samples) {
		t.Errorf("second Collect: %v, %d vs %d samples", err, len(again), len(samples))
	}
	if _, err := src.Collect(ctx, target, from.Add(-time.Hour), to.Add(-time.Hour)); !errors.Is(err, ErrWindowLost) {
		t.Errorf("past window: %v, want ErrWindowLost", err)
	}
}

func TestProbeConfigValidation(t *testing.T) {
	t.Parallel()
	for _, ps := range [][]ProbeConfig{
		nil,
		{{Name: "", SQL: "SELECT 1"}},
		{{Name: "a", SQL: "SELECT 1"}, {Name: "a", SQL: "SELECT 2"}},
		{{Name: "a"}},
		{{Name: "a", SQL: "SELECT 1", Rate: -1}},
		{{Name: "a", SQL: "SELECT 1", Rate: 5000}},
	} {
		if _, err := NewProbe(ps, nil); !errors.Is(err, ErrBadConfig) {
			t.Errorf("NewProbe(%+v) = %v, want ErrBadConfig", ps, err)
		}
	}
}
