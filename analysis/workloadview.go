package analysis

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/analysis/internal/pgast"
)

// The workload view: what a change does to the statements the database
// really runs (pg_stat_statements), read with the PostgreSQL parser.

// WorkloadStatement is one statement of the workload.
type WorkloadStatement struct {
	QueryID int64 `json:"query_id"`
	// Query is the normalized text ($1 for constants), cut to 300 bytes.
	Query string  `json:"query"`
	Calls float64 `json:"calls"`
	// CallsPerSec is Calls over the time since pg_stat_statements was
	// reset (0 when unknown).
	CallsPerSec float64 `json:"calls_per_sec"`
	// TotalMs is the total execution time so far.
	TotalMs float64 `json:"total_ms"`

	text string // the whole normalized text
}

// BrokenStatement is a workload statement the change will make fail.
type BrokenStatement struct {
	WorkloadStatement
	// Why says what the change does to it ("uses column orders.note, which
	// the change drops"); Line is the Up statement that does it.
	Why  string `json:"why"`
	Line int    `json:"line"`
}

// rowsQuerier runs a query returning rows (a *pgx.Conn, a pool, a pool
// connection).
type rowsQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// topStatementsSQL reads the most called and the most expensive statements
// of this database.
const topStatementsSQL = `
WITH s AS (
  SELECT queryid, query, calls, total_exec_time FROM pg_stat_statements
  WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND calls > 0 AND toplevel
    AND queryid IS NOT NULL -- another role's statements, whose text this role may not read
)
(SELECT * FROM s ORDER BY calls DESC LIMIT $1) UNION (SELECT * FROM s ORDER BY total_exec_time DESC LIMIT $1)`

