package analysis

import (
	"strings"

	"github.com/schemacanary/schemacanary/analysis/internal/pgast"
)

// classify fills in what statement s does and runs the rules that look at
// it. ALTER TABLE subcommands are in altertable.go; column types in
// coltypes.go; DROP/RENAME/TRUNCATE in destroy.go.
func (w *walker) classify(s *stmt) {
	def := w.cfg.defaultSchema
	w.identifiers(s)
	w.emptyTables(s)
	switch n := s.p.node.GetNode().(type) {
	case *pgast.Node_TransactionStmt:
		w.transaction(s, n.TransactionStmt)
	case *pgast.Node_VariableSetStmt:
		w.setStmt(n.VariableSetStmt)
	case *pgast.Node_SelectStmt:
		w.touch(s, LockAccessShare, selectTables(n.SelectStmt, def)...)
	case *pgast.Node_InsertStmt:
		w.touch(s, LockRowExclusive, rangeVarName(n.InsertStmt.Relation, def))
		w.insertCols(s, n.InsertStmt)
	case *pgast.Node_UpdateStmt:
		t := rangeVarName(n.UpdateStmt.Relation, def)
		w.touch(s, LockRowExclusive, t)
		w.updateTargets(s, n.UpdateStmt.TargetList)
		if n.UpdateStmt.WhereClause == nil && w.existing(t) {
			s.rep.Destructive = true
			w.reportCtx("dml-without-where", s, t, LockRowExclusive, workScan, "UPDATE of %s without WHERE rewrites every row in one transaction", t)
		}
	case *pgast.Node_DeleteStmt:
		t := rangeVarName(n.DeleteStmt.Relation, def)
		w.touch(s, LockRowExclusive, t)
		if n.DeleteStmt.WhereClause == nil && w.existing(t) {
			s.rep.Destructive = true
			w.reportCtx("dml-without-where", s, t, LockRowExclusive, workScan, "DELETE from %s without WHERE deletes every row", t)
		}
	case *pgast.Node_MergeStmt:
		w.touch(s, LockRowExclusive, rangeVarName(n.MergeStmt.Relation, def))
	case *pgast.Node_CreateStmt:
		w.createTable(s, n.CreateStmt)
	case *pgast.Node_CreateTableAsStmt:
		if n.CreateTableAsStmt.Into != nil {
			t := rangeVarName(n.CreateTableAsStmt.Into.Rel, def)
			w.created[t] = true
			kind := "table"
			if n.CreateTableAsStmt.Objtype == pgast.ObjectType_OBJECT_MATVIEW {
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
	case *pgast.Node_ViewStmt:
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
	case *pgast.Node_IndexStmt:
		w.createIndex(s, n.IndexStmt)
	case *pgast.Node_AlterTableStmt:
		w.alterTable(s, n.AlterTableStmt)
	case *pgast.Node_DropStmt:
		w.drop(s, n.DropStmt)
	case *pgast.Node_RenameStmt:
		w.rename(s, n.RenameStmt)
	case *pgast.Node_TruncateStmt:
		w.truncate(s, n.TruncateStmt)
	case *pgast.Node_DropdbStmt:
		s.rep.Destructive, s.rep.NonTransactional = true, true
		w.report("ban-drop-database", s, "DROP DATABASE %s destroys a whole database", n.DropdbStmt.Dbname)
	case *pgast.Node_CreatedbStmt:
		s.rep.NonTransactional = true
	case *pgast.Node_ReindexStmt:
		w.reindex(s, n.ReindexStmt)
	case *pgast.Node_VacuumStmt:
		w.vacuum(s, n.VacuumStmt)
	case *pgast.Node_ClusterStmt:
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
	case *pgast.Node_RefreshMatViewStmt:
		t := rangeVarName(n.RefreshMatViewStmt.Relation, def)
		lock := LockAccessExclusive
		if n.RefreshMatViewStmt.Concurrent {
			lock = LockExclusive
		}
		w.touch(s, lock, t)
		w.needsTimeouts(s)
	case *pgast.Node_LockStmt:
		mode := LockMode(n.LockStmt.Mode)
		for _, r := range n.LockStmt.Relations {
			w.touch(s, mode, rangeVarName(r.GetRangeVar(), def))
		}
	case *pgast.Node_CreateTrigStmt:
		w.touch(s, LockShareRowExclusive, rangeVarName(n.CreateTrigStmt.Relation, def))
		s.rep.Creates = append(s.rep.Creates, Object{Kind: "trigger", Name: n.CreateTrigStmt.Trigname, Table: rangeVarName(n.CreateTrigStmt.Relation, def)})
		w.needsTimeouts(s)
	case *pgast.Node_CreatePolicyStmt:
		t := rangeVarName(n.CreatePolicyStmt.Table, def)
		w.touch(s, LockAccessExclusive, t)
		s.rep.Creates = append(s.rep.Creates, Object{Kind: "policy", Table: t, Name: n.CreatePolicyStmt.PolicyName})
		w.needsTimeouts(s)
	case *pgast.Node_AlterEnumStmt:
		w.alterEnum(s, n.AlterEnumStmt)
	case *pgast.Node_CreateEnumStmt:
		s.rep.Creates = append(s.rep.Creates, Object{Kind: "type", Name: qualifiedList(n.CreateEnumStmt.TypeName, def)})
		w.needsTimeouts(s)
	case *pgast.Node_CompositeTypeStmt:
		s.rep.Creates = append(s.rep.Creates, Object{Kind: "type", Name: rangeVarName(n.CompositeTypeStmt.Typevar, def)})
		w.needsTimeouts(s)
	case *pgast.Node_CreateDomainStmt:
		s.rep.Creates = append(s.rep.Creates, Object{Kind: "type", Name: qualifiedList(n.CreateDomainStmt.Domainname, def)})
		if len(n.CreateDomainStmt.Constraints) > 0 {
			w.report("ban-create-domain-with-constraint", s, "domain %s carries constraints; changing them later re-checks every column that uses the domain", qualifiedList(n.CreateDomainStmt.Domainname, def))
		}
		w.needsTimeouts(s)
	case *pgast.Node_AlterDomainStmt:
		if n.AlterDomainStmt.Subtype == "C" {
			s.rep.ScanUnderLock = true
			w.report("ban-alter-domain-with-add-constraint", s, "ALTER DOMAIN %s ADD CONSTRAINT re-checks every column that uses the domain under lock", qualifiedList(n.AlterDomainStmt.TypeName, def))
		}
		w.needsTimeouts(s)
	case *pgast.Node_CreateSeqStmt:
		s.rep.Creates = append(s.rep.Creates, tableObject(rangeVarName(n.CreateSeqStmt.Sequence, def), "sequence"))
	case *pgast.Node_CreateFunctionStmt:
		kind := "function"
		if n.CreateFunctionStmt.IsProcedure {
			kind = "procedure"
		}
		s.rep.Creates = append(s.rep.Creates, Object{Kind: kind, Name: qualifiedList(n.CreateFunctionStmt.Funcname, def)})
	case *pgast.Node_CreateSchemaStmt:
		s.rep.Creates = append(s.rep.Creates, Object{Kind: "schema", Name: n.CreateSchemaStmt.Schemaname})
	case *pgast.Node_CreateExtensionStmt:
		s.rep.Creates = append(s.rep.Creates, Object{Kind: "extension", Name: n.CreateExtensionStmt.Extname})
	case *pgast.Node_AlterSystemStmt, *pgast.Node_CreateTableSpaceStmt, *pgast.Node_DropTableSpaceStmt:
		s.rep.NonTransactional = true
	case *pgast.Node_GrantStmt:
		w.revoke(s, n.GrantStmt)
	case *pgast.Node_CommentStmt, *pgast.Node_DoStmt, *pgast.Node_CallStmt,
		*pgast.Node_VariableShowStmt, *pgast.Node_ExplainStmt, *pgast.Node_NotifyStmt:
	default:
		w.needsTimeouts(s)
	}
	if s.rep.NonTransactional && w.inTx {
		w.nonTxInTx(s)
	}
}

// setStmt tracks SET lock_timeout / statement_timeout.
func (w *walker) setStmt(v *pgast.VariableSetStmt) {
	switch lower(v.Name) {
	case "lock_timeout":
		w.lockTimeout = v.Kind == pgast.VariableSetKind_VAR_SET_VALUE
	case "statement_timeout":
		w.stmtTimeout = v.Kind == pgast.VariableSetKind_VAR_SET_VALUE
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
func selectTables(sel *pgast.SelectStmt, def string) []string {
	var out []string
	var walk func(n *pgast.Node)
	walk = func(n *pgast.Node) {
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
