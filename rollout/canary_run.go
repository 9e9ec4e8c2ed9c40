package rollout

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/schemacanary/schemacanary/rollout/judge"
)

// run is the state of one Run call.
type run struct {
	c         *Canary
	save      func(Checkpoint)
	repredict Repredictor
	lastLive  float64 // the last re-prediction reported
	ch        *Plan
	res       *Result
	waves     []Wave
	control   []Instance
	byName    map[string]*InstanceResult
	mu        sync.Mutex
	baseline  []judge.Sample
	// schema is the canary's schema print before the change (nil: not
	// known, drift is not checked); expected the goose version it was at
	// (-1 until read). See preflight.go.
	schema   SchemaPrint
	expected int64
	// lastBaseline is the pre-change baseline of the last wave promoted
	// (with its reference): the production watch compares with it.
	lastBaseline []judge.Sample
	// ctl and cmds are the operators' controls and their commands as last
	// read; aborted is set by a bake an operator aborted, promotedNow by a
	// bake an operator ended early (see Controls).
	ctl         Controls
	cmds        Commands
	aborted     *Action
	promotedNow bool
}

func (r *run) inst(name string) *InstanceResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byName[name]
}

// record stores what one step did on instance name (set fills the step's
// field) and its error, under the run's lock, and returns err.
func (r *run) record(name string, err error, set func(*InstanceResult)) error {
	ir := r.inst(name)
	r.mu.Lock()
	defer r.mu.Unlock()
	set(ir)
	if err != nil {
		ir.Error = err.Error()
	}
	return err
}

// RunOption tunes one Run.
type RunOption func(*run)

// OnCheckpoint sends this run's checkpoints to fn, synchronously, before
// the side effects of the phase it names; the caller persists the latest
// and passes it back to Run to resume.
func OnCheckpoint(fn func(Checkpoint)) RunOption {
	return func(r *run) {
		if fn != nil {
			r.save = fn
		}
	}
}

// Repredicting re-scores the change after every judged bake interval with
// fn; when the re-prediction calls for it (Reprediction.Predicts at
// rollback.rollback_below), the canary is rolled back for a predicted
// failure.
func Repredicting(fn Repredictor) RunOption {
	return func(r *run) { r.repredict = fn }
}

// States reads, concurrently, whether each instance of fleet holds version
// (its goose table is the truth).
func (c *Canary) States(ctx context.Context, fleet *Fleet, version int64) []InstanceVersion {
	return c.states(ctx, fleet.Instances, version, 10)
}

// Run takes ch through fleet: baseline KPIs on the canary wave, apply to
// it, bake while the judge compares canary with control and baseline every
// interval, then roll the canary back (on Fail, a hard guard, or a live
// re-prediction below rollback_below) or promote the change wave by wave.
// A bake that reaches max_bake without enough data is inconclusive: held on
// the canary (StatusInconclusive) or promoted, as CanaryConfig.OnInconclusive
// says; too little data is never taken for harm.
//
// With Controlled, operators' commands steer the run: pause, abort,
// promote-now, exclude (see Controls).
//
// resume is the last Checkpoint of an interrupted Run of the same change
// (nil to start afresh); the goose tables say what is applied, so every
// step is repeated safely. A resumed run first catches up the targets that
// joined a wave it had already applied (catchUpMissed), with the
// pre-flight a wave runs. The error is nil when the rollout reached a
// verdict (Status promoted or rolled_back); a *PartialError when it stopped
// part way (StatusFailed); wrapping ErrLockTimeout when the canary could
// not get its locks (StatusAborted).
func (c *Canary) Run(ctx context.Context, fleet *Fleet, ch *Plan, resume *Checkpoint, opts ...RunOption) (*Result, error) {
	if err := ch.Validate(); err != nil {
		return nil, err
	}
	waves, control, err := fleet.Plan()
	if err != nil {
		return nil, err
	}
	r := &run{c: c, ch: ch, waves: waves, control: control, byName: map[string]*InstanceResult{},
		res: &Result{Version: ch.Version, Started: time.Now()}, save: func(Checkpoint) {}, expected: -1}
	for _, o := range opts {
		o(r)
	}
	if resume != nil {
		r.schema = resume.Schema
	}
	save := r.save
	r.save = func(cp Checkpoint) {
		// Every checkpoint carries the canary's print, for the pre-flight
		// of the waves a resumed run has still to apply.
		if cp.Schema == nil {
			cp.Schema = r.schema
		}
		save(cp)
	}
	for _, w := range waves {
		for _, in := range w.Instances {
			ir := &InstanceResult{Name: in.Name, Group: in.Group, Wave: w.Index}
			r.byName[in.Name] = ir
		}
	}
	for _, in := range control {
		r.byName[in.Name].Control = true
	}
	var names []string
	for _, in := range control {
		names = append(names, in.Name)
	}
	c.em.emit(ctx, Event{Version: ch.Version, Wave: -1, Step: StepPlan,
		Message: fmt.Sprintf("%d wave(s); canary %d instance(s); control %s", len(waves), len(waves[0].Instances), strings.Join(names, ", "))})

	cp := Checkpoint{Version: ch.Version, Phase: PhaseBaseline}
	if resume != nil && resume.Version == ch.Version && resume.Phase != "" {
		cp = *resume
	}
	c.warm(ctx, append(append([]Instance{}, waves[0].Instances...), control...))
	if err := r.catchUpMissed(ctx, fleet, cp); err != nil {
		r.finish(ctx)
		return r.res, err
	}
	err = r.drive(ctx, cp)
	r.finish(ctx)
	return r.res, err
}

