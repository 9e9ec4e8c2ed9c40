package analysis

import (
	"strings"

	"github.com/schemacanary/schemacanary/analysis/internal/pgast"
)

// drop handles DROP TABLE/INDEX/VIEW/... statements.
func (w *walker) drop(s *stmt, d *pgast.DropStmt) {
	def := w.cfg.defaultSchema
	kind := objName(d.RemoveType)
	for _, o := range d.Objects {
		var name string
		if l := o.GetList(); l != nil {
			name = qualifiedList(l.Items, def)
		} else if tn := o.GetTypeName(); tn != nil {
			name = qualifiedList(tn.Names, def)
		} else if str := o.GetString_(); str != nil {
			name = str.Sval
		} else if fa := o.GetObjectWithArgs(); fa != nil {
			name = qualifiedList(fa.Objname, def)
		}
		switch d.RemoveType {
		case pgast.ObjectType_OBJECT_TABLE:
			if l := o.GetList(); l != nil && len(l.Items) == 1 {
				w.report("require-table-schema", s, "table %s is not schema-qualified: it resolves through search_path", stringList(l.Items)[0])
			}
			s.rep.Destructive, s.rep.BreaksApp = true, true
			w.touch(s, LockAccessExclusive, name)
			s.rep.Drops = append(s.rep.Drops, tableObject(name, "table"))
			if !(w.sec == SectionDown && w.upCreated[name]) && !w.created[name] {
				w.reportCtx("ban-drop-table", s, name, LockAccessExclusive, workNone, "DROP TABLE %s destroys its data and breaks every client that still uses it", name)
			}
		case pgast.ObjectType_OBJECT_INDEX:
			sch, n := splitQualified(name)
			s.rep.Drops = append(s.rep.Drops, Object{Kind: "index", Schema: sch, Name: n})
			s.rep.Relations = append(s.rep.Relations, name)
			if d.Concurrent {
				w.touch(s, LockShareUpdateExclusive)
				s.rep.NonTransactional = true
			} else {
				w.touch(s, LockAccessExclusive)
				s.rep.IndexWithoutConcurrently = true
				w.report("require-concurrent-index-deletion", s, "DROP INDEX %s without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its table", name)
			}
		case pgast.ObjectType_OBJECT_VIEW, pgast.ObjectType_OBJECT_MATVIEW, pgast.ObjectType_OBJECT_SEQUENCE,
			pgast.ObjectType_OBJECT_FOREIGN_TABLE:
			w.touch(s, LockAccessExclusive, name)
			s.rep.BreaksApp = true
			s.rep.Drops = append(s.rep.Drops, tableObject(name, kind))
		case pgast.ObjectType_OBJECT_TRIGGER, pgast.ObjectType_OBJECT_POLICY, pgast.ObjectType_OBJECT_RULE:
			// Objects are [schema, table, name]; lock the table.
			if l := o.GetList(); l != nil {
				parts := stringList(l.Items)
				if len(parts) >= 2 {
					tbl := qualifiedList(l.Items[:len(l.Items)-1], def)
					w.touch(s, LockAccessExclusive, tbl)
					s.rep.Drops = append(s.rep.Drops, Object{Kind: kind, Table: tbl, Name: parts[len(parts)-1]})
				}
			}
		case pgast.ObjectType_OBJECT_SCHEMA:
			s.rep.Drops = append(s.rep.Drops, Object{Kind: "schema", Name: name})
			cascade := d.Behavior == pgast.DropBehavior_DROP_CASCADE
			if cascade {
				s.rep.Destructive, s.rep.BreaksApp = true, true
			}
			if cascade && w.sec == SectionUp {
				w.report("ban-drop-schema", s, "DROP SCHEMA %s CASCADE destroys every table, view, function and type in it, data included", name)
			}
		default:
			if kind == "type" || kind == "domain" {
				kind = "type"
			}
			s.rep.BreaksApp = s.rep.BreaksApp || kind == "function" || kind == "type"
			s.rep.Drops = append(s.rep.Drops, Object{Kind: kind, Name: name})
		}
		if !d.MissingOk && !w.inTx && w.statements > 0 && d.RemoveType != pgast.ObjectType_OBJECT_TABLE {
			w.report("prefer-robust-stmts", s, "DROP %s %s without IF EXISTS fails when a partly applied migration is re-run", strings.ToUpper(kind), name)
		}
	}
	w.dropRules(s, d)
	if d.RemoveType == pgast.ObjectType_OBJECT_TABLE && !d.MissingOk && !w.inTx && w.statements > 0 {
		w.report("prefer-robust-stmts", s, "DROP TABLE without IF EXISTS fails when a partly applied migration is re-run")
	}
	w.needsTimeouts(s)
}

// rename handles ALTER ... RENAME.
func (w *walker) rename(s *stmt, r *pgast.RenameStmt) {
	def := w.cfg.defaultSchema
	t := rangeVarName(r.Relation, def)
	switch r.RenameType {
	case pgast.ObjectType_OBJECT_TABLE:
		w.touch(s, LockAccessExclusive, t)
		s.rep.BreaksApp = true
		s.rep.Alters = append(s.rep.Alters, tableObject(t, "table"))
		if w.existing(t) {
			w.report("renaming-table", s, "renaming %s to %s breaks every deployed client that still uses the old name", t, r.Newname)
		}
		sch, _ := splitQualified(t)
		w.unread[qualify(sch, r.Newname, def)] = true
	case pgast.ObjectType_OBJECT_COLUMN:
		w.touch(s, LockAccessExclusive, t)
		s.rep.BreaksApp = true
		sch, tbl := splitQualified(t)
		s.rep.Alters = append(s.rep.Alters, Object{Kind: "column", Schema: sch, Table: tbl, Name: r.Subname})
		if w.existing(t) {
			w.report("renaming-column", s, "renaming %s.%s to %s breaks every deployed client that still uses the old name", t, r.Subname, r.Newname)
		}
		w.unread[t+"#"+r.Newname] = true
	case pgast.ObjectType_OBJECT_INDEX, pgast.ObjectType_OBJECT_TABCONSTRAINT:
		w.touch(s, LockShareUpdateExclusive, t)
	default:
		if t != "" {
			w.touch(s, LockAccessExclusive, t)
		}
	}
	w.needsTimeouts(s)
}

