package analysis

import (
	"strings"

	"github.com/schemacanary/schemacanary/analysis/internal/pgast"
)

// Rules about objects beyond tables and columns: views, functions, types,
// triggers and policies dropped; CASCADE; indexes on partitioned tables;
// replica identity, autovacuum and row-level security; revoked
// privileges; enum values used before they exist; foreign keys without an
// index on the referencing side.

// objectState is the walker's memory for these rules.
type objectState struct {
	// enumValues: "type\x00value" → the transaction (txSeq) that added it.
	enumValues map[string]int
	// indexCols: table → key columns of indexes the migration creates.
	indexCols map[string][]string
	// partitioned: tables the migration creates PARTITION BY.
	partitioned map[string]bool
	// partIndexes are CREATE INDEX statements (not ON ONLY) to check
	// against partitioned tables once the catalog has answered.
	partIndexes []pendingCheck
	// fks are foreign keys whose referencing columns need an index.
	fks []pendingCheck
}

// pendingCheck is a statement and what to check about it late.
type pendingCheck struct {
	s     stmt
	table string
	cols  []string
}

// dropRules reports drops of objects the application may use and
// DROP ... CASCADE. A drop in Down of something Up created is its inverse.
func (w *walker) dropRules(s *stmt, d *pgast.DropStmt) {
	if w.sec != SectionUp {
		return
	}
	def := w.cfg.defaultSchema
	for _, o := range d.Objects {
		var name string
		switch {
		case o.GetList() != nil:
			name = qualifiedList(o.GetList().Items, def)
		case o.GetTypeName() != nil:
			name = qualifiedList(o.GetTypeName().Names, def)
		case o.GetObjectWithArgs() != nil:
			name = qualifiedList(o.GetObjectWithArgs().Objname, def)
		default:
			continue
		}
		if w.createdObject(name) {
			continue
		}
		switch d.RemoveType {
		case pgast.ObjectType_OBJECT_VIEW, pgast.ObjectType_OBJECT_MATVIEW:
			w.report("ban-drop-view", s, "dropping view %s breaks every query and client that still reads it", name)
		case pgast.ObjectType_OBJECT_FUNCTION, pgast.ObjectType_OBJECT_PROCEDURE, pgast.ObjectType_OBJECT_ROUTINE:
			w.report("ban-drop-function", s, "dropping %s %s breaks every query, default, trigger and caller that still uses it", strings.ToLower(objName(d.RemoveType)), name)
		case pgast.ObjectType_OBJECT_TYPE, pgast.ObjectType_OBJECT_DOMAIN:
			w.report("ban-drop-type", s, "dropping type %s breaks every column, function and cast that uses it", name)
		case pgast.ObjectType_OBJECT_TRIGGER:
			w.report("ban-drop-trigger", s, "dropping trigger %s silently stops what it did on every write", name)
		case pgast.ObjectType_OBJECT_POLICY:
			if !w.createsPolicyOn(name[:max(strings.LastIndexByte(name, '.'), 0)]) {
				w.report("ban-drop-policy", s, "dropping policy %s changes which rows each role may see or write", name)
			}
		}
	}
	if d.Behavior == pgast.DropBehavior_DROP_CASCADE && d.RemoveType != pgast.ObjectType_OBJECT_SCHEMA {
		w.report("ban-drop-cascade", s, "DROP %s ... CASCADE also drops every object that depends on it (views, foreign keys, defaults, ...), unnamed in the migration", strings.ToUpper(objName(d.RemoveType)))
	}
}

// createdObject reports whether a statement of this migration created an
// object of that qualified name.
func (w *walker) createdObject(name string) bool {
	for _, st := range w.rep.Statements {
		for _, c := range st.Creates {
			n := c.Name
			if c.Schema != "" {
				n = c.Schema + "." + c.Name
			}
			if n == name || qualify(c.Schema, c.Name, w.cfg.defaultSchema) == name || (c.Table != "" && c.Table == name) {
				return true
			}
		}
	}
	return false
}

