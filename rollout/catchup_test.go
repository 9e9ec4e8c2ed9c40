package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/rollout/kpi"
)

// printOf reads the schema print of tables on dsn, as the canary's is
// read before a change.
func printOf(t *testing.T, dsn string, tables ...string) SchemaPrint {
	t.Helper()
	ctx := context.Background()
	db, err := openDB(ctx, Instance{Name: "ref", DSN: dsn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := readSchemaPrint(ctx, db, tables, tables)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// gooseOrder is the versions (above 0) dsn's goose table holds, in the
// order they were applied.
func gooseOrder(t *testing.T, dsn string) string {
	t.Helper()
	if pgtest.QueryInt(t, dsn, "SELECT count(*) FROM pg_tables WHERE tablename = 'goose_db_version'") == 0 {
		return "[]"
	}
	var vs []int
	n := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM goose_db_version WHERE version_id > 0")
	for i := 0; i < n; i++ {
		vs = append(vs, pgtest.QueryInt(t, dsn, "SELECT version_id FROM goose_db_version WHERE version_id > 0 ORDER BY id OFFSET $1 LIMIT 1", i))
	}
	return fmt.Sprint(vs)
}

// catchUpPlans are two changes where the second needs the first: a column,
// then a unique index on it (with a data check: no duplicate notes).
func catchUpPlans() (first, second *Plan) {
	first = testChange(931, "add_note", "ALTER TABLE items ADD COLUMN note text;", "ALTER TABLE items DROP COLUMN note;", []string{"public.items"}, "AccessExclusiveLock")
	second = testChange(932, "uniq_note", "CREATE UNIQUE INDEX items_note_key ON items (note);", "DROP INDEX items_note_key;", []string{"public.items"}, "ShareLock")
	spec, _ := json.Marshal("SELECT 1 FROM public.items WHERE note IS NOT NULL GROUP BY note HAVING count(*) > 1 LIMIT 1")
	second.DataChecks = []DataCheck{{Table: "public.items", What: "duplicate (note)", Spec: spec}}
	return first, second
}

// TestCatchUpAppliesEachMissingChangeInOrder: a target that joined after
// two changes were done, at the version before both, is brought up
// through both, in order, each after its pre-flight; a second call finds
// both held and applies nothing.
func TestCatchUpAppliesEachMissingChangeInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ref, late := shopDB(t, 20), shopDB(t, 20)
	first, second := catchUpPlans()
	var mu sync.Mutex
	var events []Event
	c := testCanary(t, &events, &mu, kpi.ProbeConfig{Name: "p", SQL: "SELECT 1", Rate: 1})
	c.dataChecker = sqlChecker{}
	// The canary's prints before each change, as the rollouts kept them.
	refInst := Instance{Name: "ref", DSN: ref}
	print1 := printOf(t, ref, "public.items")
	if _, err := c.Applier().Apply(ctx, refInst, first); err != nil {
		t.Fatal(err)
	}
	print2 := printOf(t, ref, "public.items")
	steps := []CatchUpStep{{Plan: first, From: 0, Schema: print1}, {Plan: second, From: first.Version, Schema: print2}}

	inst := Instance{Name: "late", DSN: late}
	res, err := c.CatchUp(ctx, inst, steps)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 2 || res.Held != 0 || res.Version != second.Version {
		t.Fatalf("result %+v, want both applied, at %d", res, second.Version)
	}
	if got := gooseOrder(t, late); got != "[931 932]" {
		t.Errorf("goose table of the late target %s, want [931 932]", got)
	}
	if pgtest.QueryInt(t, late, "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_note_key'") != 1 {
		t.Error("the unique index is not on the late target")
	}
	mu.Lock()
	var caught []string
	for _, e := range events {
		if e.Step == StepCatchUp && e.Instance == "late" && e.Err == nil {
			caught = append(caught, e.Message)
		}
	}
	mu.Unlock()
	if fmt.Sprint(caught) != "[caught up late to 931 caught up late to 932]" {
		t.Errorf("catch-up events %q", caught)
	}

	again, err := c.CatchUp(ctx, inst, steps)
	if err != nil || len(again.Applied) != 0 || again.Held != 2 || again.Version != second.Version {
		t.Fatalf("second catch-up %+v, %v; want both held, nothing applied", again, err)
	}
}

// TestCatchUpLeavesAFailingTargetUntouched: a joined target that fails
// the pre-flight of the first change it lacks (drift, another version,
// its own rows, unreachable) is not touched: no change of the list is
// applied, the error names the instance, the version and the check, and
// an event reports it. Without the canary's print drift is not checked
// and an event says so; a data check still stops the target. A failure at
// the second change leaves the first applied.
func TestCatchUpLeavesAFailingTargetUntouched(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		prepare  func(t *testing.T, dsn string)
		noPrint  bool
		dsn      string // overrides the target's DSN (unreachable)
		version  int64
		check    string
		detail   string
		applied  string // the goose table after
		appliedN int    // steps applied by the call
		noteCols int
	}{
		{name: "drift", prepare: func(t *testing.T, dsn string) {
			pgtest.Exec(t, dsn, "ALTER TABLE items ADD COLUMN extra int")
		}, version: 931, check: PreflightDrift, detail: "column extra integer on late, not on the canary before the change", applied: "[]"},
		{name: "version", prepare: func(t *testing.T, dsn string) {
			pgtest.Exec(t, dsn, "CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp DEFAULT now())",
				"INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (5, true)")
		}, version: 931, check: PreflightVersion, detail: "at version 5, the canary was at 0", applied: "[5]"},
		{name: "unreachable", dsn: "postgres://postgres@127.0.0.1:1/late?sslmode=disable&connect_timeout=2",
			version: 931, check: PreflightUnreachable, detail: "connect", applied: "[]"},
		{name: "data at the second change",
			version: 932, check: PreflightData, detail: "public.items has duplicate (note)", applied: "[931]", appliedN: 1, noteCols: 1},
		{name: "data without the canary's print", noPrint: true, prepare: func(t *testing.T, dsn string) {
			pgtest.Exec(t, dsn, "ALTER TABLE items ADD COLUMN extra int")
		}, version: 932, check: PreflightData, detail: "duplicate (note)", applied: "[931]", appliedN: 1, noteCols: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ref, late := shopDB(t, 20), shopDB(t, 20)
			if tc.prepare != nil {
				tc.prepare(t, late)
			}
			first, second := catchUpPlans()
			if tc.check == PreflightData {
				// Once the column is there every row has the same note: the
				// second change's data check fails.
				first = testChange(931, "add_note", "ALTER TABLE items ADD COLUMN note text DEFAULT 'same';", "ALTER TABLE items DROP COLUMN note;", []string{"public.items"}, "AccessExclusiveLock")
			}
			var mu sync.Mutex
			var events []Event
			c := testCanary(t, &events, &mu, kpi.ProbeConfig{Name: "p", SQL: "SELECT 1", Rate: 1})
			c.dataChecker = sqlChecker{}
			print1 := printOf(t, ref, "public.items")
			if _, err := c.Applier().Apply(ctx, Instance{Name: "ref", DSN: ref}, first); err != nil {
				t.Fatal(err)
			}
			print2 := printOf(t, ref, "public.items")
			steps := []CatchUpStep{{Plan: first, From: 0, Schema: print1}, {Plan: second, From: first.Version, Schema: print2}}
			if tc.noPrint {
				steps[0].Schema, steps[1].Schema = nil, nil
			}
			dsn := late
			if tc.dsn != "" {
				dsn = tc.dsn
			}
			res, err := c.CatchUp(ctx, Instance{Name: "late", DSN: dsn}, steps)
			var ce *CatchUpError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCatchUp) {
				t.Fatalf("err %v, want a *CatchUpError", err)
			}
			t.Log(err)
			if ce.Instance != "late" || ce.Version != tc.version || ce.Check != tc.check || !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %v: want late, %d, %s, saying %q", err, tc.version, tc.check, tc.detail)
			}
			if tc.check != PreflightUnreachable && !errors.Is(err, ErrPreflight) {
				t.Errorf("error %v does not wrap the pre-flight error", err)
			}
			if len(res.Applied) != tc.appliedN {
				t.Errorf("applied %d step(s), want %d", len(res.Applied), tc.appliedN)
			}
			if tc.dsn == "" {
				if got := gooseOrder(t, late); got != tc.applied {
					t.Errorf("goose table %s, want %s", got, tc.applied)
				}
				if n := pgtest.QueryInt(t, late, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'note'"); n != tc.noteCols {
					t.Errorf("%d note column(s), want %d", n, tc.noteCols)
				}
				if pgtest.QueryInt(t, late, "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_note_key'") != 0 {
					t.Error("the change whose pre-flight failed was applied")
				}
			}
			mu.Lock()
			defer mu.Unlock()
			var reported, noDrift bool
			for _, e := range events {
				var got *CatchUpError
				if e.Step == StepCatchUp && e.Instance == "late" && errors.As(e.Err, &got) && got.Check == tc.check {
					reported = true
				}
				if e.Step == StepPreflight && strings.Contains(e.Message, "not drift") {
					noDrift = true
				}
			}
			if !reported {
				t.Errorf("no catch-up event reports the %s failure: %+v", tc.check, events)
			}
			if noDrift != tc.noPrint {
				t.Errorf("an event says drift is not checked: %v, want %v", noDrift, tc.noPrint)
			}
		})
	}
}