// truncate handles TRUNCATE.
func (w *walker) truncate(s *stmt, tr *pgast.TruncateStmt) {
	var names []string
	for _, r := range tr.Relations {
		names = append(names, rangeVarName(r.GetRangeVar(), w.cfg.defaultSchema))
	}
	w.touch(s, LockAccessExclusive, names...)
	s.rep.Destructive = true
	if tr.Behavior == pgast.DropBehavior_DROP_CASCADE {
		w.report("ban-truncate-cascade", s, "TRUNCATE %s CASCADE also empties every table that references it through a foreign key, recursively", strings.Join(names, ", "))
	}
	for _, n := range names {
		if w.existing(n) {
			w.reportCtx("ban-truncate", s, n, LockAccessExclusive, workNone, "TRUNCATE %s deletes all of its rows", n)
		}
		w.unread[n] = true
	}
	w.needsTimeouts(s)
}

// reindex handles REINDEX [CONCURRENTLY].
func (w *walker) reindex(s *stmt, r *pgast.ReindexStmt) {
	concurrent := false
	for _, p := range r.Params {
		if de := p.GetDefElem(); de != nil && lower(de.Defname) == "concurrently" && defElemBool(de, true) {
			concurrent = true
		}
	}
	t := rangeVarName(r.Relation, w.cfg.defaultSchema)
	if concurrent {
		s.rep.NonTransactional = true
		w.touch(s, LockShareUpdateExclusive, t)
		return
	}
	w.touch(s, LockShare, t)
	s.workTable = t
	if r.Kind == pgast.ReindexObjectType_REINDEX_OBJECT_SYSTEM {
		return
	}
	if r.Kind == pgast.ReindexObjectType_REINDEX_OBJECT_SCHEMA || r.Kind == pgast.ReindexObjectType_REINDEX_OBJECT_DATABASE {
		s.rep.NonTransactional = true
	}
	w.report("require-concurrent-reindex", s, "REINDEX without CONCURRENTLY blocks writes (and reads that use the index) while it rebuilds")
	w.needsTimeouts(s)
}

// vacuum handles VACUUM [FULL] and ANALYZE.
func (w *walker) vacuum(s *stmt, v *pgast.VacuumStmt) {
	full := false
	for _, o := range v.Options {
		if de := o.GetDefElem(); de != nil && lower(de.Defname) == "full" && defElemBool(de, true) {
			full = true
		}
	}
	var names []string
	for _, r := range v.Rels {
		if vr := r.GetVacuumRelation(); vr != nil {
			names = append(names, rangeVarName(vr.Relation, w.cfg.defaultSchema))
		}
	}
	s.rep.NonTransactional = v.IsVacuumcmd
	if full {
		s.rep.Rewrite = true
		w.touch(s, LockAccessExclusive, names...)
		if len(names) > 0 {
			s.workTable = names[0]
		}
		if w.cfg.pgVersion >= 19 {
			w.report("prefer-repack", s, "VACUUM FULL holds an ACCESS EXCLUSIVE lock while it rewrites the table")
		} else {
			for _, n := range names {
				w.reportCtx("table-rewrite", s, n, LockAccessExclusive, workRewrite, "VACUUM FULL rewrites %s under an ACCESS EXCLUSIVE lock", n)
			}
		}
		return
	}
	w.touch(s, LockShareUpdateExclusive, names...)
}

// alterEnum handles ALTER TYPE ... ADD VALUE.
func (w *walker) alterEnum(s *stmt, e *pgast.AlterEnumStmt) {
	w.noteEnumValue(e)
	if e.NewVal != "" && e.OldVal == "" && e.NewValNeighbor == "" {
		w.report("require-enum-value-ordering", s, "ADD VALUE %q without BEFORE/AFTER appends it last, which changes ORDER BY results on this enum", e.NewVal)
	}
	if w.cfg.pgVersion < 12 {
		s.rep.NonTransactional = true
	}
	w.needsTimeouts(s)
}

// defElemBool reads a boolean option (no argument means def).
func defElemBool(de *pgast.DefElem, def bool) bool {
	if de.Arg == nil {
		return def
	}
	if b := de.Arg.GetBoolean(); b != nil {
		return b.Boolval
	}
	if str := de.Arg.GetString_(); str != nil {
		switch lower(str.Sval) {
		case "false", "off", "0", "no":
			return false
		}
		return true
	}
	if i := de.Arg.GetInteger(); i != nil {
		return i.Ival != 0
	}
	if tn := de.Arg.GetTypeName(); tn != nil { // an unquoted word: on, off, true, false
		names := stringList(tn.Names)
		if len(names) == 1 {
			switch lower(names[0]) {
			case "false", "off", "no":
				return false
			case "true", "on", "yes":
				return true
			}
		}
	}
	if c := de.Arg.GetAConst(); c != nil {
		if c.GetBoolval() != nil {
			return c.GetBoolval().Boolval
		}
	}
	return def
}
