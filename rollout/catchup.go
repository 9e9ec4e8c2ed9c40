package rollout

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3/database"
)

// Catch-up: a target that joins the fleet after a change reached its wave
// (or after the change was done) is brought up to the fleet's version
// before it counts as holding the change. Each change it lacks, in version
// order, gets the pre-flight a wave runs on its targets (preflight.go:
// goose version, schema drift against the canary's print before the
// change where it was kept, the plan's data checks), then the lock-safe
// apply the canary uses (apply.go). The first failure stops the catch-up:
// a change whose pre-flight failed is not touched, and neither are the
// changes after it. The goose table says what the target holds, so a
// catch-up repeated after a crash applies only what is missing.

// StepCatchUp is the event step of a target brought up to the fleet's
// version, or of its catch-up failing.
const StepCatchUp Step = "catch_up"

// CatchUpApply is the CatchUpError.Check of a change whose pre-flight
// passed and whose apply failed.
const CatchUpApply = "apply"

// CatchUpStep is one change a target is caught up through.
type CatchUpStep struct {
	// Plan is the change's plan, as the rollout applied it.
	Plan *Plan
	// From is the goose version the canary was at before the change: the
	// target's goose table must be at it (the pre-flight's version
	// check). Must be >= 0.
	From int64
	// Schema is the canary's schema print before the change (the
	// rollout's checkpoint keeps it); nil when it was not kept: drift is
	// then not checked (an event says so), version and data checks are.
	Schema SchemaPrint
}

// CatchUpResult is what CatchUp did on one target.
type CatchUpResult struct {
	Instance string
	// Applied are the steps this call applied, in order.
	Applied []*StepResult
	// Held counts the steps whose version the goose table already held:
	// nothing ran for them.
	Held int
	// Version is the version of the last step the target holds after the
	// call (0 when it holds none).
	Version int64
}

// ErrCatchUp is wrapped by every *CatchUpError.
var ErrCatchUp = errors.New("catch-up failed")

// CatchUpError is the change a target's catch-up stopped at: the changes
// before it are held, this one and the later ones are not. With Check
// PreflightUnreachable the target could not be read (try again later);
// with another Preflight* check it failed that pre-flight check and was
// not touched; with CatchUpApply the change's apply failed (goose ran it
// in a transaction: nothing of it stays, unless it is NO TRANSACTION).
type CatchUpError struct {
	Instance string
	Version  int64
	// Check is a Preflight* constant or CatchUpApply.
	Check string
	Err   error
}

func (e *CatchUpError) Error() string {
	return fmt.Sprintf("catch up %s to %d: %s: %v", e.Instance, e.Version, e.Check, e.Err)
}

// Unwrap returns ErrCatchUp and the cause (a *PreflightError, an
// *ApplyError, a *LockTimeoutError, a connection error).
func (e *CatchUpError) Unwrap() []error { return []error{ErrCatchUp, e.Err} }

// CatchUp brings inst up through steps (ascending versions): each step
// whose version inst's goose table does not hold is pre-flighted on inst
// and applied, as a wave does; it stops at the first failure, returning
// what was done and a *CatchUpError naming the instance, the version and
// the check. A cancelled ctx returns ctx's error (not a catch-up failure).
// Events go to the Canary's observer and log. Safe for concurrent use on
// different instances.
func (c *Canary) CatchUp(ctx context.Context, inst Instance, steps []CatchUpStep) (*CatchUpResult, error) {
	res := &CatchUpResult{Instance: inst.Name}
	for i, s := range steps {
		if s.Plan == nil {
			return res, fmt.Errorf("catch up %s: step %d has no plan", inst.Name, i)
		}
		if err := s.Plan.Validate(); err != nil {
			return res, fmt.Errorf("catch up %s: %w", inst.Name, err)
		}
		if s.From < 0 {
			return res, fmt.Errorf("catch up %s to %d: the version before it (%d) is not known", inst.Name, s.Plan.Version, s.From)
		}
		if i > 0 && s.Plan.Version <= steps[i-1].Plan.Version {
			return res, fmt.Errorf("catch up %s: versions not ascending (%d after %d)", inst.Name, s.Plan.Version, steps[i-1].Plan.Version)
		}
	}
	for _, s := range steps {
		sr, err := c.catchUpStep(ctx, inst, s)
		if err != nil {
			return res, err
		}
		if sr == nil {
			res.Held++
		} else {
			res.Applied = append(res.Applied, sr)
		}
		res.Version = s.Plan.Version
	}
	return res, nil
}

