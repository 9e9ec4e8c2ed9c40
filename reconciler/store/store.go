package store

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/internal/secret"
)

//go:embed migrations/*.sql
var controlMigrations embed.FS

// controlVersionTable is goose's version table of the control store, apart
// from any goose_db_version of the fleet's own migrations.
const controlVersionTable = "schemacanary_control_version"

// Store is the control store: change requests, transitions, predictions,
// rollout events, KPI samples, rollbacks, models, approvals and skips in
// PostgreSQL. Only the reconciler uses it. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	red  *secret.Redactor
}

// Open connects to the control database and migrates its schema (goose,
// embedded SQL, under a session lock so replicas starting together are safe).
// red scrubs the DSN from errors; it may be nil.
func Open(ctx context.Context, dsn secret.Secret, red *secret.Redactor, log *slog.Logger) (*Store, error) {
	red.Add(dsn.Reveal())
	cfg, err := pgxpool.ParseConfig(dsn.Reveal())
	if err != nil {
		return nil, red.Err(fmt.Errorf("control store: parse dsn: %w", err))
	}
	if cfg.MaxConns < 4 {
		cfg.MaxConns = 4
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, red.Err(fmt.Errorf("control store: connect: %w", err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, red.Err(fmt.Errorf("control store: connect: %w", err))
	}
	s := &Store{pool: pool, red: red}
	if err := s.migrate(ctx, log); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.backfillParsed(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// backfillParsed stores the parsed migration of change requests discovered
// by a version that did not keep it (control store < 7), once, so every
// read finds it stored. A file that no longer parses stays without one.
func (s *Store) backfillParsed(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `SELECT version, path, source FROM change_requests WHERE migration IS NULL`)
	if err != nil {
		return fmt.Errorf("control store: backfill parsed migrations: %w", err)
	}
	type row struct {
		Version int64
		Path    string
		Source  []byte
	}
	todo, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return fmt.Errorf("control store: backfill parsed migrations: %w", err)
	}
	for _, r := range todo {
		m, err := migration.ParseMigration(r.Path, r.Source)
		if err != nil {
			continue // stays NULL: the loop stalls it with errNotParsed
		}
		b, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("control store: backfill parsed migration of %d: %w", r.Version, err)
		}
		if _, err := s.pool.Exec(ctx, `UPDATE change_requests SET migration = $2 WHERE version = $1 AND migration IS NULL`, r.Version, b); err != nil {
			return fmt.Errorf("control store: backfill parsed migration of %d: %w", r.Version, err)
		}
	}
	return nil
}

func (s *Store) migrate(ctx context.Context, log *slog.Logger) error {
	sub, err := fs.Sub(controlMigrations, "migrations")
	if err != nil {
		return fmt.Errorf("control store: %w", err)
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("control store: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithTableName(controlVersionTable), goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("control store: goose: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return s.red.Err(fmt.Errorf("control store: migrate: %w", err))
	}
	for _, r := range res {
		if log != nil {
			log.Info("control store migrated", "version", r.Source.Version, "duration", r.Duration)
		}
	}
	return nil
}

// Pool exposes the connection pool (the leader elector takes a dedicated
// connection from the same DSN; tests inspect tables).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks the control database (readiness).
func (s *Store) Ping(ctx context.Context) error { return s.red.Err(s.pool.Ping(ctx)) }
