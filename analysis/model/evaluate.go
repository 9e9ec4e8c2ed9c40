package model

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Baseline is a one-number predictor the model is compared with: a
// calibrated logistic regression on Value alone, with the same sign
// constraint (a larger value can only lower the confidence).
type Baseline struct {
	// Name is shown in tables, e.g. "risk label alone".
	Name string
	// Value derives the single input from an example's features.
	Value func(Features) float64
}

// Feature names the baselines read (analysis.Report.Features).
const (
	// FeatureRisk is the author's front-matter risk label (1..10).
	FeatureRisk = "risk"
	// FeatureLintErrors counts error-severity lint findings.
	FeatureLintErrors = "aux_lint_errors"
	// FeatureHoldSeconds is the estimated seconds a write-blocking lock is
	// held.
	FeatureHoldSeconds = "aux_hold_seconds"
)

// Baselines are what a team without schemacanary would go by: the author's
// risk label, whether the linter reports any error-severity finding, and
// the physical estimate of the time the change holds a blocking lock.
func Baselines() []Baseline {
	return []Baseline{
		{Name: "risk label alone", Value: func(f Features) float64 { return f[FeatureRisk] }},
		{Name: "any error-severity lint finding", Value: func(f Features) float64 {
			if f[FeatureLintErrors] > 0 {
				return 1
			}
			return 0
		}},
		{Name: "lock time estimate alone", Value: func(f Features) float64 { return math.Log1p(f[FeatureHoldSeconds]) }},
	}
}

const baselineFeature = "baseline"

// derive replaces every example's features by the baseline's value.
func derive(ds Dataset, b Baseline) Dataset {
	out := make(Dataset, len(ds))
	for i, e := range ds {
		e.Features = Features{baselineFeature: b.Value(e.Features)}
		out[i] = e
	}
	return out
}

// Interval is an estimate with its 95% bootstrap interval (resampling
// whole groups, so examples of one template move together).
type Interval struct {
	Value float64 `json:"value"`
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
}

// String renders "0.912 [0.880, 0.935]".
func (iv Interval) String() string { return fmt.Sprintf("%.3f [%.3f, %.3f]", iv.Value, iv.Lo, iv.Hi) }

// CalibrationPoint is one bin of a reliability curve with the bootstrap
// interval of its observed safe rate.
type CalibrationPoint struct {
	CalibrationBin
	ObservedLo float64 `json:"observed_lo"`
	ObservedHi float64 `json:"observed_hi"`
}

// Result is one predictor scored on groups it never saw: every example is
// predicted by a model trained without its group.
type Result struct {
	Name string `json:"name"`
	// By is the grouping left out: "template" or "family".
	By string `json:"by"`
	// Groups is how many groups were left out in turn; N the examples.
	Groups int `json:"groups"`
	N      int `json:"n"`
	// AUC and Brier of the out-of-group predictions.
	AUC   Interval `json:"auc"`
	Brier Interval `json:"brier"`
	// UnsafeProceed is the share of unsafe examples at or above the
	// threshold (they would proceed without a human); SafeProceed the
	// share of safe ones that would.
	UnsafeProceed Interval `json:"unsafe_proceed"`
	SafeProceed   Interval `json:"safe_proceed"`
	// Calibration is the reliability curve of the out-of-group predictions.
	Calibration []CalibrationPoint `json:"calibration"`
	// Predictions are the out-of-group probabilities, in dataset order.
	Predictions []float64 `json:"-"`
}

// Evaluation scores the model and the baselines by leaving one template,
// then one family, out at a time.
type Evaluation struct {
	Examples  int     `json:"examples"`
	Templates int     `json:"templates"`
	Families  int     `json:"families"`
	Threshold float64 `json:"threshold"`
	// Bootstrap is the number of group resamples behind each interval.
	Bootstrap int `json:"bootstrap"`
	// Results: for each grouping, the model first, then the baselines.
	Results []Result `json:"results"`
}

// Model returns the model's result for grouping by ("template" or
// "family"), or nil.
func (ev *Evaluation) Model(by string) *Result {
	for i := range ev.Results {
		if ev.Results[i].By == by && ev.Results[i].Name == "model" {
			return &ev.Results[i]
		}
	}
	return nil
}

// Evaluate scores the model (trained with opts) and each baseline by
// leave-one-template-out (Example.Group) and, when the data has more than
// one family, leave-one-family-out (Example.Family): each example is
// predicted by a model trained without its group. Nothing is tuned on
// these predictions. Intervals come from resampling groups (boot times,
// seeded by WithSeed).
func Evaluate(ctx context.Context, ds Dataset, baselines []Baseline, boot int, opts ...TrainOption) (*Evaluation, error) {
	cfg := defaultTrainConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if !ds.hasBothOutcomes() {
		return nil, ErrEmptyDataset
	}
	ev := &Evaluation{Examples: len(ds), Templates: len(groupsBy(ds, byTemplate)), Families: len(groupsBy(ds, byFamily)),
		Threshold: cfg.threshold, Bootstrap: boot}
	y := make([]bool, len(ds))
	for i, e := range ds {
		y[i] = e.Safe
	}
	for _, g := range []struct {
		by  string
		key func(Example) string
	}{{"template", byTemplate}, {"family", byFamily}} {
		if len(groupsBy(ds, g.key)) < 2 {
			continue
		}
		type cand struct {
			name string
			cfg  trainConfig
			ds   Dataset
			// gated applies each example's gate to its prediction;
			// constant predicts the training base rate (no features).
			gated, constant bool
		}
		cands := []cand{{name: "model", cfg: cfg, ds: ds, gated: true}}
		if ds.hasGate() {
			cands = append(cands, cand{name: "model without the gate", cfg: cfg, ds: ds},
				cand{name: "gate alone", cfg: cfg, ds: ds, gated: true, constant: true})
		}
		for _, b := range baselines {
			bc := cfg
			bc.only = []string{baselineFeature}
			bc.hazards = map[string]bool{baselineFeature: true}
			cands = append(cands, cand{name: b.Name, cfg: bc, ds: derive(ds, b)})
		}
		for _, c := range cands {
			p, proceed, err := leaveGroupOut(ctx, c.ds, g.key, c.cfg, c.gated, c.constant)
			if err != nil {
				return nil, fmt.Errorf("evaluate %s by %s: %w", c.name, g.by, err)
			}
			r := score(c.name, g.by, p, proceed, y, ds, g.key, boot, cfg.seed)
			ev.Results = append(ev.Results, r)
		}
	}
	return ev, nil
}

