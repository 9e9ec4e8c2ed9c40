package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/rollout"
)

// stepRollout runs (or resumes) the rollout of the head change. The roller
// reports every phase change through save before doing it; save persists
// the matching transition (canary → baking → promoting(k), or
// rolling_back) with the checkpoint, so a killed daemon resumes from the
// last persisted phase. The end of the run decides done, rolled_back or
// failed.
func (r *Reconciler) stepRollout(ctx context.Context, c *change.Request) (bool, error) {
	ch, a, err := r.rolloutChange(ctx, c)
	if err != nil {
		return false, err
	}
	resume, err := resumeOf(c)
	if err != nil {
		return false, &StallError{Version: c.Version, Err: err}
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	moved := false
	save := func(cp rollout.Checkpoint) {
		if runCtx.Err() != nil {
			// Interrupted (shutdown, lost leadership, failed persist): the
			// runner's reaction to the cancel is not a decision.
			return
		}
		m, err := r.saveCheckpoint(runCtx, c, cp)
		moved = moved || m
		if err != nil {
			cancel(fmt.Errorf("persist checkpoint %s: %w", cp.Phase, err))
		}
	}
	res, runErr := r.roll.Run(runCtx, ch, resume, save, r.repredictor(a), storeControls{r.store})
	if ctx.Err() != nil {
		return moved, ctx.Err()
	}
	if cause := context.Cause(runCtx); cause != nil {
		return moved, cause
	}
	r.recordResult(ctx, c, res)
	m, err := r.finishRollout(ctx, c, ch, res, runErr)
	return moved || m, err
}

// resumeOf is the checkpoint to resume c's rollout from, derived from the
// state when none was stored.
func resumeOf(c *change.Request) (*rollout.Checkpoint, error) {
	if len(c.Checkpoint) > 0 {
		var cp rollout.Checkpoint
		if err := json.Unmarshal(c.Checkpoint, &cp); err != nil {
			return nil, fmt.Errorf("stored checkpoint of %d: %w", c.Version, err)
		}
		if cp.Version == c.Version {
			if c.State == change.StateRollingBack && cp.Phase != rollout.PhaseRollback {
				cp = rollout.Checkpoint{Version: c.Version, Phase: rollout.PhaseRollback, Reason: c.Reason}
			}
			if cp.Phase == rollout.PhaseBake || (cp.Phase == rollout.PhasePromote || cp.Phase == rollout.PhaseWatch) && !cp.BakeFrom.IsZero() {
				// The samples of an interrupted bake (the canary's, a
				// wave's or the production watch's) died with the process;
				// bake afresh rather than judge a shortened (or, after a
				// long outage, already expired) bake.
				cp.BakeFrom = time.Now()
			}
			return &cp, nil
		}
	}
	switch c.State {
	case change.StateBaking:
		return &rollout.Checkpoint{Version: c.Version, Phase: rollout.PhaseBake, BakeFrom: time.Now()}, nil
	case change.StatePromoting:
		return &rollout.Checkpoint{Version: c.Version, Phase: rollout.PhasePromote, Wave: c.Wave}, nil
	case change.StateWatching:
		return &rollout.Checkpoint{Version: c.Version, Phase: rollout.PhaseWatch}, nil
	case change.StateRollingBack:
		return &rollout.Checkpoint{Version: c.Version, Phase: rollout.PhaseRollback, Reason: c.Reason}, nil
	}
	return nil, nil
}

// saveCheckpoint persists cp, with the transition it implies. It reports
// whether c moved.
func (r *Reconciler) saveCheckpoint(ctx context.Context, c *change.Request, cp rollout.Checkpoint) (bool, error) {
	b, err := json.Marshal(cp)
	if err != nil {
		return false, err
	}
	var m *change.Move
	switch cp.Phase {
	case rollout.PhaseBake:
		if c.State == change.StateCanary {
			m = &change.Move{To: change.StateBaking, Reason: "applied on the canary wave; baking"}
		}
	case rollout.PhasePromote:
		if c.State == change.StateCanary || c.State == change.StateBaking || (c.State == change.StatePromoting && c.Wave != cp.Wave) {
			m = &change.Move{To: change.StatePromoting, Wave: cp.Wave, Reason: fmt.Sprintf("promoting wave %d", cp.Wave)}
			if c.State == change.StateBaking {
				m.Reason = fmt.Sprintf("canary passed; promoting wave %d", cp.Wave)
			}
		}
	case rollout.PhaseWatch:
		if c.State != change.StateWatching {
			m = &change.Move{To: change.StateWatching, Wave: c.Wave, Reason: "every wave passed; watching production against the pre-change baseline"}
		}
	case rollout.PhaseRollback:
		if c.State != change.StateRollingBack {
			m = &change.Move{To: change.StateRollingBack, Wave: c.Wave, Reason: cp.Reason}
		}
	case rollout.PhaseInconclusive:
		if c.State != change.StateInconclusive {
			m = &change.Move{To: change.StateInconclusive, Wave: c.Wave, Reason: r.inconclusiveReason(c, cp.Reason)}
		}
	}
	if m == nil {
		return false, r.store.SaveCheckpoint(ctx, c.Version, b)
	}
	m.Checkpoint = b
	if m.To == change.StateRollingBack {
		if err := r.store.RecordRollback(ctx, c.Version, cp.Reason, c.Instances, false); err != nil {
			return false, err
		}
	}
	if _, err := r.move(ctx, c, *m); err != nil {
		return false, err
	}
	r.flushQuiet(ctx, &Result{})
	return true, nil
}

// finishRollout turns the end of a run into the change's next state.
func (r *Reconciler) finishRollout(ctx context.Context, c *change.Request, ch *rollout.Plan, res *rollout.Result, runErr error) (bool, error) {
	h := resultHoldings(ch.Version, res)
	var pe *rollout.PartialError
	if errors.As(runErr, &pe) {
		h = HoldingsOf(ch.Version, pe.Instances)
		reason := pe.Error()
		var pfe *rollout.PreflightError
		down := errors.As(runErr, &pfe) && pfe.Check == rollout.PreflightUnreachable
		if down && r.o.onDown == OnDownPause {
			// The wave waits for its target: the change keeps its state
			// and every pass runs the pre-flight again.
			r.o.log.Warn("rollout paused: a target of the next wave is unreachable", "change", c.Version, "instance", pfe.Instance, "reason", res.Reason)
			r.event(ctx, change.Event{Version: c.Version, Instance: pfe.Instance, Step: "preflight paused", Outcome: "paused",
				Detail: change.EventDetail{Error: res.Reason}})
			return false, r.store.SetInstances(ctx, c.Version, h)
		}
		if r.o.metrics != nil {
			r.o.metrics.rollouts.WithLabelValues(pe.Op, "partial").Inc()
		}
		if (pe.Op == "rollout" || down) && r.o.onDown == OnDownRollback && c.State != change.StateRollingBack {
			cp, err := json.Marshal(rollout.Checkpoint{Version: ch.Version, Phase: rollout.PhaseRollback, Reason: reason})
			if err != nil {
				return false, fmt.Errorf("change %d: rollback checkpoint: %w", c.Version, err)
			}
			if err := r.store.RecordRollback(ctx, c.Version, reason, h, false); err != nil {
				return false, err
			}
			_, err = r.move(ctx, c, change.Move{To: change.StateRollingBack, Wave: c.Wave, Reason: reason, Instances: h, Checkpoint: cp})
			return err == nil, err
		}
		_, err := r.move(ctx, c, change.Move{To: change.StateFailed, Wave: c.Wave, Reason: reason, Instances: h})
		return err == nil, err
	}
	if res == nil {
		if runErr == nil {
			runErr = errors.New("roller returned no result")
		}
		return false, fmt.Errorf("rollout: %w", runErr)
	}
	switch res.Status {
	case rollout.StatusInconclusive:
		if c.State == change.StateInconclusive {
			return false, r.store.SetInstances(ctx, c.Version, h)
		}
		_, err := r.move(ctx, c, change.Move{To: change.StateInconclusive, Wave: c.Wave, Reason: r.inconclusiveReason(c, res.Reason), Instances: h})
		return err == nil, err
	case rollout.StatusPromoted:
		if r.o.metrics != nil {
			r.o.metrics.rollouts.WithLabelValues("fleet", "promoted").Inc()
		}
		_, err := r.move(ctx, c, change.Move{To: change.StateDone, Wave: c.Wave, Reason: res.Reason, Instances: h})
		return err == nil, err
	case rollout.StatusRolledBack, rollout.StatusAborted:
		reason := res.Reason
		if runErr != nil {
			reason = fmt.Sprintf("%s (%v)", reason, runErr)
		}
		if c.State != change.StateRollingBack {
			if _, err := r.move(ctx, c, change.Move{To: change.StateRollingBack, Wave: c.Wave, Reason: reason, Instances: h}); err != nil {
				return false, err
			}
		}
		if err := r.store.RecordRollback(ctx, c.Version, reason, h, true); err != nil {
			return true, err
		}
		if r.o.metrics != nil {
			r.o.metrics.rollbacks.WithLabelValues(string(res.Status)).Inc()
		}
		_, err := r.move(ctx, c, change.Move{To: change.StateRolledBack, Wave: c.Wave, Reason: reason, Instances: h})
		return true, err
	default:
		reason := res.Reason
		if runErr != nil {
			reason = fmt.Sprintf("%s: %v", reason, runErr)
		}
		_, err := r.move(ctx, c, change.Move{To: change.StateFailed, Wave: c.Wave, Reason: reason, Instances: h})
		return err == nil, err
	}
}

// resultHoldings reads the per-instance outcome of a run.
func resultHoldings(version int64, res *rollout.Result) Holdings {
	h := Holdings{}
	if res == nil {
		return h
	}
	for _, in := range res.Instances {
		switch {
		case in.Applied:
			h[in.Name] = version
		case in.CatchUp != "":
			h[in.Name] = CatchUpFailed // joined a wave already applied, not caught up
		default:
			h[in.Name] = 0
		}
	}
	return h
}

// recordResult keeps the run's history: per-instance events (keyed by
// change, instance and step), KPI samples and the judge's decision. Best
// effort: it is history, not state.
func (r *Reconciler) recordResult(ctx context.Context, c *change.Request, res *rollout.Result) {
	if res == nil {
		return
	}
	for _, in := range res.Instances {
		switch {
		case in.CatchUp != "" && in.Applied:
			// It joined a wave the run had already applied and was
			// brought up to the change.
			r.event(ctx, change.Event{Version: c.Version, Instance: in.Name, Step: "catch-up", Outcome: "ok"})
		case in.CatchUp != "":
			r.event(ctx, change.Event{Version: c.Version, Instance: in.Name, Step: "catch-up failed", Outcome: "failed",
				Detail: change.EventDetail{Error: in.CatchUp}})
		case in.Apply != nil:
			out := "ok"
			if in.Error != "" && !in.Applied && in.Rollback == nil {
				out = "failed"
			}
			r.event(ctx, change.Event{Version: c.Version, Instance: in.Name, Step: fmt.Sprintf("apply wave %d", in.Wave), Outcome: out,
				Detail: change.EventDetail{Error: in.Error}})
		}
		if in.Rollback != nil {
			out := "ok"
			if in.Applied {
				out = "failed"
			}
			r.event(ctx, change.Event{Version: c.Version, Instance: in.Name, Step: "rollback", Outcome: out, Detail: change.EventDetail{Error: in.Error}})
		}
	}
	roles := map[string]string{}
	for _, in := range res.Instances {
		switch {
		case in.Control:
			roles[in.Name] = "control"
		case in.Wave == 0:
			roles[in.Name] = "canary"
		}
	}
	samples := make([]change.KPISample, 0, len(res.Samples)+len(res.Baseline))
	for _, s := range res.Samples {
		samples = append(samples, change.KPISample{Version: c.Version, Instance: s.Instance, KPI: s.KPI, Role: roles[s.Instance], Value: s.Value, At: s.At})
	}
	for _, s := range res.Baseline {
		samples = append(samples, change.KPISample{Version: c.Version, Instance: s.Instance, KPI: s.KPI, Role: "baseline", Value: s.Value, At: s.At})
	}
	if err := r.store.AddKPISamples(ctx, samples); err != nil {
		r.o.log.Warn("store KPI samples", "change", c.Version, "err", err)
	}
	for _, wd := range res.Waves {
		// One judge record per wave and outcome.
		r.event(ctx, change.Event{Version: c.Version, Instance: "*", Step: fmt.Sprintf("judge wave%d %s", wd.Wave, wd.Decision.Outcome),
			Outcome: wd.Decision.Outcome.String(), Detail: change.EventDetail{Decision: change.NewJudgeRecord(wd.Decision)}})
	}
	if res.Watch != nil {
		r.event(ctx, change.Event{Version: c.Version, Instance: "*", Step: "judge watch " + res.Watch.Outcome.String(),
			Outcome: res.Watch.Outcome.String(), Detail: change.EventDetail{Decision: change.NewJudgeRecord(*res.Watch)}})
	}
	if res.Decision != nil {
		// One judge record per run outcome; a resumed run may judge again.
		step := "judge " + res.Decision.Outcome.String()
		r.event(ctx, change.Event{Version: c.Version, Instance: "*", Step: step, Outcome: res.Decision.Outcome.String(),
			Detail: change.EventDetail{Decision: change.NewJudgeRecord(*res.Decision)}})
		if r.o.metrics != nil {
			for _, v := range res.Decision.Verdicts {
				r.o.metrics.pvalues.WithLabelValues(v.KPI).Observe(v.PValue)
			}
		}
	}
}

func (r *Reconciler) event(ctx context.Context, e change.Event) {
	if _, err := r.store.RecordEvent(ctx, e); err != nil {
		r.o.log.Warn("record event", "change", e.Version, "instance", e.Instance, "step", e.Step, "err", err)
	}
}

// partialHoldings extracts the versions of a partial rollout error in err.
func partialHoldings(err error) map[string]int64 {
	var pe *rollout.PartialError
	if errors.As(err, &pe) {
		return HoldingsOf(pe.Version, pe.Instances)
	}
	return nil
}
