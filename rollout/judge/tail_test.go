package judge

import (
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// slowTail makes share of s (chosen at random) factor times slower.
func slowTail(r *rand.Rand, s []Sample, share, factor float64) []Sample {
	out := append([]Sample(nil), s...)
	for i := range out {
		if r.Float64() < share {
			out[i].Value *= factor
		}
	}
	return out
}

// bakeRolledBack judges a simulated bake the way Canary.Run does: after
// every interval (25 more samples per side) on everything so far, rolled
// back after two failing intervals in a row.
func bakeRolledBack(j *Judge, canary, control, baseline []Sample, looks int) bool {
	fails := 0
	for k := 1; k <= looks; k++ {
		d := j.Judge(canary[:25*k], control[:25*k], baseline)
		if d.Outcome != Fail {
			fails = 0
			continue
		}
		if fails++; fails >= 2 {
			return true
		}
	}
	return false
}

// The tail test's power and false-alarm rate over 20 simulated bakes each
// with the canary defaults (a 10-minute bake judged every 5 s, a one-minute
// baseline) and one probe at 5/s per side:
// a change that makes 3% of one query class 20x slower is caught in at
// least 19 of 20; the same fleet without a change is rolled back in none.
// Mann-Whitney alone misses most of them: the median barely moves. A
// scenario (make scenarios): 120 judgements of up to 3,000 samples per bake.
func TestScenarioTailPowerAndFalseAlarms(t *testing.T) {
	if os.Getenv("SCHEMACANARY_SCENARIOS") != "1" {
		t.Skip("scenario: set SCHEMACANARY_SCENARIOS=1")
	}
	t.Parallel()
	withTail, _ := NewJudge(JudgeConfig{})
	withoutTail, _ := NewJudge(JudgeConfig{Tail: TailConfig{Tolerance: -1}})
	const runs, looks = 20, 120
	var caught, caughtMW, falseAlarms int
	for run := range runs {
		r := rand.New(rand.NewPCG(uint64(run), 77))
		baseline := judgeLatencies(r, "c", "latency:orders", 300, 2)
		control := judgeLatencies(r, "k", "latency:orders", 25*looks, 2)
		same := judgeLatencies(r, "c", "latency:orders", 25*looks, 2)
		slow := slowTail(r, judgeLatencies(r, "c", "latency:orders", 25*looks, 2), 0.03, 20)
		if bakeRolledBack(withTail, slow, control, baseline, looks) {
			caught++
		}
		if bakeRolledBack(withoutTail, slow, control, baseline, looks) {
			caughtMW++
		}
		if bakeRolledBack(withTail, same, control, baseline, looks) {
			falseAlarms++
		}
	}
	t.Logf("3%% of samples 20x slower: caught %d/%d with the tail test, %d/%d by Mann-Whitney alone; no change: rolled back %d/%d", caught, runs, caughtMW, runs, falseAlarms, runs)
	if caught < 19 {
		t.Errorf("tail regression caught in %d of %d bakes, want >= 19", caught, runs)
	}
	if falseAlarms != 0 {
		t.Errorf("no-change bakes rolled back %d of %d times, want 0", falseAlarms, runs)
	}
	if caughtMW >= caught {
		t.Errorf("Mann-Whitney alone caught %d, the tail test %d: the scenario does not exercise the tail", caughtMW, caught)
	}
}

func TestTailVerdicts(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 5))
	base := judgeLatencies(r, "c", "latency:q", 300, 2)
	control := judgeLatencies(r, "k", "latency:q", 400, 2)
	slow := slowTail(r, judgeLatencies(r, "c", "latency:q", 400, 2), 0.05, 20)

	j, _ := NewJudge(JudgeConfig{})
	d := j.Judge(slow, control, base)
	var tails int
	for _, v := range d.Verdicts {
		if v.Test == TestTail {
			tails++
			if v.Outcome != Fail || !strings.Contains(v.Reason, "p99") {
				t.Errorf("tail verdict %s", v)
			}
		}
	}
	if tails != 2 || d.Outcome != Fail {
		t.Errorf("%d tail verdicts, decision %s: %s", tails, d.Outcome, d.Reason)
	}

	// An SLO sets the threshold without a baseline quantile: 5 ms is far
	// above these 2 ms queries' p99, and the 40 ms ones cross it.
	slo, _ := NewJudge(JudgeConfig{Tail: TailConfig{SLO: map[string]float64{"latency": 5}}})
	for _, v := range slo.Judge(slow, control, base).Verdicts {
		if v.Test == TestTail && (v.Outcome != Fail || !strings.Contains(v.Reason, "SLO 5")) {
			t.Errorf("SLO tail verdict %s", v)
		}
	}

	// Too short a baseline for a p99 and no SLO: no tail verdict at all.
	for _, v := range j.Judge(slow, control, base[:50]).Verdicts {
		if v.Test == TestTail {
			t.Errorf("tail verdict from a 50-sample baseline: %s", v)
		}
	}
	// Off.
	off, _ := NewJudge(JudgeConfig{Tail: TailConfig{Tolerance: -1}})
	for _, v := range off.Judge(slow, control, base).Verdicts {
		if v.Test == TestTail {
			t.Errorf("tail verdict with the tail test off: %s", v)
		}
	}
	// Errors are not latencies.
	ev := j.Judge(judgeEvents("c", KPIErrorRate, 600, 1), judgeEvents("k", KPIErrorRate, 600, 1), nil)
	for _, v := range ev.Verdicts {
		if v.Test == TestTail {
			t.Errorf("tail verdict on %s", v.KPI)
		}
	}
}

func TestTailConfigValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []TailConfig{
		{Quantile: 0.3}, {Quantile: 1}, {Tolerance: 1.5}, {MinBaseline: 5}, {SLO: map[string]float64{"latency": 0}},
	} {
		if _, err := NewJudge(JudgeConfig{Tail: tc}); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: %v, want ErrBadConfig", tc, err)
		}
	}
	j, err := NewJudge(JudgeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if c := j.Config().Tail; c.Quantile != 0.99 || c.Tolerance != 0.01 || c.MinBaseline != 100 {
		t.Errorf("defaults %+v", c)
	}
}

// One line per KPI shows the verdict that decided it: the old rule (the
// last verdict against the control) showed the tail test's share of slow
// samples for a KPI the whole-distribution test failed, and "fail vs
// control" for a KPI that passed because it was no worse than its own
// baseline.
func TestKPIVerdictStandsForTheOutcome(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	j, _ := NewJudge(JudgeConfig{})
	const kpi = "latency:q"
	control := judgeLatencies(r, "k", kpi, 400, 2)
	base := judgeLatencies(r, "c", kpi, 300, 2)

	// Every statement 3x slower: both whole-distribution tests fail, and
	// so do the tail tests; the line is the Mann-Whitney against the control.
	slow := judgeLatencies(r, "c", kpi, 400, 6)
	d := j.Judge(slow, control, base)
	v, ok := d.KPIVerdict(kpi)
	if d.KPIs[kpi] != Fail || !ok || v.Outcome != Fail || v.Test != TestMannWhitney || v.Reference != RefControl {
		t.Errorf("3x slower: KPI %s, line %s", d.KPIs[kpi], v)
	}

	// A canary that was always 3x slower than the control (another
	// machine) and is no slower than its own baseline: the KPI passes, and
	// its line is the pass against the baseline, not the fail against the
	// control.
	d = j.Judge(judgeLatencies(r, "c", kpi, 400, 6), control, judgeLatencies(r, "c", kpi, 300, 6))
	v, ok = d.KPIVerdict(kpi)
	if d.Outcome != Pass || d.KPIs[kpi] != Pass || !ok || v.Outcome != Pass || v.Reference != RefBaseline || v.Test != TestMannWhitney {
		t.Errorf("slow machine: decision %s, KPI %s, line %s", d.Outcome, d.KPIs[kpi], v)
	}

	// 5% of statements 20x slower, medians unchanged: only the tail test
	// fails, and the line is its verdict.
	d = j.Judge(slowTail(r, judgeLatencies(r, "c", kpi, 400, 2), 0.05, 20), control, base)
	v, ok = d.KPIVerdict(kpi)
	if d.KPIs[kpi] != Fail || !ok || v.Outcome != Fail || v.Test != TestTail || v.Reference != RefControl {
		t.Errorf("slow tail: KPI %s, line %s", d.KPIs[kpi], v)
	}

	// A guard stands for its KPI.
	d = j.Judge(judgeEvents("c", KPIErrorRate, 600, 60), judgeEvents("k", KPIErrorRate, 600, 0), nil)
	if v, ok := d.KPIVerdict(KPIErrorRate); !ok || v.Reference != RefGuard || d.KPIs[KPIErrorRate] != Fail {
		t.Errorf("guard: KPI %s, line %s", d.KPIs[KPIErrorRate], v)
	}

	// A decision stored before KPI outcomes were kept: the
	// whole-distribution verdict against the control, never a tail's.
	old := Decision{Verdicts: []Verdict{
		{KPI: kpi, Reference: RefControl, Test: TestMannWhitney, Outcome: Pass},
		{KPI: kpi, Reference: RefBaseline, Test: TestMannWhitney, Outcome: Pass},
		{KPI: kpi, Reference: RefControl, Test: TestTail, Outcome: Fail},
	}}
	if v, ok := old.KPIVerdict(kpi); !ok || v.Test != TestMannWhitney || v.Reference != RefControl {
		t.Errorf("old decision: line %s", v)
	}
	if _, ok := old.KPIVerdict("latency:other"); ok {
		t.Error("a verdict for a KPI the decision does not have")
	}
}