func byTemplate(e Example) string { return e.Group }

func byFamily(e Example) string {
	if e.Family == "" {
		return e.Group
	}
	return e.Family
}

func groupsBy(ds Dataset, key func(Example) string) map[string][]int {
	out := map[string][]int{}
	for i, e := range ds {
		k := key(e)
		out[k] = append(out[k], i)
	}
	return out
}

// leaveGroupOut predicts every example with a model trained on the other
// groups (constant: their base rate), after the example's gate when gated,
// and says whether it would proceed at the threshold (a hold never does).
func leaveGroupOut(ctx context.Context, ds Dataset, key func(Example) string, cfg trainConfig, gated, constant bool) ([]float64, []bool, error) {
	groups := groupsBy(ds, key)
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	p := make([]float64, len(ds))
	proceed := make([]bool, len(ds))
	for _, g := range names {
		var tr Dataset
		for _, e := range ds {
			if key(e) != g {
				tr = append(tr, e)
			}
		}
		var predict func(Example) (Prediction, error)
		if constant {
			rate := tr.gatePassed().safeRate()
			base := Prediction{Logit: logit(rate), Confidence: rate, Threshold: cfg.threshold}
			base.decide()
			predict = func(Example) (Prediction, error) { return base, nil }
		} else {
			m, err := train(ctx, tr, cfg)
			if err != nil {
				return nil, nil, fmt.Errorf("without %s: %w", g, err)
			}
			predict = func(e Example) (Prediction, error) { return m.Predict(e.Features, WithThreshold(cfg.threshold)) }
		}
		for _, i := range groups[g] {
			pr, err := predict(ds[i])
			if err != nil {
				return nil, nil, err
			}
			if gated {
				pr = pr.Adjust(ds[i].Gate...)
			}
			p[i] = pr.Confidence
			proceed[i] = pr.Decision == DecisionProceed
		}
	}
	return p, proceed, nil
}

// score computes a Result with group-bootstrap intervals.
func score(name, by string, p []float64, proceed, y []bool, ds Dataset, key func(Example) string, boot int, seed uint64) Result {
	groups := groupsBy(ds, key)
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	stats := func(idx []int) (auc, brier, unsafeGo, safeGo float64, cal []CalibrationBin) {
		pp := make([]float64, len(idx))
		yy := make([]bool, len(idx))
		var nSafe, nUnsafe, safeOK, unsafeOK float64
		for k, i := range idx {
			pp[k], yy[k] = p[i], y[i]
			if y[i] {
				nSafe++
				if proceed[i] {
					safeOK++
				}
			} else {
				nUnsafe++
				if proceed[i] {
					unsafeOK++
				}
			}
		}
		s := Score(pp, yy)
		return s.AUC, s.Brier, unsafeOK / math.Max(nUnsafe, 1), safeOK / math.Max(nSafe, 1), Calibration(pp, yy, 10)
	}
	all := make([]int, len(p))
	for i := range all {
		all[i] = i
	}
	auc, brier, ug, sg, cal := stats(all)
	r := Result{Name: name, By: by, Groups: len(groups), N: len(p), Predictions: p}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var aucs, briers, ugs, sgs []float64
	calObs := map[float64][]float64{} // bin's lower edge → observed rates
	for b := 0; b < boot; b++ {
		var idx []int
		for range names {
			idx = append(idx, groups[names[rng.IntN(len(names))]]...)
		}
		a, br, u, s, c := stats(idx)
		if !math.IsNaN(a) {
			aucs = append(aucs, a)
		}
		briers, ugs, sgs = append(briers, br), append(ugs, u), append(sgs, s)
		for _, bin := range c {
			calObs[bin.Lo] = append(calObs[bin.Lo], bin.Observed)
		}
	}
	r.AUC = interval(auc, aucs)
	r.Brier = interval(brier, briers)
	r.UnsafeProceed = interval(ug, ugs)
	r.SafeProceed = interval(sg, sgs)
	for _, b := range cal {
		iv := interval(b.Observed, calObs[b.Lo])
		r.Calibration = append(r.Calibration, CalibrationPoint{CalibrationBin: b, ObservedLo: iv.Lo, ObservedHi: iv.Hi})
	}
	return r
}

// interval is v with the 2.5% and 97.5% percentiles of its resamples.
func interval(v float64, resamples []float64) Interval {
	if len(resamples) == 0 {
		return Interval{Value: v, Lo: v, Hi: v}
	}
	sort.Float64s(resamples)
	q := func(f float64) float64 { return resamples[int(math.Round(f*float64(len(resamples)-1)))] }
	return Interval{Value: v, Lo: q(0.025), Hi: q(0.975)}
}
