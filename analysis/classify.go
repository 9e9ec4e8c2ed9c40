package analysis

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// classify fills in what statement s does and runs the rules that look at
// it. ALTER TABLE subcommands are in altertable.go; column types in
// coltypes.go; DROP/RENAME/TRUNCATE in destroy.go.
func (w *walker) classify(s *stmt) {
	def := w.cfg.defaultSchema
	w.identifiers(s)
	switch n := s.p.node.GetNode().(type) {
	case *pg_query.Node_TransactionStmt:
		w.transaction(s, n.TransactionStmt)
	case *pg_query.Node_VariableSetStmt:
		w.setStmt(n.VariableSetStmt)
	case *pg_query.Node_SelectStmt:
		w.touch(s, LockAccessShare, selectTables(n.SelectStmt, def)...)
	case *pg_query.Node_InsertStmt:
		w.touch(s, LockRowExclusive, rangeVarName(n.InsertStmt.Relation, def))
		w.insertCols(s, n.InsertStmt)
	case *pg_query.Node_UpdateStmt:
		t := rangeVarName(n.UpdateStmt.Relation, def)
		w.touch(s, LockRowExclusive, t)
		w.updateTargets(s, n.UpdateStmt.TargetList)
		if n.UpdateStmt.WhereClause == nil && w.existing(t) {
			s.rep.Destructive = true
			w.reportCtx("dml-without-where", s, t, LockRowExclusive, workScan, "UPDATE of %s without WHERE rewrites every row in one transaction", t)
		}
	case *pg_query.Node_DeleteStmt:
		t := rangeVarName(n.DeleteStmt.Relation, def)
		w.touch(s, LockRowExclusive, t)
		if n.DeleteStmt.WhereClause == nil && w.existing(t) {
			s.rep.Destructive = true
			w.reportCtx("dml-without-where", s, t, LockRowExclusive, workScan, "DELETE from %s without WHERE deletes every row", t)
		}
	case *pg_query.Node_MergeStmt:
		w.touch(s, LockRowExclusive, rangeVarName(n.MergeStmt.Relation, def))
	case *pg_query.Node_CreateStmt:
		w.createTable(s, n.CreateStmt)
	case *pg_query.Node_CreateTableAsStmt:
		if n.CreateTableAsStmt.Into != nil {
			t := rangeVarName(n.CreateTableAsStmt.Into.Rel, def)
			w.created[t] = true
			kind := "table"
			if n.CreateTableAsStmt.Objtype == pg_query.ObjectType_OBJECT_MATVIEW {
				kind = "matview"
			}
			s.rep.Creates = append(s.rep.Creates, tableObject(t, kind))
			s.rep.Relations = append(s.rep.Relations, t)
			w.requireSchema(s, n.CreateTableAsStmt.Into.Rel)
		}
		if q := n.CreateTableAsStmt.Query.GetSelectStmt(); q != nil {
			w.touch(s, LockAccessShare, selectTables(q, def)...)
		}
		w.needsTimeouts(s)
	case *pg_query.Node_ViewStmt:
		t := rangeVarName(n.ViewStmt.View, def)
		s.rep.Creates = append(s.rep.Creates, tableObject(t, "view"))
		lock := LockAccessShare
		if n.ViewStmt.Replace {
			lock = LockAccessExclusive
		}
		w.touch(s, lock, t)
		if q := n.ViewStmt.Query.GetSelectStmt(); q != nil {
			w.touch(s, LockAccessShare, selectTables(q, def)...)
		}
		w.duplicateNames(s, "view column", stringList(n.ViewStmt.Aliases))
		w.needsTimeouts(s)
	case *pg_query.Node_IndexStmt:
		w.createIndex(s, n.IndexStmt)
	case *pg_query.Node_AlterTableStmt:
		w.alterTable(s, n.AlterTableStmt)
	case *pg_query.Node_DropStmt:
		w.drop(s, n.DropStmt)
	case *pg_query.Node_RenameStmt:
		w.rename(s, n.RenameStmt)
	case *pg_query.Node_TruncateStmt:
		w.truncate(s, n.TruncateStmt)
	case *pg_query.Node_DropdbStmt:
		s.rep.Destructive, s.rep.NonTransactional = true, true
		w.report("ban-drop-database", s, "DROP DATABASE %s destroys a whole database", n.DropdbStmt.Dbname)
	case *pg_query.Node_CreatedbStmt:
		s.rep.NonTransactional = true
	case *pg_query.Node_ReindexStmt:
		w.reindex(s, n.ReindexStmt)
	case *pg_query.Node_VacuumStmt:
		w.vacuum(s, n.VacuumStmt)
	case *pg_query.Node_ClusterStmt:
		t := rangeVarName(n.ClusterStmt.Relation, def)
		s.rep.Rewrite = t != ""
		s.workTable = t
		w.touch(s, LockAccessExclusive, t)
		if w.cfg.pgVersion >= 19 {
			w.report("prefer-repack", s, "CLUSTER holds an ACCESS EXCLUSIVE lock while it rewrites the table")
		} else if t != "" {
			w.reportCtx("table-rewrite", s, t, LockAccessExclusive, workRewrite, "CLUSTER rewrites %s under an ACCESS EXCLUSIVE lock", t)
		}
		w.needsTimeouts(s)
	case *pg_query.Node_RefreshMatViewStmt:
		t := rangeVarName(n.RefreshMatViewStmt.Relation, def)
		lock := LockAccessExclusive
		if n.RefreshMatViewStmt.Concurrent {
			lock = LockExclusive
		}
		w.touch(s, lock, t)
		w.needsTimeouts(s)
	case *pg_query.Node_LockStmt:
		mode := LockMode(n.LockStmt.Mode)
		for _, r := range n.LockStmt.Relations {
			w.touch(s, mode, rangeVarName(r.GetRangeVar(), def))
		}
	case *pg_query.Node_CreateTrigStmt:
		w.touch(s, LockShareRowExclusive, rangeVarName(n.CreateTrigStmt.Relation, def))
		s.rep.Creates = append(s.rep.Creates, Object{Kind: "trigger", Name: n.CreateTrigStmt.Trigname, Table: rangeVarName(n.CreateTrigStmt.Relation, def)})
		w.needsTimeouts(s)
	case *pg_query.Node_CreatePolicyStmt:
		w.touch(s, LockAccessExclusive, rangeVarName(n.CreatePolicyStmt.Table, def))
		w.needsTimeouts(s)
	case *pg_query.Node_AlterEnumStmt:
		w.alterEnum(s, n.AlterEnumStmt)
	case *pg_query.Node_CreateEnumStmt:
		s.rep.Creates = append(s.rep.Creates, Object{Kind: "type", Name: qualifiedList(n.CreateEnumStmt.TypeName, def)})
		w.needsTimeouts(s)
	case *pg_query.Node_CompositeTypeStmt:
		s.rep.Creates = append(s.rep.Creates, Object{Kind: "type", Name: rangeVarName(n.CompositeTypeStmt.Typevar, def)})
		w.needsTimeouts(s)
	case *pg_query.Node_CreateDomainStmt:
		s.rep.Creates = append(s.rep.Creates, Object{Kind: "type", Name: qualifiedList(n.CreateDomainStmt.Domainname, def)})
		if len(n.CreateDomainStmt.Constraints) > 0 {
			w.report("ban-create-domain-with-constraint", s, "domain %s carries constraints; changing them later re-checks every column that uses the domain", qualifiedList(n.CreateDomainStmt.Domainname, def))
		}
		w.needsTimeouts(s)
	case *pg_query.Node_AlterDomainStmt:
		if n.AlterDomainStmt.Subtype == "C" {
			s.rep.ScanUnderLock = true
			w.report("ban-alter-domain-with-add-constraint", s, "ALTER DOMAIN %s ADD CONSTRAINT re-checks every column that uses the domain under lock", qualifiedList(n.AlterDomainStmt.TypeName, def))
		}
		w.needsTimeouts(s)
	case *pg_query.Node_CreateSeqStmt:
		s.rep.Creates = append(s.rep.Creates, tableObject(rangeVarName(n.CreateSeqStmt.Sequence, def), "sequence"))
	case *pg_query.Node_CreateFunctionStmt:
		kind := "function"
		if n.CreateFunctionStmt.IsProcedure {
			kind = "procedure"
		}
		s.rep.Creates = append(s.rep.Creates, Object{Kind: kind, Name: qualifiedList(n.CreateFunctionStmt.Funcname, def)})
	case *pg_query.Node_CreateSchemaStmt:
		s.rep.Creates = append(s.rep.Creates, Object{Kind: "schema", Name: n.CreateSchemaStmt.Schemaname})
	case *pg_query.Node_CreateExtensionStmt:
		s.rep.Creates = append(s.rep.Creates, Object{Kind: "extension", Name: n.CreateExtensionStmt.Extname})
	case *pg_query.Node_AlterSystemStmt, *pg_query.Node_CreateTableSpaceStmt, *pg_query.Node_DropTableSpaceStmt:
		s.rep.NonTransactional = true
	case *pg_query.Node_CommentStmt, *pg_query.Node_GrantStmt, *pg_query.Node_DoStmt, *pg_query.Node_CallStmt,
		*pg_query.Node_VariableShowStmt, *pg_query.Node_ExplainStmt, *pg_query.Node_NotifyStmt:
	default:
		w.needsTimeouts(s)
	}
	if s.rep.NonTransactional && w.inTx {
		w.nonTxInTx(s)
	}
}

