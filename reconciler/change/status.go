package change

import (
	"time"

	"github.com/schemacanary/schemacanary/rollout/judge"
)

// StatusChange is one row of the status page's list.
type StatusChange struct {
	// Version is the goose version of the migration.
	Version int64 `json:"version"`
	// Name is the migration's name (file name without version and .sql).
	Name string `json:"name"`
	// Path is the file's path in the repository.
	Path string `json:"path"`
	// State is the change request's state (DESIGN.md: discovered, predicted,
	// awaiting_approval, approved, canary, baking, inconclusive,
	// promoting, done, rolling_back, rolled_back, reverted, failed).
	State string `json:"state"`
	// Wave is the current wave while promoting ("25%"), else empty.
	Wave string `json:"wave,omitempty"`
	// Progress is how far the current wave's apply has got while
	// promoting ("120/500 applied, 0 failed, ETA 35s"), else empty.
	Progress string `json:"progress,omitempty"`
	// Confidence is the predicted probability of a safe deployment, 0..1;
	// negative when there is no prediction yet.
	Confidence float64 `json:"confidence"`
	// Risk is the author's risk label from the front matter (1..10).
	Risk int `json:"risk"`
	// Owner is the owning team from the front matter.
	Owner string `json:"owner,omitempty"`
	// Author is the commit author.
	Author string `json:"author,omitempty"`
	// PR is the pull request number, 0 when unknown.
	PR int `json:"pr,omitempty"`
	// UpdatedAt is the time of the last transition.
	UpdatedAt time.Time `json:"updated_at"`
}

// StatusChangeDetail is everything the page of one change shows.
type StatusChangeDetail struct {
	StatusChange
	// Commit is the merge commit.
	Commit string `json:"commit,omitempty"`
	// Ticket is the tracker reference from the front matter.
	Ticket string `json:"ticket,omitempty"`
	// ModelVersion names the model that made the prediction.
	ModelVersion string `json:"model_version,omitempty"`
	// Decision is what the reconciler decided from the prediction
	// ("proceed", "awaiting approval", "approved by alice").
	Decision string `json:"decision,omitempty"`
	// Reasons are the prediction's top reasons, largest effect first.
	Reasons []StatusReason `json:"reasons,omitempty"`
	// Timeline is every transition and step, oldest first.
	Timeline []StatusEvent `json:"timeline,omitempty"`
	// KPIs are the sampled series of each KPI on canary and control.
	KPIs []StatusKPI `json:"kpis,omitempty"`
	// AppliedAt is when the change was applied on the canary (zero: not yet).
	AppliedAt time.Time `json:"applied_at,omitempty"`
	// RolledBackAt is when the rollback happened (zero: no rollback).
	RolledBackAt time.Time `json:"rolled_back_at,omitempty"`
	// RollbackReason says why it was rolled back.
	RollbackReason string `json:"rollback_reason,omitempty"`
	// RevertBranch is the branch of the revert PR, when one was opened.
	RevertBranch string `json:"revert_branch,omitempty"`
	// Held says why the change waits for a human (an inconclusive bake,
	// or an operator's pause) and how to release it; empty otherwise.
	Held string `json:"held,omitempty"`
	// CatchUp names the instances that joined the fleet after the change
	// and are being brought up to it, or whose catch-up failed (they do
	// not hold it; the timeline says why); empty when there are none.
	CatchUp string `json:"catch_up,omitempty"`
}

// StatusReason is one reason of a prediction: a feature and how much it moved
// the confidence (negative lowers it).
type StatusReason struct {
	// Feature is the model feature's stable name.
	Feature string `json:"feature"`
	// Text explains it in words ("takes an ACCESS EXCLUSIVE lock on orders").
	Text string `json:"text"`
	// Contribution is the feature's effect on the log-odds of a safe deploy.
	Contribution float64 `json:"contribution"`
}

// StatusEvent is one entry of a change's timeline.
type StatusEvent struct {
	// At is when it happened.
	At time.Time `json:"at"`
	// Step names the transition or step ("canary", "apply", "judge",
	// "rollback", "promote").
	Step string `json:"step"`
	// Instance is the fleet instance concerned, if any.
	Instance string `json:"instance,omitempty"`
	// Wave is the wave concerned, if any.
	Wave string `json:"wave,omitempty"`
	// Message says what happened.
	Message string `json:"message"`
	// Failed marks errors and rejections.
	Failed bool `json:"failed,omitempty"`
}

// StatusKPI is one KPI's series on canary and control, with the judge's
// verdict against the control.
type StatusKPI struct {
	// KPI is the KPI's name (rollout.KPILatencyPrefix+"orders_by_customer",
	// rollout.KPIErrorRate, ...).
	KPI string `json:"kpi"`
	// Unit labels the values ("ms", "ratio", "/s").
	Unit string `json:"unit,omitempty"`
	// Canary and Control are the samples, oldest first (canary: aggregated
	// over the canary instances; control: over the control instances).
	Canary  []StatusPoint `json:"canary"`
	Control []StatusPoint `json:"control"`
	// Verdict is the judge's last verdict that stands for this KPI's
	// outcome (judge.Decision.KPIVerdict); nil before any.
	Verdict *judge.Verdict `json:"verdict,omitempty"`
}

// StatusPoint is one sample.
type StatusPoint struct {
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
}
