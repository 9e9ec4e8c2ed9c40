package analysis

import "github.com/schemacanary/schemacanary/analysis/internal/pgast"

// createTable handles CREATE TABLE: the new table takes no lock anyone
// waits on, but foreign keys lock the referenced tables.
func (w *walker) createTable(s *stmt, c *pgast.CreateStmt) {
	def := w.cfg.defaultSchema
	t := rangeVarName(c.Relation, def)
	w.created[t] = true
	w.empty[t] = true
	s.rep.Relations = append(s.rep.Relations, t)
	s.rep.Creates = append(s.rep.Creates, tableObject(t, "table"))
	w.requireSchema(s, c.Relation)
	w.notePartitioned(t, c)
	var cols []string
	for _, e := range c.TableElts {
		if cd := e.GetColumnDef(); cd != nil {
			cols = append(cols, cd.Colname)
			w.columnType(s, t, cd.Colname, cd.TypeName)
			for _, cn := range cd.Constraints {
				if k := cn.GetConstraint(); k != nil && k.Contype == pgast.ConstrType_CONSTR_FOREIGN {
					w.touch(s, LockShareRowExclusive, rangeVarName(k.Pktable, def))
					w.noteForeignKey(s, t, []string{cd.Colname})
				}
			}
		}
		if k := e.GetConstraint(); k != nil && k.Contype == pgast.ConstrType_CONSTR_FOREIGN {
			w.touch(s, LockShareRowExclusive, rangeVarName(k.Pktable, def))
			w.noteForeignKey(s, t, stringList(k.FkAttrs))
		}
	}
	if c.Partbound != nil {
		for _, p := range c.InhRelations {
			w.touch(s, LockAccessExclusive, rangeVarName(p.GetRangeVar(), def))
		}
	}
	w.duplicateNames(s, "column", cols)
	if !c.IfNotExists && !w.inTx && w.statements > 0 {
		w.report("prefer-robust-stmts", s, "CREATE TABLE %s without IF NOT EXISTS fails when a partly applied migration is re-run outside a transaction", t)
	}
	w.needsTimeouts(s)
}

// createIndex handles CREATE INDEX [CONCURRENTLY].
func (w *walker) createIndex(s *stmt, ix *pgast.IndexStmt) {
	def := w.cfg.defaultSchema
	t := rangeVarName(ix.Relation, def)
	schema, _ := splitQualified(t)
	s.rep.Creates = append(s.rep.Creates, Object{Kind: "index", Schema: schema, Table: ix.Relation.GetRelname(), Name: ix.Idxname})
	s.workTable = t
	s.rep.AheadOfTarget = !w.onTarget(t, indexReads(ix)...)
	w.noteIndex(s, t, ix)
	if ix.Unique && ix.WhereClause == nil {
		w.checkUnique(s, t, indexColumns(ix.IndexParams), ix.NullsNotDistinct)
	}
	if ix.Concurrent {
		w.touch(s, LockShareUpdateExclusive, t)
		s.rep.NonTransactional = true
		if !w.inTx && (!ix.IfNotExists || ix.Idxname == "") {
			w.report("prefer-robust-stmts", s, "a failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind; name it and use IF NOT EXISTS (drop the invalid one first) so a re-run succeeds")
		}
		return
	}
	w.touch(s, LockShare, t)
	if w.existing(t) {
		s.rep.IndexWithoutConcurrently = true
		s.rep.ScanUnderLock = true
		w.reportCtx("require-concurrent-index-creation", s, t, LockShare, workIndex, "CREATE INDEX on %s without CONCURRENTLY blocks writes to the table while the index builds", t)
	}
	w.needsTimeouts(s)
}

// requireSchema is the opt-in rule that table names be schema-qualified.
func (w *walker) requireSchema(s *stmt, rv *pgast.RangeVar) {
	if rv == nil || rv.Schemaname != "" || rv.Relpersistence == "t" {
		return
	}
	w.report("require-table-schema", s, "table %s is not schema-qualified: it resolves through search_path", rv.Relname)
}
