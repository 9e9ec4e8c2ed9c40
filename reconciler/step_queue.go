package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/schemacanary/schemacanary/gitsrc/forge"
	"github.com/schemacanary/schemacanary/reconciler/change"

	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/model"
)

// advance takes the head of the queue as far as it goes in this pass: one
// state at a time, each transition persisted before the side effect of the
// next state, until it waits, fails, or finishes (then the next change
// becomes the head).
func (r *Reconciler) advance(ctx context.Context, res *Result) error {
	if err := r.startReverts(ctx, res); err != nil {
		return fmt.Errorf("start reverts: %w", err)
	}
	for i := 0; i < r.o.maxSteps; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := r.store.Head(ctx)
		if err != nil || c == nil {
			return err
		}
		moved, err := r.step(ctx, c)
		var wait *WaitError
		var stall *StallError
		switch {
		case errors.As(err, &wait):
			res.Waiting = wait.Error()
			return nil
		case errors.As(err, &stall):
			if _, terr := r.move(ctx, c, change.Move{To: change.StateFailed, Wave: c.Wave, Reason: stall.Err.Error(), Instances: partialHoldings(err)}); terr != nil {
				return terr
			}
			res.Transitions++
			r.flushQuiet(ctx, res)
			continue
		case errors.Is(err, change.ErrStale):
			continue // moved meanwhile (by the background prediction): read it again
		case err != nil:
			if ctx.Err() != nil {
				return err // shutdown or lost leadership: no state change
			}
			n, aerr := r.store.Attempt(ctx, c.Version, err.Error())
			if aerr != nil {
				return errors.Join(err, aerr)
			}
			if n >= r.o.maxAttempts && !c.State.Active() {
				if _, terr := r.move(ctx, c, change.Move{To: change.StateFailed, Wave: c.Wave, Reason: fmt.Sprintf("%d attempts failed: %v", n, err)}); terr != nil {
					return terr
				}
				res.Transitions++
				r.flushQuiet(ctx, res)
				continue
			}
			return fmt.Errorf("change %d in %s (attempt %d of %d, tried again on the next pass): %w", c.Version, c.State, n, r.o.maxAttempts, err)
		}
		if !moved {
			return nil
		}
		res.Transitions++
		r.flushQuiet(ctx, res)
	}
	return nil
}

