package notify

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kind names what happened to a change. Receivers and the events filter of a
// sink use the string values.
type Kind string

// The kinds of events. Drift and WatchRegression are part of the contract
// but not raised yet: the pre-flight drift check and the post-rollout watch
// raise them once they exist.
const (
	// KindAwaitingApproval: the change waits for an approval (confidence
	// below the threshold, a certain failure, or a change never
	// auto-approved); Reason says which.
	KindAwaitingApproval Kind = "awaiting_approval"
	// KindCanaryStarted: the change is being applied to the canary wave.
	KindCanaryStarted Kind = "canary_started"
	// KindInconclusive: the canary's bake ended without enough data to
	// judge; the change stays on the canary and holds the queue until a
	// human promotes it or skips it.
	KindInconclusive Kind = "inconclusive"
	// KindWavePromoted: the previous wave passed and wave Wave (1, 2, …) is
	// being applied; sent once per wave.
	KindWavePromoted Kind = "wave_promoted"
	// KindRolledBack: the change was rolled back on every instance that held
	// it; the queue is held until its revert merges or it is skipped.
	KindRolledBack Kind = "rolled_back"
	// KindFailed: the change needs a human (a rollback that could not
	// finish, an instance down with on_instance_down: hold, repeated step
	// failures); the queue is held.
	KindFailed Kind = "failed"
	// KindDrift: an instance's schema differs from what the change expects
	// (pre-flight fingerprint mismatch before a wave). Reserved: not raised
	// yet.
	KindDrift Kind = "drift"
	// KindWatchRegression: after the last wave, the production watch saw a
	// KPI regress. Reserved: not raised yet.
	KindWatchRegression Kind = "watch_regression"
	// KindDone: the change is applied on the whole fleet.
	KindDone Kind = "done"
)

// AllKinds returns every kind, in pipeline order.
func AllKinds() []Kind {
	return []Kind{KindAwaitingApproval, KindCanaryStarted, KindInconclusive, KindWavePromoted, KindRolledBack,
		KindFailed, KindDrift, KindWatchRegression, KindDone}
}

// ParseKind returns the kind named s, or an error listing the valid ones.
func ParseKind(s string) (Kind, error) {
	if k := Kind(s); slices.Contains(AllKinds(), k) {
		return k, nil
	}
	names := make([]string, 0, len(AllKinds()))
	for _, k := range AllKinds() {
		names = append(names, string(k))
	}
	return "", fmt.Errorf("unknown event %q: want one of %s", s, strings.Join(names, ", "))
}

// inRollout reports whether events of kind k concern a wave (Event.Wave is
// meaningful).
func (k Kind) inRollout() bool {
	return k == KindCanaryStarted || k == KindInconclusive || k == KindWavePromoted || k == KindRolledBack || k == KindDrift
}

// Event is one thing that happened to a change request, as sent to every
// sink. It is a plain value; its JSON form is the body of the json format.
type Event struct {
	// ID is unique per event and the same on every retry of it
	// ("<version>.<transition id>"): receivers dedupe on it.
	ID string `json:"id"`
	// Kind says what happened.
	Kind Kind `json:"kind"`
	// Version is the change's goose version.
	Version int64 `json:"version"`
	// File is the migration's path in the repository.
	File string `json:"file"`
	// State is the change's state after the event (awaiting_approval,
	// canary, promoting, rolled_back, failed, done, ...).
	State string `json:"state"`
	// Wave is the wave concerned: 0 is the canary, 1… the promoted waves.
	// Meaningful for canary_started, inconclusive, wave_promoted,
	// rolled_back and drift.
	Wave int `json:"wave"`
	// Reason is the transition's reason in words.
	Reason string `json:"reason,omitempty"`
	// Confidence is the predicted probability of a deploy without
	// rollback, nil before a prediction.
	Confidence *float64 `json:"confidence,omitempty"`
	// PR is the pull request that merged the change, 0 when unknown.
	PR int `json:"pr,omitempty"`
	// Time is when it happened.
	Time time.Time `json:"time"`
	// Link is the change's status page, set by the Dispatcher when
	// WithStatusURL is given.
	Link string `json:"link,omitempty"`
}

// WaveName is "canary" for wave 0 and "wave N" otherwise.
func (e Event) WaveName() string {
	if e.Wave == 0 {
		return "canary"
	}
	return fmt.Sprintf("wave %d", e.Wave)
}

// Summary is the event in one sentence (the json body's summary and the
// Slack text).
func (e Event) Summary() string {
	ch := fmt.Sprintf("Change %d (%s)", e.Version, e.File)
	var s string
	switch e.Kind {
	case KindAwaitingApproval:
		s = ch + " awaits approval"
	case KindCanaryStarted:
		s = ch + ": canary started"
	case KindInconclusive:
		s = ch + ": canary inconclusive, held for a human (schemacanary promote or skip)"
	case KindWavePromoted:
		s = fmt.Sprintf("%s: canary passed, promoting %s", ch, e.WaveName())
	case KindRolledBack:
		s = ch + " was rolled back; the queue is held until its revert merges or it is skipped"
	case KindFailed:
		s = ch + " failed and needs a human; the queue is held"
	case KindDrift:
		s = ch + ": schema drift detected"
	case KindWatchRegression:
		s = ch + ": regression while production was watched"
	case KindDone:
		s = ch + " is done on the whole fleet"
	default:
		s = fmt.Sprintf("%s: %s", ch, e.Kind)
	}
	if e.Reason != "" && e.Kind != KindCanaryStarted && e.Kind != KindWavePromoted && e.Kind != KindDone {
		s += ": " + e.Reason
	}
	return s
}
