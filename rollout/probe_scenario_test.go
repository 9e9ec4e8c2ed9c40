package rollout

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/internal/loadgen"
	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/rollout/judge"
)

// The sensitivity workload, reusable by the canary integration tests: a
// database whose hot statement, hotPathSQL, calls a function that spends a
// fixed time in the server. hotPathChange(1.5) is a goose-style Up that
// makes the hot statement 1.5x slower in the server; hotPathChange(1) is a
// no-op change (same body, plus a comment). The function sleeps rather than
// burns CPU so that the factor is exact whatever else loads the machine (a
// CPU-bound slowdown, like an extra index or a trigger, is diluted by CPU
// contention on a busy 2-core box and varies from run to run).
const (
	hotPathSQL = "SELECT hot_path()"
	// hotPathBase is the server time of the hot statement before a change.
	hotPathBase = 40 * time.Millisecond
)

// hotPathChange returns the SQL that redefines hot_path() to take factor
// times hotPathBase (factor 1 = a no-op change).
func hotPathChange(factor float64) string {
	return fmt.Sprintf(`CREATE OR REPLACE FUNCTION hot_path() RETURNS void LANGUAGE sql AS
$$ SELECT pg_sleep(%g) $$;
COMMENT ON FUNCTION hot_path() IS 'factor %g'`, hotPathBase.Seconds()*factor, factor)
}

// newHotPathDB creates a database with hot_path() at factor 1 and a small
// "items" table for background noise, and returns its DSN.
func newHotPathDB(t testing.TB) string {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, hotPathChange(1)+`;
		CREATE TABLE items (id int PRIMARY KEY, note text);
		INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 10000) g`); err != nil {
		t.Fatal(err)
	}
	return dsn
}

