package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Controls is the operators' hand on a running rollout: the commands given
// for a change so far (pause, resume, abort, promote-now, exclude, include),
// folded into their current effect. The reconciler reads them from the
// control store; a Run polls Commands at every judged bake interval, before
// every wave's baseline and apply, and every interval while paused. It must
// be safe for concurrent use.
type Controls interface {
	// Commands returns the commands in force for version. An error is
	// reported as an event and the previous commands stay in force: a
	// control store that cannot be read does not stop a rollout.
	Commands(ctx context.Context, version int64) (Commands, error)
}

// Commands are the operator commands in force for one change.
type Commands struct {
	// Paused, when set, holds the rollout: no new wave is sampled or
	// applied, and a bake keeps sampling and judging but does not end with
	// a promotion (a Fail still rolls back). Nil: not paused.
	Paused *Action
	// Abort, when set, rolls back every instance the rollout touched,
	// newest wave first, through the rollback path (fence, archive, down,
	// reset, unfence); the run ends rolled back with the reason "aborted
	// by BY: WHY".
	Abort *Action
	// PromoteNow, when set for wave PromoteNow.Wave, ends that wave's bake
	// at its next judged interval with the judge's verdict on the data so
	// far: a Fail still rolls back (or acts as on_wave_failure says), a
	// Pass or not enough data promotes. A command given for a wave affects
	// no other wave, so it is consumed once.
	PromoteNow *Action
	// Excluded maps the instances taken out of the rollout to the action
	// that excluded them. A wave applied later skips them (they are never
	// touched); an instance that already holds the change keeps it.
	Excluded map[string]Action
}

// Action is who gave an operator command, why, and when.
type Action struct {
	By  string    `json:"by"`
	Why string    `json:"why"`
	At  time.Time `json:"at,omitzero"`
	// Wave is the wave a promote-now was given for (0: the canary,
	// WatchWave: the production watch).
	Wave int `json:"wave,omitempty"`
}

// WatchWave is the Action.Wave of a promote-now given during the
// production watch after the last wave.
const WatchWave = -1

// String is "BY: WHY" (or BY alone).
func (a Action) String() string {
	if a.Why == "" {
		return a.By
	}
	return a.By + ": " + a.Why
}

// Controlled lets the operators' commands of ctl steer the run (see
// Controls). Without it a run takes no commands.
func Controlled(ctl Controls) RunOption {
	return func(r *run) { r.ctl = ctl }
}

// StepOperator is the event step of an operator command taking effect.
const StepOperator Step = "operator"

// commands reads the commands in force; on a failed read it keeps the last
// ones read.
func (r *run) commands(ctx context.Context) Commands {
	if r.ctl == nil {
		return Commands{}
	}
	cmds, err := r.ctl.Commands(ctx, r.ch.Version)
	if err != nil {
		if ctx.Err() == nil {
			r.c.em.emit(ctx, Event{Version: r.ch.Version, Wave: -1, Step: StepOperator, Err: err, Message: "operator commands cannot be read; the last ones read stay in force"})
		}
		return r.cmds
	}
	if cmds.Paused != nil && r.cmds.Paused == nil {
		r.c.em.emit(ctx, Event{Version: r.ch.Version, Wave: -1, Step: StepOperator, Message: "paused by " + cmds.Paused.String()})
	}
	if cmds.Paused == nil && r.cmds.Paused != nil {
		r.c.em.emit(ctx, Event{Version: r.ch.Version, Wave: -1, Step: StepOperator, Message: "resumed"})
	}
	r.cmds = cmds
	return cmds
}

// abortReason is the rollback reason of an abort.
func abortReason(a *Action) string {
	return "aborted by " + a.String()
}

// errAborted is returned by hold when an operator aborted the rollout.
type errAborted struct{ a *Action }

func (e errAborted) Error() string { return abortReason(e.a) }

// hold waits, before a wave's baseline or apply, while the rollout is
// paused, polling the commands every interval. It returns the abort when
// an operator aborted (paused or not), and ctx's error when cancelled.
func (r *run) hold(ctx context.Context, wi int) error {
	for {
		cmds := r.commands(ctx)
		if cmds.Abort != nil {
			return errAborted{cmds.Abort}
		}
		if cmds.Paused == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rollout %d interrupted while paused before wave %d: %w", r.ch.Version, wi, ctx.Err())
		case <-time.After(r.c.cfg.Interval):
		}
	}
}

// abort rolls back every instance that holds the change, newest wave
// first, for the operator's abort a.
func (r *run) abort(ctx context.Context, a *Action) error {
	reason := abortReason(a)
	r.c.em.emit(ctx, Event{Version: r.ch.Version, Wave: -1, Step: StepOperator, Message: reason + ": rolling back every instance touched"})
	r.save(Checkpoint{Version: r.ch.Version, Phase: PhaseRollback, Reason: reason})
	return r.rollback(ctx, reason)
}

// included is the instances of instances not excluded now; the excluded
// ones are recorded on their results.
func (r *run) included(ctx context.Context, instances []Instance) []Instance {
	out := make([]Instance, 0, len(instances))
	var skipped []string
	for _, in := range instances {
		a, ok := r.cmds.Excluded[in.Name]
		if !ok {
			out = append(out, in)
			continue
		}
		skipped = append(skipped, in.Name)
		r.mu.Lock()
		r.byName[in.Name].Excluded = "excluded by " + a.String()
		r.mu.Unlock()
	}
	if len(skipped) > 0 {
		r.c.em.emit(ctx, Event{Version: r.ch.Version, Wave: -1, Step: StepOperator,
			Message: fmt.Sprintf("skipping excluded instance(s) %s", strings.Join(skipped, ", "))})
	}
	return out
}

// held turns hold's error into the run's end: an abort rolls back, a
// cancel is returned as it is.
func (r *run) held(ctx context.Context, err error) error {
	var ab errAborted
	if errors.As(err, &ab) {
		return r.abort(ctx, ab.a)
	}
	return err
}

// members is wave wi's instances that this run did not skip as excluded.
func (r *run) members(wi int) []Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Instance
	for _, in := range r.waves[wi].Instances {
		if r.byName[in.Name].Excluded == "" {
			out = append(out, in)
		}
	}
	return out
}

// excluded lists the instances this run skipped as excluded.
func (r *run) excluded() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, w := range r.waves {
		for _, in := range w.Instances {
			if r.byName[in.Name].Excluded != "" {
				out = append(out, in.Name)
			}
		}
	}
	return out
}
