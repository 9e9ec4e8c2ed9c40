package analysis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// runDataChecks answers rep.DataChecks on conn's database, each in its own
// read-only transaction under the target's statement_timeout and a short
// lock_timeout (a check never queues behind DDL). A violation is a
// data-check-failed finding; a check that cannot run is a check-not-run
// finding.
func (t *Target) runDataChecks(ctx context.Context, conn *pgx.Conn, m migration.Migration, rep *Report) {
	for _, dc := range rep.DataChecks {
		start := time.Now()
		violated, detail, err := t.runDataCheck(ctx, conn, dc)
		res := DataCheckResult{Seconds: time.Since(start).Seconds()}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			res.Outcome, res.Detail = CheckNotRun, pgErrorText(err)
			addFinding(rep, m, "check-not-run", dc.Line, dc.Statement, "data check not run on %s (%s): %s", dc.Table, dc.What, res.Detail)
		case violated:
			res.Outcome, res.Detail = CheckFailed, detail
			msg := fmt.Sprintf("this statement fails on the target's data: %s has %s", dc.Table, dc.What)
			if detail != "" {
				msg += ": " + detail
			}
			addFinding(rep, m, "data-check-failed", dc.Line, dc.Statement, "%s", msg)
		default:
			res.Outcome = CheckPassed
		}
		rep.Live.DataChecks = append(rep.Live.DataChecks, res)
	}
}

// runDataCheck resolves dc's query against the catalog when needed and
// runs it. violated is true when a row was found (or, for a type check, a
// value failed to convert: detail is the conversion error).
func (t *Target) runDataCheck(ctx context.Context, conn *pgx.Conn, dc DataCheck) (violated bool, detail string, err error) {
	if t.schema != "" {
		if dc, err = dc.InSchema(defaultSchemaName, t.schema); err != nil {
			return false, "", err
		}
	}
	return RunDataCheck(ctx, conn, dc, t.timeout)
}

// RunDataCheck answers one data check on conn's database, in its own
// read-only transaction under statement_timeout timeout and a short
// lock_timeout (it never queues behind DDL). violated is true when a row
// was found (or, for a type check, a value failed to convert: detail is
// the conversion error). The rollout's pre-flight runs the plan's checks
// with it on every target before that target's apply.
func RunDataCheck(ctx context.Context, conn *pgx.Conn, dc DataCheck, timeout time.Duration) (violated bool, detail string, err error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return false, "", err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // read-only: nothing to keep
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d; SET LOCAL lock_timeout = 1000", timeout.Milliseconds())); err != nil {
		return false, "", err
	}
	q, err := resolveCheck(ctx, tx, dc)
	if err != nil || q == "" {
		return false, "", err
	}
	var one int
	err = tx.QueryRow(ctx, q).Scan(&one)
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, "", nil
	case err == nil:
		return true, "", nil
	case dc.Kind == DataCheckTypeFit && errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22"):
		return true, pgErrorText(err), nil // a data exception converting a value
	}
	return false, "", err
}

// resolveCheck returns dc's query, reading from the catalog what the
// migration does not say: the old type of a retyped column, the primary
// key a foreign key references, the definition of a validated constraint.
// "" means there is nothing to check (the old type always fits).
func resolveCheck(ctx context.Context, q Querier, dc DataCheck) (string, error) {
	switch dc.Kind {
	case DataCheckTypeFit:
		return typeFitQuery(ctx, q, dc)
	case DataCheckForeignKey:
		if dc.Query != "" {
			return dc.Query, nil
		}
		var cols []string
		err := q.QueryRow(ctx, `SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_constraint c
CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
WHERE c.conrelid = $1::regclass AND c.contype = 'p'`, quoteQualified(dc.RefTable)).Scan(&cols)
		if err != nil {
			return "", fmt.Errorf("primary key of %s: %w", dc.RefTable, err)
		}
		if len(cols) != len(dc.Columns) {
			return "", fmt.Errorf("%s has no primary key of %d columns to reference", dc.RefTable, len(dc.Columns))
		}
		return ForeignKeyQuery(dc.Table, dc.Columns, dc.RefTable, cols), nil
	case DataCheckValidate:
		return validateQuery(ctx, q, dc)
	}
	return dc.Query, nil
}

// typeFitQuery checks the values of a retyped column: their length against
// a length limit, or their conversion to the new type (an error is a
// violation). The column's current type decides whether a check is needed.
func typeFitQuery(ctx context.Context, q Querier, dc DataCheck) (string, error) {
	col := dc.Columns[0]
	var old string // read to fail clearly on a missing column; the dry run reports it too
	err := q.QueryRow(ctx, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped`, quoteQualified(dc.Table), col).Scan(&old)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("column %s.%s does not exist", dc.Table, col)
	}
	if err != nil {
		return "", fmt.Errorf("type of %s.%s: %w", dc.Table, col, err)
	}
	c := quoteIdent(col)
	if dc.MaxLength > 0 {
		return fmt.Sprintf("SELECT 1 FROM %s WHERE length(%s::text) > %d LIMIT 1", quoteQualified(dc.Table), c, dc.MaxLength), nil
	}
	// The conversion is evaluated on every non-NULL value. The predicate is
	// never true (a converted non-NULL value is not NULL), so the query
	// returns no row when every value fits, and fails with a data exception
	// (SQLSTATE class 22) on the first value that does not.
	return fmt.Sprintf("SELECT 1 FROM %s WHERE %s IS NOT NULL AND (%s)::%s IS NULL LIMIT 1", quoteQualified(dc.Table), c, c, dc.NewType), nil
}

// validateQuery reads a NOT VALID constraint from the catalog and returns
// the query for its violating rows.
func validateQuery(ctx context.Context, q Querier, dc DataCheck) (string, error) {
	var (
		typ, def string
		cols     []string
		ref      string
		refCols  []string
	)
	err := q.QueryRow(ctx, `SELECT c.contype::text, pg_get_constraintdef(c.oid),
  coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(n, ord)
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n), '{}'),
  coalesce(c.confrelid::regclass::text, ''),
  coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY k(n, ord)
    JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n), '{}')
FROM pg_constraint c WHERE c.conrelid = $1::regclass AND c.conname = $2`, quoteQualified(dc.Table), dc.Constraint).
		Scan(&typ, &def, &cols, &ref, &refCols)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("constraint %s on %s does not exist on the target", dc.Constraint, dc.Table)
	}
	if err != nil {
		return "", fmt.Errorf("constraint %s: %w", dc.Constraint, err)
	}
	switch typ {
	case "c":
		expr := strings.TrimSuffix(strings.TrimPrefix(def, "CHECK "), " NOT VALID")
		return fmt.Sprintf("SELECT 1 FROM %s WHERE NOT %s LIMIT 1", quoteQualified(dc.Table), expr), nil
	case "f":
		var conds, match []string
		for i, c := range cols {
			conds = append(conds, "c."+quoteIdent(c)+" IS NOT NULL")
			match = append(match, "p."+quoteIdent(refCols[i])+" = c."+quoteIdent(c))
		}
		// ref is already a quoted, search_path-resolved regclass name.
		return fmt.Sprintf("SELECT 1 FROM %s c WHERE %s AND NOT EXISTS (SELECT 1 FROM %s p WHERE %s) LIMIT 1",
			quoteQualified(dc.Table), strings.Join(conds, " AND "), ref, strings.Join(match, " AND ")), nil
	}
	return "", nil
}
