package lab

import (
	"context"
	"fmt"

	"github.com/schemacanary/schemacanary/analysis"
)

// liveFeatures measures, on q's database, the live features of a migration
// with these Up statements exactly as the product does before a canary
// (analysis.MeasureLive: the oldest open transaction and the workload's
// use of what the change removes), and returns them by feature name.
func liveFeatures(ctx context.Context, q analysis.Querier, up []string) (map[string]float64, error) {
	m := analysis.Migration{Path: "trial.sql", HasDown: true}
	for i, s := range up {
		m.Up = append(m.Up, analysis.Statement{SQL: s, Line: i + 1})
	}
	rep, err := analysis.Analyze(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("lab: analyze: %w", err)
	}
	if rep.Live, err = analysis.MeasureLive(ctx, q, rep); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	f := rep.Features()
	out := map[string]float64{}
	for _, d := range analysis.LiveFeatureDocs() {
		out[d.Name] = f[d.Name]
	}
	return out, nil
}
