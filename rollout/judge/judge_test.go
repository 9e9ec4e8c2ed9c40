package judge

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// judgeLatencies draws n log-normal latencies around median ms (the shape real
// query latencies have) as samples of kpi on instance.
func judgeLatencies(r *rand.Rand, instance, kpi string, n int, median float64) []Sample {
	out := make([]Sample, n)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range out {
		out[i] = Sample{Instance: instance, KPI: kpi, At: t0.Add(time.Duration(i) * time.Second),
			Value: median * math.Exp(0.25*r.NormFloat64()), Count: 1}
	}
	return out
}

// judgeEvents spreads errs failures over n events in samples of 10 (sparse
// zeros: most samples have no error at all).
func judgeEvents(instance, kpi string, n, errs int) []Sample {
	var out []Sample
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n/10; i++ {
		s := Sample{Instance: instance, KPI: kpi, At: t0.Add(time.Duration(i) * time.Second), Count: 10}
		if i < errs {
			s.Errors = 1
			s.Value = 0.1
		}
		out = append(out, s)
	}
	return out
}

func judgeCat(parts ...[]Sample) []Sample {
	var out []Sample
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestJudgeDecisions(t *testing.T) {
	t.Parallel()
	const hot = "latency:hot"
	for _, tc := range []struct {
		name                      string
		cfg                       JudgeConfig
		canary, control, baseline func(r *rand.Rand) []Sample
		want                      Outcome
		guard                     string
		reason                    string
	}{
		{
			name:     "1.5x slower than control and baseline fails",
			canary:   func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 3) },
			control:  func(r *rand.Rand) []Sample { return judgeLatencies(r, "k", hot, 40, 2) },
			baseline: func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 2) },
			want:     Fail, reason: "latency:hot",
		},
		{
			name:     "same distribution passes",
			canary:   func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 2) },
			control:  func(r *rand.Rand) []Sample { return judgeLatencies(r, "k", hot, 40, 2) },
			baseline: func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 2) },
			want:     Pass,
		},
		{
			name:     "5% slower is significant with many samples but within tolerance",
			canary:   func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 3000, 2.1) },
			control:  func(r *rand.Rand) []Sample { return judgeLatencies(r, "k", hot, 3000, 2) },
			baseline: func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 3000, 2) },
			want:     Pass,
		},
		{
			name:     "too few samples extends, never passes",
			canary:   func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 5, 2) },
			control:  func(r *rand.Rand) []Sample { return judgeLatencies(r, "k", hot, 40, 2) },
			baseline: func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 2) },
			want:     Extend, reason: "not enough data",
		},
		{
			name:   "no samples at all extends",
			canary: func(r *rand.Rand) []Sample { return nil }, control: func(r *rand.Rand) []Sample { return nil },
			baseline: func(r *rand.Rand) []Sample { return nil },
			want:     Extend,
		},
		{
			name:     "fleet-wide drift: worse than baseline but not than control passes",
			canary:   func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 3) },
			control:  func(r *rand.Rand) []Sample { return judgeLatencies(r, "k", hot, 40, 3) },
			baseline: func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 2) },
			want:     Pass,
		},
		{
			name:     "drift with combine any fails",
			cfg:      JudgeConfig{Combine: "any"},
			canary:   func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 3) },
			control:  func(r *rand.Rand) []Sample { return judgeLatencies(r, "k", hot, 40, 3) },
			baseline: func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 2) },
			want:     Fail,
		},
		{
			name:     "control only (no baseline) still judges",
			canary:   func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 3) },
			control:  func(r *rand.Rand) []Sample { return judgeLatencies(r, "k", hot, 40, 2) },
			baseline: func(r *rand.Rand) []Sample { return nil },
			want:     Fail,
		},
		{
			name:     "control present but missing the KPI: baseline alone cannot fail it",
			canary:   func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 3) },
			control:  func(r *rand.Rand) []Sample { return judgeLatencies(r, "k", KPICPU, 40, 1) },
			baseline: func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 2) },
			want:     Extend,
		},
		{
			// The machine got quieter during the bake (control 3 -> 2 ms)
			// while the change made the canary 1.5x slower (2 -> 3 ms once
			// scaled): uncorrected, canary 3 vs baseline 3 would hide it.
			name:    "drift-corrected baseline reveals a change hidden by a quieter machine",
			canary:  func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 3) },
			control: func(r *rand.Rand) []Sample { return judgeLatencies(r, "k", hot, 40, 2) },
			baseline: func(r *rand.Rand) []Sample {
				return judgeCat(judgeLatencies(r, "c", hot, 40, 3), judgeLatencies(r, "k", hot, 40, 3))
			},
			want: Fail, reason: "latency:hot",
		},
		{
			name:    "drift-corrected baseline: busier machine, no change, passes with combine any",
			cfg:     JudgeConfig{Combine: "any"},
			canary:  func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 3) },
			control: func(r *rand.Rand) []Sample { return judgeLatencies(r, "k", hot, 40, 3) },
			baseline: func(r *rand.Rand) []Sample {
				return judgeCat(judgeLatencies(r, "c", hot, 40, 2), judgeLatencies(r, "k", hot, 40, 2))
			},
			want: Pass,
		},
		{
			name:     "faster canary passes",
			canary:   func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 1) },
			control:  func(r *rand.Rand) []Sample { return judgeLatencies(r, "k", hot, 40, 2) },
			baseline: func(r *rand.Rand) []Sample { return judgeLatencies(r, "c", hot, 40, 2) },
			want:     Pass,
		},
		{
			// Kayenta issue 426: 12 errors in 1000 events vs none, spread
			// over samples that are mostly 0, a rank test barely sees; the
			// proportion test does.
			name:     "sparse errors fail the proportion test",
			cfg:      JudgeConfig{ErrorRateLimit: -1},
			canary:   func(r *rand.Rand) []Sample { return judgeEvents("c", KPIErrorRate, 1000, 12) },
			control:  func(r *rand.Rand) []Sample { return judgeEvents("k", KPIErrorRate, 1000, 0) },
			baseline: func(r *rand.Rand) []Sample { return judgeEvents("c", KPIErrorRate, 1000, 0) },
			want:     Fail, reason: "error_rate",
		},
		{
			name:     "error rate over the hard limit fails at once",
			canary:   func(r *rand.Rand) []Sample { return judgeEvents("c", KPIErrorRate, 100, 8) },
			control:  func(r *rand.Rand) []Sample { return nil },
			baseline: func(r *rand.Rand) []Sample { return nil },
			want:     Fail, guard: KPIErrorRate,
		},
		{
			name: "lock waits over the hard limit fail at once",
			cfg:  JudgeConfig{LockWaitLimit: 5},
			canary: func(r *rand.Rand) []Sample {
				return judgeCat(judgeLatencies(r, "c", hot, 40, 2), []Sample{{Instance: "c", KPI: KPILockWaits, Value: 9, At: time.Now()}})
			},
			control:  func(r *rand.Rand) []Sample { return judgeLatencies(r, "k", hot, 40, 2) },
			baseline: func(r *rand.Rand) []Sample { return nil },
			want:     Fail, guard: KPILockWaits,
		},
		{
			name: "ignored KPIs are left out",
			cfg:  JudgeConfig{Ignore: []string{"latency"}},
			canary: func(r *rand.Rand) []Sample {
				return judgeCat(judgeLatencies(r, "c", hot, 40, 3), judgeLatencies(r, "c", KPICPU, 40, 1))
			},
			control: func(r *rand.Rand) []Sample {
				return judgeCat(judgeLatencies(r, "k", hot, 40, 2), judgeLatencies(r, "k", KPICPU, 40, 1))
			},
			baseline: func(r *rand.Rand) []Sample { return nil },
			want:     Pass,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			j, err := NewJudge(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(42, 1))
			d := j.Judge(tc.canary(r), tc.control(r), tc.baseline(r))
			if d.Outcome != tc.want || d.Guard != tc.guard || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("got %s guard=%q reason=%q, want %s guard=%q reason~%q", d.Outcome, d.Guard, d.Reason, tc.want, tc.guard, tc.reason)
				for _, v := range d.Verdicts {
					t.Log(v)
				}
			}
			for _, v := range d.Verdicts {
				if v.Test == "" || v.PValue < 0 || v.PValue > 1 || (v.Outcome != Extend && v.CanaryN == 0) {
					t.Errorf("incomplete verdict %+v", v)
				}
			}
		})
	}
}