// readWorkload returns the top statements (by calls and by total time,
// limit each), or nil when pg_stat_statements cannot be read.
func readWorkload(ctx context.Context, q Querier, limit int) ([]WorkloadStatement, error) {
	var since float64
	if err := q.QueryRow(ctx, `SELECT coalesce(extract(epoch FROM now() - stats_reset), 0)::float8 FROM pg_stat_statements_info`).Scan(&since); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, nil
	}
	rq, ok := q.(rowsQuerier)
	if !ok {
		return nil, nil
	}
	rows, err := rq.Query(ctx, topStatementsSQL, limit)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, nil
	}
	defer rows.Close()
	var out []WorkloadStatement
	for rows.Next() {
		var s WorkloadStatement
		if err := rows.Scan(&s.QueryID, &s.text, &s.Calls, &s.TotalMs); err != nil {
			return nil, fmt.Errorf("workload statements: %w", err)
		}
		s.Query = s.text
		if len(s.Query) > 300 {
			s.Query = s.Query[:300] + "…"
		}
		if since > 0 {
			s.CallsPerSec = s.Calls / since
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("workload statements: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Calls > out[j].Calls })
	return out, nil
}

// refs is what one statement names.
type refs struct {
	tables    map[string]bool            // qualified relation names
	columns   map[string]map[string]bool // qualified relation ("" = unknown) → column names
	funcs     map[string]bool            // function names (last part, lower case)
	types     map[string]bool            // type names (last part, lower case)
	inserts   map[string][]string        // INSERT target → named columns (nil: none named)
	compares  map[string][]string        // column name → string literals it is compared with
	unqualCol map[string]bool            // column names used without a table
}

// statementRefs parses sql and lists what it names; resolve maps a relation
// name as written (schema optional) to its qualified name ("" unknown).
func statementRefs(sql string, resolve func(string) string) (*refs, bool) {
	res, err := pgast.Parse(sql)
	if err != nil {
		return nil, false
	}
	r := &refs{tables: map[string]bool{}, columns: map[string]map[string]bool{}, funcs: map[string]bool{}, types: map[string]bool{},
		inserts: map[string][]string{}, compares: map[string][]string{}, unqualCol: map[string]bool{}}
	alias := map[string]string{} // alias or bare name → qualified
	pgast.Walk(res, func(n any) bool {
		if rv, ok := n.(*pgast.RangeVar); ok {
			name := rv.Relname
			if rv.Schemaname != "" {
				name = rv.Schemaname + "." + name
			}
			q := resolve(name)
			if q == "" {
				return true
			}
			r.tables[q] = true
			alias[rv.Relname] = q
			if rv.Alias != nil && rv.Alias.Aliasname != "" {
				alias[rv.Alias.Aliasname] = q
			}
		}
		return true
	})
	pgast.Walk(res, func(n any) bool {
		switch v := n.(type) {
		case *pgast.ColumnRef:
			parts := stringList(v.Fields)
			switch len(parts) {
			case 1:
				r.unqualCol[parts[0]] = true
			case 0:
			default:
				t := alias[parts[len(parts)-2]]
				if r.columns[t] == nil {
					r.columns[t] = map[string]bool{}
				}
				r.columns[t][parts[len(parts)-1]] = true
			}
		case *pgast.FuncCall:
			if names := stringList(v.Funcname); len(names) > 0 {
				r.funcs[lower(names[len(names)-1])] = true
			}
		case *pgast.TypeCast:
			if v.TypeName != nil {
				if names := stringList(v.TypeName.Names); len(names) > 0 {
					r.types[lower(names[len(names)-1])] = true
				}
			}
		case *pgast.InsertStmt:
			if v.Relation != nil {
				t := alias[v.Relation.Relname]
				var cols []string
				for _, c := range v.Cols {
					if rt := c.GetResTarget(); rt != nil {
						cols = append(cols, rt.Name)
					}
				}
				r.inserts[t] = cols
			}
		case *pgast.A_Expr:
			col, lit := v.Lexpr.GetColumnRef(), v.Rexpr.GetAConst()
			if col == nil {
				col, lit = v.Rexpr.GetColumnRef(), v.Lexpr.GetAConst()
			}
			if col != nil && lit != nil && lit.GetSval() != nil {
				parts := stringList(col.Fields)
				if len(parts) > 0 {
					c := parts[len(parts)-1]
					r.compares[c] = append(r.compares[c], lit.GetSval().Sval)
				}
			}
		}
		return true
	})
	return r, true
}

// usesColumn reports whether the statement names column col of table t
// (qualified, or unqualified while t is among its tables).
func (r *refs) usesColumn(t, col string) bool {
	return r.columns[t][col] || (r.tables[t] && r.unqualCol[col])
}

var numericType = regexp.MustCompile(`^(int[248]?|integer|smallint|bigint|numeric|decimal|real|float[48]?|double precision)\b`)

// breakage says why the change makes a statement that names what r lists
// fail, and the line of the Up statement that does it ("" when nothing). A
// table, view or column that a later statement of Up creates again under
// the same name (a rename with a compatibility view, a drop and re-create)
// is not gone.
func breakage(rep *Report, r *refs) (string, int) {
	for i, s := range rep.Statements {
		if s.Section != SectionUp {
			continue
		}
		for _, o := range s.Drops {
			switch o.Kind {
			case "table", "view", "matview", "materialized view", "foreign table", "sequence":
				if t := qualify(o.Schema, o.Table, "public"); r.tables[t] && !recreated(rep, i, t, "") {
					return fmt.Sprintf("reads %s, which the change drops", t), s.Line
				}
			case "column":
				if t := qualify(o.Schema, o.Table, "public"); r.usesColumn(t, o.Name) && !recreated(rep, i, t, o.Name) {
					return fmt.Sprintf("uses column %s.%s, which the change drops", t, o.Name), s.Line
				}
			case "function", "procedure":
				_, bare := splitQualified(o.Name)
				if r.funcs[lower(bare)] {
					return fmt.Sprintf("calls %s, which the change drops", o.Name), s.Line
				}
			case "type":
				_, bare := splitQualified(o.Name)
				if r.types[lower(bare)] {
					return fmt.Sprintf("casts to type %s, which the change drops", o.Name), s.Line
				}
			}
		}
		for _, o := range s.Alters {
			t := qualify(o.Schema, o.Table, "public")
			switch {
			case o.Kind == "table" && r.tables[t] && !recreated(rep, i, t, ""):
				return fmt.Sprintf("reads %s, which the change renames", t), s.Line
			case o.Kind == "column" && strings.HasPrefix(s.Kind, "rename") && r.usesColumn(t, o.Name) && !recreated(rep, i, t, o.Name):
				return fmt.Sprintf("uses column %s.%s, which the change renames", t, o.Name), s.Line
			case o.Kind == "column" && s.Kind == "alter_table" && r.tables[t]:
				for _, lit := range r.compares[o.Name] {
					if typ := newColumnType(s.SQL, o.Name); numericType.MatchString(typ) {
						if _, err := strconv.ParseFloat(lit, 64); err != nil {
							return fmt.Sprintf("compares %s.%s with the text '%s', which the change makes %s", t, o.Name, lit, typ), s.Line
						}
					}
				}
			}
		}
		for _, c := range s.Creates {
			t := qualify(c.Schema, c.Table, "public")
			if c.Kind != "column" || !addsRequiredColumn(s.SQL, c.Name) {
				continue
			}
			if cols, ok := r.inserts[t]; ok && !contains(cols, c.Name) {
				return fmt.Sprintf("inserts into %s without the new NOT NULL column %s, which has no default", t, c.Name), s.Line
			}
		}
	}
	return "", 0
}

// recreated reports whether an Up statement after the i-th creates the
// relation table (qualified) again, or with column set, that column of it.
func recreated(rep *Report, i int, table, column string) bool {
	for _, s := range rep.Statements[i+1:] {
		if s.Section != SectionUp {
			continue
		}
		for _, c := range s.Creates {
			name := c.Table
			if name == "" {
				name = c.Name
			}
			if qualify(c.Schema, name, "public") != table {
				continue
			}
			switch {
			case column == "" && c.Kind != "column" && c.Kind != "index" && c.Kind != "constraint" && c.Kind != "trigger":
				return true
			case column != "" && c.Kind == "column" && c.Name == column:
				return true
			}
		}
	}
	return false
}

// newColumnType is the type an ALTER TABLE ... ALTER COLUMN col TYPE gives
// col, as written (lower case), from the statement's parse tree.
func newColumnType(sql, col string) string {
	res, err := pgast.Parse(sql)
	if err != nil {
		return ""
	}
	var typ string
	pgast.Walk(res, func(n any) bool {
		if cmd, ok := n.(*pgast.AlterTableCmd); ok && cmd.Subtype == pgast.AlterTableType_AT_AlterColumnType && cmd.Name == col {
			if cd := cmd.Def.GetColumnDef(); cd != nil && cd.TypeName != nil {
				names := stringList(cd.TypeName.Names)
				typ = lower(names[len(names)-1])
			}
		}
		return true
	})
	return typ
}

// addsRequiredColumn reports whether sql adds column col NOT NULL without a
// default.
func addsRequiredColumn(sql, col string) bool {
	res, err := pgast.Parse(sql)
	if err != nil {
		return false
	}
	found := false
	pgast.Walk(res, func(n any) bool {
		cd, ok := n.(*pgast.ColumnDef)
		if !ok || cd.Colname != col {
			return true
		}
		notNull, dflt := cd.IsNotNull, cd.RawDefault != nil
		for _, c := range cd.Constraints {
			switch c.GetConstraint().GetContype() {
			case pgast.ConstrType_CONSTR_NOTNULL, pgast.ConstrType_CONSTR_PRIMARY:
				notNull = true
			case pgast.ConstrType_CONSTR_DEFAULT, pgast.ConstrType_CONSTR_IDENTITY, pgast.ConstrType_CONSTR_GENERATED:
				dflt = true
			}
		}
		found = notNull && !dflt
		return false
	})
	return found
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// findBroken lists the workload statements the change breaks. tenant is a
// schema-per-tenant target's schema (""), whose tables the report names
// as the default schema's.
func findBroken(ctx context.Context, q Querier, rep *Report, stmts []WorkloadStatement, tenant string) ([]BrokenStatement, error) {
	cache := map[string]string{}
	resolve := func(name string) string {
		if v, ok := cache[name]; ok {
			return v
		}
		var qn string
		err := q.QueryRow(ctx, `SELECT coalesce((SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass($1)), '')`, name).Scan(&qn)
		if err != nil {
			qn = ""
		}
		qn = fromTenant(tenant, qn)
		cache[name] = qn
		return qn
	}
	var out []BrokenStatement
	for _, s := range stmts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !isDML(s.text) {
			continue // DDL and utility statements (pg_dump's LOCK TABLE, ...) are no workload
		}
		r, ok := statementRefs(s.text, resolve)
		if !ok {
			continue
		}
		if why, line := breakage(rep, r); why != "" {
			out = append(out, BrokenStatement{WorkloadStatement: s, Why: why, Line: line})
		}
	}
	return out, nil
}

// RecheckBroken judges stored broken statements (a LiveContext measured
// earlier) again by the current rules, resolving table names through the
// report's context: the tables the change touches, which are the only
// ones a statement it breaks can name. The lab uses it so that a record
// measured before a rule changed gets the product's current gate.
func (r *Report) RecheckBroken(broken []BrokenStatement) []BrokenStatement {
	resolve := func(name string) string {
		schema, bare := splitQualified(name)
		q := qualify(schema, bare, defaultSchemaName)
		if _, ok := r.Context[q]; ok {
			return q
		}
		return ""
	}
	var out []BrokenStatement
	for _, b := range broken {
		refs, ok := statementRefs(b.Query, resolve)
		if !ok {
			continue
		}
		if why, line := breakage(r, refs); why != "" {
			b.Why, b.Line = why, line
			out = append(out, b)
		}
	}
	return out
}

// isDML reports whether sql is one SELECT, INSERT, UPDATE, DELETE or MERGE.
func isDML(sql string) bool {
	res, err := pgast.Parse(sql)
	if err != nil || len(res.Stmts) != 1 {
		return false
	}
	switch res.Stmts[0].Stmt.GetNode().(type) {
	case *pgast.Node_SelectStmt, *pgast.Node_InsertStmt, *pgast.Node_UpdateStmt, *pgast.Node_DeleteStmt, *pgast.Node_MergeStmt:
		return true
	}
	return false
}
