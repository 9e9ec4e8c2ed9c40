package model

import (
	"context"
	"fmt"
	"math"
)

// Baseline is a one-number predictor the model is compared with: a
// calibrated logistic regression on Value alone.
type Baseline struct {
	// Name is shown in tables, e.g. "risk label alone".
	Name string
	// Value derives the single input from an example's features.
	Value func(Features) float64
}

// Baselines are what a team without schemacanary would go by: the author's
// risk label, and whether the linter reports any error-severity finding.
func Baselines() []Baseline {
	return []Baseline{
		{Name: "risk label alone", Value: func(f Features) float64 { return f[FeatureRisk] }},
		{Name: "any error-severity lint finding", Value: func(f Features) float64 {
			if f[FeatureLintErrors] > 0 {
				return 1
			}
			return 0
		}},
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

// Result is one predictor's scores.
type Result struct {
	Name string `json:"name"`
	// KFold scores calibrated out-of-fold predictions of grouped k-fold
	// cross-validation on the training part.
	KFold Scores `json:"kfold"`
	// HeldOut scores the predictor trained on the whole training part on the
	// held-out part (groups it never saw).
	HeldOut Scores `json:"held_out"`
	// Calibration is the held-out reliability table.
	Calibration []CalibrationBin `json:"calibration"`
	// HeldOutPredictions are the held-out probabilities, in dataset order.
	HeldOutPredictions []float64 `json:"-"`
}

// Evaluation compares the model with the baselines on a grouped split.
type Evaluation struct {
	TrainExamples   int      `json:"train_examples"`
	TrainGroups     int      `json:"train_groups"`
	HeldOutExamples int      `json:"held_out_examples"`
	HeldOutGroups   []string `json:"held_out_groups"`
	// Model is the first result; the baselines follow.
	Results []Result `json:"results"`
	// HeldOutOutcomes are the held-out labels, in the order of
	// Result.HeldOutPredictions.
	HeldOutOutcomes []bool `json:"-"`
	// Trained is the model fitted on the training part.
	Trained *Model `json:"-"`
}

// Evaluate splits ds (Dataset.Split), trains the model and each baseline on
// the training part, and scores them by grouped k-fold cross-validation and
// on the held-out part. The options are those of Train; baselines ignore
// WithFeatures and WithInteractions. Pass Baselines() for the standard two.
func Evaluate(ctx context.Context, ds Dataset, baselines []Baseline, opts ...TrainOption) (*Evaluation, error) {
	cfg := defaultTrainConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	tr, ho := ds.Split(cfg.heldOutFrac, cfg.seed)
	if !tr.hasBothOutcomes() || len(ho) == 0 {
		return nil, fmt.Errorf("%w: training part %d examples, held-out %d", ErrEmptyDataset, len(tr), len(ho))
	}
	ev := &Evaluation{TrainExamples: len(tr), TrainGroups: len(tr.Groups()), HeldOutExamples: len(ho), HeldOutGroups: ho.Groups()}
	for _, e := range ho {
		ev.HeldOutOutcomes = append(ev.HeldOutOutcomes, e.Safe)
	}
	type candidate struct {
		name   string
		cfg    trainConfig
		tr, ho Dataset
	}
	cands := []candidate{{"model", cfg, tr, ho}}
	for _, b := range baselines {
		bc := cfg
		bc.only = nil
		bc.interactions = nil
		cands = append(cands, candidate{b.Name, bc, derive(tr, b), derive(ho, b)})
	}
	for _, c := range cands {
		m, err := train(ctx, c.tr, c.cfg)
		if err != nil {
			return nil, fmt.Errorf("evaluate %s: %w", c.name, err)
		}
		r := Result{Name: c.name, KFold: m.Metrics.CrossValidated}
		for _, e := range c.ho {
			p, err := m.Predict(e.Features)
			if err != nil {
				return nil, fmt.Errorf("evaluate %s: %w", c.name, err)
			}
			r.HeldOutPredictions = append(r.HeldOutPredictions, p.Confidence)
		}
		r.HeldOut = Score(r.HeldOutPredictions, ev.HeldOutOutcomes)
		r.Calibration = Calibration(r.HeldOutPredictions, ev.HeldOutOutcomes, 10)
		if c.name == "model" {
			ev.Trained = m
			s := r.HeldOut
			m.Metrics.HeldOut = &s
		}
		ev.Results = append(ev.Results, r)
	}
	return ev, nil
}

// BestBaselineAUC is the higher held-out AUC of the baselines (NaN when
// there are none).
func (ev *Evaluation) BestBaselineAUC() float64 {
	best := math.NaN()
	for _, r := range ev.Results[1:] {
		if math.IsNaN(best) || r.HeldOut.AUC > best {
			best = r.HeldOut.AUC
		}
	}
	return best
}
