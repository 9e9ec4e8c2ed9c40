package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/rollout"
)

// An inconclusive canary (the bake reached max_bake without enough data to
// judge, e.g. an idle fleet) is held for a human with
// canary.on_inconclusive: hold, the default: too little data is no
// evidence of harm, so the change is not rolled back, and no evidence of
// safety either, so it is not promoted. The canary wave keeps the change.
// A human releases it: `schemacanary promote VERSION --by NAME` promotes
// it (the next waves), `schemacanary skip VERSION` rolls the canary back
// and then skips it.

// ErrNotInconclusive is returned by Promote for a change that is not held
// inconclusive.
var ErrNotInconclusive = errors.New("change is not held inconclusive")

// Promote records that name promotes version, a change held inconclusive
// (`schemacanary promote`); the leader promotes it on its next poll. It
// refuses any other state, so a release cannot be given ahead of time. It
// returns the change's state.
func Promote(ctx context.Context, s Operations, version int64, by string) (change.State, error) {
	by = strings.TrimSpace(by)
	if by == "" {
		return "", errors.New("promote: --by NAME is required")
	}
	c, err := s.Get(ctx, version)
	if err != nil {
		return "", err
	}
	if c.State != change.StateInconclusive {
		return c.State, fmt.Errorf("promote %d: %w (%s)", version, ErrNotInconclusive, c.State)
	}
	return c.State, s.Release(ctx, version, by)
}

// inconclusiveReason is the reason of the move to inconclusive: why, and
// how a human releases it.
func (r *Reconciler) inconclusiveReason(c *change.Request, why string) string {
	return fmt.Sprintf("inconclusive: %s; held on the canary for a human (canary.on_inconclusive: hold): `schemacanary promote %d --by NAME` promotes it, `schemacanary skip %d` rolls it back",
		why, c.Version, c.Version)
}

// stepInconclusive releases a held inconclusive change once a human has:
// a skip rolls the canary back, a promotion promotes the next waves.
func (r *Reconciler) stepInconclusive(ctx context.Context, c *change.Request) (bool, error) {
	acts, err := r.store.Actions(ctx, c.Version)
	if err != nil {
		return false, err
	}
	if ab := change.Fold(acts).Aborted; ab != nil {
		reason := fmt.Sprintf("aborted by %s: %s", ab.By, ab.Why)
		return r.rollBackHeld(ctx, c, reason, "")
	}
	by, err := r.store.Skipper(ctx, c.Version)
	if err != nil {
		return false, err
	}
	if by != "" {
		reason := fmt.Sprintf("skipped by %s after an inconclusive canary: rolling the canary back", by)
		return r.rollBackHeld(ctx, c, reason, by)
	}
	by, err = r.store.Releaser(ctx, c.Version)
	if err != nil {
		return false, err
	}
	if by == "" {
		return false, &WaitError{Version: c.Version, For: fmt.Sprintf("a human: its canary was inconclusive (not enough data); `schemacanary promote %d --by NAME` or `schemacanary skip %d`", c.Version, c.Version)}
	}
	cp, err := json.Marshal(rollout.Checkpoint{Version: c.Version, Phase: rollout.PhasePromote, Wave: 1})
	if err != nil {
		return false, err
	}
	_, err = r.move(ctx, c, change.Move{To: change.StatePromoting, Wave: 1, Reason: fmt.Sprintf("promoted by %s after an inconclusive canary", by), Checkpoint: cp})
	return err == nil, err
}

// rollBackHeld moves a change held inconclusive to rolling_back for reason
// (skippedBy: who skipped it, "" for an abort); the rollout then rolls
// the canary back.
func (r *Reconciler) rollBackHeld(ctx context.Context, c *change.Request, reason, skippedBy string) (bool, error) {
	cp, err := json.Marshal(rollout.Checkpoint{Version: c.Version, Phase: rollout.PhaseRollback, Reason: reason})
	if err != nil {
		return false, err
	}
	if err := r.store.RecordRollback(ctx, c.Version, reason, c.Instances, false); err != nil {
		return false, err
	}
	_, err = r.move(ctx, c, change.Move{To: change.StateRollingBack, Wave: c.Wave, Reason: reason, SkippedBy: skippedBy, Checkpoint: cp})
	return err == nil, err
}
