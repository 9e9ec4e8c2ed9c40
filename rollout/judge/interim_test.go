package judge

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestInterimAlpha: the O'Brien-Fleming boundary is strict early and the
// whole alpha at the bake's end.
func TestInterimAlpha(t *testing.T) {
	for _, c := range []struct{ frac, want float64 }{
		{1.0 / 3, 2.8e-5}, {0.5, 5.01e-4}, {2.0 / 3, 2.19e-3}, {1, 0.01}, {1.5, 0.01},
	} {
		if got := InterimAlpha(0.01, c.frac); math.Abs(got-c.want)/c.want > 0.01 {
			t.Errorf("InterimAlpha(0.01, %.3f) = %.3g, want %.3g", c.frac, got, c.want)
		}
	}
	if a, b := InterimAlpha(0.01, 0), InterimAlpha(0.01, 0.1); !(a <= b) || b <= 0 {
		t.Errorf("InterimAlpha at the very start %.3g, at a tenth %.3g: want tiny, not above", a, b)
	}
}

// TestJudgeAtNeedsMoreEvidenceEarly: a moderate shift (+50% on wide
// latencies, as a disturbance of one instance looks) on two intervals'
// samples fails at the bake's end but not at a third of it; a large one
// (3x) fails at once; hard guards do not wait.
func TestJudgeAtNeedsMoreEvidenceEarly(t *testing.T) {
	j, err := NewJudge(JudgeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	// Wide latencies (log-normal sigma 0.6), as a hot row's updates have.
	wide := func(instance string, n int, median float64) []Sample {
		out := judgeLatencies(r, instance, "latency:hot", n, 1)
		for i := range out {
			out[i].Value = median * math.Exp(0.6*r.NormFloat64())
		}
		return out
	}
	control := wide("k", 50, 1)
	baseline := judgeCat(wide("c", 200, 1), wide("k", 200, 1))
	moderate := wide("c", 50, 1.5)
	if d := j.JudgeAt(1, moderate, control, baseline); d.Outcome != Fail {
		t.Fatalf("at the bake's end a +50%% shift: %s (%s), want fail", d.Outcome, d.Reason)
	}
	if d := j.JudgeAt(1.0/3, moderate, control, baseline); d.Outcome == Fail {
		t.Errorf("at a third of the bake a +50%% shift on 50 samples failed: %s", d.Reason)
	}
	large := judgeLatencies(r, "c", "latency:hot", 50, 3)
	if d := j.JudgeAt(1.0/6, large, control, baseline); d.Outcome != Fail {
		t.Errorf("a 3x shift at a sixth of the bake: %s (%s), want fail", d.Outcome, d.Reason)
	}
	errs := judgeCat(moderate, judgeEvents("c", KPIErrorRate, 100, 10))
	if d := j.JudgeAt(0.05, errs, control, baseline); d.Outcome != Fail || d.Guard == "" {
		t.Errorf("a hard guard at an early look: %s (%s), want a guard's fail", d.Outcome, d.Reason)
	}
}
