package rollout

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	from := time.Now()
	to := from.Add(1500 * time.Millisecond)

	// Hold a lock on items for 400 ms in the middle: the open-loop probe
	// shows the wait for every execution scheduled behind it.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	lockAt := from.Add(500 * time.Millisecond)
	go func() {
		_ = sleepUntil(ctx, lockAt)
		tx, err := conn.Begin(ctx)
		if err != nil {
			return
		}
		_, _ = tx.Exec(ctx, "LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
		time.Sleep(400 * time.Millisecond)
		_ = tx.Rollback(ctx)
	}()

	samples, err := src.Collect(ctx, target, from, to)
	if err != nil {
		t.Fatal(err)
	}
	sleepy := SelectKPI(samples, "latency:sleepy")
	if len(sleepy) < 50 || len(sleepy) > 61 {
		t.Errorf("sleepy: %d samples, want ~60 at 40/s over 1.5 s", len(sleepy))
	}
	for _, s := range sleepy {
		if s.Value < 5 || s.At.Before(from) || !s.At.Before(to) {
			t.Errorf("sleepy sample %+v: want >= 5 ms inside the window", s)
			break
		}
	}
	if got := SelectKPI(samples, "latency:broken"); len(got) != 0 {
		t.Errorf("failed executions must not give latency samples: %d", len(got))
	}
	er := SelectKPI(samples, "error_rate:broken")
	if len(er) != 1 || er[0].Errors != er[0].Count || er[0].Count < 25 || er[0].Value != 1 {
		t.Errorf("error_rate:broken = %+v, want every execution failed", er)
	}
	if KindOf("error_rate:broken") != KindProportion {
		t.Error("probe error rates must be judged as proportions")
	}
	slow := 0
	for _, s := range SelectKPI(samples, "latency:items") {
		if s.At.After(lockAt.Add(50*time.Millisecond)) && s.At.Before(lockAt.Add(250*time.Millisecond)) && s.Value > 100 {
			slow++
		}
	}
	if slow < 5 {
		t.Errorf("%d items probes scheduled during the lock took > 100 ms, want >= 5 (open loop)", slow)
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
