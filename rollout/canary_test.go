package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/internal/loadgen"
	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/rollout/judge"
	"github.com/schemacanary/schemacanary/rollout/kpi"
)

// shopDB makes a database with a hot, indexed lookup and returns its DSN.
func shopDB(t *testing.T, rows int) string {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	pgtest.Exec(t, dsn,
		"CREATE TABLE items (id bigserial PRIMARY KEY, v int NOT NULL, payload text)",
		fmt.Sprintf("INSERT INTO items (v, payload) SELECT g, md5(g::text) FROM generate_series(1, %d) g", rows),
		"CREATE INDEX items_v_idx ON items (v)",
		"ANALYZE items")
	return dsn
}

// load runs an open-loop read/write mix on dsn until the test ends.
func load(t *testing.T, dsn string, rows int64) {
	t.Helper()
	g, err := loadgen.Start(context.Background(), loadgen.Config{
		DSN: dsn, Rate: 100, Workers: 4,
		Statements: []loadgen.Statement{
			{Name: "read", SQL: "SELECT payload FROM items WHERE id = $1", Weight: 3, Args: []loadgen.Arg{loadgen.IntRange(1, rows)}},
			{Name: "write", SQL: "UPDATE items SET payload = $1 WHERE id = $2", Weight: 1, Args: []loadgen.Arg{loadgen.Text(8), loadgen.IntRange(1, rows)}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Stop() })
}

func testCanary(t *testing.T, events *[]Event, mu *sync.Mutex, probes ...kpi.ProbeConfig) *Canary {
	t.Helper()
	probe, err := kpi.NewProbe(probes, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(probe.Close)
	cfg := fastCanary()
	cfg.Baseline = 2 * time.Second
	cfg.Bake = 3 * time.Second
	cfg.MaxBake = 6 * time.Second
	// The harmful change here makes the probe ~100x slower; a doubling
	// floor keeps a parallel test suite's CPU bursts from failing a safe one.
	cfg.Judge.Tolerances = map[string]float64{"latency": 1.0}
	c, err := NewCanary(cfg, RollbackConfig{}, WithSources(probe), WithObserver(func(e Event) {
		mu.Lock()
		*events = append(*events, e)
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCanaryHarmfulChangeRolledBackOnCanaryOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const rows = 200000
	canaryDSN, controlDSN := shopDB(t, rows), shopDB(t, rows)
	load(t, canaryDSN, rows)
	load(t, controlDSN, rows)
	fleet, err := NewFleet([]Instance{{Name: "c1", Group: "canary", DSN: canaryDSN}, {Name: "m1", DSN: controlDSN}},
		FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []Event
	c := testCanary(t, &events, &mu, kpi.ProbeConfig{Name: "by_v", SQL: "SELECT id FROM items WHERE v = 4242", Rate: 20})
	ch := testChange(900, "drop_v_idx", "DROP INDEX items_v_idx;", "CREATE INDEX items_v_idx ON items (v);", []string{"public.items"}, "AccessExclusiveLock")
	res, err := c.Run(ctx, fleet, ch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusRolledBack || res.Decision == nil || res.Decision.Outcome != judge.Fail {
		t.Fatalf("want rolled back on a Fail, got %s: %s", res.Status, res.Reason)
	}
	var failed []string
	for _, v := range res.Decision.Failed() {
		failed = append(failed, v.String())
		if v.KPI != "latency:by_v" || v.PValue > 0.01 {
			t.Errorf("unexpected failing verdict %s", v)
		}
	}
	if len(failed) == 0 {
		t.Fatal("no failing verdict")
	}
	for _, ir := range res.Instances {
		if ir.Applied {
			t.Errorf("%s still holds the change", ir.Name)
		}
		if ir.Name == "m1" && (ir.Apply != nil || ir.Rollback != nil || !ir.Control) {
			t.Errorf("control was touched: %+v", ir)
		}
	}
	if pgtest.QueryInt(t, controlDSN, "SELECT count(*) FROM pg_class WHERE relname = 'goose_db_version'") != 0 &&
		pgtest.QueryInt(t, controlDSN, "SELECT count(*) FROM goose_db_version WHERE version_id = 900") != 0 {
		t.Error("control's goose table saw the change")
	}
	if pgtest.QueryInt(t, canaryDSN, "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_v_idx'") != 1 {
		t.Error("index not restored on the canary")
	}
	if res.TimeToRollback <= 0 {
		t.Error("time to rollback not measured")
	}
	t.Logf("detected after %d judgement(s); apply → rollback complete: %s; verdicts: %v", res.Judgements, res.TimeToRollback, failed)
}

func TestCanarySafeChangePromotedAndResumable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const rows = 20000
	dsns := []string{shopDB(t, rows), shopDB(t, rows), shopDB(t, rows)}
	for _, d := range dsns {
		load(t, d, rows)
	}
	fleet, err := NewFleet([]Instance{{Name: "c1", Group: "canary", DSN: dsns[0]}, {Name: "m1", DSN: dsns[1]}, {Name: "m2", DSN: dsns[2]}},
		FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "50%"}, {Select: "100%"}}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []Event
	c := testCanary(t, &events, &mu, kpi.ProbeConfig{Name: "by_v", SQL: "SELECT id FROM items WHERE v = 4242", Rate: 20})
	ch := testChange(901, "add_note", "ALTER TABLE items ADD COLUMN note text;", "ALTER TABLE items DROP COLUMN note;", []string{"public.items"}, "AccessExclusiveLock")
	var bakeCP *Checkpoint
	res, err := c.Run(ctx, fleet, ch, nil, OnCheckpoint(func(cp Checkpoint) {
		if cp.Phase == PhaseBake && bakeCP == nil {
			bakeCP = &cp
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	// The baseline covers the canary and the control (for the judge's
	// drift correction) and travels in the checkpoints.
	if bakeCP == nil || len(bakeCP.Baseline) == 0 || len(bakeCP.Baseline) != len(res.Baseline) {
		t.Fatalf("bake checkpoint without the baseline: %+v", bakeCP)
	}
	of := map[string]int{}
	for _, s := range res.Baseline {
		of[s.Instance]++
	}
	for _, ir := range res.Instances {
		if want := ir.Wave == 0 || ir.Control; (of[ir.Name] > 0) != want {
			t.Errorf("baseline samples per instance %v: %s (wave %d, control %v) wrong", of, ir.Name, ir.Wave, ir.Control)
		}
	}
	if res.Status != StatusPromoted {
		t.Fatalf("safe change: %s: %s", res.Status, res.Reason)
	}
	for _, ir := range res.Instances {
		if !ir.Applied {
			t.Errorf("%s lacks the change", ir.Name)
		}
	}
	mu.Lock()
	var promotes int
	for _, e := range events {
		if e.Step == StepPromote {
			promotes++
		}
	}
	mu.Unlock()
	if promotes != 2 {
		t.Errorf("want 2 promotion waves, saw %d", promotes)
	}
	// Every wave after the canary was baked and judged.
	if len(res.Waves) != 2 || res.Waves[0].Wave != 1 || res.Waves[1].Wave != 2 || res.Waves[0].Decision.Outcome == judge.Fail || res.Waves[1].Decision.Outcome == judge.Fail {
		t.Errorf("wave judgements %+v, want waves 1 and 2 judged and not failed", res.Waves)
	}
	// A bake resumed after a crash judges against the checkpoint's baseline.
	resumed := *bakeCP
	resumed.BakeFrom = time.Now()
	res, err = c.Run(ctx, fleet, ch, &resumed)
	if err != nil || res.Status != StatusPromoted {
		t.Fatalf("resumed bake: %v %+v", err, res)
	}
	if len(res.Baseline) != len(bakeCP.Baseline) || res.Baseline[0] != bakeCP.Baseline[0] {
		t.Errorf("resumed bake lost the baseline: %d samples, want %d", len(res.Baseline), len(bakeCP.Baseline))
	}
	// Resuming a finished or half-promoted rollout repeats nothing harmful.
	res, err = c.Run(ctx, fleet, ch, &Checkpoint{Version: 901, Phase: PhasePromote, Wave: 1})
	if err != nil || res.Status != StatusPromoted {
		t.Fatalf("resume: %v %+v", err, res)
	}
	for _, ir := range res.Instances {
		if ir.Wave > 0 && (ir.Apply == nil || !ir.Apply.AlreadyDone) {
			t.Errorf("resume re-applied on %s: %+v", ir.Name, ir.Apply)
		}
	}
}

// A change harmless on the canary (a small tenant) but harmful on a wave
// after it (a large one: the dropped index mattered there) is caught by
// that wave's judgement, against the instance not yet migrated and the
// wave's own baseline, and handled as canary.on_wave_failure says:
// rollback_all takes it back everywhere it went, rollback_wave only from
// the failing wave, pause nowhere. The instance of the last wave is never
// touched.
func TestWaveFailureCaughtAfterThePassingCanary(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{WaveFailureRollbackAll, WaveFailureRollbackWave, WaveFailurePause} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			const rows = 200000
			small, big1, big2 := shopDB(t, 100), shopDB(t, rows), shopDB(t, rows)
			load(t, small, 100)
			load(t, big1, rows)
			load(t, big2, rows)
			fleet, err := NewFleet([]Instance{{Name: "c1", Group: "canary", DSN: small}, {Name: "m1", DSN: big1}, {Name: "m2", DSN: big2}},
				FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "50%"}, {Select: "100%"}}})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var events []Event
			c := testCanary(t, &events, &mu, kpi.ProbeConfig{Name: "by_v", SQL: "SELECT id FROM items WHERE v = 4242", Rate: 20})
			c.cfg.OnWaveFailure = policy
			c.cfg.WaveBake = 4 * time.Second // the canary bakes 3s: the waves' own bake is what they use
			ch := testChange(902, "drop_v_idx", "DROP INDEX items_v_idx;", "CREATE INDEX items_v_idx ON items (v);", []string{"public.items"}, "AccessExclusiveLock")
			res, err := c.Run(ctx, fleet, ch, nil)
			holds := map[string]bool{}
			for _, ir := range res.Instances {
				holds[ir.Name] = ir.Applied
			}
			if len(res.Waves) != 1 || res.Waves[0].Wave != 1 || res.Waves[0].Decision.Outcome != judge.Fail {
				t.Fatalf("wave judgements %+v (status %s: %s), want wave 1 failed", res.Waves, res.Status, res.Reason)
			}
			if v := res.Waves[0].Decision.Failed(); len(v) == 0 || v[0].KPI != "latency:by_v" {
				t.Errorf("failing verdicts %v", v)
			}
			switch policy {
			case WaveFailureRollbackAll:
				if err != nil || res.Status != StatusRolledBack || holds["c1"] || holds["m1"] {
					t.Errorf("rollback_all: %v, %s: %s; holds %v", err, res.Status, res.Reason, holds)
				}
			case WaveFailureRollbackWave:
				var pe *PartialError
				if !errors.As(err, &pe) || res.Status != StatusFailed || !holds["c1"] || holds["m1"] {
					t.Errorf("rollback_wave: %v, %s: %s; holds %v", err, res.Status, res.Reason, holds)
				}
			case WaveFailurePause:
				var pe *PartialError
				if !errors.As(err, &pe) || res.Status != StatusFailed || !holds["c1"] || !holds["m1"] {
					t.Errorf("pause: %v, %s: %s; holds %v", err, res.Status, res.Reason, holds)
				}
			}
			mu.Lock()
			var baked bool
			for _, e := range events {
				baked = baked || e.Step == StepApplied && strings.Contains(e.Message, "wave 1 (") && strings.Contains(e.Message, "baking 4s")
			}
			mu.Unlock()
			if !baked {
				t.Error("wave 1 did not bake for canary.wave_bake (4s)")
			}
			if holds["m2"] || pgtest.QueryInt(t, big2, "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_v_idx'") != 1 {
				t.Error("the last wave was touched")
			}
			if want := map[bool]int{true: 0, false: 1}[policy == WaveFailurePause]; pgtest.QueryInt(t, big1, "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_v_idx'") != want {
				t.Errorf("index on the failing wave: want %d", want)
			}
		})
	}
}

func TestCanaryMigrationErrorIsHardGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsns := []string{shopDB(t, 1000), shopDB(t, 1000)}
	fleet, _ := NewFleet([]Instance{{Name: "c1", Group: "canary", DSN: dsns[0]}, {Name: "m1", DSN: dsns[1]}}, FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}})
	var mu sync.Mutex
	var events []Event
	c := testCanary(t, &events, &mu, kpi.ProbeConfig{Name: "p", SQL: "SELECT 1", Rate: 20})
	ch := testChange(902, "bad", "ALTER TABLE nope ADD COLUMN x int;", "SELECT 1;", nil, "")
	res, err := c.Run(ctx, fleet, ch, &Checkpoint{Version: 902, Phase: PhaseCanary})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusRolledBack || res.Decision == nil || res.Decision.Guard != "migration_error" {
		t.Fatalf("want a migration_error guard, got %+v", res)
	}
}

func TestCanaryLockTimeoutAborts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsns := []string{shopDB(t, 1000), shopDB(t, 1000)}
	holdLock(t, dsns[0], "SELECT count(*) FROM items")
	fleet, _ := NewFleet([]Instance{{Name: "c1", Group: "canary", DSN: dsns[0]}, {Name: "m1", DSN: dsns[1]}}, FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}})
	probe, _ := kpi.NewProbe([]kpi.ProbeConfig{{Name: "p", SQL: "SELECT 1"}}, nil)
	defer probe.Close()
	cfg := fastCanary()
	cfg.MaxWait = 500 * time.Millisecond
	c, err := NewCanary(cfg, RollbackConfig{}, WithSources(probe))
	if err != nil {
		t.Fatal(err)
	}
	ch := testChange(903, "add", "ALTER TABLE items ADD COLUMN x int;", "ALTER TABLE items DROP COLUMN x;", []string{"public.items"}, "AccessExclusiveLock")
	time.Sleep(400 * time.Millisecond)
	res, err := c.Run(ctx, fleet, ch, &Checkpoint{Version: 903, Phase: PhaseCanary})
	if !errors.Is(err, ErrLockTimeout) || res.Status != StatusAborted {
		t.Fatalf("want aborted with ErrLockTimeout, got %v, %+v", err, res)
	}
}

