package lab

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// GooseTable is the goose version table the lab's databases use (goose's
// default).
const GooseTable = "goose_db_version"

// GooseApplier is the plain-goose arm: goose's Provider with its defaults,
// as a team without schemacanary runs it (no lock_timeout, no
// statement_timeout, no waiting for long transactions, no retry). A DDL
// behind a long transaction therefore queues its lock, and everything
// behind it queues too. The zero value is ready to use and safe for
// concurrent use.
type GooseApplier struct{}

var _ Applier = GooseApplier{}

// Apply runs m's Up section unless the goose table holds its version.
func (g GooseApplier) Apply(ctx context.Context, dsn string, m Migration) (ApplyResult, error) {
	return g.run(ctx, dsn, m, true)
}

// Revert runs m's Down section when the goose table holds its version.
func (g GooseApplier) Revert(ctx context.Context, dsn string, m Migration) (ApplyResult, error) {
	return g.run(ctx, dsn, m, false)
}

func (GooseApplier) run(ctx context.Context, dsn string, m Migration, up bool) (ApplyResult, error) {
	db, err := openGooseDB(ctx, dsn)
	if err != nil {
		return ApplyResult{}, err
	}
	defer db.Close()
	return gooseApply(ctx, db, m, up)
}

// gooseApply runs one direction of m through a goose Provider on db.
func gooseApply(ctx context.Context, db *sql.DB, m Migration, up bool) (ApplyResult, error) {
	res := ApplyResult{Attempts: 1}
	p, err := gooseProvider(db, m.Version, m.Name, m.Source)
	if err != nil {
		return ApplyResult{}, err
	}
	_, err = p.ApplyVersion(ctx, m.Version, up)
	switch {
	case err == nil:
		return res, nil
	case up && errors.Is(err, goose.ErrAlreadyApplied), !up && errors.Is(err, goose.ErrNotApplied):
		return ApplyResult{AlreadyDone: true}, nil
	}
	dir := "up"
	if !up {
		dir = "down"
	}
	return res, fmt.Errorf("goose %s %d: %w", dir, m.Version, err)
}

// openGooseDB opens a single-connection database/sql pool on dsn.
func openGooseDB(ctx context.Context, dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("lab: parse dsn: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("lab: connect: %w", err)
	}
	return db, nil
}

// gooseProvider is a goose Provider on db over a file system holding one
// file.
func gooseProvider(db *sql.DB, version int64, name string, src []byte) (*goose.Provider, error) {
	if name == "" {
		name = "change"
	}
	fsys := fstest.MapFS{fmt.Sprintf("%d_%s.sql", version, name): &fstest.MapFile{Data: src}}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithAllowOutofOrder(true), goose.WithDisableGlobalRegistry(true), goose.WithTableName(GooseTable))
	if err != nil {
		return nil, fmt.Errorf("lab: goose provider for %d_%s: %w", version, name, err)
	}
	return p, nil
}
