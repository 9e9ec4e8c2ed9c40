package lab

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// measureLive measures the live context of migration m on the database at
// dsn exactly as the product does before a canary: analysis.Target.Inspect
// (the oldest open transaction, the workload's use of what the change
// removes, the statements it breaks and the plan check with hypopg). The
// dry run and the data checks are off: they decide the gate, not the
// features, and would add their own load to the trial. dsn should keep the
// lab's statements out of pg_stat_statements (untrackedParams).
func measureLive(ctx context.Context, dsn string, m migration.Migration, log *slog.Logger) (*analysis.LiveContext, error) {
	rep, err := analysis.Analyze(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("lab: analyze: %w", err)
	}
	t, err := analysis.OpenTarget(ctx, dsn, analysis.WithDryRun(false), analysis.WithDataChecks(false), analysis.WithTargetLogger(log))
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer t.Close()
	if err := t.Inspect(ctx, m, rep); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	return rep.Live, nil
}
