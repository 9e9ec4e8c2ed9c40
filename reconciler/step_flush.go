package reconciler

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/schemacanary/schemacanary/gitsrc/audit"
	"github.com/schemacanary/schemacanary/gitsrc/forge"
	"github.com/schemacanary/schemacanary/reconciler/change"

	"github.com/schemacanary/schemacanary/rollout/judge"

	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/model"
)

// flush does the outside side effects of persisted transitions, oldest
// first: the decision and outcome comments, the revert branch/PR, and one
// audit-branch commit per transition. It is an outbox: a transition is
// marked audited only after all its effects succeeded, and every effect is
// idempotent (keyed comments, idempotent revert, audit records keyed by
// transition), so a crash between an effect and the mark repeats nothing
// visible. A failure stops the flush there, keeping the order.
func (r *Reconciler) flush(ctx context.Context, res *Result) error {
	if err := r.flushRejections(ctx); err != nil {
		return err
	}
	// Operator commands first: each came before the transitions it causes.
	if err := r.flushActions(ctx); err != nil {
		return err
	}
	for {
		trs, err := r.store.Unaudited(ctx, 100)
		if err != nil {
			return err
		}
		if len(trs) == 0 {
			return nil
		}
		for _, t := range trs {
			if err := r.effects(ctx, t); err != nil {
				return fmt.Errorf("transition %d of change %d (%s → %s): %w", t.ID, t.Version, t.From, t.To, err)
			}
			if err := r.store.MarkAudited(ctx, t.ID); err != nil {
				return err
			}
			res.Flushed++
		}
	}
}

// flushQuiet flushes and only logs a failure: the queue goes on, the
// outbox retries next pass.
func (r *Reconciler) flushQuiet(ctx context.Context, res *Result) {
	if err := r.flush(ctx, res); err != nil && ctx.Err() == nil {
		r.o.log.Warn("side effects delayed", "err", err)
	}
}

