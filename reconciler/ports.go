package reconciler

import (
	"context"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/model"
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
	Rejected []*migration.MigrationError
}

// Merged is one migration merged on the watched branch.
type Merged struct {
	Migration *migration.Migration
	Commit    string
	Author    string
	Message   string
	PR        int
	MergedAt  time.Time
}

// Proposal is one open pull request (or branch) touching the folder.
type Proposal struct {
	// Ref identifies the proposal (a branch or pull-request ref).
	Ref        string
	PR         int
	Head       string
	Author     string
	Migrations []*migration.Migration
	Rejected   []*migration.MigrationError
}

// Assessor assesses a migration (analysis, live target, gate, history,
// prediction: analysis/assess.Assessor) and re-scores an assessed change
// during its bake.
type Assessor interface {
	Assess(ctx context.Context, in assess.Input) (*assess.Assessment, error)
	Repredict(stored *assess.Assessment, obs []model.Observation) (model.Prediction, error)
	// Threshold is the confidence at or above which a change proceeds.
	Threshold() float64
}

var _ Assessor = (*assess.Assessor)(nil)

// Reason is one term of a prediction, as the control store and the API
// show it.
type Reason struct {
	Feature      string  `json:"feature"`
	Value        float64 `json:"value"`
	Contribution float64 `json:"contribution"`
	Text         string  `json:"text"`
}

// Roller takes a change through the fleet (rollout.Canary.Run): baseline,
// canary wave, bake with the judge, then promotion wave by wave or
// rollback. The goose version table of each instance says what is applied,
// so a Run repeated from a checkpoint after a crash redoes only what is
// missing.
type Roller interface {
	// Run runs ch from resume (nil: from the start). save is called
	// synchronously at every phase change, before that phase's side
	// effects, and after every judged bake interval; repredict (may be
	// nil) re-scores the change after every judged interval.
	Run(ctx context.Context, ch *rollout.Change, resume *rollout.Checkpoint, save func(rollout.Checkpoint), repredict rollout.Repredictor) (*rollout.Result, error)
	// Holdings reads every instance's goose table for version.
	Holdings(ctx context.Context, version int64) (Holdings, error)
}

// Holdings maps instance name → the change's version when the instance's
// goose table holds it, 0 when it does not, Unreachable when it could not
// be read.
type Holdings map[string]int64

// Unreachable is the Holdings value of an instance that could not be read.
const Unreachable int64 = -1

// holdingsOf converts rollout's per-instance states for version.
func holdingsOf(version int64, ivs []rollout.InstanceVersion) Holdings {
	h := Holdings{}
	for _, iv := range ivs {
		switch {
		case iv.Err != nil:
			h[iv.Instance] = Unreachable
		case iv.Applied:
			h[iv.Instance] = version
		default:
			h[iv.Instance] = 0
		}
	}
	return h
}

// Forge is the subset of gitsrc.Forge the reconciler uses.
type Forge = gitsrc.Forge

// Audit writes the audit branch (gitsrc.Audit).
type Audit interface {
	Record(ctx context.Context, rec gitsrc.ChangeRecord, tr gitsrc.Transition) (bool, error)
}

var _ Audit = (*gitsrc.Audit)(nil)
