package analysis

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// removals is what the Up section takes away from the application: tables
// it drops or renames, columns it drops, renames or retypes, and indexes
// it drops. Read from the report's statements (no second parse).
type removals struct {
	tables  []string            // unqualified table names
	columns map[string][]string // unqualified table → columns
	indexes []string            // unqualified index names
}

func removalsOf(rep *Report) removals {
	r := removals{columns: map[string][]string{}}
	for _, s := range rep.Statements {
		if s.Section != SectionUp {
			continue
		}
		for _, o := range append(append([]Object(nil), s.Drops...), s.Alters...) {
			switch o.Kind {
			case "table":
				r.tables = append(r.tables, o.Table)
			case "column":
				r.columns[o.Table] = append(r.columns[o.Table], o.Name)
			case "index":
				r.indexes = append(r.indexes, o.Name)
			}
		}
	}
	return r
}

var safeIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)

// measureWorkload sets live.WorkloadRefs and live.DroppedIndexScans for
// what rep's Up section removes. pg_stat_statements entries are matched by
// whole-word table (and column) names in their normalized text; when the
// view cannot be read the references count as 0 and WorkloadStats is
// false. conn must not be inside a transaction (a failed read would abort
// it).
func measureWorkload(ctx context.Context, conn Querier, rep *Report, live *LiveContext) error {
	rm := removalsOf(rep)
	var patterns [][2]string // table regex, column regex ("" = any)
	for _, tb := range rm.tables {
		if safeIdent.MatchString(tb) {
			patterns = append(patterns, [2]string{`\m` + tb + `\M`, ""})
		}
	}
	rels := make([]string, 0, len(rm.columns))
	for rel := range rm.columns {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	for _, rel := range rels {
		for _, col := range rm.columns[rel] {
			if safeIdent.MatchString(rel) && safeIdent.MatchString(col) {
				patterns = append(patterns, [2]string{`\m` + rel + `\M`, `\m` + col + `\M`})
			}
		}
	}
	if err := conn.QueryRow(ctx, `SELECT to_regclass('pg_stat_statements') IS NOT NULL`).Scan(&live.WorkloadStats); err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	if live.WorkloadStats && len(patterns) > 0 {
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
		// The view exists but may not be readable: the library not in
		// shared_preload_libraries, or a role that may not see query texts
		// of other users. Then the workload is unknown, not an error.
		if err := conn.QueryRow(ctx, q).Scan(&live.WorkloadRefs); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			live.WorkloadStats, live.WorkloadRefs = false, 0
		}
	}
	if len(rm.indexes) > 0 {
		err := conn.QueryRow(ctx, `SELECT coalesce(sum(idx_scan), 0)::float8 FROM pg_stat_user_indexes WHERE indexrelname = ANY($1)`,
			rm.indexes).Scan(&live.DroppedIndexScans)
		if err != nil {
			return fmt.Errorf("dropped index scans: %w", err)
		}
	}
	return nil
}
