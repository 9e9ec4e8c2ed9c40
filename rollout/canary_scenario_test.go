package rollout

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/rollout/judge"
)

func scenariosOn(t *testing.T) {
	t.Helper()
	if os.Getenv("SCHEMACANARY_SCENARIOS") != "1" {
		t.Skip("scenario: set SCHEMACANARY_SCENARIOS=1")
	}
}

// scenarioFleet is a canary and a control database with a write-heavy
// table under open-loop load, and a canary runner probing the hot UPDATE
// and a hot SELECT.
type scenarioFleet struct {
	canaryDSN, controlDSN string
	fleet                 *Fleet
	canary                *Canary
}

func newScenarioFleet(t *testing.T) *scenarioFleet {
	t.Helper()
	const rows = 50000
	s := &scenarioFleet{canaryDSN: shopDB(t, rows), controlDSN: shopDB(t, rows)}
	load(t, s.canaryDSN, rows)
	load(t, s.controlDSN, rows)
	var err error
	s.fleet, err = NewFleet([]Instance{{Name: "canary", Group: "canary", DSN: s.canaryDSN}, {Name: "control", DSN: s.controlDSN}},
		FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}})
	if err != nil {
		t.Fatal(err)
	}
	probe, err := NewProbe([]ProbeConfig{
		{Name: "hot_update", SQL: "UPDATE items SET payload = md5(random()::text) WHERE id = 4242", Rate: 50},
		{Name: "hot_read", SQL: "SELECT payload FROM items WHERE v = 777", Rate: 20},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(probe.Close)
	cfg := fastCanary()
	cfg.Interval = 500 * time.Millisecond
	cfg.Baseline = 4 * time.Second
	cfg.Bake = 3 * time.Second
	cfg.MaxBake = 6 * time.Second
	s.canary, err = NewCanary(cfg, RollbackConfig{}, WithSources(probe))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestScenarioSafeChangeNoFalseRollbacks: a safe change (a nullable
// column) under the same noisy load, 20 runs, must never be rolled back.
func TestScenarioSafeChangeNoFalseRollbacks(t *testing.T) {
	scenariosOn(t)
	s := newScenarioFleet(t)
	ctx := context.Background()
	rollbacks := 0
	for run := 1; run <= 20; run++ {
		ch := testChange(int64(1000+run), fmt.Sprintf("add_c%d", run),
			fmt.Sprintf("ALTER TABLE items ADD COLUMN c%d text;", run), fmt.Sprintf("ALTER TABLE items DROP COLUMN c%d;", run),
			[]string{"public.items"}, "AccessExclusiveLock")
		res, err := s.canary.Run(ctx, s.fleet, ch, nil)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if res.RolledBack() {
			rollbacks++
			t.Logf("run %d: FALSE ROLLBACK: %s", run, res.Reason)
			for _, v := range res.Decision.Failed() {
				t.Logf("  %s", v)
			}
		}
	}
	t.Logf("safe change: %d rollbacks in 20 runs", rollbacks)
	if rollbacks != 0 {
		t.Fatalf("%d false rollbacks in 20 runs", rollbacks)
	}
}

// TestScenarioSubtleHarmDetected: a trigger that makes the hot UPDATE
// about 1.5× slower (it sleeps half the UPDATE's probed median) must be rolled back in >= 19 of 20 runs, within 3
// judged intervals.
func TestScenarioSubtleHarmDetected(t *testing.T) {
	scenariosOn(t)
	s := newScenarioFleet(t)
	ctx := context.Background()
	hot := "UPDATE items SET payload = md5(random()::text) WHERE id = 4242"
	// Calibrate the trigger's loop so it adds about half the hot
	// statement's median latency on this machine.
	calib, err := NewProbe([]ProbeConfig{{Name: "hot_update", SQL: hot, Rate: 50}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer calib.Close()
	target := s.fleet.Instances[0].Target()
	detected, within3 := 0, 0
	var mu sync.Mutex
	var times []time.Duration
	for run := 1; run <= 20; run++ {
		v := int64(2000 + run)
		// Calibrate the trigger before each run, under the current load:
		// it adds about half the hot statement's median latency.
		var samples []judge.Sample
		for try := 0; ; try++ {
			from := time.Now().Add(300 * time.Millisecond)
			samples, err = calib.Collect(ctx, target, from, from.Add(time.Second))
			if err == nil {
				break
			}
			if try == 3 {
				t.Fatal(err)
			}
		}
		var lat []time.Duration
		for _, x := range judge.SelectKPI(samples, judge.KPILatencyPrefix+"hot_update") {
			lat = append(lat, time.Duration(x.Value*float64(time.Millisecond)))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		base := lat[len(lat)/2] // as the probe sees it: from the scheduled start
		// The trigger sleeps half the median: a fixed wall-clock cost that
		// a loaded machine cannot blur (a CPU loop's cost varies with load).
		sleepMs := max(int(math.Ceil(float64(base)/2/float64(time.Millisecond))), 1)
		up := fmt.Sprintf(`CREATE FUNCTION slow_%d() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(%g); RETURN NEW; END $$;
CREATE TRIGGER slow_%d BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION slow_%d();`, run, float64(sleepMs)/1000, run, run)
		down := fmt.Sprintf("DROP TRIGGER slow_%d ON items;\nDROP FUNCTION slow_%d();", run, run)
		ch := testChange(v, fmt.Sprintf("slow_%d", run), up, down, []string{"public.items"}, "ShareRowExclusiveLock")
		res, err := s.canary.Run(ctx, s.fleet, ch, nil)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if res.RolledBack() {
			detected++
			if res.Judgements <= 3 {
				within3++
			}
			mu.Lock()
			times = append(times, res.TimeToRollback)
			mu.Unlock()
		}
		t.Logf("run %d (hot UPDATE median %s as probed, trigger sleeps %d ms): %s after %d interval(s): %s", run, base, sleepMs, res.Status, res.Judgements, res.Reason)
		if !res.RolledBack() && res.Decision != nil {
			for _, v := range res.Decision.Verdicts {
				t.Logf("  %s", v)
			}
			// A miss promoted the trigger to the control too: take it
			// out everywhere so the next run starts clean.
			for _, in := range s.fleet.Instances {
				if _, err := s.canary.Rollbacker().Rollback(ctx, in, ch, "scenario cleanup"); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	if len(times) > 0 {
		t.Logf("subtle harm: detected %d/20, within 3 intervals %d/20; apply → rollback median %s", detected, within3, times[len(times)/2])
	}
	if within3 < 19 {
		t.Fatalf("subtle harm detected within 3 intervals in %d/20 runs (detected at all: %d)", within3, detected)
	}
}
