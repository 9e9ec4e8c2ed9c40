package change

import (
	"errors"
	"fmt"
	"slices"
)

// State is a change request's place in the pipeline (DESIGN.md).
type State string

// The states of a change request.
const (
	// StateDiscovered: merged on the watched branch, parsed, not yet predicted.
	StateDiscovered State = "discovered"
	// StatePredicted: analyzed and predicted; the decision comes next.
	StatePredicted State = "predicted"
	// StateAwaitingApproval: confidence below the threshold; waits for a
	// recorded approval.
	StateAwaitingApproval State = "awaiting_approval"
	// StateApproved: may roll out once it heads the queue.
	StateApproved State = "approved"
	// StateCanary: being applied to the canary wave.
	StateCanary State = "canary"
	// StateBaking: applied on the canary; KPIs are sampled and judged.
	StateBaking State = "baking"
	// StateInconclusive: the bake reached max_bake without enough data to
	// judge (no traffic is not evidence of harm); the canary wave holds the
	// change, the rest of the fleet does not. Held for a human, who
	// promotes it (`schemacanary promote`) or rolls it back
	// (`schemacanary skip`); canary.on_inconclusive: promote promotes it
	// without one.
	StateInconclusive State = "inconclusive"
	// StatePromoting: being applied to wave Wave (1, 2, …).
	StatePromoting State = "promoting"
	// StateWatching: applied on the whole fleet and every wave passed;
	// production is watched for canary.watch against the pre-change
	// baseline before the change is done.
	StateWatching State = "watching"
	// StateDone: applied on the whole fleet.
	StateDone State = "done"
	// StateRollingBack: being rolled back on every instance that holds it.
	StateRollingBack State = "rolling_back"
	// StateRolledBack: rolled back; holds the queue until its revert merges
	// or an operator skips it.
	StateRolledBack State = "rolled_back"
	// StateReverted: the revert of a rolled back change merged.
	StateReverted State = "reverted"
	// StateFailed: needs a human; holds the queue until skipped or reverted.
	StateFailed State = "failed"
	// StateSkipped: an operator skipped it (`schemacanary skip VERSION`).
	StateSkipped State = "skipped"
)

// AllStates lists every state in pipeline order (metrics export all of them).
var AllStates = []State{
	StateDiscovered, StatePredicted, StateAwaitingApproval, StateApproved,
	StateCanary, StateBaking, StateInconclusive, StatePromoting, StateWatching, StateDone,
	StateRollingBack, StateRolledBack, StateReverted, StateFailed, StateSkipped,
}

// transitions is the state machine: the states each state may move to.
var transitions = map[State][]State{
	StateDiscovered:       {StatePredicted, StateDone, StateFailed, StateSkipped},
	StatePredicted:        {StateApproved, StateAwaitingApproval, StateFailed, StateSkipped},
	StateAwaitingApproval: {StateApproved, StateFailed, StateSkipped},
	StateApproved:         {StateCanary, StateFailed, StateSkipped},
	StateCanary:           {StateBaking, StateInconclusive, StatePromoting, StateDone, StateRollingBack, StateFailed},
	StateBaking:           {StateInconclusive, StatePromoting, StateDone, StateRollingBack, StateFailed},
	StateInconclusive:     {StatePromoting, StateRollingBack, StateFailed},
	StatePromoting:        {StatePromoting, StateWatching, StateDone, StateRollingBack, StateFailed},
	StateWatching:         {StateDone, StateRollingBack, StateFailed},
	StateDone:             {StateRollingBack}, // an operator's revert within the revert window
	StateRollingBack:      {StateRolledBack, StateFailed},
	StateRolledBack:       {StateReverted, StateSkipped},
	StateFailed:           {StateRollingBack, StateReverted, StateSkipped},
}

// Terminal reports whether a CR in state s no longer holds the queue.
func (s State) Terminal() bool {
	return s == StateDone || s == StateReverted || s == StateSkipped
}

// Holding reports whether a CR in state s holds the queue until a human acts
// (its revert merges or it is skipped).
func (s State) Holding() bool { return s == StateRolledBack || s == StateFailed }

// Active reports whether the rollout is under way (the change is being
// applied, baked, promoted, watched or rolled back).
func (s State) Active() bool {
	return s == StateCanary || s == StateBaking || s == StatePromoting || s == StateWatching || s == StateRollingBack
}

// ErrBadTransition is returned for a transition the state machine forbids.
var ErrBadTransition = errors.New("transition not allowed")

// CanMove reports nil when from → to is allowed.
func CanMove(from, to State) error {
	if slices.Contains(transitions[from], to) {
		return nil
	}
	return fmt.Errorf("%w: %s → %s", ErrBadTransition, from, to)
}
