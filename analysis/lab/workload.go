package lab

import (
	"context"
	"fmt"

	"github.com/schemacanary/schemacanary/analysis"
)

// measureLive measures, on q's database, the live context of migration m
// exactly as the product does before a canary (analysis.MeasureLive: the
// oldest open transaction and the workload's use of what the change
// removes).
func measureLive(ctx context.Context, q analysis.Querier, m analysis.Migration) (*analysis.LiveContext, error) {
	rep, err := analysis.Analyze(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("lab: analyze: %w", err)
	}
	live, err := analysis.MeasureLive(ctx, q, rep)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	return live, nil
}
