package lab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schemacanary/schemacanary/internal/loadgen"
)

// column is what fillTable needs to know about a column.
type column struct {
	name, typ, category, typname string
	notNull, hasDefault          bool
	generated, identityAlways    bool
}

func tableColumns(ctx context.Context, db *pgxpool.Pool, table string) ([]column, error) {
	rows, err := db.Query(ctx, `
SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory::text, t.typname, a.attnotnull,
       a.atthasdef OR a.attidentity <> '', a.attgenerated <> '', a.attidentity = 'a'
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, table)
	if err != nil {
		return nil, fmt.Errorf("lab: columns of %s: %w", table, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		err := r.Scan(&c.name, &c.typ, &c.category, &c.typname, &c.notNull, &c.hasDefault, &c.generated, &c.identityAlways)
		return c, err
	})
}

// valueExpr is a SQL expression of g (1..n) for a column of type c, ""
// when the lab cannot make one up (the column is then left to its default
// or NULL).
func valueExpr(c column) string {
	q := pgx.Identifier{c.typname}.Sanitize()
	switch {
	case c.typname == "int2":
		return "(g % 30000)::int2"
	case c.typname == "bool":
		return "(g % 2 = 0)"
	case c.typname == "uuid":
		return "md5(g::text)::uuid"
	case c.typname == "json" || c.typname == "jsonb":
		return "'{}'::" + c.typ
	case c.typname == "bytea":
		return "decode(md5(g::text), 'hex')"
	case c.typname == "inet" || c.typname == "cidr":
		return "('10.0.0.' || (g % 250))::" + c.typ
	case c.category == "N":
		return "g::" + c.typ
	case c.category == "S":
		return "md5(g::text)::" + c.typ
	case c.category == "D":
		return "(now() - g * interval '1 second')::" + c.typ
	case c.category == "E":
		return "(enum_range(NULL::" + q + "))[1]"
	case c.category == "A":
		return "'{}'::" + c.typ
	}
	return ""
}

// fillTable inserts rows rows into table (foreign keys and triggers off:
// session_replication_role = replica), making every column's value up from
// its type; when the table's constraints reject that, it tries again with
// only the NOT NULL columns made up (a CHECK passes on NULL). It gives up,
// inserting nothing, when both are rejected, and returns the rows
// inserted.
func fillTable(ctx context.Context, db *pgxpool.Pool, table string, rows int64) (int64, error) {
	if rows <= 0 {
		return 0, nil
	}
	cols, err := tableColumns(ctx, db, table)
	if err != nil {
		return 0, err
	}
	for _, onlyRequired := range []bool{false, true} {
		names, exprs, ok := fillColumns(cols, onlyRequired)
		if !ok {
			return 0, nil // a required column the lab cannot make a value up for
		}
		if len(names) == 0 {
			continue
		}
		n, err := insertRows(ctx, db, table, names, exprs, rows)
		if err != nil || n > 0 {
			return n, err
		}
	}
	return 0, nil
}

// fillColumns lists the columns to make up and their expressions; ok is
// false when a NOT NULL column without default has a type the lab cannot
// make a value up for.
func fillColumns(cols []column, onlyRequired bool) (names, exprs []string, ok bool) {
	for _, c := range cols {
		if c.generated || c.identityAlways || c.hasDefault {
			continue // its default (a sequence, now(), ...) fills it
		}
		if onlyRequired && !c.notNull {
			continue
		}
		e := valueExpr(c)
		if e == "" {
			if c.notNull {
				return nil, nil, false
			}
			continue
		}
		names = append(names, pgx.Identifier{c.name}.Sanitize())
		exprs = append(exprs, e)
	}
	return names, exprs, true
}

// insertRows inserts made-up rows in one transaction; a constraint that
// rejects them gives 0 rows, not an error.
func insertRows(ctx context.Context, db *pgxpool.Pool, table string, names, exprs []string, rows int64) (int64, error) {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("lab: fill %s: %w", table, err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("lab: fill %s: %w", table, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit, a no-op
	if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
		return 0, fmt.Errorf("lab: fill %s: %w", table, err)
	}
	sql := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM generate_series(1, %d) g", quoteQualified(table),
		strings.Join(names, ", "), strings.Join(exprs, ", "), rows)
	tag, err := tx.Exec(ctx, sql)
	if err != nil {
		return 0, ctx.Err() // the made-up rows violate a constraint: nothing inserted
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("lab: fill %s: %w", table, err)
	}
	if _, err := db.Exec(ctx, "ANALYZE "+quoteQualified(table)); err != nil {
		return 0, fmt.Errorf("lab: analyze %s: %w", table, err)
	}
	return tag.RowsAffected(), nil
}

// quoteQualified quotes "schema.table" part by part.
func quoteQualified(name string) string {
	return pgx.Identifier(strings.Split(name, ".")).Sanitize()
}

// existingTables returns those of names that exist, and when none does,
// up to three tables of the public schema (the replayed file's neighbours).
func existingTables(ctx context.Context, db *pgxpool.Pool, names []string) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT n FROM unnest($1::text[]) n WHERE to_regclass(n) IS NOT NULL
  AND (SELECT relkind FROM pg_class WHERE oid = to_regclass(n)) IN ('r', 'p') ORDER BY 1`, names)
	if err != nil {
		return nil, fmt.Errorf("lab: tables: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(out) > 0 {
		return out, err
	}
	rows, err = db.Query(ctx, `SELECT schemaname || '.' || relname FROM pg_stat_user_tables
WHERE relname <> $1 ORDER BY relname LIMIT 3`, GooseTable)
	if err != nil {
		return nil, fmt.Errorf("lab: tables: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// corpusLoad is the load on a replay's tables: for each, a read that names
// no column (a few rows) and a write that takes the lock an UPDATE takes
// (a no-op UPDATE of a random row position), so a lock queue shows in
// both, while dropping or renaming a column the load never named does
// not fail it.
func corpusLoad(ctx context.Context, db *pgxpool.Pool, tables []string, read, write float64) ([]loadgen.Statement, error) {
	if len(tables) == 0 {
		return []loadgen.Statement{{Name: "read:none", SQL: "SELECT 1", Weight: 1}}, nil
	}
	var out []loadgen.Statement
	n := float64(len(tables))
	for _, t := range tables {
		q := quoteQualified(t)
		out = append(out, loadgen.Statement{Name: "read:" + t, Weight: read / n, SQL: "SELECT count(*) FROM (SELECT 1 FROM " + q + " LIMIT 5) s"})
		if write <= 0 {
			continue
		}
		cols, err := tableColumns(ctx, db, t)
		if err != nil {
			return nil, err
		}
		var pages int64
		if err := db.QueryRow(ctx, "SELECT greatest(relpages, 1) FROM pg_class WHERE oid = to_regclass($1)", t).Scan(&pages); err != nil {
			return nil, fmt.Errorf("lab: pages of %s: %w", t, err)
		}
		for _, c := range cols {
			if c.generated || c.identityAlways {
				continue
			}
			col := pgx.Identifier{c.name}.Sanitize()
			out = append(out, loadgen.Statement{Name: "write:" + t, Weight: write / n,
				SQL:  fmt.Sprintf("UPDATE %s SET %s = %s WHERE ctid = $1::text::tid", q, col, col),
				Args: []loadgen.Arg{tidArg(pages)}})
			break
		}
	}
	return out, nil
}

// tidArg draws a row position "(page,item)" among the table's pages.
func tidArg(pages int64) loadgen.Arg {
	return func(r *rand.Rand) any { return fmt.Sprintf("(%d,%d)", r.Int64N(pages), 1+r.IntN(20)) }
}