// hotPathNoise starts an open-loop background load on dsn: the hot
// statement, point reads and updates.
func hotPathNoise(t testing.TB, dsn string, rate float64) *loadgen.Generator {
	t.Helper()
	g, err := loadgen.Start(context.Background(), loadgen.Config{
		DSN: dsn, Rate: rate, Workers: 4, Seed: uint64(time.Now().UnixNano()),
		Statements: []loadgen.Statement{
			{Name: "hot", SQL: hotPathSQL, Weight: 2},
			{Name: "read", SQL: "SELECT note FROM items WHERE id = $1", Weight: 5, Args: []loadgen.Arg{loadgen.IntRange(1, 10000)}},
			{Name: "write", SQL: "UPDATE items SET note = $2 WHERE id = $1", Weight: 1, Args: []loadgen.Arg{loadgen.IntRange(1, 10000), loadgen.Text(8)}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Stop() })
	return g
}

// sensitivityRun is the outcome of one canary judged interval by interval.
type sensitivityRun struct {
	// FailedAt is the 1-based interval whose judgement failed (0 = never).
	FailedAt int
	// Decisions holds the judgement after each interval.
	Decisions []judge.Decision
	// Ratio is the hot statement's median latency on the canary after the
	// change over before it, measured by the background load (independent
	// of the probe).
	Ratio float64
}

// runSensitivity bakes a change of the given factor on a canary database
// against an untouched control, both under background load, with the
// probe source at interval, for up to intervals judgements after a
// baseline of baselineIntervals.
func runSensitivity(t testing.TB, factor float64, interval time.Duration, baselineIntervals, intervals int) sensitivityRun {
	t.Helper()
	ctx := context.Background()
	canaryDSN, controlDSN := newHotPathDB(t), newHotPathDB(t)
	noise := hotPathNoise(t, canaryDSN, 20)
	hotPathNoise(t, controlDSN, 20)
	probe, err := NewProbe([]ProbeConfig{{Name: "hot", SQL: hotPathSQL, Rate: 40, Concurrency: 8}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	sources := NewSourcesFrom(probe)
	jd, err := judge.NewJudge(judge.JudgeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	canary := Target{Instance: "canary", DSN: canaryDSN}
	control := Target{Instance: "control", DSN: controlDSN}
	if err := sources.Warm(ctx, []Target{canary, control}); err != nil {
		t.Fatal(err)
	}

	// Each window starts when the previous Collect returned: a probe lets
	// its in-flight executions finish after the window ends.
	start := time.Now()
	var baseline []judge.Sample
	for k := 0; k < baselineIntervals; k++ {
		from := time.Now()
		s, err := sources.Collect(ctx, []Target{canary, control}, from, from.Add(interval))
		if err != nil {
			t.Fatal(err)
		}
		baseline = append(baseline, s...)
	}
	changeAt := time.Now()
	conn, err := pgx.Connect(ctx, canaryDSN)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, hotPathChange(factor)); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	var run sensitivityRun
	var cs, ks []judge.Sample
	bakeFrom := time.Now()
	for k := 0; k < intervals; k++ {
		from := time.Now()
		s, err := sources.Collect(ctx, []Target{canary, control}, from, from.Add(interval))
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range s {
			if x.Instance == canary.Instance {
				cs = append(cs, x)
			} else {
				ks = append(ks, x)
			}
		}
		d := jd.Judge(cs, ks, baseline)
		run.Decisions = append(run.Decisions, d)
		if d.Outcome == judge.Fail && run.FailedAt == 0 {
			run.FailedAt = k + 1
			break
		}
	}
	res := noise.Snapshot()
	before := judge.Median(res.Between("hot", start, changeAt))
	after := judge.Median(res.Between("hot", bakeFrom, time.Now()))
	if before > 0 {
		run.Ratio = after / before
	}
	return run
}

func logRun(t *testing.T, name string, r sensitivityRun) {
	t.Helper()
	t.Logf("%s: failed at interval %d, background hot ratio %.2f", name, r.FailedAt, r.Ratio)
	for i, d := range r.Decisions {
		for _, v := range d.Verdicts {
			t.Logf("  interval %d: %s", i+1, v)
		}
	}
}

// TestProbeSensitivity: a change making the hot statement ~1.5x slower is
// caught by the probe source within 3 one-second intervals; a no-op change
// under the same load is not.
func TestProbeSensitivity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		factor float64
	}{{"slower x1.5", 1.5}, {"no-op", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runSensitivity(t, tc.factor, time.Second, 3, 3)
			logRun(t, tc.name, r)
			if tc.factor > 1 {
				if r.Ratio < 1.25 && os.Getenv("CI") != "true" {
					t.Skipf("this machine is too loaded right now: the change made the background's hot statement only %.2fx slower, so a 1.5x sensitivity cannot be tested", r.Ratio)
				}
				if r.FailedAt == 0 {
					t.Errorf("1.5x slower change not detected within 3 intervals (background ratio %.2f)", r.Ratio)
				}
				if r.Ratio < 1.25 {
					t.Errorf("the change made the hot statement only %.2fx slower; the workload is miscalibrated", r.Ratio)
				}
			} else if r.FailedAt != 0 {
				t.Errorf("no-op change failed at interval %d", r.FailedAt)
			}
		})
	}
}

// TestScenarioProbeSensitivity repeats the sensitivity test 20 times each:
// at least 19 of 20 slower changes detected within 3 intervals, 0 of 20
// no-op changes failed. Set SCHEMACANARY_SCENARIOS=1 to run it.
func TestScenarioProbeSensitivity(t *testing.T) {
	if os.Getenv("SCHEMACANARY_SCENARIOS") != "1" {
		t.Skip("set SCHEMACANARY_SCENARIOS=1")
	}
	const runs = 20
	detected, falseFails := 0, 0
	var within []int
	// Each run is a subtest so its databases, loads and connections are
	// released before the next one.
	for i := 0; i < runs; i++ {
		t.Run(fmt.Sprintf("slower-%d", i), func(t *testing.T) {
			slow := runSensitivity(t, 1.5, time.Second, 3, 3)
			if slow.FailedAt > 0 {
				detected++
				within = append(within, slow.FailedAt)
			} else {
				logRun(t, fmt.Sprintf("missed run %d", i), slow)
			}
		})
		t.Run(fmt.Sprintf("noop-%d", i), func(t *testing.T) {
			noop := runSensitivity(t, 1, time.Second, 3, 3)
			if noop.FailedAt > 0 {
				falseFails++
				logRun(t, fmt.Sprintf("false fail run %d", i), noop)
			}
		})
	}
	t.Logf("detected %d/%d slower changes (failing interval: %v), %d/%d false fails on no-op", detected, runs, within, falseFails, runs)
	if detected < 19 || falseFails > 0 {
		t.Errorf("detected %d/%d (want >= 19), false fails %d/%d (want 0)", detected, runs, falseFails, runs)
	}
}
