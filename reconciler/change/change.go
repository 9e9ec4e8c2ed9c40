// Package change is the change request: one merged migration's record in the control store, its
// states and the transitions the state machine allows, and the read model the status page and
// the API show. The loop (reconciler) drives it; the control store (reconciler/store) persists it.
package change

import (
	"fmt"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// Request is one merged migration and its progress, as the control
// store holds it. Returned values are copies.
type Request struct {
	Version  int64     `json:"version"`
	Name     string    `json:"name"`
	Path     string    `json:"path"`
	SHA256   string    `json:"sha256"`
	Commit   string    `json:"merge_commit"`
	Author   string    `json:"author,omitempty"`
	Message  string    `json:"message,omitempty"`
	PR       int       `json:"pr,omitempty"`
	MergedAt time.Time `json:"merged_at"`
	Risk     int       `json:"risk"`
	Source   []byte    `json:"-"`
	// Migration is the goose file as parsed once, at ingest (nil only for
	// a stored file that no longer parses).
	Migration *migration.Migration `json:"-"`

	State State `json:"state"`
	// Wave is the wave being applied (canary = 0, promoting waves 1…).
	Wave   int    `json:"wave"`
	Reason string `json:"reason,omitempty"`
	// Confidence is the prediction's, nil before the prediction.
	Confidence   *float64 `json:"confidence,omitempty"`
	ApprovedBy   string   `json:"approved_by,omitempty"`
	SkippedBy    string   `json:"skipped_by,omitempty"`
	RevertBranch string   `json:"revert_branch,omitempty"`
	RevertPR     int      `json:"revert_pr,omitempty"`
	// Instances maps instance name → the goose version last observed there
	// during this change (reported on partial failure).
	Instances map[string]int64 `json:"instances,omitempty"`
	// Attempts counts consecutive failed attempts of the current step.
	Attempts int `json:"attempts"`
	// Checkpoint is the rollout's resumable state (rollout.Checkpoint JSON).
	Checkpoint []byte    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Transition is one persisted state change of a change request.
type Transition struct {
	ID      int64     `json:"id"`
	Version int64     `json:"version"`
	From    State     `json:"from"`
	To      State     `json:"to"`
	Wave    int       `json:"wave"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
	Audited bool      `json:"audited"`
}

// Move describes a transition to persist: the target state plus the fields
// that change with it.
type Move struct {
	To     State
	Wave   int
	Reason string
	// Set, when non-nil, updates more columns with the transition.
	Confidence   *float64
	ApprovedBy   string
	SkippedBy    string
	RevertBranch string
	RevertPR     int
	Instances    map[string]int64
	// Checkpoint, when set, replaces the stored rollout checkpoint.
	Checkpoint []byte
}

// Reason is one term of a prediction, as the control store and the API
// show it.
type Reason struct {
	Feature      string  `json:"feature"`
	Value        float64 `json:"value"`
	Contribution float64 `json:"contribution"`
	Text         string  `json:"text"`
}

// WaveLabel names wave w as the status page, the API and the audit branch show it: "canary" for
// wave 0, then "wave1", "wave2", ….
func WaveLabel(w int) string {
	if w == 0 {
		return "canary"
	}
	return fmt.Sprintf("wave%d", w)
}

// ShortCommit abbreviates a commit hash to 12 characters, as the change's messages show it.
func ShortCommit(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
