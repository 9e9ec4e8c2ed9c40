// Package assess builds the one assessment of a migration that every part
// of schemacanary reads: the analysis report (with a live target: its
// context, dry run and data checks), the gate, the feature vector and the
// prediction. The daemon stores it with the change; `predict`, the PR
// comment, the demo, the decision, the rollout, the audit record and the
// status page all show or use that same value, so they cannot disagree.
package assess

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// Assessment is everything known about a migration before it runs. It is a
// plain value: it marshals to JSON and back without loss, and is what the
// control store keeps.
type Assessment struct {
	// Path and Version identify the migration.
	Path    string `json:"path"`
	Version int64  `json:"version"`
	// Report is the analysis (with Report.Live when a target was inspected).
	Report *analysis.Report `json:"report"`
	// Gate is the deterministic verdict before the model.
	Gate analysis.Gate `json:"gate"`
	// Features is the model's input.
	Features model.Features `json:"features"`
	// Prediction is the model's output after the gate's adjustments.
	Prediction model.Prediction `json:"prediction"`
	// At is when it was assessed.
	At time.Time `json:"at"`
}

// Live reports whether a live target was inspected.
func (a *Assessment) Live() bool { return a.Report != nil && a.Report.Live != nil }

// ModelSource gives the model to predict with; the daemon's retrainer may
// replace it between calls.
type ModelSource interface {
	Model() *model.Model
}

// Static is a ModelSource that always gives the same model.
type Static struct{ M *model.Model }

// Model implements ModelSource.
func (s Static) Model() *model.Model { return s.M }

// History gives the history of past outcomes of changes to the same tables
// and of the same kinds (analysis.Report.HazardKinds) as a change: the
// control store. Without one, the history is empty.
type History interface {
	PastOutcomes(ctx context.Context, tables, kinds []string) (model.History, error)
}

// Assessor assesses migrations. Safe for concurrent use.
type Assessor struct {
	models    ModelSource
	target    *analysis.Target
	history   History
	threshold float64
	analyze   []analysis.Option
	now       func() time.Time
}

// Option configures New.
type Option func(*Assessor) error

// WithTarget inspects every migration on this live target (its catalog,
// workload, dry run and data checks). Without one, the live features are
// missing and the prediction says so.
func WithTarget(t *analysis.Target) Option {
	return func(a *Assessor) error {
		if t == nil {
			return errors.New("assess: WithTarget(nil)")
		}
		a.target = t
		return nil
	}
}

// WithHistory adds the history features from h.
func WithHistory(h History) Option {
	return func(a *Assessor) error {
		if h == nil {
			return errors.New("assess: WithHistory(nil)")
		}
		a.history = h
		return nil
	}
}

// WithThreshold decides against t (default model.DefaultThreshold, 0.80);
// t must lie in (0,1] (1: nothing proceeds without an approval).
func WithThreshold(t float64) Option {
	return func(a *Assessor) error {
		if !(t > 0 && t <= 1) {
			return fmt.Errorf("assess: threshold %v not in (0,1]", t)
		}
		a.threshold = t
		return nil
	}
}

// WithAnalysisOptions passes options to analysis.Analyze (rules, version).
func WithAnalysisOptions(opts ...analysis.Option) Option {
	return func(a *Assessor) error { a.analyze = append(a.analyze, opts...); return nil }
}