// drive runs the phases from cp on.
func (r *run) drive(ctx context.Context, cp Checkpoint) error {
	c, ch := r.c, r.ch
	canary := r.waves[0]
	cctx := withWave(ctx, 0, canary.Name)
	// A resumed run gets its pre-change baseline back from the checkpoint.
	r.baseline, r.res.Baseline = cp.Baseline, cp.Baseline
	if cp.Phase == PhaseBaseline || cp.Phase == PhaseCanary {
		if err := r.hold(cctx, 0); err != nil {
			return r.held(ctx, err)
		}
	}
	if cp.Phase == PhaseBaseline {
		states := c.states(ctx, canary.Instances, ch.Version, canary.Concurrency)
		already := false
		for _, s := range states {
			already = already || s.Applied
		}
		if !already {
			// The control is sampled too: the judge scales the canary's
			// baseline by the control's drift between then and the bake.
			c.em.emit(cctx, Event{Version: ch.Version, Step: StepBaseline, Message: fmt.Sprintf("sampling KPIs on the canary and the control for %s before the change", c.cfg.Baseline)})
			r.baseline = r.sample(cctx, append(append([]Instance{}, canary.Instances...), r.control...), time.Now(), c.cfg.Baseline)
			r.res.Baseline = r.baseline
		}
		cp.Phase, cp.Baseline = PhaseCanary, r.baseline
		r.save(cp)
	}
	if cp.Phase == PhaseCanary {
		if err := r.hold(cctx, 0); err != nil {
			return r.held(ctx, err)
		}
		members := r.included(cctx, canary.Instances)
		if len(members) == 0 {
			r.res.Status, r.res.Reason = StatusFailed, "every instance of the canary wave is excluded: nothing to judge the change on"
			return fmt.Errorf("rollout %d: %s", ch.Version, r.res.Reason)
		}
		if r.schema == nil {
			ok, err := r.capturePrint(cctx, members[0])
			if err != nil {
				return err
			}
			if ok {
				r.save(cp) // the print is kept before anything is applied
			} else {
				c.em.emit(cctx, Event{Version: ch.Version, Step: StepPreflight,
					Message: "the canary already holds the change and no schema print was kept before it: later waves are not checked for drift"})
			}
		}
		if err := r.preflight(ctx, 0, members); err != nil {
			return err
		}
		errs := forEach(cctx, members, canary.Concurrency, func(ctx context.Context, in Instance) error {
			sr, err := c.applier.Apply(ctx, in, ch)
			return r.record(in.Name, err, func(ir *InstanceResult) { ir.Apply = sr })
		})
		r.res.CanaryApplied = time.Now()
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("rollout %d interrupted while applying the canary: %w", ch.Version, err)
		}
		if len(errs) > 0 {
			return r.canaryApplyFailed(ctx, errs)
		}
		cp = Checkpoint{Version: ch.Version, Phase: PhaseBake, BakeFrom: r.res.CanaryApplied, Baseline: r.baseline}
		r.save(cp)
	}
	if cp.Phase == PhaseBake {
		if r.res.CanaryApplied.IsZero() {
			r.res.CanaryApplied = cp.BakeFrom
		}
		d := r.bake(ctx, cp.BakeFrom)
		if err := ctx.Err(); err != nil {
			// Interrupted: no verdict; a resumed run bakes again.
			return fmt.Errorf("rollout %d interrupted while baking: %w", ch.Version, err)
		}
		if r.aborted != nil {
			return r.abort(ctx, r.aborted)
		}
		promoteAnyway := c.cfg.OnInconclusive == InconclusivePromote || r.promotedNow
		if d.Outcome == judge.Extend && !r.promotedNow && c.cfg.OnInconclusive == InconclusivePromote {
			d.Reason = "inconclusive (canary.on_inconclusive: promote): " + d.Reason
		}
		r.res.Decision, r.res.Decided = &d, time.Now()
		switch {
		case d.Outcome == judge.Pass, d.Outcome == judge.Extend && promoteAnyway:
			cp = Checkpoint{Version: ch.Version, Phase: PhasePromote, Wave: 1}
		case d.Outcome == judge.Extend:
			cp = Checkpoint{Version: ch.Version, Phase: PhaseInconclusive, Reason: d.Reason}
		default:
			cp = Checkpoint{Version: ch.Version, Phase: PhaseRollback, Reason: d.Reason}
		}
		r.save(cp)
	}
	if cp.Phase == PhaseInconclusive {
		r.res.Status, r.res.Reason = StatusInconclusive, cp.Reason
		c.em.emit(ctx, Event{Version: ch.Version, Wave: -1, Step: StepDone, Message: "held on the canary wave: " + cp.Reason})
		return nil
	}
	if cp.Phase == PhaseRollback {
		return r.rollback(ctx, cp.Reason)
	}
	if cp.Phase == PhasePromote {
		if err := r.promote(ctx, cp); err != nil {
			return err
		}
	}
	if cp.Phase == PhaseWatch {
		if err := r.watch(ctx, cp); err != nil {
			return err
		}
	}
	if cp.Phase == PhaseDone && r.res.Status == "" {
		// Resumed after the end: the goose tables tell which end.
		r.res.Status, r.res.Reason = StatusPromoted, "resumed after completion"
		for _, s := range c.states(ctx, canary.Instances, ch.Version, canary.Concurrency) {
			if !s.Applied {
				r.res.Status = StatusRolledBack
			}
		}
	}
	return nil
}

