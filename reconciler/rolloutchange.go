package reconciler

import (
	"context"
	"fmt"

	"github.com/schemacanary/schemacanary/gitsrc"
	"github.com/schemacanary/schemacanary/rollout"
)

// rolloutChange rebuilds the rollout.Change of a change request from its
// stored source: parse, analyze, plan. It is a pure function of the stored
// bytes, so it gives the same change after a restart.
func (r *Reconciler) rolloutChange(ctx context.Context, c *ChangeRequest) (*rollout.Change, error) {
	mig, err := gitsrc.ParseMigration(c.Path, c.Source)
	if err != nil {
		return nil, &StallError{Version: c.Version, Err: err}
	}
	actx, cancel := r.analysisContext(ctx)
	defer cancel()
	rep, err := r.an.Analyze(actx, mig)
	if err != nil {
		return nil, fmt.Errorf("analyze %s: %w", c.Path, r.timedOut(ctx, actx, c.Path, err))
	}
	ch := PlanChange(mig, rep)
	if err := ch.Validate(); err != nil {
		return nil, &StallError{Version: c.Version, Err: err}
	}
	return ch, nil
}