func TestJudgeVerdictCarriesEvidence(t *testing.T) {
	t.Parallel()
	j, err := NewJudge(JudgeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	canary := []Sample{}
	control := []Sample{}
	for i := 0; i < 12; i++ {
		canary = append(canary, Sample{KPI: "latency:q", Value: 15 + float64(i)})
		control = append(control, Sample{KPI: "latency:q", Value: 10 + float64(i)})
	}
	d := j.Judge(canary, control, nil)
	if len(d.Verdicts) != 1 {
		t.Fatalf("verdicts: %v", d.Verdicts)
	}
	v := d.Verdicts[0]
	// Every difference canary - control is 5 + (i - k): the HL shift is 5,
	// the control median 15.5, so +32%; U counts pairs with 15+i > 10+k.
	if v.Effect != 5 || !statNear(v.RelEffect, 5/15.5, 1e-12) || v.CanaryN != 12 || v.ReferenceN != 12 ||
		v.ReferenceValue != 15.5 || v.CanaryValue != 20.5 || v.Test != TestMannWhitney || v.Reference != RefControl {
		t.Errorf("verdict %+v", v)
	}
	if v.PValue >= 0.01 || v.Outcome != Fail || d.Outcome != Fail {
		t.Errorf("p=%g outcome=%s decision=%s, want p<0.01 fail", v.PValue, v.Outcome, d.Outcome)
	}
	if !strings.Contains(v.String(), "latency:q vs control: fail") {
		t.Errorf("String: %s", v)
	}
	if got := len(d.Failed()); got != 1 {
		t.Errorf("Failed: %d", got)
	}
}

func TestJudgeMigrationFailed(t *testing.T) {
	t.Parallel()
	j, _ := NewJudge(JudgeConfig{})
	d := j.MigrationFailed(errors.New("relation \"x\" does not exist"))
	if d.Outcome != Fail || d.Guard != "migration_error" || !strings.Contains(d.Reason, "does not exist") {
		t.Errorf("%+v", d)
	}
}

func TestNewJudgeValidates(t *testing.T) {
	t.Parallel()
	for _, cfg := range []JudgeConfig{
		{Alpha: 0.7}, {Alpha: -1}, {MinSamples: 2}, {MinEvents: -3}, {Combine: "most"},
		{ErrorRateLimit: 2}, {LockWaitLimit: -1}, {Tolerances: map[string]float64{"latency": -0.1}},
		{AbsFloors: map[string]float64{"cpu": math.NaN()}},
	} {
		if _, err := NewJudge(cfg); !errors.Is(err, ErrBadConfig) {
			t.Errorf("NewJudge(%+v) = %v, want ErrBadConfig", cfg, err)
		}
	}
	j, err := NewJudge(JudgeConfig{Tolerances: map[string]float64{"latency:hot": 0.05}})
	if err != nil {
		t.Fatal(err)
	}
	c := j.Config()
	if c.Alpha != 0.01 || c.MinSamples != 10 || c.Combine != "all" || kpiLookup(c.Tolerances, "latency:hot", 0) != 0.05 ||
		kpiLookup(c.Tolerances, "latency:cold", 0) != 0.2 || kpiLookup(c.Tolerances, KPIErrorRate, 0) != 0.01 {
		t.Errorf("defaults: %+v", c)
	}
}

// TestJudgeFalsePositiveRate: with no change at all the judge looking at
// many independent windows almost never fails (alpha 0.01 AND both
// references AND a 20% effect floor).
func TestJudgeFalsePositiveRate(t *testing.T) {
	t.Parallel()
	j, _ := NewJudge(JudgeConfig{})
	r := rand.New(rand.NewPCG(3, 3))
	fails := 0
	for i := 0; i < 300; i++ {
		d := j.Judge(judgeLatencies(r, "c", "latency:x", 30, 2), judgeLatencies(r, "k", "latency:x", 30, 2), judgeLatencies(r, "c", "latency:x", 30, 2))
		if d.Outcome == Fail {
			fails++
		}
	}
	if fails > 1 {
		t.Errorf("%d of 300 no-change windows failed", fails)
	}
}

// BenchmarkJudgeBake judges a realistic 10-minute bake: two probes at 5/s
// (3000 samples each on canary, control and baseline) plus pgstat KPIs.
func BenchmarkJudgeBake(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	var c, k, base []Sample
	for _, kpi := range []string{"latency:a", "latency:b"} {
		c = append(c, judgeLatencies(r, "c", kpi, 3000, 2)...)
		k = append(k, judgeLatencies(r, "k", kpi, 3000, 2)...)
		base = append(base, judgeLatencies(r, "c", kpi, 3000, 2)...)
	}
	c = append(c, judgeEvents("c", KPIErrorRate, 12000, 3)...)
	k = append(k, judgeEvents("k", KPIErrorRate, 12000, 3)...)
	j, _ := NewJudge(JudgeConfig{})
	for b.Loop() {
		j.Judge(c, k, base)
	}
}

func TestOutcomeText(t *testing.T) {
	t.Parallel()
	for _, o := range []Outcome{Extend, Pass, Fail} {
		b, _ := o.MarshalText()
		var back Outcome
		if err := back.UnmarshalText(b); err != nil || back != o {
			t.Errorf("%s: round trip gave %s, %v", o, back, err)
		}
	}
	var o Outcome
	if err := o.UnmarshalText([]byte("maybe")); err == nil {
		t.Error("unknown outcome accepted")
	}
}