// canaryApplyFailed handles errors applying the canary wave: a migration
// error is the hard guard (roll back, StatusRolledBack); lock timeouts and
// other errors abort (roll back what got applied, StatusAborted).
func (r *run) canaryApplyFailed(ctx context.Context, errs map[string]error) error {
	var applyErr *ApplyError
	var first error
	for _, name := range sortedNames(errs) {
		if first == nil {
			first = errs[name]
		}
		if errors.As(errs[name], &applyErr) {
			break
		}
	}
	if applyErr != nil {
		d := r.c.judge.MigrationFailed(applyErr)
		r.res.Decision, r.res.Decided = &d, time.Now()
		r.c.em.emit(withWave(ctx, 0, r.waves[0].Name), Event{Version: r.ch.Version, Step: StepJudge, Decision: &d, Message: d.Reason})
		r.save(Checkpoint{Version: r.ch.Version, Phase: PhaseRollback, Reason: d.Reason})
		return r.rollback(ctx, d.Reason)
	}
	reason := fmt.Sprintf("canary apply failed on %s: %v", strings.Join(sortedNames(errs), ", "), first)
	if err := r.rollback(ctx, reason); err != nil {
		return err
	}
	r.res.Status = StatusAborted
	return fmt.Errorf("rollout %d aborted: %w", r.ch.Version, first)
}

// sample collects KPIs on targets in interval-sized windows over d.
func (r *run) sample(ctx context.Context, targets []Instance, from time.Time, d time.Duration) []judge.Sample {
	var out []judge.Sample
	iv := r.c.cfg.Interval
	for t := from; t.Before(from.Add(d)) && ctx.Err() == nil; t = t.Add(iv) {
		out = append(out, r.c.collect(ctx, targets, t, t.Add(iv))...)
	}
	return out
}

// bake samples canary and control every interval from bakeFrom and asks
// the judge after each one. It returns the deciding Decision: Fail at once,
// Pass once the bake is over, Extend ("not enough data": inconclusive) at
// max_bake.
func (r *run) bake(ctx context.Context, bakeFrom time.Time) judge.Decision {
	bake, maxBake := r.bakes()
	return r.bakeWave(ctx, 0, r.waves[0].Name, r.members(0), r.control, r.baseline, bakeFrom, bake, maxBake)
}

// bakes is the canary's bake and max_bake, a change's front-matter bake
// included.
func (r *run) bakes() (bake, maxBake time.Duration) {
	c := r.c
	bake = c.cfg.Bake
	if r.ch.Bake > 0 {
		bake = r.ch.Bake
	}
	maxBake = max(c.cfg.MaxBake, bake)
	if r.ch.Bake > c.cfg.Bake {
		maxBake = max(maxBake, 3*r.ch.Bake)
	}
	return bake, maxBake
}

