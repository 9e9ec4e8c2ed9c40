package model

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"time"
)

// TrainOption configures Train and Evaluate. Options validate themselves.
type TrainOption func(*trainConfig) error

type trainConfig struct {
	lambda    float64
	folds     int
	seed      uint64
	maxIter   int
	threshold float64
	hazards   map[string]bool
	only      []string
	source    string
	now       func() time.Time
	live      *LiveStage
}

func defaultTrainConfig() trainConfig {
	return trainConfig{lambda: 0.01, folds: 5, seed: 1, maxIter: 500, threshold: DefaultThreshold, source: "unknown", now: time.Now}
}

// WithLambda sets the L2 penalty on standardized coefficients (default
// 0.01; must be >= 0).
func WithLambda(l float64) TrainOption {
	return func(c *trainConfig) error {
		if !(l >= 0) || math.IsInf(l, 0) {
			return fmt.Errorf("model: lambda %v must be >= 0", l)
		}
		c.lambda = l
		return nil
	}
}

// WithFolds sets k for the grouped cross-validation that produces the
// out-of-fold predictions Platt scaling is fitted on (default 5, >= 2).
func WithFolds(k int) TrainOption {
	return func(c *trainConfig) error {
		if k < 2 {
			return fmt.Errorf("model: folds %d < 2", k)
		}
		c.folds = k
		return nil
	}
}

// WithSeed seeds fold assignment and the held-out draw (default 1).
func WithSeed(s uint64) TrainOption {
	return func(c *trainConfig) error { c.seed = s; return nil }
}

// WithMaxIterations bounds L-BFGS iterations per fit (default 500, >= 10).
func WithMaxIterations(n int) TrainOption {
	return func(c *trainConfig) error {
		if n < 10 {
			return fmt.Errorf("model: max iterations %d < 10", n)
		}
		c.maxIter = n
		return nil
	}
}

// WithDecisionThreshold sets the model's default threshold (default 0.80,
// in (0,1)).
func WithDecisionThreshold(t float64) TrainOption {
	return func(c *trainConfig) error {
		if !(t > 0 && t < 1) {
			return fmt.Errorf("model: threshold %v not in (0,1)", t)
		}
		c.threshold = t
		return nil
	}
}

// WithHazards constrains the weight of each named feature so that a larger
// value can only lower the confidence (weight <= 0 toward "safe"): a
// hazard may never count in a change's favor, whatever the data says.
func WithHazards(names ...string) TrainOption {
	return func(c *trainConfig) error {
		if c.hazards == nil {
			c.hazards = map[string]bool{}
		}
		for _, n := range names {
			c.hazards[n] = true
		}
		return nil
	}
}

// WithFeatures restricts the model to these features (default: every
// feature present in the data).
func WithFeatures(names ...string) TrainOption {
	return func(c *trainConfig) error {
		if len(names) == 0 {
			return fmt.Errorf("model: WithFeatures needs at least one name")
		}
		c.only = append(c.only, names...)
		return nil
	}
}

// WithLiveStage attaches a live stage fitted elsewhere (e.g. on lab trials,
// kept when a model is retrained from history); nil attaches none.
func WithLiveStage(ls *LiveStage) TrainOption {
	return func(c *trainConfig) error {
		if ls != nil {
			if err := ls.validate(); err != nil {
				return fmt.Errorf("model: %w", err)
			}
		}
		c.live = ls
		return nil
	}
}

// WithSource records what the model was trained on ("lab", "history").
func WithSource(s string) TrainOption {
	return func(c *trainConfig) error { c.source = s; return nil }
}

// WithClock sets the clock that stamps TrainedAt (default time.Now).
func WithClock(now func() time.Time) TrainOption {
	return func(c *trainConfig) error {
		if now == nil {
			return fmt.Errorf("model: nil clock")
		}
		c.now = now
		return nil
	}
}

// Train fits a calibrated model on ds: standardize the features, fit the
// logistic regression in each of k grouped folds to get out-of-fold logits,
// fit Platt scaling on those, then fit the final regression on all of ds.
// Examples whose gate caps them (Example.GateFailed) are left out: the
// model scores the changes the gate lets through. Memory is one dense
// float64 matrix of examples × features; time is linear in its size per
// L-BFGS iteration. Train is safe for concurrent use.
func Train(ctx context.Context, ds Dataset, opts ...TrainOption) (*Model, error) {
	cfg := defaultTrainConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return train(ctx, ds, cfg)
}