// alterTableRules reports replica identity, autovacuum and row-level
// security changes of an existing table.
func (w *walker) alterTableRules(s *stmt, t string, exist bool, cmd *pgast.AlterTableCmd) {
	if !exist || w.sec != SectionUp {
		return
	}
	switch cmd.Subtype {
	case pgast.AlterTableType_AT_ReplicaIdentity:
		w.report("ban-alter-replica-identity", s, "REPLICA IDENTITY of %s changes what logical replication sends for UPDATE and DELETE (subscribers and CDC consumers may stop or diverge), under an ACCESS EXCLUSIVE lock", t)
	case pgast.AlterTableType_AT_SetRelOptions:
		w.autovacuumOff(s, t, cmd.Def)
	case pgast.AlterTableType_AT_EnableRowSecurity, pgast.AlterTableType_AT_ForceRowSecurity:
		if w.createsPolicyOn(t) {
			return // the policies come with it, where a reviewer reads them
		}
		w.report("row-level-security-change", s, "enabling row-level security on %s hides every row from roles no policy lets in: queries of the application may return nothing", t)
	case pgast.AlterTableType_AT_DisableRowSecurity, pgast.AlterTableType_AT_NoForceRowSecurity:
		w.report("row-level-security-change", s, "disabling row-level security on %s lets every role with table privileges see every row", t)
	}
}

// autovacuumOff reports autovacuum_enabled = off (table or TOAST).
func (w *walker) autovacuumOff(s *stmt, t string, opts *pgast.Node) {
	l := opts.GetList()
	if l == nil {
		return
	}
	for _, o := range l.Items {
		de := o.GetDefElem()
		if de == nil {
			continue
		}
		if n := lower(de.Defname); n == "autovacuum_enabled" && !defElemBool(de, true) {
			scope := ""
			if lower(de.Defnamespace) == "toast" {
				scope = "TOAST of "
			}
			w.report("ban-autovacuum-disabled", s, "autovacuum_enabled = off on the %s%s: dead rows pile up and an anti-wraparound vacuum will run anyway, at the worst time", scope, t)
		}
	}
}

// revoke reports REVOKE of privileges.
func (w *walker) revoke(s *stmt, g *pgast.GrantStmt) {
	if g.IsGrant || w.sec != SectionUp {
		return
	}
	var who []string
	for _, r := range g.Grantees {
		if rs := r.GetRoleSpec(); rs != nil {
			name := rs.Rolename
			if name == "" {
				name = "PUBLIC"
			}
			who = append(who, name)
		}
	}
	w.report("ban-revoke-privileges", s, "REVOKE from %s: statements of those roles that need the privilege fail from the moment it commits", strings.Join(who, ", "))
}

// noteEnumValue remembers a value ALTER TYPE ... ADD VALUE adds, in the
// current transaction.
func (w *walker) noteEnumValue(e *pgast.AlterEnumStmt) {
	if e.NewVal == "" || e.OldVal != "" {
		return
	}
	names := stringList(e.TypeName)
	if len(names) == 0 {
		return
	}
	w.obj.enumValues[lower(names[len(names)-1])+"\x00"+e.NewVal] = w.txSeq
}

// enumUse reports a statement that casts a value added by an earlier ALTER
// TYPE ... ADD VALUE of the same transaction to that type: PostgreSQL
// refuses to use a new enum value before the transaction that added it
// commits ("unsafe use of new value").
func (w *walker) enumUse(s *stmt) {
	if len(w.obj.enumValues) == 0 || !w.inTx || s.p.node.GetAlterEnumStmt() != nil {
		return
	}
	res, err := pgast.Scan(s.p.sql)
	if err != nil {
		return
	}
	toks := res.Tokens
	for i := 0; i+2 < len(toks); i++ {
		if toks[i].Token != pgast.Token_SCONST || toks[i+1].Token != pgast.Token_TYPECAST {
			continue
		}
		val := strings.Trim(s.p.sql[toks[i].Start:toks[i].End], "'")
		typ := s.p.sql[toks[i+2].Start:toks[i+2].End]
		if j := i + 4; toks[i+3].Token == pgast.Token_ASCII_46 && j < len(toks) { // schema.type
			typ = s.p.sql[toks[j].Start:toks[j].End]
		}
		typ = lower(strings.Trim(typ, `"`))
		if tx, ok := w.obj.enumValues[typ+"\x00"+val]; ok && tx == w.txSeq {
			w.report("enum-value-used-in-transaction", s, "the new value '%s' of %s is used in the transaction that adds it: PostgreSQL rejects it (unsafe use of new value) until that transaction commits", val, typ)
			return
		}
	}
}

