package rollout

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/rollout/judge"
	"github.com/schemacanary/schemacanary/rollout/kpi"
)

// TestWatchCatchesARegressionAfterTheLastWave: a dropped index harms a
// query that only starts running once every wave has passed (a job that
// begins later, here a flag the test flips when the watch starts). The
// canary and the wave saw nothing; the production watch compares the last
// wave with its pre-change baseline, fails, and rolls the change back
// everywhere (on_wave_failure: rollback_all).
func TestWatchCatchesARegressionAfterTheLastWave(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const rows = 200000
	small, big := shopDB(t, 100), shopDB(t, rows)
	for _, dsn := range []string{small, big} {
		pgtest.Exec(t, dsn, "CREATE TABLE job (running boolean NOT NULL)", "INSERT INTO job VALUES (false)")
	}
	fleet, err := NewFleet([]Instance{{Name: "c1", Group: "canary", DSN: small}, {Name: "m1", DSN: big}},
		FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []Event
	var once sync.Once
	c := testCanary(t, &events, &mu, kpi.ProbeConfig{Name: "job",
		SQL: "SELECT CASE WHEN (SELECT running FROM job) THEN (SELECT count(*) FROM items WHERE v = 4242) ELSE 0 END", Rate: 20})
	c.cfg.Watch = 4 * time.Second
	c.em.observe = func(e Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
		if e.Step == StepWatch {
			once.Do(func() {
				for _, dsn := range []string{small, big} {
					pgtest.Exec(t, dsn, "UPDATE job SET running = true")
				}
			})
		}
	}
	ch := testChange(912, "drop_v_idx", "DROP INDEX items_v_idx;", "CREATE INDEX items_v_idx ON items (v);", []string{"public.items"}, "AccessExclusiveLock")
	var phases []Phase
	res, err := c.Run(ctx, fleet, ch, nil, OnCheckpoint(func(cp Checkpoint) { phases = append(phases, cp.Phase) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s", res.Status, res.Reason)
	if len(res.Waves) != 1 || res.Waves[0].Decision.Outcome == judge.Fail {
		t.Fatalf("wave judgements %+v: the wave should not see the job that has not started", res.Waves)
	}
	if res.Watch == nil || res.Watch.Outcome != judge.Fail || res.Status != StatusRolledBack || !strings.Contains(res.Reason, "the production watch failed its judgement") {
		t.Fatalf("watch %+v, status %s: %s; want the watch to fail and roll back", res.Watch, res.Status, res.Reason)
	}
	if v := res.Watch.Failed(); len(v) == 0 || v[0].KPI != "latency:job" {
		t.Errorf("failing verdicts %v, want latency:job", v)
	}
	sawWatch := false
	for _, p := range phases {
		sawWatch = sawWatch || p == PhaseWatch
	}
	if !sawWatch {
		t.Errorf("no watch checkpoint in %v", phases)
	}
	for _, dsn := range []string{small, big} {
		if n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_v_idx'"); n != 1 {
			t.Error("the change is still applied somewhere after the watch failed")
		}
	}
}
