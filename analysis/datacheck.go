package analysis

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/analysis/internal/pgast"
)

// DataCheck is a question about the target's rows that decides whether an
// Up statement can succeed on them: PostgreSQL checks these when the
// statement runs, after it may have held its lock for a whole scan.
// Analyze lists them (Report.DataChecks); Target.Inspect answers them on a
// live database, read-only and under a statement_timeout.
type DataCheck struct {
	// Kind is one of the DataCheck* constants.
	Kind string `json:"kind"`
	// Table is the schema-qualified table whose rows are read.
	Table string `json:"table"`
	// Columns are the columns involved (the key, the column, ...).
	Columns []string `json:"columns,omitempty"`
	// Line and Statement locate the Up statement in the file.
	Line      int `json:"line"`
	Statement int `json:"statement"`
	// What says in words what a violating row is ("duplicate (email)").
	What string `json:"what"`
	// Query returns a row when the data violates the statement. Empty for
	// the kinds that are resolved against the catalog first
	// (DataCheckValidate, DataCheckTypeFit, DataCheckForeignKey without
	// referenced columns).
	Query string `json:"query,omitempty"`
	// Constraint names the constraint a DataCheckValidate validates.
	Constraint string `json:"constraint,omitempty"`
	// NewType is the new type as SQL (DataCheckTypeFit).
	NewType string `json:"new_type,omitempty"`
	// MaxLength is the length limit of a varchar(n), char(n) or
	// varbit(n) NewType (0 when none).
	MaxLength int `json:"max_length,omitempty"`
	// RefTable and RefColumns are the referenced side of a foreign key
	// (RefColumns empty: the referenced table's primary key).
	RefTable   string   `json:"ref_table,omitempty"`
	RefColumns []string `json:"ref_columns,omitempty"`
	// Expr is a CHECK constraint's expression as SQL (DataCheckCheck).
	Expr string `json:"expr,omitempty"`
	// RefEmpty: the referenced table is created empty by the migration
	// itself, so every row whose key has no NULL column violates the
	// foreign key (DataCheckForeignKey).
	RefEmpty bool `json:"ref_empty,omitempty"`
	// NullsNotDistinct: a UNIQUE ... NULLS NOT DISTINCT, where NULL keys
	// are duplicates too (DataCheckUnique).
	NullsNotDistinct bool `json:"nulls_not_distinct,omitempty"`
}

// staticQuery builds Query from the check's fields for the kinds that need
// nothing from the catalog; "" for the others.
func (dc DataCheck) staticQuery() string {
	t := quoteQualified(dc.Table)
	switch dc.Kind {
	case DataCheckUnique:
		keys := quoteIdents(dc.Columns)
		q := "SELECT 1 FROM " + t
		if !dc.NullsNotDistinct {
			var conds []string
			for _, k := range keys {
				conds = append(conds, k+" IS NOT NULL")
			}
			q += " WHERE " + strings.Join(conds, " AND ")
		}
		return q + " GROUP BY " + strings.Join(keys, ", ") + " HAVING count(*) > 1 LIMIT 1"
	case DataCheckNotNull:
		return fmt.Sprintf("SELECT 1 FROM %s WHERE %s IS NULL LIMIT 1", t, quoteIdent(dc.Columns[0]))
	case DataCheckNonEmpty:
		return fmt.Sprintf("SELECT 1 FROM %s LIMIT 1", t)
	case DataCheckCheck:
		return fmt.Sprintf("SELECT 1 FROM %s WHERE NOT (%s) LIMIT 1", t, dc.Expr)
	case DataCheckForeignKey:
		if dc.RefEmpty { // nothing to match: any row with a whole key violates
			return fmt.Sprintf("SELECT 1 FROM %s c WHERE %s LIMIT 1", t, keySet(dc.Columns))
		}
		if len(dc.RefColumns) > 0 {
			return ForeignKeyQuery(dc.Table, dc.Columns, dc.RefTable, dc.RefColumns)
		}
	}
	return ""
}

// InSchema returns the check as it reads a schema-per-tenant target's
// rows: its tables in schema from (the default schema the analysis
// qualified unqualified names with) are those of schema to, and its query
// is built again for them. A check stored before its kind kept the parts
// of its query (a CHECK without Expr) cannot be moved: the error says so.
func (dc DataCheck) InSchema(from, to string) (DataCheck, error) {
	move := func(q string) string {
		if s, n := splitQualified(q); s == from {
			return qualify(to, n, "")
		}
		return q
	}
	if dc.Kind == DataCheckCheck && dc.Expr == "" {
		return dc, fmt.Errorf("data check %q on %s was planned without its expression: plan the change again to check it on schema %s", dc.What, dc.Table, to)
	}
	dc.Table = move(dc.Table)
	if dc.RefTable != "" {
		dc.RefTable = move(dc.RefTable)
	}
	dc.Query = dc.staticQuery()
	return dc, nil
}

