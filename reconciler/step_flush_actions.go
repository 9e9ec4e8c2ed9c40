package reconciler

import (
	"context"
	"fmt"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/audit"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/rollout"
)

// flushActions writes each operator command not yet on the audit branch
// as one commit: the change's state does not move (from and to are the
// state it was given in), the actor is who gave it, the reason says what
// and why; the change's audit file lists every command in its notes. Like
// transitions, a command is marked audited only once written, and a
// rewrite is a no-op (the step names the command's ID).
func (r *Reconciler) flushActions(ctx context.Context) error {
	for {
		acts, err := r.store.UnauditedActions(ctx, 100)
		if err != nil || len(acts) == 0 {
			return err
		}
		for _, a := range acts {
			if err := r.auditAction(ctx, a); err != nil {
				return fmt.Errorf("operator %s %d of change %d: %w", a.Command, a.ID, a.Version, err)
			}
			if err := r.store.MarkActionAudited(ctx, a.ID); err != nil {
				return err
			}
		}
	}
}

func (r *Reconciler) auditAction(ctx context.Context, a change.OperatorAction) error {
	if r.audit == nil {
		return nil
	}
	c, err := r.store.Get(ctx, a.Version)
	if err != nil {
		return err
	}
	rec, err := r.changeRecord(ctx, c)
	if err != nil {
		return err
	}
	tr := audit.Transition{Version: a.Version, From: string(a.State), To: string(a.State), At: a.At,
		Step: fmt.Sprintf("operator %s a%d", a.Command, a.ID), Actor: a.By, Reason: actionReason(a)}
	if _, err := r.audit.Record(ctx, rec, tr); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// actionReason is the one line the audit branch shows for a command.
func actionReason(a change.OperatorAction) string {
	what := string(a.Command)
	if a.Target != "" {
		what += " " + a.Target
	}
	switch {
	case a.Command == change.CommandPromoteNow && a.Wave == rollout.WatchWave:
		what += " (the production watch)"
	case a.Command == change.CommandPromoteNow:
		what += fmt.Sprintf(" (wave %d)", a.Wave)
	}
	return fmt.Sprintf("operator %s by %s via %s: %s", what, a.By, a.Source, a.Why)
}

// actionNote is a command's line among the audit file's notes.
func actionNote(a change.OperatorAction) string {
	return a.At.UTC().Format(time.RFC3339) + " " + actionReason(a)
}
