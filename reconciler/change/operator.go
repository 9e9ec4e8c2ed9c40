package change

import (
	"errors"
	"fmt"
	"time"
)

// Command is an operator's command on a change being rolled out (`schemacanary
// pause|resume|abort|promote-now|exclude|include`, or the HTTP API).
type Command string

// The operator commands.
const (
	// CommandPause holds the rollout: no new wave is sampled or applied; a
	// bake goes on and only a Fail ends it.
	CommandPause Command = "pause"
	// CommandResume lifts a pause.
	CommandResume Command = "resume"
	// CommandAbort rolls back every instance the rollout touched.
	CommandAbort Command = "abort"
	// CommandPromoteNow ends the current wave's bake at its next judged
	// interval with the judge's verdict so far.
	CommandPromoteNow Command = "promote_now"
	// CommandExclude takes a target out of the rollout: later waves skip it.
	CommandExclude Command = "exclude"
	// CommandInclude puts an excluded target back.
	CommandInclude Command = "include"
	// CommandRevert rolls a done change back on every instance, as a
	// canary rollback does (fence, archive, down, reset, unfence), and
	// opens its revert PR: within the revert window after it was done,
	// and only while no later change has started.
	CommandRevert Command = "revert"
)

// Commands lists every command.
var Commands = []Command{CommandPause, CommandResume, CommandAbort, CommandPromoteNow, CommandExclude, CommandInclude, CommandRevert}

// ParseCommand returns the command named s, accepting "promote-now" for
// promote_now.
func ParseCommand(s string) (Command, error) {
	if s == "promote-now" {
		s = string(CommandPromoteNow)
	}
	for _, c := range Commands {
		if string(c) == s {
			return c, nil
		}
	}
	return "", fmt.Errorf("%w: unknown command %q", ErrRefused, s)
}

// Targeted reports whether the command names a fleet instance.
func (c Command) Targeted() bool { return c == CommandExclude || c == CommandInclude }

// OperatorAction is one operator command as recorded in the control store:
// who gave it, why, from where, and whether it is on the audit branch yet.
type OperatorAction struct {
	ID      int64   `json:"id"`
	Version int64   `json:"version"`
	Command Command `json:"command"`
	// Target is the instance of an exclude or include.
	Target string `json:"target,omitempty"`
	// Wave is the wave the change was in when the command was given (a
	// promote-now ends that wave's bake only).
	Wave int    `json:"wave"`
	By   string `json:"by"`
	Why  string `json:"why"`
	// State is the change's state when the command was given.
	State State `json:"state"`
	// Source is where it was given: "cli" or "api".
	Source  string    `json:"source"`
	At      time.Time `json:"at"`
	Audited bool      `json:"audited"`
}

// ErrRefused is the error kind of an operator command that makes no sense
// now (the change is not in a state it applies to, the rollout is already
// paused, …); nothing was recorded.
var ErrRefused = errors.New("operator command refused")

// ErrUnknownTarget is returned for an exclude or include naming no
// instance of the fleet.
var ErrUnknownTarget = errors.New("unknown target")

// Controls are the operator commands in force for a change, folded from
// its recorded actions in order.
type Controls struct {
	// Paused is the pause in force (nil: not paused).
	Paused *OperatorAction
	// Aborted is the abort (nil: none).
	Aborted *OperatorAction
	// PromoteNow is the latest promote-now, for the wave it names.
	PromoteNow *OperatorAction
	// Excluded maps each excluded target to its exclude.
	Excluded map[string]OperatorAction
	// Reverted is the revert of a done change (nil: none).
	Reverted *OperatorAction
}

// Fold folds actions, oldest first, into the controls in force.
func Fold(actions []OperatorAction) Controls {
	c := Controls{Excluded: map[string]OperatorAction{}}
	for i := range actions {
		a := actions[i]
		switch a.Command {
		case CommandPause:
			c.Paused = &a
		case CommandResume:
			c.Paused = nil
		case CommandAbort:
			if c.Aborted == nil {
				c.Aborted = &a
			}
		case CommandPromoteNow:
			c.PromoteNow = &a
		case CommandExclude:
			c.Excluded[a.Target] = a
		case CommandInclude:
			delete(c.Excluded, a.Target)
		case CommandRevert:
			if c.Reverted == nil {
				c.Reverted = &a
			}
		}
	}
	return c
}
