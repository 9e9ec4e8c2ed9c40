package reconciler

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/rollout"
)

// startReverts moves every done change an operator reverted (`schemacanary
// revert VERSION`, checked by Command against the revert window and the
// later changes) to rolling_back, with a rollback checkpoint: the queue
// then takes it as its head and the rollout rolls it back on every
// instance that holds it, newest wave first, through the rollback path
// (fence, archive of what the Down drops, goose down, session reset,
// unfence); once it is rolled back the flush opens its revert PR, as for
// any rolled back change.
func (r *Reconciler) startReverts(ctx context.Context, res *Result) error {
	acts, err := r.store.PendingReverts(ctx)
	if err != nil {
		return err
	}
	for _, a := range acts {
		c, err := r.store.Get(ctx, a.Version)
		if err != nil {
			return err
		}
		if c.State != change.StateDone {
			continue
		}
		reason := fmt.Sprintf("reverted by %s: %s", a.By, a.Why)
		cp, err := json.Marshal(rollout.Checkpoint{Version: c.Version, Phase: rollout.PhaseRollback, Reason: reason})
		if err != nil {
			return fmt.Errorf("change %d: rollback checkpoint: %w", c.Version, err)
		}
		if err := r.store.RecordRollback(ctx, c.Version, reason, c.Instances, false); err != nil {
			return err
		}
		if _, err := r.move(ctx, c, change.Move{To: change.StateRollingBack, Wave: c.Wave, Reason: reason, Checkpoint: cp}); err != nil {
			return err
		}
		res.Transitions++
		r.o.log.Info("reverting a done change on the operator's command", "change", c.Version, "by", a.By)
	}
	return nil
}