// catchUpStep pre-flights and applies one step on inst; nil and no error
// when inst already holds it.
func (c *Canary) catchUpStep(ctx context.Context, inst Instance, s CatchUpStep) (*StepResult, error) {
	v := s.Plan.Version
	fail := func(check string, err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("catch up %s to %d interrupted: %w", inst.Name, v, ctx.Err())
		}
		ce := &CatchUpError{Instance: inst.Name, Version: v, Check: check, Err: err}
		c.em.emit(ctx, Event{Version: v, Instance: inst.Name, Wave: -1, Step: StepCatchUp, Err: ce, Message: ce.Error()})
		return ce
	}
	held, err := c.applier.Applied(ctx, inst, v)
	if err != nil {
		return nil, fail(PreflightUnreachable, err)
	}
	if held {
		return nil, nil
	}
	if s.Schema == nil {
		c.em.emit(ctx, Event{Version: v, Instance: inst.Name, Wave: -1, Step: StepPreflight,
			Message: fmt.Sprintf("no schema print of the canary before change %d was kept: %s is checked for version and data only, not drift", v, inst.Name)})
	}
	// The pre-flight a wave runs, on this one target, held to the
	// canary's version and print before the change.
	r := &run{c: c, ch: s.Plan, expected: s.From, schema: s.Schema}
	pe, err := r.preflightOne(ctx, inst)
	switch {
	case err != nil:
		return nil, fail(PreflightUnreachable, err)
	case pe != nil:
		return nil, fail(pe.Check, pe)
	}
	sr, err := c.applier.Apply(ctx, inst, s.Plan)
	if err != nil {
		return nil, fail(CatchUpApply, err)
	}
	c.em.emit(ctx, Event{Version: v, Instance: inst.Name, Wave: -1, Step: StepCatchUp, Duration: sr.Finished.Sub(sr.Started),
		Message: fmt.Sprintf("caught up %s to %d", inst.Name, v)})
	return sr, nil
}

// InstanceAt is one instance's goose version.
type InstanceAt struct {
	Instance string
	// Version is the highest version the goose table holds (0: none, or
	// no goose table).
	Version int64
	// Err is why it could not be read (then Version is meaningless).
	Err error
}

// versionReadTimeout bounds the read of one instance's goose version: a
// target that does not answer is reported unreachable, not waited for.
const versionReadTimeout = 10 * time.Second

// GooseVersions reads, concurrently, the goose version of every instance
// of fleet that skip (nil: none) does not name, in the fleet's order; one
// that does not answer within 10 s is reported with its error.
func (c *Canary) GooseVersions(ctx context.Context, fleet *Fleet, skip func(instance string) bool) []InstanceAt {
	var read []Instance
	for _, in := range fleet.Instances {
		if skip == nil || !skip(in.Name) {
			read = append(read, in)
		}
	}
	out := make([]InstanceAt, len(read))
	idx := map[string]int{}
	for i, in := range read {
		idx[in.Name] = i
		out[i].Instance = in.Name
	}
	var mu sync.Mutex
	forEach(ctx, read, 10, func(ctx context.Context, in Instance) error {
		ctx, cancel := context.WithTimeout(ctx, versionReadTimeout)
		defer cancel()
		var v int64
		err := c.applier.readers.read(ctx, in, func(db database.DBTxConn) error {
			var err error
			v, err = gooseVersion(ctx, db, in.gooseTable(c.applier.gooseTable), 0)
			return err
		})
		mu.Lock()
		out[idx[in.Name]].Version, out[idx[in.Name]].Err = v, err
		mu.Unlock()
		return nil
	})
	return out
}