func TestFleetPlan(t *testing.T) {
	t.Parallel()
	var ins []Instance
	for i := 0; i < 10; i++ {
		g := "main"
		if i < 2 {
			g = "canary"
		}
		ins = append(ins, Instance{Name: fmt.Sprintf("db%d", i), Group: g, DSN: "x"})
	}
	tests := []struct {
		waves   []WaveConfig
		sizes   []int
		control int
		wantErr bool
	}{
		{nil, []int{2, 1, 7}, 2, false},
		{[]WaveConfig{{Select: "canary"}, {Select: "50%"}, {Select: "100%"}}, []int{2, 3, 5}, 2, false},
		{[]WaveConfig{{Select: "10%"}, {Select: "100%"}}, []int{1, 9}, 1, false},
		{[]WaveConfig{{Select: "canary"}, {Select: "50%"}}, nil, 0, true},
	}
	for i, tt := range tests {
		f, err := NewFleet(ins, FleetConfig{Waves: tt.waves})
		if err != nil {
			t.Fatal(err)
		}
		waves, control, err := f.Plan()
		if tt.wantErr {
			if err == nil {
				t.Errorf("%d: want an error for uncovered instances", i)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		var sizes []int
		for _, w := range waves {
			sizes = append(sizes, len(w.Instances))
		}
		if fmt.Sprint(sizes) != fmt.Sprint(tt.sizes) || len(control) != tt.control {
			t.Errorf("%d: sizes %v control %d, want %v %d", i, sizes, len(control), tt.sizes, tt.control)
		}
		for _, c := range control {
			for _, in := range waves[0].Instances {
				if c.Name == in.Name {
					t.Errorf("%d: %s is canary and control", i, c.Name)
				}
			}
		}
	}
}
