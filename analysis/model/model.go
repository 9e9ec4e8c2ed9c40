package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"time"
)

// FormatVersion is the JSON format version Marshal writes and Load accepts.
// Version 2 models predict from the causal feature set (docs/features.md);
// version 1 models (one-hot locks, lint counts, interactions) are refused.
const FormatVersion = 2

// DefaultThreshold is the confidence at or above which a change proceeds
// without a human approval.
const DefaultThreshold = 0.80

// ErrFormat is returned by Load and Unmarshal for a file that is not a model
// of a supported FormatVersion.
var ErrFormat = errors.New("model: unsupported model format")

// Platt is the calibration map p = sigmoid(A·z + B) from the raw logit z.
type Platt struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

// Metrics are the figures recorded with a model at training time.
type Metrics struct {
	// Examples, SafeExamples and Groups describe the training data.
	Examples     int `json:"examples"`
	SafeExamples int `json:"safe_examples"`
	Groups       int `json:"groups"`
	// Folds is k of the grouped cross-validation; CrossValidated scores its
	// calibrated out-of-fold predictions.
	Folds          int    `json:"folds"`
	CrossValidated Scores `json:"cross_validated"`
	// Calibration is the reliability table of the out-of-fold predictions.
	Calibration []CalibrationBin `json:"calibration"`
	// LeaveOneTemplateOut is the evaluation of the same recipe on templates
	// it never saw (Evaluate), when training ran one (nil otherwise).
	LeaveOneTemplateOut *Result `json:"leave_one_template_out,omitempty"`
	// LeaveOneFamilyOut is the same by family.
	LeaveOneFamilyOut *Result `json:"leave_one_family_out,omitempty"`
	// Iterations of L-BFGS for the final fit.
	Iterations int `json:"iterations"`
}

// Model is a calibrated logistic regression over named features. It is
// immutable and safe for concurrent use.
type Model struct {
	// Format is FormatVersion.
	Format int `json:"format"`
	// Version identifies the model in predictions and audit records; it is
	// derived from the coefficients, so equal models have equal versions.
	Version   string    `json:"version"`
	TrainedAt time.Time `json:"trained_at"`
	// Source says what it was trained on, e.g. "lab" or "history".
	Source string `json:"source,omitempty"`
	// Lambda is the L2 penalty used.
	Lambda float64 `json:"lambda"`
	// Threshold is the default decision threshold.
	Threshold    float64       `json:"threshold"`
	Intercept    float64       `json:"intercept"`
	Coefficients []Coefficient `json:"coefficients"`
	Calibration  Platt         `json:"calibration"`
	Metrics      Metrics       `json:"metrics"`
	// Hazards are the features whose weights were constrained so that
	// they can only lower the confidence (WithHazards); Recipe retrains
	// with them.
	Hazards []string `json:"hazards,omitempty"`
	// Features are the features the recipe asked for (WithFeatures), also
	// those constant in the training data and so without a coefficient
	// (the history features, in lab data): a retraining on data where they
	// vary learns them. Empty: the coefficients' names.
	Features []string `json:"features,omitempty"`
	// Live re-scores a change during its bake (Repredict); nil when the
	// model was trained without outcomes to fit it on.
	Live *LiveStage `json:"live,omitempty"`
}

// Decision is what a prediction recommends.
type Decision string

// The two decisions.
const (
	// DecisionProceed: confidence >= threshold; the change may roll out.
	DecisionProceed Decision = "proceed"
	// DecisionNeedsApproval: confidence below threshold; a human decides.
	DecisionNeedsApproval Decision = "needs_approval"
)

// decide sets the decision: proceed when the confidence reaches the
// threshold and nothing holds the change, else needs_approval.
func (p *Prediction) decide() {
	p.Decision = DecisionNeedsApproval
	if p.Confidence >= p.Threshold && !p.Held {
		p.Decision = DecisionProceed
	}
}