// bakeWave samples members (wave wi's instances that took the change,
// named name; the production watch is wave len(r.waves)) and its control
// every interval from bakeFrom and asks the judge after each one, against
// the control and the members' own pre-change baseline (see bake). The
// live re-prediction runs on the canary wave only. After every judged
// interval the operators' commands are read (see Controls): an abort ends
// the bake at once (r.aborted), a promote-now for this wave ends it with
// the verdict so far (r.promotedNow), and a pause keeps it baking past a
// Pass or max_bake.
func (r *run) bakeWave(ctx context.Context, wi int, name string, members, control []Instance, baseline []judge.Sample, bakeFrom time.Time, bake, maxBake time.Duration) judge.Decision {
	c := r.c
	cctx := withWave(ctx, wi, name)
	names := map[string]bool{}
	for _, in := range members {
		names[in.Name] = true
	}
	targets := append(append([]Instance{}, members...), control...)
	iv := c.cfg.Interval
	var canarySamples, controlSamples []judge.Sample
	fails := 0
	// observed is how much of the bake was watched in this run. Windows
	// that went by unwatched (a resumed run, or a loaded host where judging
	// took longer than an interval) do not count: the bake lasts for at
	// least bake of observed time, so a slow host cannot shorten it.
	var observed time.Duration
	for k := 0; ; k++ {
		// A window already over cannot be watched: go on from the current one.
		k = max(k, int(time.Since(bakeFrom)/iv))
		from := bakeFrom.Add(time.Duration(k) * iv)
		to := from.Add(iv)
		s := c.collect(cctx, targets, from, to)
		if ctx.Err() != nil {
			return judge.Decision{Outcome: judge.Fail, Reason: "interrupted: " + ctx.Err().Error(), At: time.Now()}
		}
		observed += iv
		cs, os := split(s, names)
		canarySamples = append(canarySamples, cs...)
		controlSamples = append(controlSamples, os...)
		// The canary is judged at alpha at every look: catching harm
		// early on a small blast radius is its job. The waves after it
		// (and the watch), where the canary has already passed and a
		// failure rolls back much more, spend alpha as a group-sequential
		// boundary does (judge.JudgeAt): an interim look needs stronger
		// evidence than the bake's end, so a second's disturbance on one
		// instance right after its apply does not roll the fleet back.
		frac := 1.0
		if wi > 0 {
			frac = observed.Seconds() / bake.Seconds()
		}
		d := c.judge.JudgeAt(frac, canarySamples, controlSamples, baseline)
		r.res.Judgements++
		elapsed := to.Sub(bakeFrom)
		c.em.emit(cctx, Event{Version: r.ch.Version, Step: StepJudge, Attempt: k + 1, Duration: elapsed, Decision: &d,
			Message: fmt.Sprintf("interval %d: %s: %s", k+1, d.Outcome, d.Reason)})
		if wi == 0 {
			r.save(Checkpoint{Version: r.ch.Version, Phase: PhaseBake, BakeFrom: bakeFrom, Baseline: baseline})
			r.res.Samples = append(append(r.res.Samples[:0:0], canarySamples...), controlSamples...)
		}
		if d.Outcome == judge.Fail && d.Guard != "" {
			return d
		}
		if wi == 0 {
			if pd, ok := r.predictedFailure(cctx, d, k+1); ok {
				return pd
			}
		}
		cmds := r.commands(cctx)
		if cmds.Abort != nil {
			r.aborted = cmds.Abort
			return d
		}
		if pn := cmds.PromoteNow; pn != nil && (pn.Wave == wi || pn.Wave == WatchWave && wi == len(r.waves)) && cmds.Paused == nil {
			r.promotedNow = true
			d.Reason = fmt.Sprintf("bake ended early after %s by promote-now (%s): %s", observed, pn, d.Reason)
			c.em.emit(cctx, Event{Version: r.ch.Version, Step: StepOperator, Decision: &d, Message: d.Reason})
			return d
		}
		if d.Outcome == judge.Fail {
			fails++
			// Past max_bake one failing interval decides, but not in a
			// paused bake, which may run far past it: there the failure
			// must be confirmed as in any bake.
			if fails >= c.cfg.ConsecutiveFails || observed >= maxBake && cmds.Paused == nil {
				return d
			}
			c.em.emit(cctx, Event{Version: r.ch.Version, Step: StepJudge, Attempt: k + 1,
				Message: fmt.Sprintf("failing interval %d of %d needed in a row: baking on to confirm", fails, c.cfg.ConsecutiveFails)})
			continue
		}
		fails = 0
		if cmds.Paused != nil {
			// A paused bake goes on sampling and judging, and only a Fail
			// ends it; the rollout waits for a resume.
			continue
		}
		if observed >= bake && d.Outcome == judge.Pass {
			return d
		}
		if observed >= maxBake {
			// Too little data (an idle fleet) is no evidence of harm.
			d.Outcome = judge.Extend
			d.Reason = fmt.Sprintf("not enough data after max_bake %s: %s", maxBake, d.Reason)
			return d
		}
	}
}

