package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc"
	"github.com/schemacanary/schemacanary/rollout"
)

// advance takes the head of the queue as far as it goes in this pass: one
// state at a time, each transition persisted before the side effect of the
// next state, until it waits, fails, or finishes (then the next change
// becomes the head).
func (r *Reconciler) advance(ctx context.Context, res *Result) error {
	for i := 0; i < r.o.maxSteps; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := r.store.Head(ctx)
		if err != nil || c == nil {
			return err
		}
		if err := r.predictAhead(ctx, c.Version); err != nil {
			r.o.log.Warn("predict ahead", "err", err)
		}
		moved, err := r.step(ctx, c)
		var wait *WaitError
		var stall *StallError
		switch {
		case errors.As(err, &wait):
			res.Waiting = wait.Error()
			return nil
		case errors.As(err, &stall):
			if _, terr := r.move(ctx, c, Move{To: StateFailed, Wave: c.Wave, Reason: stall.Err.Error(), Instances: partialHoldings(err)}); terr != nil {
				return terr
			}
			res.Transitions++
			r.flushQuiet(ctx, res)
			continue
		case err != nil:
			if ctx.Err() != nil {
				return err // shutdown or lost leadership: no state change
			}
			n, aerr := r.store.Attempt(ctx, c.Version, err.Error())
			if aerr != nil {
				return errors.Join(err, aerr)
			}
			if n >= r.o.maxAttempts && !c.State.Active() {
				if _, terr := r.move(ctx, c, Move{To: StateFailed, Wave: c.Wave, Reason: fmt.Sprintf("%d attempts failed: %v", n, err)}); terr != nil {
					return terr
				}
				res.Transitions++
				r.flushQuiet(ctx, res)
				continue
			}
			return fmt.Errorf("change %d in %s (attempt %d, retry in %s): %w", c.Version, c.State, n, retryDelay(n), err)
		}
		if !moved {
			return nil
		}
		res.Transitions++
		r.flushQuiet(ctx, res)
	}
	return nil
}