// setStmt tracks SET lock_timeout / statement_timeout.
func (w *walker) setStmt(v *pg_query.VariableSetStmt) {
	switch lower(v.Name) {
	case "lock_timeout":
		w.lockTimeout = v.Kind == pg_query.VariableSetKind_VAR_SET_VALUE
	case "statement_timeout":
		w.stmtTimeout = v.Kind == pg_query.VariableSetKind_VAR_SET_VALUE
	}
}

// needsTimeouts is called for statements that take a lock that can queue
// behind (and in front of) application traffic.
func (w *walker) needsTimeouts(s *stmt) {
	if w.sec == SectionDown {
		return // reported once, for Up; Down runs through the same applier
	}
	if !w.lockTimeout && !w.warnedLockTO {
		w.warnedLockTO = true
		w.report("require-lock-timeout", s, "this statement takes a lock before any SET lock_timeout: a lock wait here stalls every query queued behind it")
	}
	if !w.stmtTimeout && !w.warnedStmtTO {
		w.warnedStmtTO = true
		w.report("require-statement-timeout", s, "this statement can run long before any SET statement_timeout")
	}
}

// nonTxInTx reports a statement that PostgreSQL refuses inside a
// transaction block.
func (w *walker) nonTxInTx(s *stmt) {
	if w.plain && !w.explicitOpen {
		// A plain file assumed to run in a transaction: a framework runs a
		// file that holds only this statement outside one (Squawk's rule).
		w.pendingNonTx = append(w.pendingNonTx, *s)
		return
	}
	w.reportNonTx(s)
}

