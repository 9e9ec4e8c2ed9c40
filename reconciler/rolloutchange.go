package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/reconciler/change"

	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/rollout"
)

// errNotParsed is the stall of a change whose stored file no longer parses.
var errNotParsed = errors.New("the stored migration file does not parse; skip the change or revert it")

// parsed returns the change's migration as parsed at ingest.
func parsed(c *change.Request) (*migration.Migration, error) {
	if c.Migration == nil {
		return nil, &StallError{Version: c.Version, Err: errNotParsed}
	}
	return c.Migration, nil
}

// rolloutChange reads the rollout plan stored when the change was assessed
// and the stored assessment (nothing is parsed, analyzed or planned again):
// it gives the same change after a restart. A change predicted before plans
// were stored is planned from its parsed file and stored report.
func (r *Reconciler) rolloutChange(ctx context.Context, c *change.Request) (*rollout.Plan, *assess.Assessment, error) {
	a, err := r.store.Assessment(ctx, c.Version, c.SHA256)
	if err != nil {
		return nil, nil, fmt.Errorf("stored assessment of %s: %w", c.Path, err)
	}
	plan, err := r.store.Plan(ctx, c.Version, c.SHA256)
	if err != nil {
		return nil, nil, fmt.Errorf("stored plan of %s: %w", c.Path, err)
	}
	var ch *rollout.Plan
	if len(plan) > 0 {
		ch = new(rollout.Plan)
		if err := json.Unmarshal(plan, ch); err != nil {
			return nil, nil, fmt.Errorf("stored plan of %s: %w", c.Path, err)
		}
	} else {
		mig, err := parsed(c)
		if err != nil {
			return nil, nil, err
		}
		ch = PlanChange(mig, a.Report)
	}
	if err := ch.Validate(); err != nil {
		return nil, nil, &StallError{Version: c.Version, Err: err}
	}
	return ch, a, nil
}
