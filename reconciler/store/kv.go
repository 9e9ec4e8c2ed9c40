package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/schemacanary/schemacanary/rollout/kpi"

	"github.com/jackc/pgx/v5"
)

// KPIWindows is the control store's rollout.SampleStore: KPI sources keep
// their per-window counters there, so a new leader finishes a bake window
// the old one started. Entries older than the KPI retention are pruned.
type KPIWindows struct{ s *Store }

var _ kpi.SampleStore = KPIWindows{}

// KPIWindows returns the store's SampleStore.
func (s *Store) KPIWindows() KPIWindows { return KPIWindows{s: s} }

// Get returns the value under key.
func (k KPIWindows) Get(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := k.s.pool.QueryRow(ctx, `SELECT val FROM kpi_windows WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("kpi window %s: %w", key, err)
	}
	return v, true, nil
}

// Put stores val under key.
func (k KPIWindows) Put(ctx context.Context, key string, val []byte) error {
	_, err := k.s.pool.Exec(ctx, `INSERT INTO kpi_windows (key, val) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET val = $2, at = now()`, key, val)
	if err != nil {
		return fmt.Errorf("kpi window %s: %w", key, err)
	}
	return nil
}
