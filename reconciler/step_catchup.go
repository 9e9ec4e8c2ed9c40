package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/audit"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/rollout"
)

// catchUp is the pass's step for targets that joined the fleet after
// changes were done: every reachable instance whose goose version is below
// the newest done change is brought up through the done changes it lacks,
// in version order, with their stored plans (rollout.Canary.CatchUp: the
// pre-flight a wave runs, then the lock-safe apply). It runs before the
// queue, so the head change's next wave finds them at the fleet's version.
//
// Each change a target catches up is recorded on that change: its
// instances (CatchingUp while it runs, then the version, or CatchUpFailed
// where it stopped), an event ("catch-up", or "catch-up failed: CHECK"
// with the reason), an audit commit ("caught up INSTANCE to VERSION"),
// and the schemacanary_catchups_total metric. A target that failed is
// checked again on every pass (the pre-flight is read-only) and is caught
// up once the cause is fixed; an unreachable one is skipped until it
// answers. A target an operator excluded from a change is not caught up
// past it.
func (r *Reconciler) catchUp(ctx context.Context, _ *Result) error {
	newest, err := r.store.DoneSince(ctx, math.MaxInt64)
	if err != nil || len(newest) == 0 {
		return err
	}
	latest := newest[len(newest)-1].Version
	known := r.upToDate(latest)
	vs, err := r.roll.Versions(ctx, func(name string) bool { return known[name] })
	if err != nil {
		return fmt.Errorf("read the fleet's goose versions: %w", err)
	}
	for name, v := range vs {
		if v >= latest {
			known[name] = true
		}
	}
	var behind []string
	for name, v := range vs {
		if v >= 0 && v < latest {
			behind = append(behind, name)
		}
	}
	sort.Strings(behind)
	lists := map[int64]*catchUpList{} // by the goose version the targets are at
	var errs []error
	for _, name := range behind {
		if err := ctx.Err(); err != nil {
			return err
		}
		l, ok := lists[vs[name]]
		if !ok {
			if l, err = r.catchUpList(ctx, vs[name]); err != nil {
				return err
			}
			lists[vs[name]] = l
		}
		if err := r.catchUpOne(ctx, name, l); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// recheckUpToDate is how long a target found holding the newest done
// change goes without its version being read again by the catch-up step
// (unless a newer change is done first): on a fleet of thousands of
// targets a read of every one on every pass would cost a session each.
const recheckUpToDate = 10 * time.Minute

// upToDateSet remembers the targets the catch-up step found holding the
// newest done change.
type upToDateSet struct {
	latest int64
	since  time.Time
	names  map[string]bool
}

// upToDate returns the set of targets known to hold latest, the one the
// step updates; it starts empty when latest is not the set's, or when
// recheckUpToDate has passed since it started. Passes run one at a time,
// so the set needs no lock.
func (r *Reconciler) upToDate(latest int64) map[string]bool {
	if r.known.names == nil || r.known.latest != latest || time.Since(r.known.since) > recheckUpToDate {
		r.known = upToDateSet{latest: latest, since: time.Now(), names: map[string]bool{}}
	}
	return r.known.names
}

// catchUpList is the done changes an instance at one goose version lacks,
// with their catch-up steps.
type catchUpList struct {
	changes []*change.Request
	steps   []rollout.CatchUpStep
	// excluded is, per change, the targets an operator excluded from it.
	excluded []map[string]change.OperatorAction
	// stop says why the list ends before the newest done change ("": it
	// does not).
	stop string
}

// catchUpList reads the done changes after version, each with its stored
// plan, the canary's schema print its checkpoint kept, and the version
// the fleet was at before it (the done change before it).
func (r *Reconciler) catchUpList(ctx context.Context, version int64) (*catchUpList, error) {
	cs, err := r.store.DoneSince(ctx, version)
	if err != nil {
		return nil, err
	}
	var from int64
	if len(cs) > 0 && cs[0].Version <= version {
		from, cs = cs[0].Version, cs[1:]
	}
	l := &catchUpList{}
	for _, c := range cs {
		plan, err := r.catchUpPlan(ctx, c)
		if err != nil {
			l.stop = fmt.Sprintf("change %d cannot be planned: %v", c.Version, err)
			break
		}
		acts, err := r.store.Actions(ctx, c.Version)
		if err != nil {
			return nil, err
		}
		l.changes = append(l.changes, c)
		l.steps = append(l.steps, rollout.CatchUpStep{Plan: plan, From: from, Schema: keptPrint(c)})
		l.excluded = append(l.excluded, change.Fold(acts).Excluded)
		from = c.Version
	}
	return l, nil
}

// catchUpPlan is the plan c was rolled out with: the stored one, else
// (a change predicted before plans were stored, or adopted as done without
// a rollout) one planned from its parsed file and, when there is one, its
// stored report.
func (r *Reconciler) catchUpPlan(ctx context.Context, c *change.Request) (*rollout.Plan, error) {
	b, err := r.store.Plan(ctx, c.Version, c.SHA256)
	if err != nil && !errors.Is(err, change.ErrNotFound) {
		return nil, err
	}
	var p *rollout.Plan
	switch {
	case len(b) > 0:
		p = new(rollout.Plan)
		if err := json.Unmarshal(b, p); err != nil {
			return nil, fmt.Errorf("stored plan: %w", err)
		}
	case c.Migration == nil:
		return nil, errNotParsed
	default:
		a, err := r.store.Assessment(ctx, c.Version, c.SHA256)
		switch {
		case err == nil:
			p = PlanChange(c.Migration, a.Report)
		case errors.Is(err, change.ErrNotFound):
			p = PlanChange(c.Migration, nil)
		default:
			return nil, err
		}
	}
	return p, p.Validate()
}

// keptPrint is the canary's schema print before c, as its rollout's
// checkpoint kept it (nil when it was not kept).
func keptPrint(c *change.Request) rollout.SchemaPrint {
	var cp rollout.Checkpoint
	if len(c.Checkpoint) == 0 || json.Unmarshal(c.Checkpoint, &cp) != nil || cp.Version != c.Version {
		return nil
	}
	return cp.Schema
}

// catchUpOne brings the instance name up through l, as far as an
// operator's exclusion lets it, and records how it went.
func (r *Reconciler) catchUpOne(ctx context.Context, name string, l *catchUpList) error {
	n := len(l.steps)
	for i, ex := range l.excluded {
		if a, ok := ex[name]; ok {
			n = i
			r.event(ctx, change.Event{Version: l.changes[i].Version, Instance: name, Step: "catch-up held", Outcome: "held",
				Detail: change.EventDetail{Error: fmt.Sprintf("excluded from this change by %s (%s): not caught up to it or past it", a.By, a.Why)}})
			break
		}
	}
	if n == 0 {
		if l.stop != "" && len(l.steps) == 0 {
			r.o.log.Warn("target behind the fleet cannot be caught up", "instance", name, "reason", l.stop)
		}
		return nil
	}
	changes, steps := l.changes[:n], l.steps[:n]
	for _, c := range changes {
		if c.Instances[name] != CatchUpFailed { // a failed one says so until it is caught up
			r.setHolding(ctx, c, name, CatchingUp)
		}
	}
	r.o.log.Info("catching up a target behind the fleet", "instance", name, "from", steps[0].From, "to", steps[n-1].Plan.Version)
	res, err := r.roll.CatchUp(ctx, name, steps)
	applied := map[int64]bool{}
	if res != nil {
		for _, sr := range res.Applied {
			applied[sr.Version] = true
		}
	}
	var ce *rollout.CatchUpError
	failed := errors.As(err, &ce)
	for _, c := range changes {
		switch {
		case res != nil && c.Version <= res.Version:
			r.setHolding(ctx, c, name, c.Version)
			if applied[c.Version] {
				r.caughtUp(ctx, c, name)
			}
		case failed && c.Version == ce.Version && ce.Check == rollout.PreflightUnreachable:
			r.setHolding(ctx, c, name, Unreachable)
		case failed && c.Version == ce.Version:
			r.setHolding(ctx, c, name, CatchUpFailed)
			r.catchUpFailed(ctx, c, name, ce)
		default:
			r.setHolding(ctx, c, name, 0)
		}
	}
	switch {
	case failed && ce.Check == rollout.PreflightUnreachable:
		r.o.log.Info("target behind the fleet is unreachable; caught up on a later pass", "instance", name, "change", ce.Version, "err", ce.Err)
		r.countCatchUp("unreachable")
		return nil
	case failed:
		return nil // recorded
	case err != nil:
		return fmt.Errorf("catch up %s: %w", name, err)
	}
	return nil
}

// setHolding records v as name's holding of done change c.
func (r *Reconciler) setHolding(ctx context.Context, c *change.Request, name string, v int64) {
	if old, ok := c.Instances[name]; ok && old == v {
		return
	}
	inst := make(map[string]int64, len(c.Instances)+1)
	for k, x := range c.Instances {
		inst[k] = x
	}
	inst[name] = v
	if err := r.store.SetInstances(ctx, c.Version, inst); err != nil {
		r.o.log.Warn("record a catch-up's holding", "change", c.Version, "instance", name, "err", err)
		return
	}
	c.Instances = inst
}

// caughtUp records that name was brought up to c.
func (r *Reconciler) caughtUp(ctx context.Context, c *change.Request, name string) {
	reason := fmt.Sprintf("caught up %s to %d", name, c.Version)
	r.o.log.Info(reason, "change", c.Version, "instance", name, "step", "catch-up")
	r.event(ctx, change.Event{Version: c.Version, Instance: name, Step: "catch-up", Outcome: "ok"})
	r.auditCatchUp(ctx, c, name, "catch-up", reason)
	r.countCatchUp("caught_up")
}

// catchUpFailed records that name's catch-up stopped at c, and why. The
// event and the audit commit are written once per check that failed.
func (r *Reconciler) catchUpFailed(ctx context.Context, c *change.Request, name string, ce *rollout.CatchUpError) {
	step := "catch-up failed: " + ce.Check
	r.o.log.Warn("catch-up of a target behind the fleet failed; it is not counted as holding the change", "change", c.Version,
		"instance", name, "check", ce.Check, "err", ce.Err)
	r.event(ctx, change.Event{Version: c.Version, Instance: name, Step: step, Outcome: "failed", Detail: change.EventDetail{Error: ce.Error()}})
	r.auditCatchUp(ctx, c, name, step, ce.Error())
	r.countCatchUp("failed")
}

func (r *Reconciler) countCatchUp(outcome string) {
	if r.o.metrics != nil {
		r.o.metrics.catchUps.WithLabelValues(outcome).Inc()
	}
}

// auditCatchUp writes one commit on the audit branch for a catch-up of
// name to c (or its failure): the change's state does not move. Best
// effort: the event in the control store is the record; a failed write is
// logged.
func (r *Reconciler) auditCatchUp(ctx context.Context, c *change.Request, name, step, reason string) {
	if r.audit == nil {
		return
	}
	rec, err := r.changeRecord(ctx, c)
	if err == nil {
		tr := audit.Transition{Version: c.Version, From: string(c.State), To: string(c.State), Instance: name, Step: step,
			Reason: reason, Actor: "schemacanary"}
		_, err = r.audit.Record(ctx, rec, tr)
	}
	if err != nil {
		r.o.log.Warn("audit a catch-up", "change", c.Version, "instance", name, "err", err)
	}
}