// GuardPredictedFailure is the Decision.Guard of a canary rolled back by
// the live re-prediction.
const GuardPredictedFailure = "predicted_failure"

// predictedFailure re-scores the change after judged interval k and, when
// the re-prediction calls for a rollback, returns d turned into that
// verdict. A re-prediction that fails is logged as an event and ignored:
// the judge still decides.
func (r *run) predictedFailure(ctx context.Context, d judge.Decision, k int) (judge.Decision, bool) {
	below := r.c.rbCfg.RollbackThreshold()
	if r.repredict == nil || below <= 0 {
		return d, false
	}
	p, err := r.repredict(ctx, d)
	if err != nil {
		r.c.em.emit(ctx, Event{Version: r.ch.Version, Step: StepJudge, Attempt: k, Message: "live re-prediction failed: " + err.Error()})
		return d, false
	}
	if k == 1 || math.Abs(p.Confidence-r.lastLive) >= 0.01 {
		r.lastLive = p.Confidence
		r.c.em.emit(ctx, Event{Version: r.ch.Version, Step: StepJudge, Attempt: k,
			Message: fmt.Sprintf("live re-prediction %.3f (before the bake %.3f, rollback below %.2f)", p.Confidence, p.Prior, below)})
	}
	if !p.Predicts(below) {
		return d, false
	}
	d.Outcome, d.Guard = judge.Fail, GuardPredictedFailure
	d.Reason = fmt.Sprintf("predicted failure: the live re-prediction is %.3f (%.3f before the bake), below rollback_below %.2f", p.Confidence, p.Prior, below)
	if p.Why != "" {
		d.Reason += ": " + p.Why
	}
	return d, true
}

// rollback reverts the change on every instance of the waves that may
// hold it (the goose tables decide; instances without it are no-ops), the
// newest wave first.
func (r *run) rollback(ctx context.Context, reason string) error {
	c := r.c
	waves := make([]Wave, 0, len(r.waves))
	for i := len(r.waves) - 1; i >= 0; i-- {
		waves = append(waves, r.waves[i])
	}
	if err := r.rollbackWaves(ctx, waves, reason); err != nil {
		return err
	}
	if !r.res.CanaryApplied.IsZero() {
		r.res.TimeToRollback = time.Since(r.res.CanaryApplied)
	}
	r.res.Status, r.res.Reason = StatusRolledBack, reason
	r.save(Checkpoint{Version: r.ch.Version, Phase: PhaseDone, Reason: reason})
	c.em.emit(ctx, Event{Version: r.ch.Version, Wave: -1, Step: StepDone, Duration: r.res.TimeToRollback, Message: "rolled back: " + reason})
	return nil
}

// rollbackWaves rolls the change back on the instances of waves that hold
// it, wave after wave in the order given, each at its own concurrency.
func (r *run) rollbackWaves(ctx context.Context, waves []Wave, reason string) error {
	c := r.c
	for _, w := range waves {
		states := c.states(ctx, w.Instances, r.ch.Version, w.Concurrency)
		var held []Instance
		for i, s := range states {
			if s.Applied || s.Err != nil {
				held = append(held, w.Instances[i])
			}
		}
		errs := forEach(withWave(ctx, w.Index, w.Name), held, w.Concurrency, func(ctx context.Context, in Instance) error {
			rr, err := c.rollbacker.Rollback(ctx, in, r.ch, reason)
			return r.record(in.Name, err, func(ir *InstanceResult) { ir.Rollback = rr })
		})
		if len(errs) > 0 {
			r.res.Status, r.res.Reason = StatusFailed, "rollback failed: "+reason
			first := errs[sortedNames(errs)[0]]
			return &PartialError{Version: r.ch.Version, Op: "rollback", Instances: c.states(ctx, r.all(), r.ch.Version, r.waves[0].Concurrency), Err: first}
		}
	}
	return nil
}

