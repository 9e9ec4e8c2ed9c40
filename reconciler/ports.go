package reconciler

import (
	"context"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/audit"
	"github.com/schemacanary/schemacanary/gitsrc/forge"
	"github.com/schemacanary/schemacanary/reconciler/change"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/model"
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

// Roller takes a change through the fleet (rollout.Canary.Run): baseline,
// canary wave, bake with the judge, then promotion wave by wave or
// rollback. The goose version table of each instance says what is applied,
// so a Run repeated from a checkpoint after a crash redoes only what is
// missing.
type Roller interface {
	// Run runs ch from resume (nil: from the start). save is called
	// synchronously at every phase change, before that phase's side
	// effects, and after every judged bake interval; repredict (may be
	// nil) re-scores the change after every judged interval; ctl (may be
	// nil) gives the operators' commands (pause, abort, …) to the run.
	Run(ctx context.Context, ch *rollout.Plan, resume *rollout.Checkpoint, save func(rollout.Checkpoint), repredict rollout.Repredictor, ctl rollout.Controls) (*rollout.Result, error)
	// Holdings reads every instance's goose table for version.
	Holdings(ctx context.Context, version int64) (Holdings, error)
	// Versions reads the goose version of every instance skip (nil:
	// none) does not name: the highest version its goose table holds (0:
	// none), Unreachable when it could not be read; skipped instances are
	// not in the result. The catch-up step finds the instances behind the
	// fleet by it.
	Versions(ctx context.Context, skip func(instance string) bool) (Holdings, error)
	// CatchUp brings the instance named instance up through steps (done
	// changes, ascending), each after the pre-flight a wave runs, with the
	// lock-safe apply (rollout.Canary.CatchUp); it stops at the first
	// failure with a *rollout.CatchUpError.
	CatchUp(ctx context.Context, instance string, steps []rollout.CatchUpStep) (*rollout.CatchUpResult, error)
}

// Holdings maps instance name → the change's version when the instance's
// goose table holds it, 0 when it does not, Unreachable when it could not
// be read.
type Holdings map[string]int64

// Unreachable is the Holdings value of an instance that could not be read.
const Unreachable int64 = -1

// Holdings values a catch-up records on a done change for an instance
// that joined the fleet after it (see step_catchup.go): it is being
// brought up to the change, or its catch-up failed (the change's timeline
// says why). Either way it does not hold the change.
const (
	CatchingUp    = change.HoldingCatchingUp
	CatchUpFailed = change.HoldingCatchUpFailed
)

// HoldingsOf converts rollout's per-instance states for version.
func HoldingsOf(version int64, ivs []rollout.InstanceVersion) Holdings {
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
type Forge = forge.Forge

// Audit writes the audit branch (gitsrc.Audit).
type Audit interface {
	Record(ctx context.Context, rec audit.ChangeRecord, tr audit.Transition) (bool, error)
}

var _ Audit = (*audit.Audit)(nil)

// Store is the control store as the loop uses it (reconciler/store
// implements it): the change requests and their transitions, what each
// step records beside them, and the outbox the flush step drains. Its
// parts are the narrow ports each concern needs.
type Store interface {
	Changes
	Records
	Decisions
	Outbox
}

// Changes are the change requests and the state machine's transitions.
type Changes interface {
	// Discover inserts a merged change as discovered; false when it exists.
	Discover(ctx context.Context, c *change.Request) (bool, error)
	// Get returns one change request, or change.ErrNotFound.
	Get(ctx context.Context, version int64) (*change.Request, error)
	// Head returns the oldest change request that is not terminal (nil
	// when none is).
	Head(ctx context.Context) (*change.Request, error)
	// Transition moves c as m says, or returns change.ErrStale when c is
	// no longer in the state it was read in.
	Transition(ctx context.Context, c *change.Request, m change.Move) (*change.Transition, error)
	// Attempt counts a failed attempt of the current step and returns the
	// count.
	Attempt(ctx context.Context, version int64, reason string) (int, error)
	SetScope(ctx context.Context, version int64, tables, kinds []string) error
	SetRevert(ctx context.Context, version int64, branch string, pr int) error
	SetInstances(ctx context.Context, version int64, inst map[string]int64) error
	// DoneSince returns the done changes from the newest one at or below
	// version on, in version order.
	DoneSince(ctx context.Context, version int64) ([]*change.Request, error)
	SaveCheckpoint(ctx context.Context, version int64, cp []byte) error
	CountByState(ctx context.Context) (map[change.State]int, error)
	// Cursor is the last merge commit ingested; SetCursor moves it.
	Cursor(ctx context.Context) (string, error)
	SetCursor(ctx context.Context, commit string) error
}

// Records are what the steps store beside a change: its prediction and
// assessment, its events, KPI samples and rollbacks.
type Records interface {
	SavePrediction(ctx context.Context, p change.PredictionRecord) (bool, error)
	// Assessment returns the stored assessment of version at sha, or
	// change.ErrNotFound.
	Assessment(ctx context.Context, version int64, sha string) (*assess.Assessment, error)
	// Plan returns the stored rollout plan (rollout.Plan JSON) of version
	// at sha; nil when it was predicted before plans were stored.
	Plan(ctx context.Context, version int64, sha string) ([]byte, error)
	RecordEvent(ctx context.Context, e change.Event) (bool, error)
	Events(ctx context.Context, version int64) ([]change.Event, error)
	AddKPISamples(ctx context.Context, samples []change.KPISample) error
	RecordRollback(ctx context.Context, version int64, reason string, inst map[string]int64, finished bool) error
}

// Decisions are the humans' recorded decisions: approvals, skips and
// releases of an inconclusive change.
type Decisions interface {
	Approve(ctx context.Context, a change.ApprovalRecord) error
	// Approver returns who approved version at sha and mergeCommit ("" when
	// nobody did).
	Approver(ctx context.Context, version int64, sha, mergeCommit string) (string, error)
	Skip(ctx context.Context, version int64, by string) error
	Skipper(ctx context.Context, version int64) (string, error)
	Release(ctx context.Context, version int64, by string) error
	Releaser(ctx context.Context, version int64) (string, error)
	// RecordAction stores an operator command (pause, resume, abort,
	// promote_now, exclude, include) and returns it with its ID and time;
	// Actions returns a change's commands, oldest first.
	RecordAction(ctx context.Context, a change.OperatorAction) (change.OperatorAction, error)
	Actions(ctx context.Context, version int64) ([]change.OperatorAction, error)
	// PendingReverts returns the revert commands of changes still done,
	// oldest first: the leader starts their rollback.
	PendingReverts(ctx context.Context) ([]change.OperatorAction, error)
}

// Outbox is what the flush step drains: transitions not yet on the audit
// branch and rejected files not yet reported.
type Outbox interface {
	Unaudited(ctx context.Context, limit int) ([]change.Transition, error)
	MarkAudited(ctx context.Context, id int64) error
	Reject(ctx context.Context, r change.Rejection) (bool, error)
	Unreported(ctx context.Context) ([]change.Rejection, error)
	MarkReported(ctx context.Context, r change.Rejection) error
	RejectionNotes(ctx context.Context, version int64) ([]string, error)
	// UnauditedActions are operator commands not yet on the audit branch,
	// oldest first; MarkActionAudited marks one written.
	UnauditedActions(ctx context.Context, limit int) ([]change.OperatorAction, error)
	MarkActionAudited(ctx context.Context, id int64) error
}

// Operations is what the operator actions (Approve, Skip, Promote, and the
// rollout commands of Command) need:
// the change they act on and the place to record the decision.
type Operations interface {
	Get(ctx context.Context, version int64) (*change.Request, error)
	// Following returns the change requests after version, in version
	// order.
	Following(ctx context.Context, version int64) ([]*change.Request, error)
	Decisions
}
