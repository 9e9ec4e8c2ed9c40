package reconciler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/rollout"
)

// The rollout commands an operator gives a change (pause, resume, abort,
// promote_now, exclude, include) are recorded in the control store by
// Command, from the CLI or the HTTP API alike; the running rollout reads
// them (storeControls) at every judged bake interval and before every
// wave, and the flush step writes each to the audit branch with who and
// why.

// commandStates are the states each command applies to.
var commandStates = map[change.Command][]change.State{
	change.CommandPause:      {change.StateApproved, change.StateCanary, change.StateBaking, change.StatePromoting, change.StateWatching},
	change.CommandResume:     {change.StateApproved, change.StateCanary, change.StateBaking, change.StatePromoting, change.StateWatching, change.StateInconclusive},
	change.CommandAbort:      {change.StateCanary, change.StateBaking, change.StatePromoting, change.StateWatching, change.StateInconclusive},
	change.CommandPromoteNow: {change.StateBaking, change.StatePromoting, change.StateWatching},
	change.CommandExclude:    {change.StateApproved, change.StateCanary, change.StateBaking, change.StatePromoting, change.StateInconclusive},
	change.CommandInclude:    {change.StateApproved, change.StateCanary, change.StateBaking, change.StatePromoting, change.StateInconclusive},
	change.CommandRevert:     {change.StateDone},
}

// CommandPolicy is what Command checks a command against beyond the
// change's state.
type CommandPolicy struct {
	// Targets are the fleet's instance names (an exclude or include must
	// name one).
	Targets []string
	// RevertWindow is how long after a change is done a revert is accepted
	// (rollback.revert_window); 0 takes rollout.DefaultRevertWindow.
	RevertWindow time.Duration
}

// Command validates and records operator command a on change a.Version,
// given by a.By for a.Why from a.Source, under p. It refuses, recording
// nothing, a command that makes no sense now: a change in a state the
// command does not apply to (change.ErrRefused; change.ErrNotFound for an
// unknown version), an unknown target (change.ErrUnknownTarget), a resume
// without a pause, a second abort, a revert after the revert window or
// once a later change has started. It returns the change's state and the
// recorded action. Safe for concurrent use as far as s is.
func Command(ctx context.Context, s Operations, a change.OperatorAction, p CommandPolicy) (change.State, change.OperatorAction, error) {
	targets := p.Targets
	a.By, a.Why, a.Target = strings.TrimSpace(a.By), strings.TrimSpace(a.Why), strings.TrimSpace(a.Target)
	what := fmt.Sprintf("%s %d", a.Command, a.Version)
	switch {
	case commandStates[a.Command] == nil:
		return "", a, fmt.Errorf("%s: %w: unknown command", what, change.ErrRefused)
	case a.By == "":
		return "", a, fmt.Errorf("%s: %w: who gives it is required (--by NAME, or \"by\")", what, change.ErrRefused)
	case a.Why == "":
		return "", a, fmt.Errorf("%s: %w: why is required (--why TEXT, or \"why\")", what, change.ErrRefused)
	case a.Command.Targeted() && !slices.Contains(targets, a.Target):
		return "", a, fmt.Errorf("%s: %w %q: the fleet has %s", what, change.ErrUnknownTarget, a.Target, strings.Join(targets, ", "))
	case !a.Command.Targeted() && a.Target != "":
		return "", a, fmt.Errorf("%s: %w: it takes no target", what, change.ErrRefused)
	}
	c, err := s.Get(ctx, a.Version)
	if errors.Is(err, change.ErrNotFound) {
		return "", a, fmt.Errorf("%s: %w: no merged migration has this version", what, err)
	}
	if err != nil {
		return "", a, err
	}
	if !slices.Contains(commandStates[a.Command], c.State) {
		return c.State, a, fmt.Errorf("%s: %w: the change is %s; %s applies to a change that is %s", what, change.ErrRefused, c.State, a.Command, joinStates(commandStates[a.Command]))
	}
	acts, err := s.Actions(ctx, a.Version)
	if err != nil {
		return c.State, a, err
	}
	if err := refuseRedundant(change.Fold(acts), a); err != nil {
		return c.State, a, fmt.Errorf("%s: %w", what, err)
	}
	if a.Command == change.CommandRevert {
		if err := revertable(ctx, s, c, p.RevertWindow); err != nil {
			return c.State, a, fmt.Errorf("%s: %w", what, err)
		}
	}
	a.Wave, a.State = c.Wave, c.State
	switch c.State {
	case change.StatePromoting:
	case change.StateWatching:
		a.Wave = rollout.WatchWave
	default:
		a.Wave = 0
	}
	rec, err := s.RecordAction(ctx, a)
	return c.State, rec, err
}