// move persists a transition and counts it.
func (r *Reconciler) move(ctx context.Context, c *change.Request, m change.Move) (*change.Transition, error) {
	from := c.State
	t, err := r.store.Transition(ctx, c, m)
	if err != nil {
		return nil, err
	}
	r.o.log.Info("change moved", "change", c.Version, "from", from, "to", m.To, "wave", m.Wave, "reason", m.Reason)
	r.alert(c, t)
	if m.To == change.StateDone || m.To == change.StateRolledBack || m.To == change.StateFailed {
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
func (r *Reconciler) step(ctx context.Context, c *change.Request) (bool, error) {
	if !c.State.Active() {
		if by, err := r.store.Skipper(ctx, c.Version); err != nil {
			return false, err
		} else if by != "" && change.CanMove(c.State, change.StateSkipped) == nil {
			_, err := r.move(ctx, c, change.Move{To: change.StateSkipped, Wave: c.Wave, Reason: "skipped by " + by, SkippedBy: by})
			return err == nil, err
		}
	}
	switch c.State {
	case change.StateDiscovered:
		return r.predictBounded(ctx, c)
	case change.StatePredicted:
		return r.stepDecide(ctx, c)
	case change.StateAwaitingApproval:
		return r.stepApproval(ctx, c)
	case change.StateApproved:
		_, err := r.move(ctx, c, change.Move{To: change.StateCanary, Wave: 0, Reason: "canary wave starts"})
		return err == nil, err
	case change.StateCanary, change.StateBaking, change.StatePromoting, change.StateWatching, change.StateRollingBack:
		return r.stepRollout(ctx, c)
	case change.StateInconclusive:
		return r.stepInconclusive(ctx, c)
	case change.StateRolledBack, change.StateFailed:
		return r.stepHeld(ctx, c)
	}
	return false, fmt.Errorf("change %d: unexpected state %q at the queue head", c.Version, c.State)
}

func (r *Reconciler) stepPredict(ctx context.Context, c *change.Request) (bool, error) {
	// A version every instance already holds (e.g. applied before the
	// daemon ran) is adopted as done without a rollout.
	if h, err := r.roll.Holdings(ctx, c.Version); err == nil && len(h) > 0 && len(h.Holding(c.Version)) == len(h) {
		_, err := r.move(ctx, c, change.Move{To: change.StateDone, Reason: "already applied on every instance (adopted)", Instances: h})
		return err == nil, err
	}
	mig, err := parsed(c)
	if err != nil {
		return false, err
	}
	// A change is assessed when it reaches the head of the queue: every
	// earlier change is then on the canary (or was taken back), so the
	// live target shows the schema and data this change will meet.
	a, err := r.assess(ctx, mig)
	if err != nil {
		return false, err
	}
	if err := r.store.SetScope(ctx, c.Version, a.Report.Tables, a.Report.HazardKinds()); err != nil {
		return false, err
	}
	// The change is planned once, here, from the parsed file and the
	// report; the rollout step reads the stored plan.
	rec := predictionRecord(c.Version, 0, c.SHA256, a)
	if rec.Plan, err = json.Marshal(PlanChange(mig, a.Report)); err != nil {
		return false, fmt.Errorf("plan of %s: %w", c.Path, err)
	}
	if _, err := r.store.SavePrediction(ctx, rec); err != nil {
		return false, err
	}
	conf := a.Prediction.Confidence
	_, err = r.move(ctx, c, change.Move{To: change.StatePredicted, Confidence: &conf,
		Reason: fmt.Sprintf("confidence %.2f (model %s)", conf, a.Prediction.ModelVersion)})
	return err == nil, err
}

// stepDecide reads the stored assessment's decision: proceed, or wait for
// an approval (below the threshold, a certain failure, or a change that is
// never auto-approved).
func (r *Reconciler) stepDecide(ctx context.Context, c *change.Request) (bool, error) {
	a, err := r.store.Assessment(ctx, c.Version, c.SHA256)
	if err != nil {
		return false, err
	}
	_, err = r.move(ctx, c, decisionMove(a))
	return err == nil, err
}

// decisionMove is the transition a stored assessment decides, with the
// reason in words.
func decisionMove(a *assess.Assessment) change.Move {
	p := a.Prediction
	switch {
	case p.Decision == model.DecisionProceed:
		return change.Move{To: change.StateApproved, Reason: fmt.Sprintf("confidence %.2f ≥ threshold %.2f", p.Confidence, p.Threshold)}
	case a.Gate.Failed():
		return change.Move{To: change.StateAwaitingApproval, Reason: fmt.Sprintf("confidence %.2f: certain failure (line %d): %s", p.Confidence, a.Gate.Fails[0].Line, a.Gate.Fails[0].Message)}
	case p.Held:
		return change.Move{To: change.StateAwaitingApproval, Reason: fmt.Sprintf("never auto-approved (line %d): %s", a.Gate.Holds[0].Line, a.Gate.Holds[0].Reason)}
	}
	return change.Move{To: change.StateAwaitingApproval, Reason: fmt.Sprintf("confidence %.2f < threshold %.2f", p.Confidence, p.Threshold)}
}

func (r *Reconciler) stepApproval(ctx context.Context, c *change.Request) (bool, error) {
	if r.forge != nil {
		aps, err := r.forge.Approvals(ctx, forge.ChangeRef{Version: c.Version, Path: c.Path, PR: c.PR, MergeCommit: c.Commit, SHA256: c.SHA256})
		if err != nil {
			return false, fmt.Errorf("approvals: %w", err)
		}
		for _, a := range aps {
			if a.Allowed {
				if err := r.store.Approve(ctx, change.ApprovalRecord{Version: c.Version, SHA256: c.SHA256, MergeCommit: c.Commit, By: a.By, Source: "forge"}); err != nil {
					return false, err
				}
			}
		}
	}
	by, err := r.store.Approver(ctx, c.Version, c.SHA256, c.Commit)
	if err != nil {
		return false, err
	}
	if by == "" {
		return false, &WaitError{Version: c.Version, For: "an approval"}
	}
	_, err = r.move(ctx, c, change.Move{To: change.StateApproved, Reason: "approved by " + by, ApprovedBy: by})
	return err == nil, err
}

// stepHeld checks whether a held change is released: its revert merged.
func (r *Reconciler) stepHeld(ctx context.Context, c *change.Request) (bool, error) {
	if r.forge != nil && c.RevertBranch != "" {
		merged, err := r.forge.RevertMerged(ctx, forge.ChangeRef{Version: c.Version, Path: c.Path, PR: c.PR, MergeCommit: c.Commit})
		if err != nil {
			return false, fmt.Errorf("revert merged: %w", err)
		}
		if merged && change.CanMove(c.State, change.StateReverted) == nil {
			_, err := r.move(ctx, c, change.Move{To: change.StateReverted, Wave: c.Wave, Reason: "revert merged"})
			return err == nil, err
		}
	}
	return false, &WaitError{Version: c.Version, For: fmt.Sprintf("its revert to merge or `schemacanary skip %d` (%s)", c.Version, c.State)}
}