// TestResumedRunCatchesUpTargetsJoinedInAppliedWaves: a rollout resumed
// after targets joined a wave it had already applied brings them up to
// the change, with the pre-flight, before it goes on, and its result says
// so; a joined target whose schema drifted from the canary's is not
// touched, and the result's reason and its InstanceResult say why.
func TestResumedRunCatchesUpTargetsJoinedInAppliedWaves(t *testing.T) {
	t.Parallel()
	for _, cp := range []Checkpoint{
		{Phase: PhaseWatch},
		{Phase: PhasePromote, Wave: 1, BakeFrom: time.Now()},
	} {
		t.Run(string(cp.Phase), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dsn := map[string]string{}
			for _, n := range []string{"c1", "m1", "late-main", "late-drift"} {
				dsn[n] = shopDB(t, 10)
			}
			pgtest.Exec(t, dsn["late-drift"], "ALTER TABLE items ADD COLUMN extra int")
			var mu sync.Mutex
			var events []Event
			c := testCanary(t, &events, &mu, kpi.ProbeConfig{Name: "p", SQL: "SELECT 1", Rate: 20})
			ch := testChange(933, "add_note", "ALTER TABLE items ADD COLUMN note text;", "ALTER TABLE items DROP COLUMN note;", []string{"public.items"}, "AccessExclusiveLock")
			// The run so far: the canary's print kept, both waves applied.
			cp.Version, cp.Schema = ch.Version, printOf(t, dsn["c1"], "public.items")
			for _, n := range []string{"c1", "m1"} {
				if _, err := c.Applier().Apply(ctx, Instance{Name: n, DSN: dsn[n]}, ch); err != nil {
					t.Fatal(err)
				}
			}
			fleet, err := NewFleet([]Instance{{Name: "c1", Group: "canary", DSN: dsn["c1"]}, {Name: "m1", DSN: dsn["m1"]},
				{Name: "late-main", DSN: dsn["late-main"]}, {Name: "late-drift", DSN: dsn["late-drift"]}},
				FleetConfig{Waves: []WaveConfig{{Select: "canary"}, {Select: "100%"}}})
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Run(ctx, fleet, ch, &cp)
			if err != nil {
				t.Fatalf("run: %v (%s: %s)", err, res.Status, res.Reason)
			}
			t.Logf("%s: %s", res.Status, res.Reason)
			if res.Status != StatusPromoted {
				t.Fatalf("status %s: %s", res.Status, res.Reason)
			}
			if gooseOrder(t, dsn["late-main"]) != "[933]" {
				t.Error("the target that joined an applied wave lacks the change")
			}
			if gooseOrder(t, dsn["late-drift"]) != "[]" || pgtest.QueryInt(t, dsn["late-drift"], "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'note'") != 0 {
				t.Error("the drifted target was touched")
			}
			by := map[string]InstanceResult{}
			for _, ir := range res.Instances {
				by[ir.Name] = ir
			}
			if ir := by["late-main"]; ir.CatchUp != "caught up" || !ir.Applied || ir.Apply == nil {
				t.Errorf("late-main's result %+v, want caught up and applied", ir)
			}
			if ir := by["late-drift"]; !strings.HasPrefix(ir.CatchUp, "not caught up") || !strings.Contains(ir.CatchUp, PreflightDrift) || ir.Applied {
				t.Errorf("late-drift's result %+v, want not caught up (drift), not applied", ir)
			}
			if !strings.Contains(res.Reason, "not caught up") || !strings.Contains(res.Reason, "late-drift") {
				t.Errorf("the run's reason does not name the target left behind: %s", res.Reason)
			}
			mu.Lock()
			defer mu.Unlock()
			caughtAt, doneAt := -1, -1
			for i, e := range events {
				if e.Step == StepCatchUp && e.Instance == "late-main" && e.Err == nil && caughtAt < 0 {
					caughtAt = i
				}
				if e.Step == StepDone {
					doneAt = i
				}
			}
			if caughtAt < 0 || doneAt < caughtAt {
				t.Errorf("late-main caught up at event %d, the run done at %d: want caught up before the end", caughtAt, doneAt)
			}
		})
	}
}