// revertable refuses the revert of done change c once the revert window
// after it was done has passed, or once a later change has started (its
// rollout may build on this one; revert that one first).
func revertable(ctx context.Context, s Operations, c *change.Request, window time.Duration) error {
	if window <= 0 {
		window = rollout.DefaultRevertWindow
	}
	if ago := time.Since(c.UpdatedAt); ago > window {
		return fmt.Errorf("%w: done %s ago, beyond rollback.revert_window %s: undo it with a new migration", change.ErrRefused, ago.Round(time.Second), window)
	}
	later, err := s.Following(ctx, c.Version)
	if err != nil {
		return err
	}
	for _, l := range later {
		switch l.State {
		case change.StateDiscovered, change.StatePredicted, change.StateAwaitingApproval, change.StateApproved, change.StateSkipped:
		default:
			return fmt.Errorf("%w: change %d came after it and is %s: revert that one first", change.ErrRefused, l.Version, l.State)
		}
	}
	return nil
}

// refuseRedundant refuses a command that the controls in force already
// have (or that needs one they lack).
func refuseRedundant(cur change.Controls, a change.OperatorAction) error {
	switch {
	case cur.Aborted != nil:
		return fmt.Errorf("%w: aborted already by %s", change.ErrRefused, cur.Aborted.By)
	case cur.Reverted != nil:
		return fmt.Errorf("%w: reverted already by %s", change.ErrRefused, cur.Reverted.By)
	case a.Command == change.CommandPause && cur.Paused != nil:
		return fmt.Errorf("%w: paused already by %s", change.ErrRefused, cur.Paused.By)
	case a.Command == change.CommandResume && cur.Paused == nil:
		return fmt.Errorf("%w: not paused", change.ErrRefused)
	case a.Command == change.CommandExclude:
		if x, ok := cur.Excluded[a.Target]; ok {
			return fmt.Errorf("%w: %s is excluded already by %s", change.ErrRefused, a.Target, x.By)
		}
	case a.Command == change.CommandInclude:
		if _, ok := cur.Excluded[a.Target]; !ok {
			return fmt.Errorf("%w: %s is not excluded", change.ErrRefused, a.Target)
		}
	}
	return nil
}

func joinStates(ss []change.State) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

// storeControls is the rollout's Controls over the control store: a
// change's recorded commands, folded.
type storeControls struct{ s Decisions }

var _ rollout.Controls = storeControls{}

// Commands implements rollout.Controls.
func (c storeControls) Commands(ctx context.Context, version int64) (rollout.Commands, error) {
	acts, err := c.s.Actions(ctx, version)
	if err != nil {
		return rollout.Commands{}, err
	}
	return CommandsOf(change.Fold(acts)), nil
}

// CommandsOf converts the controls in force into the rollout's commands.
func CommandsOf(cur change.Controls) rollout.Commands {
	act := func(a *change.OperatorAction) *rollout.Action {
		if a == nil {
			return nil
		}
		return &rollout.Action{By: a.By, Why: a.Why, At: a.At, Wave: a.Wave}
	}
	out := rollout.Commands{Paused: act(cur.Paused), Abort: act(cur.Aborted), PromoteNow: act(cur.PromoteNow), Excluded: map[string]rollout.Action{}}
	for t, a := range cur.Excluded {
		out.Excluded[t] = *act(&a)
	}
	return out
}
