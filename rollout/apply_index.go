package rollout

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// invalidIndex is an INVALID index of the database (pg_index.indisvalid).
type invalidIndex struct{ Schema, Table, Name string }

// sql is the index's quoted, schema-qualified name.
func (i invalidIndex) sql() string { return pgx.Identifier{i.Schema, i.Name}.Sanitize() }

// invalidIndexes lists the INVALID indexes of the database.
func invalidIndexes(ctx context.Context, db *sql.DB) (map[invalidIndex]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT n.nspname, t.relname, c.relname
		FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_class t ON t.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE NOT i.indisvalid`)
	if err != nil {
		return nil, fmt.Errorf("list invalid indexes: %w", err)
	}
	defer rows.Close()
	out := map[invalidIndex]bool{}
	for rows.Next() {
		var ix invalidIndex
		if err := rows.Scan(&ix.Schema, &ix.Table, &ix.Name); err != nil {
			return nil, err
		}
		out[ix] = true
	}
	return out, rows.Err()
}

// createdBy reports whether ch creates ix: by exact schema and name, or,
// when unnamedOK, as an unnamed index of the same table.
func createdBy(ch *Plan, ix invalidIndex, unnamedOK bool) bool {
	for _, r := range ch.Indexes {
		if r.Schema != ix.Schema {
			continue
		}
		if r.Name == ix.Name || (unnamedOK && r.Name == "" && r.Table == ix.Table) {
			return true
		}
	}
	return false
}

// dropNewInvalidIndexes drops the INVALID indexes the failed attempt
// created: those that appeared since before and that ch creates (by exact
// name; an unnamed one of ch's by its table). Anyone else's INVALID index
// is left alone. It returns the dropped ones and those it could not drop.
func (a *Applier) dropNewInvalidIndexes(ctx context.Context, db *sql.DB, inst Instance, ch *Plan, before map[invalidIndex]bool) (dropped, left []string) {
	after, err := invalidIndexes(ctx, db)
	if err != nil {
		a.em.emit(ctx, Event{Version: ch.Version, Instance: inst.Name, Step: StepCleanup, Err: err, Message: "cannot list invalid indexes"})
		return nil, []string{"(unknown: " + err.Error() + ")"}
	}
	for ix := range after {
		if before[ix] || !createdBy(ch, ix, true) {
			continue
		}
		if a.dropIndex(ctx, db, inst, ch, ix.sql()) {
			dropped = append(dropped, ix.sql())
		} else {
			left = append(left, ix.sql())
		}
	}
	return dropped, left
}

// dropLeftoverIndexes drops INVALID indexes that ch creates by name, on a
// database where ch is not applied: leftovers of an attempt that died
// before its cleanup. Unnamed indexes are not guessed at.
func (a *Applier) dropLeftoverIndexes(ctx context.Context, db *sql.DB, inst Instance, ch *Plan) []string {
	all, err := invalidIndexes(ctx, db)
	if err != nil {
		return nil
	}
	var dropped []string
	for ix := range all {
		if createdBy(ch, ix, false) && a.dropIndex(ctx, db, inst, ch, ix.sql()) {
			dropped = append(dropped, ix.sql())
		}
	}
	return dropped
}

// dropIndex runs DROP INDEX CONCURRENTLY (it blocks neither reads nor
// writes), retrying lock timeouts for up to CanaryConfig.MaxWait: it waits
// for the transactions that made the build fail.
func (a *Applier) dropIndex(ctx context.Context, db *sql.DB, inst Instance, ch *Plan, name string) bool {
	var err error
	deadline := time.Now().Add(a.cfg.MaxWait)
	for attempt := 1; attempt == 1 || time.Now().Before(deadline); attempt++ {
		// name is quoted and schema-qualified (invalidIndex.sql).
		if _, err = db.ExecContext(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+name); err == nil {
			a.em.emit(ctx, Event{Version: ch.Version, Instance: inst.Name, Step: StepCleanup, Attempt: attempt,
				Message: "dropped INVALID index " + name + " left by a failed CONCURRENTLY build"})
			return true
		}
		if !isLockTimeout(err) || sleep(ctx, backoff(a.cfg.Backoff, a.cfg.MaxBackoff, attempt)) != nil {
			break
		}
	}
	a.em.emit(ctx, Event{Version: ch.Version, Instance: inst.Name, Step: StepCleanup, Err: err,
		Message: "could not drop INVALID index " + name + "; drop it by hand: DROP INDEX CONCURRENTLY " + name})
	return false
}