func train(ctx context.Context, ds Dataset, cfg trainConfig) (*Model, error) {
	ds = ds.gatePassed()
	if len(ds) == 0 || !ds.hasBothOutcomes() {
		return nil, ErrEmptyDataset
	}
	cols := buildScaler(ds, featureNames(ds, cfg.only))
	if len(cols) == 0 {
		return nil, fmt.Errorf("model: no feature varies in the %d examples", len(ds))
	}
	x := buildDesign(ds, cols)

	signs := make([]float64, len(cols)+1) // the intercept (last) is free
	for j, c := range cols {
		if cfg.hazards[c.Name] {
			signs[j] = -1
		}
	}
	// Final fit first: it warm-starts the fold fits.
	full, err := fitSigned(ctx, x, cfg.lambda, cfg.maxIter, nil, signs)
	if err != nil {
		return nil, err
	}
	oof, err := outOfFold(ctx, ds, x, cfg, full.vector(), signs)
	if err != nil {
		return nil, err
	}
	platt, err := fitPlatt(ctx, oof, x.y, x.w)
	if err != nil {
		return nil, err
	}
	m := &Model{
		Format: FormatVersion, TrainedAt: cfg.now().UTC(), Source: cfg.source,
		Lambda: cfg.lambda, Threshold: cfg.threshold, Intercept: full.intercept,
		Calibration: platt, Live: cfg.live,
	}
	for j, c := range cols {
		c.Weight = full.coef[j]
		m.Coefficients = append(m.Coefficients, c)
	}
	// The recipe's hazards and features, with those that had no variance
	// here, so that Recipe retrains with all of them.
	for _, n := range featureNames(ds, cfg.only) {
		if cfg.hazards[n] {
			m.Hazards = append(m.Hazards, n)
		}
	}
	if len(cfg.only) > 0 {
		m.Features = featureNames(ds, cfg.only)
	}
	p := make([]float64, len(oof))
	y := make([]bool, len(oof))
	for i, z := range oof {
		p[i] = sigmoid(platt.A*z + platt.B)
		y[i] = ds[i].Safe
	}
	m.Metrics = Metrics{
		Examples: len(ds), Groups: len(ds.Groups()), Folds: cfg.folds,
		CrossValidated: Score(p, y), Calibration: Calibration(p, y, 10), Iterations: full.iters,
	}
	for _, e := range ds {
		if e.Safe {
			m.Metrics.SafeExamples++
		}
	}
	m.Version = versionOf(m)
	return m, nil
}

// outOfFold returns, for every example, the raw logit of a model fitted
// without its fold.
func outOfFold(ctx context.Context, ds Dataset, x *design, cfg trainConfig, warm, signs []float64) ([]float64, error) {
	fold := ds.Folds(cfg.folds, cfg.seed)
	oof := make([]float64, x.n)
	for k := 0; k < cfg.folds; k++ {
		tr := x.subset(func(i int) bool { return fold[i] != k })
		if tr.n == 0 || tr.n == x.n {
			continue
		}
		f, err := fitSigned(ctx, tr, cfg.lambda, cfg.maxIter, warm, signs)
		if err != nil {
			return nil, fmt.Errorf("fold %d: %w", k, err)
		}
		for i := 0; i < x.n; i++ {
			if fold[i] == k {
				oof[i] = f.logit(x.row(i))
			}
		}
	}
	return oof, nil
}

// fitPlatt fits p = sigmoid(A·z + B) to the outcomes by maximum likelihood
// (a one-feature logistic regression on the raw logits, unpenalized).
func fitPlatt(ctx context.Context, z, y, w []float64) (Platt, error) {
	d := &design{x: append([]float64(nil), z...), y: y, w: w, n: len(z), d: 1}
	f, err := fitLogistic(ctx, d, 0, 200, []float64{1, 0})
	if err != nil {
		return Platt{}, fmt.Errorf("model: Platt scaling: %w", err)
	}
	if !(f.coef[0] > 0) {
		// The out-of-fold logits do not rank at all; keep the ranking and
		// the base rate rather than inverting the model.
		return Platt{A: 1e-3, B: f.intercept}, nil
	}
	return Platt{A: f.coef[0], B: f.intercept}, nil
}

func versionOf(m *Model) string {
	h := sha256.New()
	put := func(v float64) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
		h.Write(b[:])
	}
	for _, n := range m.Hazards {
		h.Write([]byte("hazard:" + n))
	}
	for _, c := range m.Coefficients {
		h.Write([]byte(c.Name))
		put(c.Mean)
		put(c.Scale)
		put(c.Weight)
	}
	put(m.Intercept)
	put(m.Calibration.A)
	put(m.Calibration.B)
	if m.Live != nil {
		put(m.Live.Intercept)
		for _, n := range EvidenceNames() {
			put(m.Live.Weights[n])
		}
	}
	return "lr-" + m.Source + "-" + hex.EncodeToString(h.Sum(nil))[:10]
}
