package lab

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// OldestTransactionAge connects to dsn and returns the age in seconds of the
// oldest open transaction of another session in that database: the
// FeatureOldestXactSeconds the lab records before every apply, measured the
// same way for a live prediction.
func OldestTransactionAge(ctx context.Context, dsn string) (float64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("lab: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var age float64
	if err := conn.QueryRow(ctx, oldestXactSQL).Scan(&age); err != nil {
		return 0, fmt.Errorf("lab: oldest transaction: %w", err)
	}
	return age, nil
}

const oldestXactSQL = `SELECT coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0)::float8
FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`

// LiveFeatures connects to dsn and measures the live features the lab
// records for a migration with these Up statements: FeatureOldestXactSeconds,
// FeatureWorkloadRefs and FeatureDroppedIndexScans. The reconciler and
// `schemacanary predict --dsn` call it so live predictions see what the lab
// saw.
func LiveFeatures(ctx context.Context, dsn string, up []string) (map[string]float64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("lab: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	f, err := WorkloadFeatures(ctx, conn, up)
	if err != nil {
		return nil, err
	}
	var age float64
	if err := conn.QueryRow(ctx, oldestXactSQL).Scan(&age); err != nil {
		return nil, fmt.Errorf("lab: oldest transaction: %w", err)
	}
	f[FeatureOldestXactSeconds] = age
	return f, nil
}