// Reason is one feature's contribution to a prediction.
type Reason struct {
	// Feature is the feature name ("gate:<rule>" for a gate adjustment).
	Feature string `json:"feature"`
	// Value is the raw feature value.
	Value float64 `json:"value"`
	// Text says in plain words what the feature means for this change,
	// e.g. "rewrites a 2M-row table".
	Text string `json:"text"`
	// Contribution is the feature's term of the calibrated logit: positive
	// pushes toward a safe deployment, negative toward a rollback.
	Contribution float64 `json:"contribution"`
}

// Prediction is the model's view of one change.
type Prediction struct {
	// Confidence is the calibrated probability that the change deploys
	// without a rollback.
	Confidence float64  `json:"confidence"`
	Decision   Decision `json:"decision"`
	Threshold  float64  `json:"threshold"`
	// Logit is log(Confidence/(1-Confidence)); it equals Base plus the sum
	// of all Contributions.
	Logit float64 `json:"logit"`
	// Base is the logit of a change with no hazard at all (every hazard
	// feature 0, any other feature at its training mean).
	Base float64 `json:"base"`
	// Reasons are the strongest contributions (at most 5), strongest first;
	// contributions that read the same are merged into one reason.
	Reasons []Reason `json:"reasons"`
	// Contributions are all non-zero contributions, strongest first.
	Contributions []Reason `json:"contributions"`
	// Missing lists model features absent from the input (taken at their
	// training mean).
	Missing []string `json:"missing,omitempty"`
	// ModelVersion is the Version of the model that predicted.
	ModelVersion string `json:"model_version"`
	// Held is set when an Adjustment requires a human approval whatever
	// the confidence (Decision is then needs_approval).
	Held bool `json:"held,omitempty"`
}

// PredictOption adjusts one prediction.
type PredictOption func(*predictConfig) error

type predictConfig struct {
	threshold float64
	reasons   int
}

// WithThreshold decides against t instead of the model's threshold; t must
// lie in (0,1] (1: nothing proceeds without an approval).
func WithThreshold(t float64) PredictOption {
	return func(c *predictConfig) error {
		if !(t > 0 && t <= 1) {
			return fmt.Errorf("model: threshold %v not in (0,1]", t)
		}
		c.threshold = t
		return nil
	}
}

// WithReasons sets how many reasons to keep (default 5, at least 1).
func WithReasons(n int) PredictOption {
	return func(c *predictConfig) error {
		if n < 1 {
			return fmt.Errorf("model: reasons %d < 1", n)
		}
		c.reasons = n
		return nil
	}
}

// Predict computes the calibrated confidence and its explanation. A model
// feature missing from f is taken at its training mean and listed in
// Prediction.Missing; features the model does not know are ignored.
func (m *Model) Predict(f Features, opts ...PredictOption) (Prediction, error) {
	cfg := predictConfig{threshold: m.Threshold, reasons: 5}
	if cfg.threshold <= 0 || cfg.threshold >= 1 {
		cfg.threshold = DefaultThreshold
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return Prediction{}, err
		}
	}
	a, b := m.Calibration.A, m.Calibration.B
	// A hazard's contribution is measured from its absence (value 0), so
	// Base is the confidence of a change with no hazard at all and every
	// hazard's contribution is <= 0; other features are measured from their
	// training mean.
	hazard := make(map[string]bool, len(m.Hazards))
	for _, h := range m.Hazards {
		hazard[h] = true
	}
	ref := func(c Coefficient) float64 {
		if hazard[c.Name] {
			return 0
		}
		return c.Mean
	}
	p := Prediction{Threshold: cfg.threshold, ModelVersion: m.Version, Base: a*m.Intercept + b}
	for _, c := range m.Coefficients {
		p.Base += a * c.Weight * (ref(c) - c.Mean) / c.Scale
	}
	logit := p.Base
	for _, c := range m.Coefficients {
		v, ok := value(f, c.Name)
		if !ok {
			p.Missing = append(p.Missing, c.Name)
			v = c.Mean
		}
		contrib := a * c.Weight * (v - ref(c)) / c.Scale
		logit += contrib
		if !ok {
			continue
		}
		if contrib != 0 {
			p.Contributions = append(p.Contributions, Reason{Feature: c.Name, Value: v, Contribution: contrib})
		}
	}
	if math.IsNaN(logit) || math.IsInf(logit, 0) {
		return Prediction{}, fmt.Errorf("model %s: non-finite logit (bad feature value?)", m.Version)
	}
	p.Logit = logit
	p.Confidence = sigmoid(logit)
	p.decide()
	sort.SliceStable(p.Contributions, func(i, j int) bool {
		return math.Abs(p.Contributions[i].Contribution) > math.Abs(p.Contributions[j].Contribution)
	})
	for i := range p.Contributions {
		p.Contributions[i].Text = Describe(p.Contributions[i].Feature, p.Contributions[i].Value, f)
	}
	p.Reasons = topReasons(p.Contributions, cfg.reasons)
	return p, nil
}