// The kinds of DataCheck.
const (
	// DataCheckUnique: a new UNIQUE index or constraint, or a PRIMARY KEY,
	// fails on duplicate keys.
	DataCheckUnique = "unique"
	// DataCheckNotNull: SET NOT NULL or a PRIMARY KEY fails on NULLs.
	DataCheckNotNull = "not_null"
	// DataCheckNonEmpty: ADD COLUMN ... NOT NULL without a DEFAULT fails
	// on a table with any row.
	DataCheckNonEmpty = "non_empty"
	// DataCheckCheck: ADD CONSTRAINT ... CHECK fails on rows where the
	// expression is false.
	DataCheckCheck = "check"
	// DataCheckForeignKey: ADD FOREIGN KEY fails on rows whose key has no
	// referenced row.
	DataCheckForeignKey = "foreign_key"
	// DataCheckValidate: VALIDATE CONSTRAINT fails on rows that violate the
	// existing NOT VALID constraint (CHECK or FOREIGN KEY, read from the
	// catalog).
	DataCheckValidate = "validate"
	// DataCheckTypeFit: ALTER COLUMN ... TYPE fails on values that do not
	// fit the new type (too long, out of range, not convertible).
	DataCheckTypeFit = "type_fit"
)

// dataCheckable reports whether the target's rows of t can answer a
// check about cols: the walker is in the Up section and they are on the
// target as this point reads them (onTarget).
func (w *walker) dataCheckable(t string, cols ...string) bool {
	return w.sec == SectionUp && w.onTarget(t, cols...)
}

// onTarget reports whether table t and its columns cols are on the target
// as this point of the section reads them: t existed before the migration
// under this name and still has its rows (no earlier RENAME to it, no
// TRUNCATE of it), and none of cols was added or renamed to by it.
func (w *walker) onTarget(t string, cols ...string) bool {
	if !w.existing(t) || w.unread[t] {
		return false
	}
	for _, c := range cols {
		if w.created[t+"#"+c] || w.unread[t+"#"+c] {
			return false
		}
	}
	return true
}

// columnRefs returns the column names an expression reads (the last part
// of each column reference).
func columnRefs(n *pgast.Node) []string {
	var cols []string
	pgast.Walk(n, func(node any) bool {
		if cr, ok := node.(*pgast.ColumnRef); ok {
			if parts := stringList(cr.Fields); len(parts) > 0 {
				cols = append(cols, parts[len(parts)-1])
			}
		}
		return true
	})
	return cols
}

func (w *walker) addDataCheck(s *stmt, c DataCheck) {
	c.Line, c.Statement = s.p.line, s.rep.Index
	c.Query = c.staticQuery()
	w.rep.DataChecks = append(w.rep.DataChecks, c)
}

// checkUnique asks for duplicate keys of a new unique index or constraint
// on plain columns (NULLs are distinct unless nullsNotDistinct).
func (w *walker) checkUnique(s *stmt, t string, cols []string, nullsNotDistinct bool) {
	if len(cols) == 0 || !w.dataCheckable(t, cols...) {
		return
	}
	w.addDataCheck(s, DataCheck{Kind: DataCheckUnique, Table: t, Columns: cols, NullsNotDistinct: nullsNotDistinct,
		What: fmt.Sprintf("rows with a duplicate (%s)", strings.Join(cols, ", "))})
}

// checkNotNull asks for NULLs in col.
func (w *walker) checkNotNull(s *stmt, t, col string) {
	if !w.dataCheckable(t, col) {
		return
	}
	w.addDataCheck(s, DataCheck{Kind: DataCheckNotNull, Table: t, Columns: []string{col},
		What: fmt.Sprintf("rows where %s is NULL", col)})
}

// checkNonEmpty asks whether t has any row (a new NOT NULL column without
// a default cannot be filled for them).
func (w *walker) checkNonEmpty(s *stmt, t, col string) {
	if !w.dataCheckable(t) {
		return
	}
	w.addDataCheck(s, DataCheck{Kind: DataCheckNonEmpty, Table: t, Columns: []string{col},
		What: fmt.Sprintf("existing rows, which the new NOT NULL column %s without a DEFAULT cannot fill", col)})
}

// checkCheck asks, for statement s, for rows where CHECK constraint c's
// expression (written in statement src) is false (NULL passes a CHECK, and
// NOT NULL is not true, so it passes here). An expression that reads a
// column the migration adds or renames is not asked: the target's rows do
// not have it yet.
func (w *walker) checkCheck(s, src *stmt, t string, c *pgast.Constraint) {
	expr := checkExprText(src.p, c)
	if expr == "" || !w.dataCheckable(t, columnRefs(c.RawExpr)...) {
		return
	}
	w.addDataCheck(s, DataCheck{Kind: DataCheckCheck, Table: t, Constraint: c.Conname, Expr: expr,
		What: fmt.Sprintf("rows violating CHECK (%s)", expr)})
}

