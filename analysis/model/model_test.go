package model

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

func TestTrainRecoversKnownCoefficients(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		beta      []float64
		intercept float64
	}{
		{"three features", []float64{1.5, -0.8, 0.3}, 0.5},
		{"one strong, one null", []float64{-2, 0}, 1},
		{"five mixed", []float64{0.7, -0.4, 0.25, -1.1, 0.5}, -0.3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ds := synthetic(20000, tc.beta, tc.intercept, 42, 50)
			m, err := Train(context.Background(), ds, WithLambda(0), WithSource("test"))
			if err != nil {
				t.Fatal(err)
			}
			raw := map[string]float64{}
			b0 := m.Intercept
			for _, c := range m.Coefficients {
				raw[c.Name] = c.Weight / c.Scale
				b0 -= c.Weight * c.Mean / c.Scale
			}
			for j, want := range tc.beta {
				got := raw[fmt.Sprintf("f%d", j)]
				if math.Abs(got-want) > 0.1 {
					t.Errorf("f%d: coefficient %.3f, want %.3f", j, got, want)
				}
			}
			if math.Abs(b0-tc.intercept) > 0.2 {
				t.Errorf("intercept %.3f, want %.3f", b0, tc.intercept)
			}
			// A well-specified model needs (almost) no recalibration.
			if math.Abs(m.Calibration.A-1) > 0.1 || math.Abs(m.Calibration.B) > 0.1 {
				t.Errorf("Platt on a well-specified model = %+v, want about {1 0}", m.Calibration)
			}
		})
	}
}

func TestPlattRecoversKnownMap(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	n := 40000
	z := make([]float64, n)
	y := make([]float64, n)
	w := make([]float64, n)
	for i := range z {
		z[i] = 3 * rng.NormFloat64()
		if rng.Float64() < sigmoid(0.4*z[i]-0.7) {
			y[i] = 1
		}
		w[i] = 1
	}
	p, err := fitPlatt(context.Background(), z, y, w)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(p.A-0.4) > 0.03 || math.Abs(p.B+0.7) > 0.05 {
		t.Fatalf("Platt = %+v, want {0.4 -0.7}", p)
	}
}

// A raw model fitted without a penalty on few examples and many noise
// features is overconfident; Platt scaling on out-of-fold logits must bring
// its confidence in line with the observed rate on fresh data.
func TestCalibratedConfidenceMatchesObservedRate(t *testing.T) {
	t.Parallel()
	gen := func(n int, seed uint64) Dataset {
		rng := rand.New(rand.NewPCG(seed, 11))
		ds := make(Dataset, n)
		for i := range ds {
			f := Features{}
			for j := 0; j < 30; j++ {
				f[fmt.Sprintf("noise%02d", j)] = rng.NormFloat64()
			}
			a, b := rng.NormFloat64(), rng.NormFloat64()
			f["a"], f["b"] = a, b
			z := 1 + 1.5*a - b
			ds[i] = Example{Features: f, Safe: rng.Float64() < sigmoid(z), Group: fmt.Sprintf("g%d", i/5)}
		}
		return ds
	}
	m, err := Train(context.Background(), gen(500, 1), WithLambda(0))
	if err != nil {
		t.Fatal(err)
	}
	if m.Calibration.A >= 0.95 {
		t.Errorf("Platt slope %.2f: an overfitted model should be shrunk", m.Calibration.A)
	}
	raw := *m
	raw.Calibration = Platt{A: 1}
	fresh := gen(12000, 2)
	var p, pr []float64
	var y []bool
	for _, e := range fresh {
		c, err := m.Predict(e.Features)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := raw.Predict(e.Features)
		p = append(p, c.Confidence)
		pr = append(pr, r.Confidence)
		y = append(y, e.Safe)
	}
	bins := Calibration(p, y, 10)
	for _, b := range bins {
		if b.N >= 500 && math.Abs(b.MeanPredicted-b.Observed) > 0.07 {
			t.Errorf("bin [%.1f,%.1f) n=%d: predicted %.3f, observed %.3f", b.Lo, b.Hi, b.N, b.MeanPredicted, b.Observed)
		}
	}
	ece, eceRaw := ExpectedCalibrationError(bins), ExpectedCalibrationError(Calibration(pr, y, 10))
	if ece > 0.04 || ece >= eceRaw {
		t.Errorf("calibration error %.3f (raw %.3f), want <= 0.04 and below raw", ece, eceRaw)
	}
	t.Logf("calibration error %.3f calibrated, %.3f raw; Platt %+v", ece, eceRaw, m.Calibration)
}