// Weighs reports whether the model has a non-zero weight for feature (false
// for a nil model).
func (m *Model) Weighs(feature string) bool {
	if m == nil {
		return false
	}
	for _, c := range m.Coefficients {
		if c.Name == feature {
			return c.Weight != 0
		}
	}
	return false
}

// Recipe returns the training options that made m (features, hazards,
// penalty, folds, source, threshold, live stage), so that a retrained model
// is trained the same way.
func (m *Model) Recipe() []TrainOption {
	names := m.Features
	if len(names) == 0 {
		for _, c := range m.Coefficients {
			names = append(names, c.Name)
		}
	}
	return []TrainOption{WithFeatures(names...), WithHazards(m.Hazards...), WithLambda(m.Lambda),
		WithFolds(max(m.Metrics.Folds, 2)), WithSource(m.Source), WithDecisionThreshold(m.Threshold), WithLiveStage(m.Live)}
}

// Marshal encodes the model as indented JSON.
func (m *Model) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("model: marshal: %w", err)
	}
	return append(b, '\n'), nil
}

// Save writes the model to path.
func (m *Model) Save(path string) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	return nil
}

// Unmarshal decodes a model written by Marshal and checks it.
func Unmarshal(b []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("model: decode: %w", err)
	}
	if m.Format != FormatVersion {
		return nil, fmt.Errorf("%w: format %d, want %d", ErrFormat, m.Format, FormatVersion)
	}
	if len(m.Coefficients) == 0 || m.Version == "" {
		return nil, fmt.Errorf("%w: no coefficients or version", ErrFormat)
	}
	for _, c := range m.Coefficients {
		if !(c.Scale > 0) || c.Name == "" {
			return nil, fmt.Errorf("%w: coefficient %q has scale %v", ErrFormat, c.Name, c.Scale)
		}
	}
	if m.Live != nil {
		if err := m.Live.validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrFormat, err)
		}
	}
	return &m, nil
}

// Load reads a model from an io.Reader.
func Load(r io.Reader) (*Model, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("model: read: %w", err)
	}
	return Unmarshal(b)
}

// LoadFile reads a model from path.
func LoadFile(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	m, err := Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// topReasons merges contributions that read the same (e.g. the one-hot
// and the ordinal lock features both saying "takes no table lock") and
// keeps the n strongest.
func topReasons(cs []Reason, n int) []Reason {
	var out []Reason
	at := map[string]int{}
	for _, c := range cs {
		if math.Abs(c.Contribution) < 0.005 {
			continue // too small to be a reason (still in Contributions)
		}
		if i, ok := at[c.Text]; ok {
			out[i].Contribution += c.Contribution
			continue
		}
		at[c.Text] = len(out)
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool { return math.Abs(out[i].Contribution) > math.Abs(out[j].Contribution) })
	return out[:min(n, len(out))]
}