// New returns an Assessor predicting with models.
func New(models ModelSource, opts ...Option) (*Assessor, error) {
	if models == nil {
		return nil, errors.New("assess: nil model source")
	}
	a := &Assessor{models: models, threshold: model.DefaultThreshold, now: time.Now}
	for _, o := range opts {
		if err := o(a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Threshold is the decision threshold.
func (a *Assessor) Threshold() float64 { return a.threshold }

// Input is one migration to assess.
type Input struct {
	Migration migration.Migration
	// Invalid, when set, is why goose cannot parse the file (a finding of
	// rule goose-syntax): the assessment is that finding alone, and the
	// gate fails it.
	Invalid *analysis.Finding
}

// Assess analyzes in.Migration (on the target when there is one), applies
// the gate and predicts. It fails when the analysis or the target cannot
// be read, or ctx ends; a migration with hazards is an assessment, not an
// error.
func (a *Assessor) Assess(ctx context.Context, in Input) (*Assessment, error) {
	rep, err := a.analyzeInput(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("assess %s: %w", in.Migration.Path, err)
	}
	if a.target != nil && in.Invalid == nil {
		if err := a.target.Inspect(ctx, in.Migration, rep); err != nil {
			return nil, fmt.Errorf("assess %s: %w", in.Migration.Path, err)
		}
	}
	return a.Predict(ctx, rep)
}

// Predict finishes an assessment from an analysis report (with its live
// context, when there was a target): the history, the features, the gate
// and the prediction. Assess calls it; so do tests that build a report
// with chosen live figures.
func (a *Assessor) Predict(ctx context.Context, rep *analysis.Report) (*Assessment, error) {
	m := a.models.Model()
	if m == nil {
		return nil, errors.New("assess: no model loaded")
	}
	var hist model.History
	if a.history != nil {
		var err error
		if hist, err = a.history.PastOutcomes(ctx, rep.Tables, rep.HazardKinds()); err != nil {
			return nil, fmt.Errorf("assess %s: history: %w", rep.Path, err)
		}
	}
	feats := model.Merge(model.Features(rep.Features()), hist.Features())
	p, err := m.Predict(feats, model.WithThreshold(a.threshold))
	if err != nil {
		return nil, fmt.Errorf("assess %s: %w", rep.Path, err)
	}
	gate := rep.Gate()
	return &Assessment{Path: rep.Path, Version: rep.Version, Report: rep, Gate: gate,
		Features: feats, Prediction: p.Adjust(Adjustments(gate, m)...), At: a.now().UTC()}, nil
}

// analyzeInput is the analysis report of in: Analyze's (with the target's
// catalog), or for a file goose cannot parse, a report of that finding.
func (a *Assessor) analyzeInput(ctx context.Context, in Input) (*analysis.Report, error) {
	if in.Invalid != nil {
		return &analysis.Report{Path: in.Migration.Path, Version: in.Migration.Version, Risk: in.Migration.FrontMatter.Risk,
			Findings: []analysis.Finding{*in.Invalid}, Statements: []analysis.StatementReport{}, Tables: []string{}}, nil
	}
	opts := append([]analysis.Option(nil), a.analyze...)
	if a.target != nil {
		opts = append(opts, analysis.WithCatalog(a.target.Catalog()), analysis.WithPostgresVersion(a.target.Catalog().ServerMajor()))
	}
	return analysis.Analyze(ctx, in.Migration, opts...)
}

// GateCap is the highest confidence a change with a certain failure gets.
const GateCap = 0.05

// UnverifiedPenalty is what each check that could not run subtracts from
// the logit: ln 4, dividing the odds of a safe deployment by 4.
var UnverifiedPenalty = math.Log(4)

// PlanRegressionPenalty is what each statement whose estimated cost rises
// PlanRegressionRatio-fold subtracts from the logit, ln 4, while the model
// has no weight for analysis.FeaturePlanCostRise: a prior for a model that
// has not learned it. The embedded model has (the lab's trials run the plan
// check), so with it the plan rise is the model's own reason
// (docs/model.md).
var PlanRegressionPenalty = math.Log(4)

// Adjustments turns a gate into prediction adjustments: the first certain
// failure caps the confidence at GateCap (the others are listed with it),
// each check that could not run costs UnverifiedPenalty, each statement the
// planner estimates much costlier costs PlanRegressionPenalty unless m
// weighs analysis.FeaturePlanCostRise itself, and each hold requires a
// human.
func Adjustments(g analysis.Gate, m *model.Model) []model.Adjustment {
	var adj []model.Adjustment
	for i, f := range g.Fails {
		a := model.Adjustment{Feature: "gate:" + f.RuleID, Text: fmt.Sprintf("certain failure (line %d): %s", f.Line, f.Message)}
		if i == 0 {
			a.Cap = GateCap
		}
		adj = append(adj, a)
	}
	for _, f := range g.Unverified {
		adj = append(adj, model.Adjustment{Feature: "gate:" + f.RuleID, Penalty: UnverifiedPenalty,
			Text: fmt.Sprintf("not verified (line %d): %s", f.Line, f.Message)})
	}
	for _, pc := range g.Slower {
		if m.Weighs(analysis.FeaturePlanCostRise) {
			break // the model's own reason says it
		}
		adj = append(adj, model.Adjustment{Feature: "gate:plan-regression", Penalty: PlanRegressionPenalty,
			Text: fmt.Sprintf("the planner estimates a statement run %.2g times/s at %.0fx its cost (%s → %s): %s", pc.CallsPerSec, pc.Ratio, pc.NodesBefore, pc.NodesAfter, pc.Query)})
	}
	for _, h := range g.Holds {
		adj = append(adj, model.Adjustment{Feature: "gate:hold", Hold: true,
			Text: fmt.Sprintf("never auto-approved (line %d): %s", h.Line, h.Reason)})
	}
	return adj
}

// ExampleGate is g as the adjustments a training example carries
// (model.Example.Gate): those of Adjustments without the plan-regression
// prior, which the model weighs itself once it learns the plan's cost
// rise. The lab's records and the fleet's history both use it.
func ExampleGate(g analysis.Gate) []model.Adjustment {
	g.Slower = nil
	return Adjustments(g, nil)
}

// Repredict re-scores an assessed change during its bake from the judge's
// comparisons so far (see model.BakeEvidence), starting from the stored
// prediction. It uses the current model's live stage.
func (a *Assessor) Repredict(stored *Assessment, obs []model.Observation) (model.Prediction, error) {
	m := a.models.Model()
	if m == nil {
		return model.Prediction{}, errors.New("assess: no model loaded")
	}
	return m.Repredict(stored.Prediction, model.BakeEvidence(obs))
}

// TrainOptions is the product's training recipe: the model features of
// analysis.FeatureDocs, each constrained as a hazard (a larger value can
// only lower the confidence). `schemacanary train` uses it; a retrained
// model repeats the recipe its predecessor recorded (model.Model.Recipe).
func TrainOptions() []model.TrainOption {
	var names, hazards []string
	for _, d := range analysis.FeatureDocs() {
		names = append(names, d.Name)
		if d.Hazard {
			hazards = append(hazards, d.Name)
		}
	}
	// Past rollbacks of the same tables and kind of change: constant in lab
	// data (no history), so the model learns them from fleet history only.
	history := []string{model.FeatureHistoryTableRollbackRate, model.FeatureHistoryKindRollbackRate}
	names, hazards = append(names, history...), append(hazards, history...)
	return []model.TrainOption{model.WithFeatures(names...), model.WithHazards(hazards...)}
}
