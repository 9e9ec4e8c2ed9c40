package reconciler

import (
	"context"
	"time"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/gitsrc"
	"github.com/schemacanary/schemacanary/rollout"
)

// The reconciler's boundaries. Each is a small interface owned here, with a
// real implementation wired by the daemon (see wiring.go) and fakes in
// tests.

// Source is the Git repository of migrations.
type Source interface {
	// Sync fetches the watched branch and returns its head commit.
	Sync(ctx context.Context) (head string, err error)
	// Merged lists the migrations merged between since (exclusive; "" =
	// the beginning) and head, in version order, and the files rejected.
	Merged(ctx context.Context, since, head string) (*MergedSet, error)
	// Proposals lists open proposals (pull requests, or local branches)
	// touching the migrations folder.
	Proposals(ctx context.Context) ([]Proposal, error)
}

// MergedSet is what Source.Merged found.
type MergedSet struct {
	Changes  []Merged
	Rejected []*gitsrc.MigrationError
}

// Merged is one migration merged on the watched branch.
type Merged struct {
	Migration *gitsrc.Migration
	Commit    string
	Author    string
	Message   string
	PR        int
	MergedAt  time.Time
}

// Proposal is one open pull request (or branch) touching the folder.
type Proposal struct {
	PR         int
	Head       string
	Author     string
	Migrations []*gitsrc.Migration
	Rejected   []*gitsrc.MigrationError
}

// Analyzer analyzes one migration (analysis.Analyze, with a live catalog of
// a canary instance when available).
type Analyzer interface {
	Analyze(ctx context.Context, m *gitsrc.Migration) (*analysis.Report, error)
}

// Predictor predicts a change's chance of deploying without rollback from
// its named features (analysis.Report.Features plus history and time).
type Predictor interface {
	Predict(ctx context.Context, features map[string]float64) (Prediction, error)
}

// Prediction is a model's view of one change.
type Prediction struct {
	// Confidence is the calibrated probability of a deploy without rollback.
	Confidence   float64  `json:"confidence"`
	ModelVersion string   `json:"model_version"`
	Reasons      []Reason `json:"reasons,omitempty"`
}

// Reason is one feature's contribution to a prediction.
type Reason struct {
	Feature      string  `json:"feature"`
	Value        float64 `json:"value"`
	Contribution float64 `json:"contribution"`
	Text         string  `json:"text"`
}

// Roller takes a change through the fleet. Every method is idempotent: the
// goose version table of each instance says what is applied, so a call
// repeated after a crash redoes only what is missing.
type Roller interface {
	// Waves is the number of waves (≥ 1; wave 0 is the canary).
	Waves() int
	// ApplyWave applies ch on every instance of wave k that does not hold
	// it. It returns the goose version observed on each instance of the
	// fleet. A partial failure returns the versions too.
	ApplyWave(ctx context.Context, ch *rollout.Change, wave int) (Holdings, error)
	// Bake samples KPIs on the canary and the control for the bake time and
	// returns the judge's final decision and the samples taken.
	Bake(ctx context.Context, ch *rollout.Change) (*BakeResult, error)
	// Rollback rolls ch back on every instance that holds it and returns
	// the states afterwards.
	Rollback(ctx context.Context, ch *rollout.Change, reason string) (Holdings, error)
}

// Holdings maps instance name → its current goose version (the highest
// applied), or -1 when the instance could not be read.
type Holdings map[string]int64

// Unreachable is the Holdings value of an instance that could not be read.
const Unreachable int64 = -1

// BakeResult is the outcome of a bake.
type BakeResult struct {
	Decision rollout.Decision
	Samples  []rollout.Sample
	// Roles maps instance → "canary" or "control".
	Roles map[string]string
}

// Forge is the subset of gitsrc.Forge the reconciler uses.
type Forge = gitsrc.Forge

// Audit writes the audit branch (gitsrc.Audit).
type Audit interface {
	Record(ctx context.Context, rec gitsrc.ChangeRecord, tr gitsrc.Transition) (bool, error)
}

var _ Audit = (*gitsrc.Audit)(nil)