// noteIndex remembers an index the migration creates, and a CREATE INDEX
// that is not ON ONLY, to check against partitioned tables.
func (w *walker) noteIndex(s *stmt, t string, ix *pgast.IndexStmt) {
	if cols := indexColumns(ix.IndexParams); len(cols) > 0 {
		w.obj.indexCols[t] = append(w.obj.indexCols[t], strings.Join(cols, ","))
	}
	if ix.Relation != nil && ix.Relation.Inh && w.sec == SectionUp {
		w.obj.partIndexes = append(w.obj.partIndexes, pendingCheck{s: *s, table: t})
	}
}

// notePartitioned remembers a table created PARTITION BY.
func (w *walker) notePartitioned(t string, c *pgast.CreateStmt) {
	if c.Partspec != nil {
		w.obj.partitioned[t] = true
	}
}

// noteForeignKey remembers a foreign key whose referencing columns need an
// index.
func (w *walker) noteForeignKey(s *stmt, t string, cols []string) {
	if len(cols) > 0 && w.sec == SectionUp {
		w.obj.fks = append(w.obj.fks, pendingCheck{s: *s, table: t, cols: cols})
	}
}

// lateObjectRules runs the checks that need the whole migration and the
// live context (stats may be nil): indexes on partitioned tables and
// foreign keys without an index on the referencing columns.
func (w *walker) lateObjectRules(stats map[string]TableStats) {
	sec := w.sec
	w.sec = SectionUp // every pending check is of an Up statement
	defer func() { w.sec = sec }()
	for _, p := range w.obj.partIndexes {
		st, ok := stats[p.table]
		if w.obj.partitioned[p.table] || (ok && st.Exists && st.Partitioned) {
			s := p.s
			w.report("partitioned-index-locks-all-partitions", &s, "CREATE INDEX on partitioned table %s builds the index on every partition at once, holding a SHARE lock on each (no CONCURRENTLY on partitioned tables)", p.table)
		}
	}
	for _, fk := range w.obj.fks {
		existing := append([]string(nil), w.obj.indexCols[fk.table]...)
		st, ok := stats[fk.table]
		switch {
		case ok && st.Exists:
			existing = append(existing, st.IndexColumns...)
		case !w.upCreated[fk.table]:
			continue // an existing table without live context: its indexes are unknown
		}
		if !hasIndexPrefix(existing, fk.cols) {
			s := fk.s
			w.report("foreign-key-without-index", &s, "no index on %s (%s): every DELETE or key UPDATE on the referenced table scans %s under lock to check it", fk.table, strings.Join(fk.cols, ", "), fk.table)
		}
	}
}

// hasIndexPrefix reports whether one of the indexes (comma-joined key
// columns) starts with cols, in any order.
func hasIndexPrefix(indexes []string, cols []string) bool {
	want := map[string]bool{}
	for _, c := range cols {
		want[c] = true
	}
	for _, ix := range indexes {
		keys := strings.Split(ix, ",")
		if len(keys) < len(cols) {
			continue
		}
		ok := true
		for _, k := range keys[:len(cols)] {
			ok = ok && want[k]
		}
		if ok {
			return true
		}
	}
	return false
}

// createsPolicyOn reports whether an earlier statement of the migration
// creates a row-level security policy on table t (qualified or not).
func (w *walker) createsPolicyOn(t string) bool {
	_, bare := splitQualified(t)
	for _, st := range w.rep.Statements {
		for _, c := range st.Creates {
			if c.Kind == "policy" && (c.Table == t || c.Table == qualify("", bare, w.cfg.defaultSchema) || c.Table == bare) {
				return true
			}
		}
	}
	return false
}
