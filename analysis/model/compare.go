package model

import (
	"context"
	"fmt"
)

// Variant is a named set of training options (e.g. with interactions).
type Variant struct {
	Name    string
	Options []TrainOption
}

// DefaultInteractions are the products that let a linear model say "this
// hazard is dangerous on a big table" or "this lock is dangerous behind a
// long transaction". Features missing from the data are skipped by Train.
func DefaultInteractions() []Interaction {
	size := "rows_touched_log10"
	xact := "live_oldest_xact_seconds"
	return []Interaction{
		{"rewrite", size}, {"scan_under_lock", size}, {"index_without_concurrently", size},
		{"constraint_without_not_valid", size}, {"lock_access_exclusive", size},
		{"lock_access_exclusive", xact}, {"lock_level", xact}, {"locks_blocking_writes", xact},
		{"breaks_app", "scans_per_sec_log1p"}, {"breaks_app", "writes_per_sec_log1p"},
	}
}

// Comparison is the evaluation of several variants on the same split.
type Comparison struct {
	Variants    []string      `json:"variants"`
	Evaluations []*Evaluation `json:"evaluations"`
	// Best indexes the chosen variant: the first one, unless a later one
	// scores a strictly higher held-out AUC (a more complex model has to win
	// on templates it never saw to be used).
	Best int `json:"best"`
}

// Compare evaluates each variant (common options apply to all) against the
// baselines on the same grouped split and picks the best.
func Compare(ctx context.Context, ds Dataset, baselines []Baseline, variants []Variant, common ...TrainOption) (*Comparison, error) {
	if len(variants) == 0 {
		return nil, fmt.Errorf("model: Compare needs at least one variant")
	}
	c := &Comparison{}
	for i, v := range variants {
		opts := append(append([]TrainOption(nil), common...), v.Options...)
		ev, err := Evaluate(ctx, ds, baselines, opts...)
		if err != nil {
			return nil, fmt.Errorf("variant %s: %w", v.Name, err)
		}
		ev.Results[0].Name = v.Name
		c.Variants = append(c.Variants, v.Name)
		c.Evaluations = append(c.Evaluations, ev)
		if i > 0 && ev.Results[0].HeldOut.AUC > c.Evaluations[c.Best].Results[0].HeldOut.AUC {
			c.Best = i
		}
	}
	return c, nil
}

// TrainChosen trains the chosen variant on all of ds and records the
// held-out scores its evaluation measured (with the held-out groups left
// out of training) in Metrics.HeldOut.
func (c *Comparison) TrainChosen(ctx context.Context, ds Dataset, variants []Variant, common ...TrainOption) (*Model, error) {
	v := variants[c.Best]
	opts := append(append([]TrainOption(nil), common...), v.Options...)
	m, err := Train(ctx, ds, opts...)
	if err != nil {
		return nil, err
	}
	s := c.Evaluations[c.Best].Results[0].HeldOut
	m.Metrics.HeldOut = &s
	return m, nil
}

// LambdaScore is the grouped k-fold score of one L2 penalty.
type LambdaScore struct {
	Lambda float64 `json:"lambda"`
	KFold  Scores  `json:"kfold"`
}

// SelectLambda picks the L2 penalty with the lowest grouped k-fold log-loss
// on ds (pass the training part only: the held-out split must not choose
// anything). Options are those of Train; WithLambda is overridden.
func SelectLambda(ctx context.Context, ds Dataset, grid []float64, opts ...TrainOption) (float64, []LambdaScore, error) {
	if len(grid) == 0 {
		return 0, nil, fmt.Errorf("model: SelectLambda needs a grid")
	}
	var scores []LambdaScore
	best := -1
	for _, l := range grid {
		m, err := Train(ctx, ds, append(append([]TrainOption(nil), opts...), WithLambda(l))...)
		if err != nil {
			return 0, nil, fmt.Errorf("lambda %g: %w", l, err)
		}
		scores = append(scores, LambdaScore{Lambda: l, KFold: m.Metrics.CrossValidated})
		if best < 0 || m.Metrics.CrossValidated.LogLoss < scores[best].KFold.LogLoss {
			best = len(scores) - 1
		}
	}
	return scores[best].Lambda, scores, nil
}