func (w *walker) reportNonTx(s *stmt) {
	where := "inside a transaction block"
	if !w.plain && !w.explicitOpen {
		where = "inside the transaction goose opens (add \"-- +goose NO TRANSACTION\")"
	}
	w.report("ban-concurrent-index-creation-in-transaction", s, "%s cannot run %s; PostgreSQL rejects it", strings.ToUpper(strings.ReplaceAll(s.rep.Kind, "_", " ")), where)
}

func tableObject(q, kind string) Object {
	sch, name := splitQualified(q)
	return Object{Kind: kind, Schema: sch, Table: name, Name: name}
}

// selectTables lists the tables a SELECT reads (FROM clause, top level).
func selectTables(sel *pg_query.SelectStmt, def string) []string {
	var out []string
	var walk func(n *pg_query.Node)
	walk = func(n *pg_query.Node) {
		switch {
		case n == nil:
		case n.GetRangeVar() != nil:
			out = append(out, rangeVarName(n.GetRangeVar(), def))
		case n.GetJoinExpr() != nil:
			walk(n.GetJoinExpr().Larg)
			walk(n.GetJoinExpr().Rarg)
		}
	}
	if sel == nil {
		return nil
	}
	for _, f := range sel.FromClause {
		walk(f)
	}
	if sel.Larg != nil {
		out = append(out, selectTables(sel.Larg, def)...)
	}
	if sel.Rarg != nil {
		out = append(out, selectTables(sel.Rarg, def)...)
	}
	return out
}