// catchUpMissed brings the targets that a run resumed from cp would leave
// without the change (Missed: they joined a wave the run had already
// applied) up to it before the run goes on, each with the pre-flight a
// wave runs, held to the canary's version and print before the change.
// Only a run past the canary's apply and still rolling out (bake,
// promote, watch) does it: a finished or rolled-back run does not. An
// instance an operator excluded is left alone. Each one's InstanceResult
// says how it went (CatchUp, and Apply once caught up); one that failed is
// named in the run's reason at the end (it lacks the change, the reconciler
// tries again after the change is done), an unreachable one is tried
// again by the next run. Only a cancel is returned as an error.
func (r *run) catchUpMissed(ctx context.Context, fleet *Fleet, cp Checkpoint) error {
	switch cp.Phase {
	case PhaseBake, PhasePromote, PhaseWatch:
	default:
		return nil
	}
	c := r.c
	missed, err := c.Missed(ctx, fleet, &cp)
	if err != nil {
		c.em.emit(ctx, Event{Version: r.ch.Version, Wave: -1, Step: StepCatchUp, Err: err, Message: "cannot tell which targets joined a wave already applied"})
		return nil
	}
	if len(missed) == 0 {
		return nil
	}
	r.commands(ctx)
	missed = r.included(ctx, missed)
	if len(missed) == 0 {
		return nil
	}
	names := make([]string, len(missed))
	for i, in := range missed {
		names[i] = in.Name
	}
	from, err := r.canaryFrom(ctx)
	if err != nil {
		for _, in := range missed {
			r.record(in.Name, nil, func(ir *InstanceResult) {
				ir.CatchUp = "not caught up: the canary's version cannot be read: " + err.Error()
			})
		}
		c.em.emit(ctx, Event{Version: r.ch.Version, Wave: -1, Step: StepCatchUp, Err: err,
			Message: fmt.Sprintf("%s joined a wave already applied; not caught up now: the canary's version before the change cannot be read", strings.Join(names, ", "))})
		return nil
	}
	c.em.emit(ctx, Event{Version: r.ch.Version, Wave: -1, Step: StepCatchUp,
		Message: fmt.Sprintf("%s joined a wave already applied: bringing them up to %d before the run goes on", strings.Join(names, ", "), r.ch.Version)})
	step := CatchUpStep{Plan: r.ch, From: from, Schema: r.schema}
	forEach(ctx, missed, r.waves[0].Concurrency, func(ctx context.Context, in Instance) error {
		res, err := c.CatchUp(ctx, in, []CatchUpStep{step})
		return r.record(in.Name, err, func(ir *InstanceResult) {
			switch {
			case err != nil:
				ir.CatchUp = "not caught up: " + err.Error()
			case len(res.Applied) > 0:
				ir.Apply, ir.CatchUp = res.Applied[0], "caught up"
			default:
				ir.CatchUp = "caught up (its goose table already held the change)"
			}
		})
	})
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rollout %d interrupted while catching up %s: %w", r.ch.Version, strings.Join(names, ", "), err)
	}
	return nil
}

// canaryFrom reads the goose version the first canary instance not
// excluded was at before the change.
func (r *run) canaryFrom(ctx context.Context) (int64, error) {
	first := r.waves[0].Instances[0]
	for _, in := range r.waves[0].Instances {
		if _, excluded := r.cmds.Excluded[in.Name]; !excluded {
			first = in
			break
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var v int64
	err := r.c.applier.readers.read(rctx, first, func(db database.DBTxConn) error {
		var err error
		v, err = gooseVersion(rctx, db, first.gooseTable(r.c.applier.gooseTable), r.ch.Version)
		return err
	})
	return v, err
}

// notCaughtUp lists, sorted, the instances a catch-up of this run left
// without the change, with why.
func (r *run) notCaughtUp() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for name, ir := range r.byName {
		if strings.HasPrefix(ir.CatchUp, "not caught up") {
			out = append(out, fmt.Sprintf("%s (%s)", name, ir.CatchUp))
		}
	}
	sort.Strings(out)
	return out
}