func (r *Reconciler) effects(ctx context.Context, t change.Transition) error {
	c, err := r.store.Get(ctx, t.Version)
	if err != nil {
		return err
	}
	ref := forge.ChangeRef{Version: c.Version, Path: c.Path, PR: c.PR, MergeCommit: c.Commit}
	// The state the change had right after t (c may have moved on since).
	at := *c
	at.State, at.Reason, at.Wave = t.To, t.Reason, t.Wave
	if r.forge != nil {
		switch t.To {
		case change.StateAwaitingApproval:
			if err := r.forge.Comment(ctx, ref, "decision", renderDecision(&at, r.assessor.Threshold())); err != nil {
				return fmt.Errorf("decision comment: %w", err)
			}
		case change.StateApproved:
			if err := r.forge.Comment(ctx, ref, "decision-approved", renderDecision(&at, r.assessor.Threshold())); err != nil {
				return fmt.Errorf("decision comment: %w", err)
			}
		case change.StateRolledBack:
			if err := r.openRevert(ctx, c, &at, ref); err != nil {
				return err
			}
			if err := r.forge.Comment(ctx, ref, "outcome", renderOutcome(&at)); err != nil {
				return fmt.Errorf("outcome comment: %w", err)
			}
		case change.StateInconclusive:
			body := fmt.Sprintf("schemacanary: migration %d is **held** on the canary: %s", c.Version, t.Reason)
			if err := r.forge.Comment(ctx, ref, "inconclusive", body); err != nil {
				return fmt.Errorf("inconclusive comment: %w", err)
			}
		case change.StateDone, change.StateFailed:
			if err := r.forge.Comment(ctx, ref, "outcome-"+string(t.To), renderOutcome(&at)); err != nil {
				return fmt.Errorf("outcome comment: %w", err)
			}
		}
	}
	if r.audit == nil {
		return nil
	}
	rec, err := r.changeRecord(ctx, c)
	if err != nil {
		return err
	}
	tr := audit.Transition{Version: t.Version, From: string(t.From), To: string(t.To), At: t.At, Reason: t.Reason,
		Step: fmt.Sprintf("t%d", t.ID), Actor: actorOf(c, t)}
	if t.To == change.StatePromoting {
		tr.Step = fmt.Sprintf("wave %d t%d", t.Wave, t.ID)
	}
	if _, err := r.audit.Record(ctx, rec, tr); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// openRevert opens the revert branch/PR of a rolled back change once and
// records it on the change.
func (r *Reconciler) openRevert(ctx context.Context, c, at *change.Request, ref forge.ChangeRef) error {
	d := r.lastDecision(ctx, c.Version)
	rev, err := r.forge.OpenRevert(ctx, forge.RevertRequest{Change: ref, Body: renderRevertBody(at, d)})
	if err != nil {
		if errors.Is(err, forge.ErrRevertConflict) {
			r.o.log.Warn("revert needs a human", "change", c.Version, "err", err)
			return nil
		}
		return fmt.Errorf("open revert: %w", err)
	}
	if err := r.store.SetRevert(ctx, c.Version, rev.Branch, rev.PR); err != nil {
		return err
	}
	c.RevertBranch, c.RevertPR = rev.Branch, rev.PR
	at.RevertBranch, at.RevertPR = rev.Branch, rev.PR
	return nil
}

// lastDecision returns the stored judge decision of a change, if any.
func (r *Reconciler) lastDecision(ctx context.Context, version int64) *change.JudgeRecord {
	evs, err := r.store.Events(ctx, version)
	if err != nil {
		return nil
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if strings.HasPrefix(evs[i].Step, "judge") && evs[i].Detail.Decision != nil {
			return evs[i].Detail.Decision
		}
	}
	return nil
}

func actorOf(c *change.Request, t change.Transition) string {
	switch {
	case t.To == change.StateSkipped && c.SkippedBy != "":
		return c.SkippedBy
	case t.To == change.StateApproved && t.From == change.StateAwaitingApproval && c.ApprovedBy != "":
		return c.ApprovedBy
	case t.From == change.StateInconclusive && t.To == change.StateRollingBack && c.SkippedBy != "":
		return c.SkippedBy
	case t.From == change.StateInconclusive && t.To == change.StatePromoting:
		if by, ok := strings.CutPrefix(t.Reason, "promoted by "); ok {
			return strings.TrimSuffix(by, " after an inconclusive canary")
		}
	}
	return "schemacanary"
}

// changeRecord assembles the audit file of a change from the control store.
func (r *Reconciler) changeRecord(ctx context.Context, c *change.Request) (audit.ChangeRecord, error) {
	rec := audit.ChangeRecord{Version: c.Version, Name: c.Name, Path: c.Path, SHA256: c.SHA256, PR: c.PR,
		MergeCommit: c.Commit, Author: c.Author, Risk: c.Risk}
	if c.Migration != nil {
		rec.Owner, rec.Ticket = c.Migration.FrontMatter.Owner, c.Migration.FrontMatter.Ticket
	}
	a, err := r.store.Assessment(ctx, c.Version, c.SHA256)
	switch {
	case err == nil:
		rec.Prediction = auditPrediction(a)
	case !errors.Is(err, change.ErrNotFound):
		return rec, err
	}
	switch {
	case c.ApprovedBy != "":
		rec.Decision = &audit.DecisionRecord{Outcome: "approved", By: c.ApprovedBy}
	case c.State == change.StateAwaitingApproval:
		rec.Decision = &audit.DecisionRecord{Outcome: "awaiting_approval"}
	case c.State == change.StateSkipped:
		rec.Decision = &audit.DecisionRecord{Outcome: "skipped", By: c.SkippedBy}
	case a != nil && a.Prediction.Decision == model.DecisionProceed:
		rec.Decision = &audit.DecisionRecord{Outcome: "auto", Reason: fmt.Sprintf("confidence %.2f ≥ %.2f", a.Prediction.Confidence, a.Prediction.Threshold)}
	}
	notes, err := r.store.RejectionNotes(ctx, c.Version)
	if err != nil {
		return rec, err
	}
	rec.Notes = notes
	acts, err := r.store.Actions(ctx, c.Version)
	if err != nil {
		return rec, err
	}
	for _, a := range acts {
		rec.Notes = append(rec.Notes, actionNote(a))
	}
	evs, err := r.store.Events(ctx, c.Version)
	if err != nil {
		return rec, err
	}
	for _, e := range evs {
		rec.Timeline = append(rec.Timeline, audit.InstanceEvent{At: e.At, Instance: e.Instance, Step: e.Step, Result: e.Outcome})
	}
	if d := r.lastDecision(ctx, c.Version); d != nil {
		for _, v := range d.Verdicts {
			rec.KPIs = append(rec.KPIs, audit.KPIVerdict{KPI: v.KPI + " vs " + v.Reference, Canary: v.CanaryValue, Control: v.ReferenceValue,
				PValue: v.PValue, Effect: v.RelEffect, Failed: v.Outcome == judge.Fail.String(), Reason: v.Reason})
		}
	}
	if c.State == change.StateRolledBack || c.State == change.StateReverted || c.RevertBranch != "" {
		inst := Holdings(c.Instances)
		names := make([]string, 0, len(inst))
		for n := range inst {
			names = append(names, n)
		}
		sort.Strings(names)
		rec.Rollback = &audit.RollbackRecord{Reason: c.Reason, Instances: names, RevertBranch: c.RevertBranch}
	}
	return rec, nil
}

// flushRejections reports each bad input once: an audit entry naming file
// and line (the sticky comment of an open PR names them too).
func (r *Reconciler) flushRejections(ctx context.Context) error {
	rejs, err := r.store.Unreported(ctx)
	if err != nil {
		return err
	}
	for _, x := range rejs {
		if r.audit != nil && x.Version > 0 {
			rec := audit.ChangeRecord{Version: x.Version, Path: x.Path, Notes: []string{x.Message}}
			if c, err := r.store.Get(ctx, x.Version); err == nil {
				if rec, err = r.changeRecord(ctx, c); err != nil {
					return err
				}
			} else if !errors.Is(err, change.ErrNotFound) {
				return err
			}
			tr := audit.Transition{Version: x.Version, From: "", To: "rejected", At: x.At, Reason: x.Message, Step: x.SHA256, Actor: "schemacanary"}
			if _, err := r.audit.Record(ctx, rec, tr); err != nil {
				return fmt.Errorf("audit rejection of %s: %w", x.Path, err)
			}
		}
		if err := r.store.MarkReported(ctx, x); err != nil {
			return err
		}
	}
	return nil
}

// auditPrediction is what the audit record shows of a stored assessment:
// the prediction with its reasons, the gate's certain failures, holds and
// unverified checks, and what was measured live.
func auditPrediction(a *assess.Assessment) *audit.PredictionRecord {
	p := a.Prediction
	pr := &audit.PredictionRecord{Confidence: p.Confidence, Threshold: p.Threshold, Model: p.ModelVersion, Live: a.Live()}
	for _, x := range p.Reasons {
		pr.Reasons = append(pr.Reasons, audit.PredictionReason{Feature: x.Feature, Value: x.Value, Contribution: x.Contribution, Text: x.Text})
	}
	for _, f := range a.Gate.Fails {
		pr.Gate = append(pr.Gate, fmt.Sprintf("certain failure, line %d (%s): %s", f.Line, f.RuleID, f.Message))
	}
	for _, h := range a.Gate.Holds {
		pr.Gate = append(pr.Gate, fmt.Sprintf("never auto-approved, line %d: %s", h.Line, h.Reason))
	}
	for _, f := range a.Gate.Unverified {
		pr.Gate = append(pr.Gate, fmt.Sprintf("not verified, line %d: %s", f.Line, f.Message))
	}
	return pr
}
