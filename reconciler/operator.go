package reconciler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"

	"github.com/schemacanary/schemacanary/reconciler/change"
)

// ErrActive is returned by Skip for a change that is being rolled out or
// rolled back: skipping it would leave the fleet half changed.
var ErrActive = errors.New("change is rolling out or rolling back")

// ErrFinished is returned by Approve and Skip for a change that is done,
// reverted or skipped already.
var ErrFinished = errors.New("change is finished")

// ErrNotAwaiting is returned by Approve for a version that is not waiting
// for an approval: not merged yet, or in any other state.
var ErrNotAwaiting = errors.New("change is not awaiting an approval")

// Approve records that by approves version (`schemacanary approve`), bound
// to the content and merge commit of the change as the control store holds
// it now, with the OS user and host it was given from. Only a change in
// awaiting_approval can be approved: approving ahead of a merge would
// approve whatever file later lands under that version. Recording needs
// the control store's credentials. It returns the change's state.
func Approve(ctx context.Context, s Operations, version int64, by string) (change.State, error) {
	by = strings.TrimSpace(by)
	if by == "" {
		return "", errors.New("approve: --by NAME is required")
	}
	c, err := s.Get(ctx, version)
	switch {
	case errors.Is(err, change.ErrNotFound):
		return "", fmt.Errorf("approve %d: %w: no merged migration has this version yet", version, ErrNotAwaiting)
	case err != nil:
		return "", err
	case c.State.Terminal():
		return c.State, fmt.Errorf("approve %d: %w (%s)", version, ErrFinished, c.State)
	case c.State != change.StateAwaitingApproval:
		return c.State, fmt.Errorf("approve %d: %w (it is %s)", version, ErrNotAwaiting, c.State)
	}
	rec := change.ApprovalRecord{Version: version, SHA256: c.SHA256, MergeCommit: c.Commit, By: by, Source: "cli", OSUser: osUser()}
	rec.Host, _ = os.Hostname() // "" when the host name cannot be read: recorded as unknown
	return c.State, s.Approve(ctx, rec)
}

// osUser is the operating-system user running the command ("" unknown).
func osUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// Skip records that an operator skips version (`schemacanary skip`): the
// next pass moves it to skipped, releasing the queue (a change held
// inconclusive is rolled back from its canary first). A change in an active
// state (canary, baking, promoting, rolling_back) cannot be skipped.
func Skip(ctx context.Context, s Operations, version int64, by string) (change.State, error) {
	c, err := s.Get(ctx, version)
	switch {
	case errors.Is(err, change.ErrNotFound):
		return "", s.Skip(ctx, version, by)
	case err != nil:
		return "", err
	case c.State.Active():
		return c.State, fmt.Errorf("skip %d: %w (%s); wait for it to finish or fail", version, ErrActive, c.State)
	case c.State.Terminal():
		return c.State, fmt.Errorf("skip %d: %w (%s)", version, ErrFinished, c.State)
	}
	return c.State, s.Skip(ctx, version, by)
}