// checkForeignKey asks for rows whose key has no referenced row (MATCH
// SIMPLE: a key with a NULL column is not checked). A referenced table the
// migration created is asked about only while it is surely empty: then
// every row with a whole key violates.
func (w *walker) checkForeignKey(s *stmt, t string, c *pgast.Constraint) {
	cols, ref := stringList(c.FkAttrs), rangeVarName(c.Pktable, w.cfg.defaultSchema)
	refCols := stringList(c.PkAttrs)
	if len(cols) == 0 || !w.dataCheckable(t, cols...) || (len(refCols) > 0 && len(refCols) != len(cols)) {
		return
	}
	dc := DataCheck{Kind: DataCheckForeignKey, Table: t, Columns: cols, RefTable: ref, RefColumns: refCols,
		What: fmt.Sprintf("rows whose (%s) has no row in %s", strings.Join(cols, ", "), ref)}
	if w.created[ref] {
		if !w.empty[ref] {
			return // created and written to by the file: its rows are unknown
		}
		dc.RefEmpty = true
		dc.What = fmt.Sprintf("rows whose (%s) is set, while %s is created empty by this migration", strings.Join(cols, ", "), ref)
	}
	w.addDataCheck(s, dc)
}

// ForeignKeyQuery returns a query that finds a row of table whose key cols
// has no matching row of ref(refCols), with MATCH SIMPLE semantics.
func ForeignKeyQuery(table string, cols []string, ref string, refCols []string) string {
	var match []string
	for i, c := range cols {
		match = append(match, "p."+quoteIdent(refCols[i])+" = c."+quoteIdent(c))
	}
	return fmt.Sprintf("SELECT 1 FROM %s c WHERE %s AND NOT EXISTS (SELECT 1 FROM %s p WHERE %s) LIMIT 1",
		quoteQualified(table), keySet(cols), quoteQualified(ref), strings.Join(match, " AND "))
}

// keySet is the condition that a row's key cols (of alias c) has no NULL
// column: under MATCH SIMPLE only such a key is checked.
func keySet(cols []string) string {
	var notNull []string
	for _, c := range cols {
		notNull = append(notNull, "c."+quoteIdent(c)+" IS NOT NULL")
	}
	return strings.Join(notNull, " AND ")
}

// emptyTables forgets that a table the section created is empty once
// statement s may write rows to it: an INSERT, MERGE or COPY into it, an
// ATTACH PARTITION under it, or a statement whose writes the walk cannot
// see (DO, CALL, a SELECT that may call a function), which forgets them
// all.
func (w *walker) emptyTables(s *stmt) {
	def := w.cfg.defaultSchema
	switch n := s.p.node.GetNode().(type) {
	case *pgast.Node_InsertStmt:
		delete(w.empty, rangeVarName(n.InsertStmt.Relation, def))
	case *pgast.Node_MergeStmt:
		delete(w.empty, rangeVarName(n.MergeStmt.Relation, def))
	case *pgast.Node_CopyStmt:
		if n.CopyStmt.Relation != nil {
			delete(w.empty, rangeVarName(n.CopyStmt.Relation, def))
		}
	case *pgast.Node_AlterTableStmt:
		for _, c := range n.AlterTableStmt.Cmds {
			if c.GetAlterTableCmd().GetSubtype() == pgast.AlterTableType_AT_AttachPartition {
				delete(w.empty, rangeVarName(n.AlterTableStmt.Relation, def))
			}
		}
	case *pgast.Node_DoStmt, *pgast.Node_CallStmt, *pgast.Node_SelectStmt:
		clear(w.empty)
	}
}

// addedConstraint is a constraint an earlier statement added NOT VALID.
type addedConstraint struct {
	s *stmt
	c *pgast.Constraint
}

// checkValidate asks for rows violating a NOT VALID constraint that the
// statement validates. The constraint is read from the target's catalog,
// unless an earlier statement of the section added it: it is not on the
// target yet, so its definition comes from that statement.
func (w *walker) checkValidate(s *stmt, t, name string) {
	if !w.dataCheckable(t) {
		return
	}
	if a, ok := w.notValidAdd[t+"/"+name]; ok {
		switch a.c.Contype {
		case pgast.ConstrType_CONSTR_CHECK:
			w.checkCheck(s, a.s, t, a.c)
		case pgast.ConstrType_CONSTR_FOREIGN:
			w.checkForeignKey(s, t, a.c)
		}
		return
	}
	w.addDataCheck(s, DataCheck{Kind: DataCheckValidate, Table: t, Constraint: name,
		What: fmt.Sprintf("rows violating constraint %s", name)})
}

