package reconciler

import (
	"errors"
	"fmt"
)

// The error types of a reconcile step decide what happens next (as in
// fluxcd's source-controller):
//   - a *WaitError is no failure: the change waits for something outside
//     (an approval, a revert to merge) and is looked at again next poll;
//   - a *StallError needs a human: the change moves to failed;
//   - any other error is transient: the step is retried next poll, and after
//     MaxAttempts consecutive failures the change moves to failed.

// WaitError says a change waits for an outside event.
type WaitError struct {
	Version int64
	For     string
}

func (e *WaitError) Error() string { return fmt.Sprintf("change %d waits for %s", e.Version, e.For) }

// StallError says a change cannot proceed without a human.
type StallError struct {
	Version int64
	Err     error
}

func (e *StallError) Error() string { return fmt.Sprintf("change %d stalled: %v", e.Version, e.Err) }

// Unwrap returns the cause.
func (e *StallError) Unwrap() error { return e.Err }

// ErrNotLeader is returned by a reconcile started on a replica that does not
// hold the leader lock.
var ErrNotLeader = errors.New("not the leader")