// promote takes the change through the waves after the canary, from cp's
// wave on. Each wave samples its pre-change baseline (with its reference
// instances, see reference), is applied, and bakes: it is judged against
// the instances not yet migrated, when any are left (else against the most
// recently migrated ones), and against its own baseline scaled by their
// drift. A failing wave acts as canary.on_wave_failure says; too little
// data is no evidence of harm, and the canary passed, so the next wave
// follows. A resumed run takes the wave's baseline and, once it was
// applied, its bake start back from cp.
func (r *run) promote(ctx context.Context, cp Checkpoint) error {
	c := r.c
	bake, maxBake := r.bakes()
	if c.cfg.WaveBake > 0 {
		bake, maxBake = c.cfg.WaveBake, 3*c.cfg.WaveBake
	}
	for wi := max(cp.Wave, 1); wi < len(r.waves); wi++ {
		w := r.waves[wi]
		wctx := withWave(ctx, wi, w.Name)
		rest := r.reference(wi)
		var baseline []judge.Sample
		var bakeFrom time.Time
		if cp.Wave == wi {
			baseline, bakeFrom = cp.Baseline, cp.BakeFrom
		}
		members := r.members(wi)
		if bakeFrom.IsZero() {
			if err := r.hold(wctx, wi); err != nil {
				return r.held(ctx, err)
			}
			members = r.included(wctx, w.Instances)
			if len(members) == 0 {
				c.em.emit(wctx, Event{Version: r.ch.Version, Step: StepPromote, Message: fmt.Sprintf("wave %d (%s): every instance is excluded; nothing to apply", wi, w.Name)})
				continue
			}
			r.save(Checkpoint{Version: r.ch.Version, Phase: PhasePromote, Wave: wi, Baseline: baseline})
			if err := r.preflight(ctx, wi, members); err != nil {
				return err
			}
			if baseline == nil {
				judged := r.judged(members)
				c.em.emit(wctx, Event{Version: r.ch.Version, Step: StepBaseline, Message: fmt.Sprintf("wave %d (%s): sampling KPIs on %d of its %d instance(s) and %d reference instance(s) for %s before the change",
					wi, w.Name, len(judged), len(members), len(rest), c.cfg.Baseline)})
				baseline = r.sample(wctx, append(append([]Instance{}, judged...), rest...), time.Now(), c.cfg.Baseline)
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("rollout %d interrupted while sampling the baseline of wave %d: %w", r.ch.Version, wi, err)
				}
				r.save(Checkpoint{Version: r.ch.Version, Phase: PhasePromote, Wave: wi, Baseline: baseline})
			}
			// A pause or an exclusion given during the baseline holds too.
			if err := r.hold(wctx, wi); err != nil {
				return r.held(ctx, err)
			}
			members = r.included(wctx, members)
			if len(members) == 0 {
				c.em.emit(wctx, Event{Version: r.ch.Version, Step: StepPromote, Message: fmt.Sprintf("wave %d (%s): every instance is excluded; nothing to apply", wi, w.Name)})
				continue
			}
			start := time.Now()
			c.em.emit(wctx, Event{Version: r.ch.Version, Step: StepPromote, Message: fmt.Sprintf("wave %d (%s): %d instance(s), %d at a time", wi, w.Name, len(members), w.Concurrency)})
			prog := newProgress(wi, w.Name, len(members), r.reportProgress(wctx, func() Checkpoint {
				return Checkpoint{Version: r.ch.Version, Phase: PhasePromote, Wave: wi, Baseline: baseline}
			}))
			errs := forEach(wctx, members, w.Concurrency, func(ctx context.Context, in Instance) error {
				sr, err := c.applier.Apply(ctx, in, r.ch)
				prog.done(err)
				return r.record(in.Name, err, func(ir *InstanceResult) { ir.Apply = sr })
			})
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("rollout %d interrupted while applying wave %d: %w", r.ch.Version, wi, err)
			}
			if len(errs) > 0 {
				first := errs[sortedNames(errs)[0]]
				r.res.Status = StatusFailed
				r.res.Reason = fmt.Sprintf("wave %d (%s) failed on %s", wi, w.Name, strings.Join(sortedNames(errs), ", "))
				return &PartialError{Version: r.ch.Version, Op: "rollout", Instances: c.states(ctx, r.all(), r.ch.Version, w.Concurrency), Err: first}
			}
			c.em.emit(wctx, Event{Version: r.ch.Version, Step: StepApplied, Duration: time.Since(start), Message: fmt.Sprintf("wave %d (%s) applied; baking %s", wi, w.Name, bake)})
			bakeFrom = time.Now()
			r.save(Checkpoint{Version: r.ch.Version, Phase: PhasePromote, Wave: wi, Baseline: baseline, BakeFrom: bakeFrom})
		}
		r.lastBaseline = baseline
		r.promotedNow = false
		d := r.bakeWave(ctx, wi, w.Name, r.judged(members), rest, baseline, bakeFrom, bake, maxBake)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("rollout %d interrupted while baking wave %d: %w", r.ch.Version, wi, err)
		}
		if r.aborted != nil {
			return r.abort(ctx, r.aborted)
		}
		r.res.Waves = append(r.res.Waves, WaveDecision{Wave: wi, Name: w.Name, Decision: d})
		switch d.Outcome {
		case judge.Fail:
			return r.waveFailed(ctx, wi, d, fmt.Sprintf("wave %d (%s)", wi, w.Name))
		case judge.Extend:
			c.em.emit(wctx, Event{Version: r.ch.Version, Step: StepJudge, Decision: &d,
				Message: fmt.Sprintf("wave %d (%s): not enough data to judge (%s); the canary passed, so the rollout goes on", wi, w.Name, d.Reason)})
		default:
			c.em.emit(wctx, Event{Version: r.ch.Version, Step: StepJudge, Decision: &d, Message: fmt.Sprintf("wave %d (%s) passed: %s", wi, w.Name, d.Reason)})
		}
	}
	return r.watch(ctx, Checkpoint{Version: r.ch.Version, Phase: PhaseWatch, Baseline: r.watchBaseline()})
}

