package lab

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/analysis/internal/pgast"
)

// Live workload features: how the running application uses what a
// migration removes, renames or retypes. Measured on the target database
// (pg_stat_statements, pg_stat_user_indexes) by WorkloadFeatures.
const (
	// FeatureWorkloadRefs counts the application's query classes
	// (pg_stat_statements entries of SELECT/INSERT/UPDATE/DELETE that ran)
	// naming a table the Up section drops or renames, or a column of it
	// that Up drops, renames or changes the type of: those queries fail (or
	// lose their cached plans) the moment the change commits.
	FeatureWorkloadRefs = "live_workload_refs"
	// FeatureDroppedIndexScans is ln(1 + index scans so far) of the indexes
	// the Up section drops: a used index makes its queries scan the table.
	FeatureDroppedIndexScans = "live_dropped_index_scans_log1p"
)

// touched is what a migration takes away from the application.
type touched struct {
	tables  []string            // dropped or renamed tables
	columns map[string][]string // table -> dropped, renamed or retyped columns
	indexes []string            // dropped indexes
}

// removals parses the Up statements and lists what they drop, rename or
// retype. Statements that do not parse are skipped (the analysis reports
// them).
func removals(up []string) touched {
	t := touched{columns: map[string][]string{}}
	for _, sql := range up {
		res, err := pgast.Parse(sql)
		if err != nil {
			continue
		}
		for _, raw := range res.GetStmts() {
			n := raw.GetStmt()
			switch {
			case n.GetAlterTableStmt() != nil:
				at := n.GetAlterTableStmt()
				rel := at.GetRelation().GetRelname()
				for _, c := range at.GetCmds() {
					cmd := c.GetAlterTableCmd()
					switch cmd.GetSubtype() {
					case pgast.AlterTableType_AT_DropColumn, pgast.AlterTableType_AT_AlterColumnType:
						t.columns[rel] = append(t.columns[rel], cmd.GetName())
					}
				}
			case n.GetRenameStmt() != nil:
				rs := n.GetRenameStmt()
				rel := rs.GetRelation().GetRelname()
				switch rs.GetRenameType() {
				case pgast.ObjectType_OBJECT_COLUMN:
					t.columns[rel] = append(t.columns[rel], rs.GetSubname())
				case pgast.ObjectType_OBJECT_TABLE:
					t.tables = append(t.tables, rel)
				}
			case n.GetDropStmt() != nil:
				ds := n.GetDropStmt()
				for _, obj := range ds.GetObjects() {
					items := obj.GetList().GetItems()
					if len(items) == 0 {
						continue
					}
					name := items[len(items)-1].GetString_().GetSval()
					switch ds.GetRemoveType() {
					case pgast.ObjectType_OBJECT_INDEX:
						t.indexes = append(t.indexes, name)
					case pgast.ObjectType_OBJECT_TABLE:
						t.tables = append(t.tables, name)
					}
				}
			}
		}
	}
	return t
}

var safeIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)

// WorkloadFeatures measures FeatureWorkloadRefs and
// FeatureDroppedIndexScans for the Up statements on the database conn is
// connected to. Without the pg_stat_statements extension the references
// count as 0.
func WorkloadFeatures(ctx context.Context, conn Querier, up []string) (map[string]float64, error) {
	t := removals(up)
	out := map[string]float64{FeatureWorkloadRefs: 0, FeatureDroppedIndexScans: 0}
	var patterns [][2]string // table regex, column regex ("" = any)
	for _, tb := range t.tables {
		if safeIdent.MatchString(tb) {
			patterns = append(patterns, [2]string{`\m` + tb + `\M`, ""})
		}
	}
	rels := make([]string, 0, len(t.columns))
	for rel := range t.columns {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	for _, rel := range rels {
		for _, col := range t.columns[rel] {
			if safeIdent.MatchString(rel) && safeIdent.MatchString(col) {
				patterns = append(patterns, [2]string{`\m` + rel + `\M`, `\m` + col + `\M`})
			}
		}
	}
	if len(patterns) > 0 {
		var has bool
		err := conn.QueryRow(ctx, `SELECT to_regclass('pg_stat_statements') IS NOT NULL
AND current_setting('shared_preload_libraries') LIKE '%pg_stat_statements%'`).Scan(&has)
		if err != nil {
			return nil, fmt.Errorf("lab: workload: %w", err)
		}
		if has {
			var conds []string
			for _, p := range patterns {
				c := fmt.Sprintf("query ~* '%s'", p[0])
				if p[1] != "" {
					c += fmt.Sprintf(" AND query ~* '%s'", p[1])
				}
				conds = append(conds, "("+c+")")
			}
			q := `SELECT count(*)::float8 FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND calls > 0
AND query ~* '^\s*(select|insert|update|delete|with)\M' AND (` + strings.Join(conds, " OR ") + ")"
			var n float64
			if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
				return nil, fmt.Errorf("lab: workload references: %w", err)
			}
			out[FeatureWorkloadRefs] = n
		}
	}
	if len(t.indexes) > 0 {
		var scans float64
		err := conn.QueryRow(ctx, `SELECT coalesce(sum(idx_scan), 0)::float8 FROM pg_stat_user_indexes WHERE indexrelname = ANY($1)`, t.indexes).Scan(&scans)
		if err != nil {
			return nil, fmt.Errorf("lab: dropped index scans: %w", err)
		}
		out[FeatureDroppedIndexScans] = math.Log1p(scans)
	}
	return out, nil
}

// Querier is the one method WorkloadFeatures needs (a *pgx.Conn, a
// *pgxpool.Pool or a transaction).
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