// checkTypeFit asks for values of col that do not fit the new type. A
// USING expression is not checked (its result is unknown without running it).
func (w *walker) checkTypeFit(s *stmt, t, col string, cd *pgast.ColumnDef) {
	if cd.RawDefault != nil || !w.dataCheckable(t, col) {
		return
	}
	typ, maxLen := typeSQL(cd.TypeName)
	if typ == "" || unboundedType(typ) {
		return
	}
	w.addDataCheck(s, DataCheck{Kind: DataCheckTypeFit, Table: t, Columns: []string{col}, NewType: typ, MaxLength: maxLen,
		What: fmt.Sprintf("values of %s that do not fit %s", col, typ)})
}

// unboundedType reports whether every value of a column's old type that
// could be stored fits typ without a check worth running: types with no
// length, precision or range limit narrower than the common sources.
func unboundedType(typ string) bool {
	switch typ {
	case `"text"`, `"varchar"`, `"numeric"`, `"int8"`, `"float8"`, `"jsonb"`, `"json"`, `"bytea"`:
		return true
	}
	return false
}

// typeSQL renders a parsed type name as SQL with quoted identifiers, and
// the length limit of the string and bit types that have one. It returns
// "" for types it cannot render faithfully (interval fields, %TYPE, SETOF).
func typeSQL(tn *pgast.TypeName) (string, int) {
	if tn == nil || tn.PctType || tn.Setof {
		return "", 0
	}
	names := stringList(tn.Names)
	if len(names) == 2 && names[0] == "pg_catalog" {
		names = names[1:]
	}
	if len(names) == 0 || (names[len(names)-1] == "interval" && len(tn.Typmods) > 0) {
		return "", 0
	}
	sql := pgx.Identifier(names).Sanitize()
	var mods []string
	for _, m := range tn.Typmods {
		c := m.GetAConst()
		if c == nil || c.GetIval() == nil {
			return "", 0
		}
		mods = append(mods, strconv.Itoa(int(c.GetIval().Ival)))
	}
	maxLen := 0
	if len(mods) > 0 {
		sql += "(" + strings.Join(mods, ",") + ")"
		switch names[len(names)-1] {
		case "varchar", "bpchar", "varbit", "bit":
			maxLen, _ = strconv.Atoi(mods[0])
		}
	}
	sql += strings.Repeat("[]", len(tn.ArrayBounds))
	return sql, maxLen
}

// checkExprText returns the source text of a CHECK constraint's expression
// (between the parentheses after CHECK), found with the PostgreSQL scanner
// from the constraint's location; "" when it cannot be located.
func checkExprText(p parsedStmt, c *pgast.Constraint) string {
	if c.Location < 0 || int(c.Location) >= len(p.src) {
		return ""
	}
	text := p.src[c.Location:]
	res, err := pgast.Scan(text)
	if err != nil {
		return ""
	}
	depth, open, sawCheck := 0, -1, false
	for _, t := range res.Tokens {
		switch {
		case !sawCheck:
			sawCheck = t.Token == pgast.Token_CHECK
		case t.Token == pgast.Token_ASCII_40:
			if depth == 0 {
				open = int(t.End)
			}
			depth++
		case t.Token == pgast.Token_ASCII_41:
			depth--
			if depth == 0 && open >= 0 && int(t.Start) <= len(text) {
				return strings.TrimSpace(text[open:t.Start])
			}
		case depth == 0:
			return "" // CHECK must be followed by "("
		}
	}
	return ""
}

// indexReads returns every column an index reads: its key columns and
// expressions, its INCLUDE columns and its predicate.
func indexReads(ix *pgast.IndexStmt) []string {
	var cols []string
	for _, p := range append(append([]*pgast.Node(nil), ix.IndexParams...), ix.IndexIncludingParams...) {
		if e := p.GetIndexElem(); e != nil {
			if e.Name != "" {
				cols = append(cols, e.Name)
			}
			if e.Expr != nil {
				cols = append(cols, columnRefs(e.Expr)...)
			}
		}
	}
	if ix.WhereClause != nil {
		cols = append(cols, columnRefs(ix.WhereClause)...)
	}
	return cols
}

// indexColumns returns the plain column names of an index's key, or nil
// when any key part is an expression.
func indexColumns(params []*pgast.Node) []string {
	var cols []string
	for _, p := range params {
		e := p.GetIndexElem()
		if e == nil || e.Name == "" || e.Expr != nil {
			return nil
		}
		cols = append(cols, e.Name)
	}
	return cols
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

func quoteIdents(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = quoteIdent(s)
	}
	return out
}

// quoteQualified quotes "schema.table" as "schema"."table".
func quoteQualified(q string) string {
	sch, name := splitQualified(q)
	if sch == "" {
		return quoteIdent(name)
	}
	return pgx.Identifier{sch, name}.Sanitize()
}
