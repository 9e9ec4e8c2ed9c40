package rollout

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ArchivedTable is one table a rollback wrote into ArchiveSchema.
type ArchivedTable struct {
	// Source is the schema-qualified table the data came from.
	Source string
	// Columns are the archived columns besides the primary key; empty when
	// the whole table was copied.
	Columns []string
	// Table is the archive table, schema-qualified and quoted
	// (schemacanary_archive."orders__v42").
	Table string
	// Rows is the number of rows copied.
	Rows int64
}

// ident quotes one identifier.
func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// qualified quotes schema.table; an empty schema leaves the search_path to decide.
func qualified(schema, table string) string {
	if schema == "" {
		return ident(table)
	}
	return pgx.Identifier{schema, table}.Sanitize()
}

// archiveName is "<table>__v<version>", or "<schema>__<table>__v<version>"
// for a table outside DefaultSchema (a tenant's: tenants of one database
// share ArchiveSchema), with "_<n>" when taken, within PostgreSQL's
// 63-byte identifier limit.
func archiveName(ctx context.Context, tx *sql.Tx, schema, table string, version int64) (string, error) {
	if schema != "" && schema != DefaultSchema {
		table = schema + "__" + table
	}
	for n := 1; ; n++ {
		suffix := fmt.Sprintf("__v%d", version)
		if n > 1 {
			suffix += fmt.Sprintf("_%d", n)
		}
		base := table
		if len(base)+len(suffix) > 63 {
			base = base[:63-len(suffix)]
		}
		name := base + suffix
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, qualified(ArchiveSchema, name)).Scan(&exists); err != nil {
			return "", err
		}
		if !exists {
			return name, nil
		}
	}
}

// archive copies every target that exists into ArchiveSchema, inside tx:
// for columns, the primary key plus the columns (the whole table when it
// has no primary key); for whole tables, every row. Targets that do not
// exist are skipped: there is nothing to lose.
func archive(ctx context.Context, tx *sql.Tx, version int64, targets []ArchiveTarget, reason string) ([]ArchivedTable, error) {
	type group struct {
		schema, table string
		whole         bool
		columns       []string
	}
	var order []string
	groups := map[string]*group{}
	for _, t := range targets {
		key := t.Schema + "\x00" + t.Table
		g := groups[key]
		if g == nil {
			g = &group{schema: t.Schema, table: t.Table}
			groups[key] = g
			order = append(order, key)
		}
		if t.Column == "" {
			g.whole = true
		} else {
			g.columns = append(g.columns, t.Column)
		}
	}
	if len(order) == 0 {
		return nil, nil
	}
	if _, err := tx.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+ident(ArchiveSchema)); err != nil {
		return nil, fmt.Errorf("create schema %s: %w", ArchiveSchema, err)
	}
	var out []ArchivedTable
	for _, key := range order {
		g := groups[key]
		src := qualified(g.schema, g.table)
		var oid sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT to_regclass($1)::oid::int8`, src).Scan(&oid); err != nil {
			return nil, fmt.Errorf("archive %s: %w", src, err)
		}
		if !oid.Valid {
			continue
		}
		var cols []string
		if !g.whole {
			existing, err := columnsOf(ctx, tx, oid.Int64, g.columns)
			if err != nil {
				return nil, fmt.Errorf("archive %s: %w", src, err)
			}
			if len(existing) == 0 {
				continue
			}
			pk, err := primaryKey(ctx, tx, oid.Int64)
			if err != nil {
				return nil, fmt.Errorf("archive %s: %w", src, err)
			}
			if len(pk) > 0 {
				cols = append(pk, existing...)
			} else {
				g.whole = true // without a key, only the whole row identifies a value
			}
		}
		name, err := archiveName(ctx, tx, g.schema, g.table, version)
		if err != nil {
			return nil, fmt.Errorf("archive %s: %w", src, err)
		}
		dst := qualified(ArchiveSchema, name)
		sel := "*"
		if !g.whole {
			quoted := make([]string, len(cols))
			for i, c := range cols {
				quoted[i] = ident(c)
			}
			sel = strings.Join(quoted, ", ")
		}
		r, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE TABLE %s AS SELECT %s FROM %s", dst, sel, src))
		if err != nil {
			return nil, fmt.Errorf("archive %s into %s: %w", src, dst, err)
		}
		rows, _ := r.RowsAffected() // pgx reports the count of CREATE TABLE AS; 0 on the rare driver that cannot only changes the comment
		comment := fmt.Sprintf("schemacanary: %s of %s archived before the down of version %d at %s: %s",
			map[bool]string{true: "all rows", false: "columns " + strings.Join(g.columns, ", ")}[g.whole], src, version,
			time.Now().UTC().Format(time.RFC3339), reason)
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("COMMENT ON TABLE %s IS %s", dst, quoteLiteral(comment))); err != nil {
			return nil, fmt.Errorf("comment %s: %w", dst, err)
		}
		at := ArchivedTable{Source: src, Table: dst, Rows: rows}
		if !g.whole {
			at.Columns = g.columns
		}
		out = append(out, at)
	}
	return out, nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// columnsOf returns those of want that are live columns of the table.
func columnsOf(ctx context.Context, tx *sql.Tx, oid int64, want []string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped AND attname = ANY($2::text[]) ORDER BY attnum`, oid, want)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// primaryKey returns the primary key columns in key order.
func primaryKey(ctx context.Context, tx *sql.Tx, oid int64) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `
SELECT a.attname FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[])
WHERE i.indrelid = $1::oid AND i.indisprimary
ORDER BY array_position(i.indkey::int2[], a.attnum)`, oid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