// watchBaseline is what the production watch compares with: the last
// wave's own pre-change samples (its reference held the change already),
// or, on a fleet of one wave, the canary's and its control's.
func (r *run) watchBaseline() []judge.Sample {
	if len(r.waves) == 1 || r.lastBaseline == nil {
		return r.baseline
	}
	last := map[string]bool{}
	for _, in := range r.waves[len(r.waves)-1].Instances {
		last[in.Name] = true
	}
	var out []judge.Sample
	for _, s := range r.lastBaseline {
		if last[s.Instance] {
			out = append(out, s)
		}
	}
	return out
}

// watch keeps production watched for canary.watch after the last wave
// (from cp, a PhaseWatch checkpoint; its BakeFrom is set once the watch
// started): the instances whose pre-change baseline cp.Baseline holds
// (see watchBaseline) are sampled and judged against it, with no other
// reference (every instance holds the change). A failing judgement acts as
// canary.on_wave_failure says; too little data is no evidence of harm.
func (r *run) watch(ctx context.Context, cp Checkpoint) error {
	c := r.c
	wi := len(r.waves)
	watched := r.instancesOf(cp.Baseline)
	if d := c.cfg.Watch; d > 0 && len(watched) == 0 {
		c.em.emit(ctx, Event{Version: r.ch.Version, Wave: -1, Step: StepWatch,
			Message: "no pre-change baseline to watch production against (resumed without one): not watched"})
	} else if d > 0 {
		wctx := withWave(ctx, wi, "watch")
		if cp.BakeFrom.IsZero() {
			cp.BakeFrom = time.Now()
			r.save(cp)
		}
		c.em.emit(wctx, Event{Version: r.ch.Version, Step: StepWatch,
			Message: fmt.Sprintf("every wave passed; watching %d instance(s) for %s against their pre-change baseline", len(watched), d)})
		r.promotedNow = false
		// A failing last interval is confirmed as in any bake: the watch
		// may run on for consecutive_fails more intervals to see it again.
		confirm := time.Duration(c.cfg.ConsecutiveFails) * c.cfg.Interval
		dec := r.bakeWave(ctx, wi, "watch", r.included(wctx, watched), nil, cp.Baseline, cp.BakeFrom, d, d+confirm)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("rollout %d interrupted while watching production: %w", r.ch.Version, err)
		}
		if r.aborted != nil {
			return r.abort(ctx, r.aborted)
		}
		r.res.Watch = &dec
		if dec.Outcome == judge.Fail {
			return r.waveFailed(ctx, len(r.waves)-1, dec, "the production watch")
		}
		c.em.emit(wctx, Event{Version: r.ch.Version, Step: StepJudge, Decision: &dec, Message: fmt.Sprintf("production watch %s: %s", dec.Outcome, dec.Reason)})
	}
	r.res.Status = StatusPromoted
	if r.res.Decision != nil {
		r.res.Reason = "promoted: " + r.res.Decision.Reason
	} else {
		r.res.Reason = "promoted"
	}
	if ex := r.excluded(); len(ex) > 0 {
		r.res.Reason += fmt.Sprintf(" (excluded by an operator, without the change: %s)", strings.Join(ex, ", "))
	}
	if late := r.notCaughtUp(); len(late) > 0 {
		r.res.Reason += fmt.Sprintf(" (joined a wave already applied and not caught up, without the change: %s)", strings.Join(late, "; "))
	}
	r.save(Checkpoint{Version: r.ch.Version, Phase: PhaseDone, Wave: len(r.waves)})
	c.em.emit(ctx, Event{Version: r.ch.Version, Wave: -1, Step: StepDone, Message: r.res.Reason})
	return nil
}

// instancesOf returns the fleet's instances that samples were taken on, in
// wave order.
func (r *run) instancesOf(samples []judge.Sample) []Instance {
	names := map[string]bool{}
	for _, s := range samples {
		names[s.Instance] = true
	}
	var out []Instance
	for _, in := range r.all() {
		if names[in.Name] {
			out = append(out, in)
		}
	}
	return out
}

