package reconciler

import (
	"context"
	"fmt"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/reconciler/change"

	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/rollout"
)

// rolloutChange builds the rollout.Change of a change request from its
// stored source and its stored assessment (the analysis is not run
// again): it gives the same change after a restart.
func (r *Reconciler) rolloutChange(ctx context.Context, c *change.Request) (*rollout.Change, *assess.Assessment, error) {
	mig, err := migration.ParseMigration(c.Path, c.Source)
	if err != nil {
		return nil, nil, &StallError{Version: c.Version, Err: err}
	}
	a, err := r.store.Assessment(ctx, c.Version, c.SHA256)
	if err != nil {
		return nil, nil, fmt.Errorf("stored assessment of %s: %w", c.Path, err)
	}
	ch := PlanChange(mig, a.Report)
	if err := ch.Validate(); err != nil {
		return nil, nil, &StallError{Version: c.Version, Err: err}
	}
	return ch, a, nil
}