// predictAhead predicts discovered changes behind the head so their
// decision is visible early; they still roll out one at a time.
func (r *Reconciler) predictAhead(ctx context.Context, head int64) error {
	pend, err := r.store.Pending(ctx)
	if err != nil {
		return err
	}
	for _, c := range pend {
		if c.Version == head {
			continue
		}
		if _, err := r.stepPredict(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// move persists a transition and counts it.
func (r *Reconciler) move(ctx context.Context, c *ChangeRequest, m Move) (*Transition, error) {
	from := c.State
	t, err := r.store.Transition(ctx, c, m)
	if err != nil {
		return nil, err
	}
	r.o.log.Info("change moved", "change", c.Version, "from", from, "to", m.To, "wave", m.Wave, "reason", m.Reason)
	if m.To == StateDone || m.To == StateRolledBack || m.To == StateFailed {
		if r.o.metrics != nil {
			r.o.metrics.outcomes.WithLabelValues(string(m.To)).Inc()
		}
		if r.o.onOutcome != nil {
			r.o.onOutcome()
		}
	}
	return t, nil
}

// step runs the action of c's state and persists the resulting transition.
// It reports whether c moved.
func (r *Reconciler) step(ctx context.Context, c *ChangeRequest) (bool, error) {
	if !c.State.Active() {
		if by, err := r.store.Skipper(ctx, c.Version); err != nil {
			return false, err
		} else if by != "" && CanMove(c.State, StateSkipped) == nil {
			_, err := r.move(ctx, c, Move{To: StateSkipped, Wave: c.Wave, Reason: "skipped by " + by, SkippedBy: by})
			return err == nil, err
		}
	}
	switch c.State {
	case StateDiscovered:
		return r.stepPredict(ctx, c)
	case StatePredicted:
		return r.stepDecide(ctx, c)
	case StateAwaitingApproval:
		return r.stepApproval(ctx, c)
	case StateApproved:
		_, err := r.move(ctx, c, Move{To: StateCanary, Wave: 0, Reason: "canary wave starts"})
		return err == nil, err
	case StateCanary:
		return r.stepApply(ctx, c, 0)
	case StateBaking:
		return r.stepBake(ctx, c)
	case StatePromoting:
		return r.stepApply(ctx, c, c.Wave)
	case StateRollingBack:
		return r.stepRollback(ctx, c)
	case StateRolledBack, StateFailed:
		return r.stepHeld(ctx, c)
	}
	return false, fmt.Errorf("change %d: unexpected state %q at the queue head", c.Version, c.State)
}

func (r *Reconciler) stepPredict(ctx context.Context, c *ChangeRequest) (bool, error) {
	mig, err := gitsrc.ParseMigration(c.Path, c.Source)
	if err != nil {
		return false, &StallError{Version: c.Version, Err: err}
	}
	at := c.MergedAt
	if at.IsZero() {
		at = time.Now()
	}
	a, err := r.assess(ctx, mig, c.Author, at)
	if err != nil {
		return false, err
	}
	if err := r.store.SetTables(ctx, c.Version, a.Report.Tables); err != nil {
		return false, err
	}
	if _, err := r.store.SavePrediction(ctx, PredictionRecord{Version: c.Version, SHA256: c.SHA256,
		Confidence: a.Prediction.Confidence, ModelVersion: a.Prediction.ModelVersion,
		Reasons: a.Prediction.Reasons, Features: a.Features}); err != nil {
		return false, err
	}
	conf := a.Prediction.Confidence
	_, err = r.move(ctx, c, Move{To: StatePredicted, Confidence: &conf,
		Reason: fmt.Sprintf("confidence %.2f (model %s)", conf, a.Prediction.ModelVersion)})
	return err == nil, err
}

func (r *Reconciler) stepDecide(ctx context.Context, c *ChangeRequest) (bool, error) {
	conf := 0.0
	if c.Confidence != nil {
		conf = *c.Confidence
	}
	m := Move{To: StateAwaitingApproval, Reason: fmt.Sprintf("confidence %.2f < threshold %.2f", conf, r.o.threshold)}
	if conf >= r.o.threshold {
		m = Move{To: StateApproved, Reason: fmt.Sprintf("confidence %.2f ≥ threshold %.2f", conf, r.o.threshold)}
	}
	_, err := r.move(ctx, c, m)
	return err == nil, err
}

func (r *Reconciler) stepApproval(ctx context.Context, c *ChangeRequest) (bool, error) {
	if r.forge != nil {
		aps, err := r.forge.Approvals(ctx, gitsrc.ChangeRef{Version: c.Version, Path: c.Path, PR: c.PR, MergeCommit: c.Commit})
		if err != nil {
			return false, fmt.Errorf("approvals: %w", err)
		}
		for _, a := range aps {
			if a.Allowed {
				if err := r.store.Approve(ctx, c.Version, a.By, "forge"); err != nil {
					return false, err
				}
			}
		}
	}
	by, err := r.store.Approver(ctx, c.Version)
	if err != nil {
		return false, err
	}
	if by == "" {
		return false, &WaitError{Version: c.Version, For: "an approval"}
	}
	_, err = r.move(ctx, c, Move{To: StateApproved, Reason: "approved by " + by, ApprovedBy: by})
	return err == nil, err
}

func (r *Reconciler) stepApply(ctx context.Context, c *ChangeRequest, wave int) (bool, error) {
	ch, err := r.rolloutChange(ctx, c)
	if err != nil {
		return false, err
	}
	h, err := r.roll.ApplyWave(ctx, ch, wave)
	if len(h) > 0 {
		if serr := r.store.SetInstances(ctx, c.Version, h); serr != nil {
			return false, errors.Join(err, serr)
		}
		c.Instances = h
	}
	if err != nil {
		if ctx.Err() != nil {
			return false, err
		}
		return r.rolloutFailed(ctx, c, wave, "apply", h, err)
	}
	if r.o.metrics != nil {
		r.o.metrics.rollouts.WithLabelValues(waveLabel(wave), "applied").Inc()
	}
	next := Move{To: StateBaking, Wave: 0, Reason: "applied on the canary wave", Instances: h}
	if wave > 0 {
		next = Move{To: StateDone, Wave: wave, Reason: "applied on every wave", Instances: h}
		if wave+1 < r.roll.Waves() {
			next = Move{To: StatePromoting, Wave: wave + 1, Reason: fmt.Sprintf("wave %d applied", wave), Instances: h}
		}
	}
	_, err = r.move(ctx, c, next)
	return err == nil, err
}

// rolloutFailed decides what a failed apply leads to: a rollback, or (an
// instance is down and the policy says hold) failed with the versions.
func (r *Reconciler) rolloutFailed(ctx context.Context, c *ChangeRequest, wave int, step string, h Holdings, err error) (bool, error) {
	perr := &PartialRolloutError{Version: c.Version, Step: fmt.Sprintf("%s wave %d", step, wave), Holdings: h, Err: err}
	if r.o.metrics != nil {
		r.o.metrics.rollouts.WithLabelValues(waveLabel(wave), "failed").Inc()
	}
	to := StateRollingBack
	if len(h.Down()) > 0 && r.o.onDown == OnDownHold {
		to = StateFailed
	}
	_, merr := r.move(ctx, c, Move{To: to, Wave: c.Wave, Reason: perr.Error(), Instances: h})
	return merr == nil, merr
}

func (r *Reconciler) stepBake(ctx context.Context, c *ChangeRequest) (bool, error) {
	ch, err := r.rolloutChange(ctx, c)
	if err != nil {
		return false, err
	}
	br, err := r.roll.Bake(ctx, ch)
	if err != nil {
		return false, fmt.Errorf("bake: %w", err)
	}
	r.recordBake(ctx, c, br)
	d := br.Decision
	if d.Outcome != rollout.Pass {
		reason := fmt.Sprintf("judge: %s: %s", d.Outcome, d.Reason)
		_, err := r.move(ctx, c, Move{To: StateRollingBack, Wave: 0, Reason: reason})
		return err == nil, err
	}
	next := Move{To: StateDone, Wave: 0, Reason: "canary passed: " + d.Reason}
	if r.roll.Waves() > 1 {
		next = Move{To: StatePromoting, Wave: 1, Reason: "canary passed: " + d.Reason}
	}
	_, err = r.move(ctx, c, next)
	return err == nil, err
}

// recordBake stores the bake's samples and decision (best effort: history,
// not state).
func (r *Reconciler) recordBake(ctx context.Context, c *ChangeRequest, br *BakeResult) {
	samples := make([]KPISample, 0, len(br.Samples))
	for _, s := range br.Samples {
		samples = append(samples, KPISample{Version: c.Version, Instance: s.Instance, KPI: s.KPI, Role: br.Roles[s.Instance], Value: s.Value, At: s.At})
	}
	if err := r.store.AddKPISamples(ctx, samples); err != nil {
		r.o.log.Warn("store KPI samples", "change", c.Version, "err", err)
	}
	if _, err := r.store.RecordEvent(ctx, Event{Version: c.Version, Instance: "*", Step: "judge", Outcome: br.Decision.Outcome.String(),
		Detail: map[string]any{"decision": newJudgeRecord(br.Decision)}}); err != nil {
		r.o.log.Warn("store judge decision", "change", c.Version, "err", err)
	}
	if r.o.metrics != nil {
		for _, v := range br.Decision.Verdicts {
			r.o.metrics.pvalues.WithLabelValues(v.KPI).Observe(v.PValue)
		}
	}
}

func (r *Reconciler) stepRollback(ctx context.Context, c *ChangeRequest) (bool, error) {
	if err := r.store.RecordRollback(ctx, c.Version, c.Reason, c.Instances, false); err != nil {
		return false, err
	}
	ch, err := r.rolloutChange(ctx, c)
	if err != nil {
		return false, err
	}
	h, err := r.roll.Rollback(ctx, ch, c.Reason)
	if len(h) > 0 {
		if serr := r.store.SetInstances(ctx, c.Version, h); serr != nil {
			return false, errors.Join(err, serr)
		}
		c.Instances = h
	}
	if err != nil {
		if ctx.Err() != nil {
			return false, err
		}
		if len(h.Down()) > 0 {
			// Reachable instances are rolled back; the down ones are for a human.
			return false, &StallError{Version: c.Version, Err: &PartialRolloutError{Version: c.Version, Step: "rollback", Holdings: h, Err: err}}
		}
		return false, fmt.Errorf("rollback: %w", err)
	}
	if err := r.store.RecordRollback(ctx, c.Version, c.Reason, h, true); err != nil {
		return false, err
	}
	if r.o.metrics != nil {
		r.o.metrics.rollbacks.WithLabelValues("rolled_back").Inc()
	}
	_, err = r.move(ctx, c, Move{To: StateRolledBack, Wave: c.Wave, Reason: c.Reason, Instances: h})
	return err == nil, err
}

// stepHeld checks whether a held change is released: its revert merged.
func (r *Reconciler) stepHeld(ctx context.Context, c *ChangeRequest) (bool, error) {
	if r.forge != nil && c.RevertBranch != "" {
		merged, err := r.forge.RevertMerged(ctx, gitsrc.ChangeRef{Version: c.Version, Path: c.Path, PR: c.PR, MergeCommit: c.Commit})
		if err != nil {
			return false, fmt.Errorf("revert merged: %w", err)
		}
		if merged && CanMove(c.State, StateReverted) == nil {
			_, err := r.move(ctx, c, Move{To: StateReverted, Wave: c.Wave, Reason: "revert merged"})
			return err == nil, err
		}
	}
	return false, &WaitError{Version: c.Version, For: fmt.Sprintf("its revert to merge or `schemacanary skip %d` (%s)", c.Version, c.State)}
}

// partialHoldings extracts the holdings of a PartialRolloutError in err.
func partialHoldings(err error) map[string]int64 {
	var p *PartialRolloutError
	if errors.As(err, &p) {
		return p.Holdings
	}
	return nil
}

func waveLabel(w int) string {
	if w == 0 {
		return "canary"
	}
	return fmt.Sprintf("wave%d", w)
}