func TestContributionsSumToLogit(t *testing.T) {
	t.Parallel()
	ds := synthetic(3000, []float64{1, -1, 0.5, 0.2}, 0, 9, 30)
	m, err := Train(context.Background(), ds, WithHazards("f1"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []Features{
		ds[0].Features,
		ds[1].Features,
		{"f0": 10, "f1": -3}, // f2, f3 missing
		{"f0": 1, "f1": 1, "f2": 1, "f3": 1, "unknown": 5},
	}
	for i, f := range cases {
		p, err := m.Predict(f, WithReasons(2))
		if err != nil {
			t.Fatal(err)
		}
		sum := p.Base
		for _, c := range p.Contributions {
			sum += c.Contribution
		}
		if math.Abs(sum-p.Logit) > 1e-9 {
			t.Errorf("case %d: base + contributions = %v, logit %v", i, sum, p.Logit)
		}
		if math.Abs(sigmoid(p.Logit)-p.Confidence) > 1e-12 {
			t.Errorf("case %d: confidence %v is not sigmoid(logit %v)", i, p.Confidence, p.Logit)
		}
		if len(p.Reasons) > 2 {
			t.Errorf("case %d: %d reasons, want <= 2", i, len(p.Reasons))
		}
		for j := 1; j < len(p.Contributions); j++ {
			if math.Abs(p.Contributions[j].Contribution) > math.Abs(p.Contributions[j-1].Contribution) {
				t.Errorf("case %d: contributions not sorted by strength", i)
			}
		}
		wantDecision := DecisionNeedsApproval
		if p.Confidence >= DefaultThreshold {
			wantDecision = DecisionProceed
		}
		if p.Decision != wantDecision {
			t.Errorf("case %d: decision %s at confidence %.3f", i, p.Decision, p.Confidence)
		}
	}
	p, _ := m.Predict(cases[2])
	if !reflect.DeepEqual(p.Missing, []string{"f2", "f3"}) {
		t.Errorf("missing = %v, want [f2 f3]", p.Missing)
	}
}

func TestSerializationRoundTrips(t *testing.T) {
	t.Parallel()
	ds := synthetic(2000, []float64{0.5, -1}, 0.2, 5, 25)
	fixed := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	m, err := Train(context.Background(), ds, WithClock(func() time.Time { return fixed }), WithSource("test"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, back) {
		t.Fatalf("round trip differs:\n%+v\n%+v", m, back)
	}
	for _, e := range ds[:50] {
		p1, _ := m.Predict(e.Features)
		p2, _ := back.Predict(e.Features)
		if p1.Confidence != p2.Confidence {
			t.Fatalf("prediction changed after round trip: %v vs %v", p1.Confidence, p2.Confidence)
		}
	}
	// Training is deterministic: same data, same version.
	again, err := Train(context.Background(), ds, WithClock(func() time.Time { return fixed }), WithSource("test"))
	if err != nil {
		t.Fatal(err)
	}
	if again.Version != m.Version {
		t.Errorf("retraining gave version %s, first %s", again.Version, m.Version)
	}
	bad := bytes.Replace(b, []byte(`"format": 2`), []byte(`"format": 99`), 1)
	if _, err := Unmarshal(bad); !errors.Is(err, ErrFormat) {
		t.Errorf("format 99: err = %v, want ErrFormat", err)
	}
}

func TestTrainRejects(t *testing.T) {
	t.Parallel()
	allSafe := Dataset{{Features: Features{"a": 1}, Safe: true}, {Features: Features{"a": 2}, Safe: true}}
	if _, err := Train(context.Background(), allSafe); !errors.Is(err, ErrEmptyDataset) {
		t.Errorf("one outcome: err = %v, want ErrEmptyDataset", err)
	}
	if _, err := Train(context.Background(), nil); !errors.Is(err, ErrEmptyDataset) {
		t.Errorf("empty: err = %v, want ErrEmptyDataset", err)
	}
	for _, o := range []TrainOption{WithLambda(-1), WithFolds(1), WithDecisionThreshold(1), WithMaxIterations(0)} {
		if _, err := Train(context.Background(), synthetic(100, []float64{1}, 0, 1, 10), o); err == nil {
			t.Errorf("invalid option accepted")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Train(ctx, synthetic(500, []float64{1}, 0, 1, 10)); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v", err)
	}
}