// judged is the part of a wave's members its judgement samples: all of
// them up to CanaryConfig.WaveSample, else that many spread evenly over
// the wave in its order (the same ones for the same members, so a resumed
// bake samples the instances its baseline did).
func (r *run) judged(members []Instance) []Instance {
	n := r.c.cfg.WaveSample
	if n <= 0 || len(members) <= n {
		return members
	}
	out := make([]Instance, n)
	for i := range out {
		out[i] = members[i*len(members)/n]
	}
	return out
}

// reference is what wave wi is judged against beside its own baseline:
// instances not yet migrated (the designated control first), or, for the
// last wave, the most recently migrated ones, which hold the change and
// passed. Either way the judge also scales the wave's baseline by the
// reference's drift between the baseline and the bake, as it does for the
// canary: a fleet-wide change of load is not the wave's doing. At most as
// many as the canary's control (or canary wave, whichever is larger).
func (r *run) reference(wi int) []Instance {
	n := max(len(r.control), len(r.waves[0].Instances))
	var out []Instance
	seen := map[string]bool{}
	add := func(in Instance) {
		if len(out) < n && !seen[in.Name] {
			seen[in.Name] = true
			out = append(out, in)
		}
	}
	later := map[string]bool{}
	for _, w := range r.waves[wi+1:] {
		for _, in := range w.Instances {
			later[in.Name] = true
		}
	}
	for _, in := range r.control {
		if later[in.Name] {
			add(in)
		}
	}
	for _, w := range r.waves[wi+1:] {
		for _, in := range w.Instances {
			add(in)
		}
	}
	if len(out) > 0 {
		return out
	}
	for i := wi - 1; i >= 0; i-- {
		for _, in := range r.waves[i].Instances {
			if r.inst(in.Name).Excluded == "" { // an excluded one lacks the change
				add(in)
			}
		}
	}
	return out
}

// all is every instance of every wave.
func (r *run) all() []Instance {
	var all []Instance
	for _, w := range r.waves {
		all = append(all, w.Instances...)
	}
	return all
}

// waveFailed acts on a failed judgement d of what (wave wi, or the
// production watch after it) as canary.on_wave_failure says.
func (r *run) waveFailed(ctx context.Context, wi int, d judge.Decision, what string) error {
	c, w := r.c, r.waves[wi]
	r.res.Decision, r.res.Decided = &d, time.Now()
	reason := fmt.Sprintf("%s failed its judgement: %s", what, d.Reason)
	c.em.emit(withWave(ctx, wi, w.Name), Event{Version: r.ch.Version, Step: StepJudge, Decision: &d, Message: reason})
	switch c.cfg.OnWaveFailure {
	case WaveFailureRollbackWave:
		if err := r.rollbackWaves(ctx, []Wave{w}, reason); err != nil {
			return err
		}
		reason += fmt.Sprintf(" (on_wave_failure: rollback_wave: wave %d rolled back; the earlier waves keep the change for a human)", wi)
	case WaveFailurePause:
		reason += " (on_wave_failure: pause: every instance is left as it is for a human)"
	default:
		r.save(Checkpoint{Version: r.ch.Version, Phase: PhaseRollback, Reason: reason})
		return r.rollback(ctx, reason)
	}
	r.res.Status, r.res.Reason = StatusFailed, reason
	return &PartialError{Version: r.ch.Version, Op: "wave judgement", Instances: c.states(ctx, r.all(), r.ch.Version, w.Concurrency), Err: errors.New(reason)}
}

// How long finish reads the goose tables of the instances whose state this
// run does not know: normally, and when the run was cancelled.
const (
	finishTimeout         = 30 * time.Second
	finishTimeoutStopping = 2 * time.Second
)

// finish records each instance's final goose state and the end time.
// Instances this run changed successfully are known; only the others (not
// touched, or failed) are read from their goose tables.
func (r *run) finish(ctx context.Context) {
	var unknown []Instance
	for _, w := range r.waves {
		for _, in := range w.Instances {
			ir := r.byName[in.Name]
			switch {
			case ir.Error != "":
				unknown = append(unknown, in)
			case ir.Rollback != nil:
				ir.Applied = false
			case ir.Apply != nil:
				ir.Applied = true
			default:
				unknown = append(unknown, in)
			}
		}
	}
	// The goose tables are read even after a cancel, for an exact result,
	// but briefly: a stopping daemon must not wait on a slow instance.
	limit := finishTimeout
	if ctx.Err() != nil {
		limit = finishTimeoutStopping
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
	defer cancel()
	for _, s := range r.c.states(ctx, unknown, r.ch.Version, max(r.waves[0].Concurrency, 10)) {
		r.byName[s.Instance].Applied = s.Applied && s.Err == nil
	}
	for _, w := range r.waves {
		for _, in := range w.Instances {
			r.res.Instances = append(r.res.Instances, *r.byName[in.Name])
		}
	}
	r.res.Finished = time.Now()
}
