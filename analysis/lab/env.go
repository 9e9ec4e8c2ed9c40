package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schemacanary/schemacanary/analysis"
)

// setup prepares where tr runs: the lane's clone of the table size, or a
// fresh database holding a corpus file's history.
func (r *Runner) setup(ctx context.Context, srv *server, ln *lane, tr Trial) (*env, error) {
	if tr.Template.Corpus != nil {
		return r.corpusEnv(ctx, srv, ln, tr)
	}
	t, ok := ln.tables[tr.Rows]
	if !ok {
		var err error
		if t, err = srv.openTableDB(ctx, ln.id, tr.Rows); err != nil {
			return nil, err
		}
		ln.tables[tr.Rows] = t
	}
	e := &env{dsn: t.dsn, applyDSN: t.applyDSN, db: t.db, table: t.table(), holdTable: t.table(),
		load: loadStatements(tr.Rows, tr.ReadRate, tr.WriteRate), close: func() {}}
	e.restore = func(ctx context.Context, m Migration, applied bool, down []string) (bool, string, error) {
		return r.restoreTable(ctx, srv, ln, tr, m, applied, down)
	}
	return e, nil
}

// restoreTable reverts the migration through the arm's applier (when it
// was applied), runs the Down statements one by one tolerating errors
// when the applier did not (the Up failed, was cut short, or Down
// failed), forgets the run's goose version, deletes the rows the load
// inserted, and clones the table again from its template when its shape
// still differs.
func (r *Runner) restoreTable(ctx context.Context, srv *server, ln *lane, tr Trial, m Migration, applied bool, down []string) (bool, string, error) {
	t := ln.tables[tr.Rows]
	revertErr := ""
	if applied {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		_, err := r.appliers[tr.Arm].Revert(rctx, t.applyDSN, m)
		cancel()
		if err != nil {
			revertErr = firstLine(err.Error())
		}
	}
	if ctx.Err() != nil {
		return false, revertErr, ctx.Err()
	}
	// A CONCURRENTLY build or drop cut short leaves an INVALID index
	// behind; drop it so Down's CREATE INDEX IF NOT EXISTS rebuilds it.
	if err := dropInvalidIndexes(ctx, t.db, t.table()); err != nil {
		r.log.Debug("drop invalid indexes", "err", err)
	}
	if !applied || revertErr != "" {
		for _, q := range down {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			_, err := t.db.Exec(cctx, q)
			cancel()
			if err != nil && ctx.Err() == nil {
				r.log.Debug("down statement failed", "sql", q, "err", err)
			}
		}
	}
	_, _ = t.db.Exec(ctx, "DELETE FROM "+GooseTable+" WHERE version_id = $1", m.Version)
	_, _ = t.db.Exec(ctx, "DELETE FROM "+pgx.Identifier{t.table()}.Sanitize()+" WHERE id > $1", tr.Rows)
	if ctx.Err() != nil {
		return false, revertErr, ctx.Err()
	}
	fp, err := fingerprint(ctx, t.db, t.table())
	if err != nil {
		return false, revertErr, err
	}
	if fp == t.shape {
		return false, revertErr, nil
	}
	r.log.Info("table not restored by down; cloning it again", "lane", ln.id, "db", t.name, "template", tr.Template.ID)
	t.close()
	nt, err := srv.openTableDB(ctx, ln.id, tr.Rows)
	if err != nil {
		delete(ln.tables, tr.Rows)
		return true, revertErr, err
	}
	ln.tables[tr.Rows] = nt
	return true, revertErr, nil
}

// corpusEnv creates a fresh database, applies the file's history, makes
// up tr.Rows rows in each table the file touches, and loads those tables.
func (r *Runner) corpusEnv(ctx context.Context, srv *server, ln *lane, tr Trial) (*env, error) {
	f := tr.Template.Corpus
	name := corpusDatabase(ln.id)
	t0 := time.Now()
	if err := srv.create(ctx, name); err != nil {
		return nil, err
	}
	created := time.Now()
	e := &env{dsn: srv.dsn(name, nil), applyDSN: srv.dsn(name, untrackedParams)}
	if err := buildHistory(ctx, e.applyDSN, f); err != nil {
		return nil, err
	}
	built := time.Now()
	db, err := openPool(ctx, e.applyDSN, 4)
	if err != nil {
		return nil, err
	}
	e.db = db
	e.close = db.Close
	ok := false
	defer func() {
		if !ok {
			db.Close()
		}
	}()
	rep, err := analysis.Analyze(ctx, analysisMigration(f.ID(), tr.Template.Up, tr.Template.Down, f.NoTransaction, 0))
	if err != nil {
		return nil, fmt.Errorf("lab: analyze %s: %w", f.ID(), err)
	}
	tables, err := existingTables(ctx, db, rep.Tables)
	if err != nil {
		return nil, err
	}
	if len(tables) > 3 {
		tables = tables[:3]
	}
	for _, t := range tables {
		n, err := fillTable(ctx, db, t, tr.Rows)
		if err != nil {
			return nil, err
		}
		e.filledRows += n
	}
	filled := time.Now()
	if e.load, err = corpusLoad(ctx, db, tables, tr.ReadRate, tr.WriteRate); err != nil {
		return nil, err
	}
	r.log.Debug("corpus database ready", "run", tr.Key(), "file", f.ID(), "history", len(f.History), "create", created.Sub(t0).Round(time.Millisecond),
		"history_took", built.Sub(created).Round(time.Millisecond), "fill", filled.Sub(built).Round(time.Millisecond), "rows", e.filledRows)
	if len(tables) > 0 {
		e.holdTable = tables[0]
	}
	e.restore = func(ctx context.Context, m Migration, applied bool, _ []string) (bool, string, error) {
		if !applied {
			return false, "", nil
		}
		rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		if _, err := r.appliers[tr.Arm].Revert(rctx, e.applyDSN, m); err != nil {
			return false, firstLine(err.Error()), ctx.Err()
		}
		return false, "", ctx.Err()
	}
	ok = true
	return e, nil
}

func dropInvalidIndexes(ctx context.Context, db *pgxpool.Pool, table string) error {
	rows, err := db.Query(ctx, "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = to_regclass($1) AND NOT indisvalid", table)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := db.Exec(ctx, "DROP INDEX IF EXISTS "+n); err != nil {
			return err
		}
	}
	return nil
}
