package analysis

import "github.com/schemacanary/schemacanary/analysis/internal/pgast"

// alterTable handles ALTER TABLE: the lock, rewrite and scan of every
// subcommand follow the PostgreSQL documentation of ALTER TABLE.
func (w *walker) alterTable(s *stmt, a *pgast.AlterTableStmt) {
	def := w.cfg.defaultSchema
	t := rangeVarName(a.Relation, def)
	exist := w.existing(t)
	if a.Objtype == pgast.ObjectType_OBJECT_TABLE {
		w.requireSchema(s, a.Relation)
	}
	w.touch(s, LockNone, t)
	for _, c := range a.Cmds {
		cmd := c.GetAlterTableCmd()
		if cmd == nil {
			continue
		}
		before := len(w.rep.Findings)
		w.alterTableRules(s, t, exist, cmd)
		rewrite := w.alterCmd(s, t, exist, cmd)
		if rewrite && exist {
			s.rep.Rewrite = true
			s.workTable = t
			if len(w.rep.Findings) == before {
				w.reportCtx("table-rewrite", s, t, LockAccessExclusive, workRewrite, "%s rewrites %s under an ACCESS EXCLUSIVE lock", atName(cmd.Subtype), t)
			}
		}
	}
	w.needsTimeouts(s)
}

// alterCmd applies one ALTER TABLE subcommand and reports whether it
// rewrites the table.
func (w *walker) alterCmd(s *stmt, t string, exist bool, cmd *pgast.AlterTableCmd) (rewrite bool) {
	sch, tbl := splitQualified(t)
	switch cmd.Subtype {
	case pgast.AlterTableType_AT_AddColumn:
		return w.addColumn(s, t, exist, cmd.Def.GetColumnDef(), cmd.MissingOk)
	case pgast.AlterTableType_AT_DropColumn:
		w.touch(s, LockAccessExclusive)
		s.rep.Destructive, s.rep.BreaksApp = true, true
		s.rep.Drops = append(s.rep.Drops, Object{Kind: "column", Schema: sch, Table: tbl, Name: cmd.Name})
		inverse := w.sec == SectionDown && (w.upCreated[t] || w.upCreatedColumn(t, cmd.Name))
		if exist && !inverse {
			w.reportCtx("ban-drop-column", s, t, LockAccessExclusive, workNone, "dropping %s.%s destroys its data and breaks deployed code that still reads or writes it", t, cmd.Name)
		}
		if !cmd.MissingOk && !w.inTx {
			w.report("prefer-robust-stmts", s, "DROP COLUMN %s without IF EXISTS fails when a partly applied migration is re-run", cmd.Name)
		}
	case pgast.AlterTableType_AT_AlterColumnType:
		w.touch(s, LockAccessExclusive)
		cd := cmd.Def.GetColumnDef()
		if cd == nil {
			return false
		}
		w.columnType(s, t, cmd.Name, cd.TypeName)
		w.checkTypeFit(s, t, cmd.Name, cd)
		s.rep.Alters = append(s.rep.Alters, Object{Kind: "column", Schema: sch, Table: tbl, Name: cmd.Name})
		newT := parsedColumnType(cd.TypeName)
		oldT, known := w.oldColumnType(t, cmd.Name)
		verdict := typeChangeVerdict(oldT, newT, plainUsing(cd, cmd.Name))
		w.setColumnType(t, cmd.Name, newT)
		rewrite = verdict != noRewrite
		if exist {
			s.rep.BreaksApp = true
			to := typeName(cd.TypeName)
			if newT.Name != "" {
				to = newT.String()
			}
			switch {
			case verdict == noRewrite:
				w.reportCtx("changing-column-type", s, t, LockAccessExclusive, workNone,
					"changing the type of %s.%s from %s to %s is binary-coercible (no rewrite, a brief ACCESS EXCLUSIVE lock) but can break deployed code", t, cmd.Name, oldT.String(), to)
			case verdict == rewrites && known:
				w.reportCtx("changing-column-type", s, t, LockAccessExclusive, workRewrite,
					"changing the type of %s.%s from %s to %s rewrites the table and its indexes under an ACCESS EXCLUSIVE lock and can break deployed code", t, cmd.Name, oldT.String(), to)
			case verdict == rewrites:
				w.reportCtx("changing-column-type", s, t, LockAccessExclusive, workRewrite,
					"changing the type of %s.%s to %s with this USING expression rewrites the table and its indexes under an ACCESS EXCLUSIVE lock and can break deployed code", t, cmd.Name, to)
			case known:
				w.reportCtx("changing-column-type", s, t, LockAccessExclusive, workRewrite,
					"changing the type of %s.%s from %s to %s may rewrite the table and its indexes under an ACCESS EXCLUSIVE lock (it does unless the session's TimeZone is UTC) and can break deployed code", t, cmd.Name, oldT.String(), to)
			default:
				w.reportCtx("changing-column-type", s, t, LockAccessExclusive, workRewrite,
					"changing the type of %s.%s to %s may rewrite the table and its indexes under an ACCESS EXCLUSIVE lock (its old type is unknown: with a live database it is read from the catalog) and can break deployed code", t, cmd.Name, to)
			}
		}
		return rewrite
	case pgast.AlterTableType_AT_SetNotNull:
		w.touch(s, LockAccessExclusive)
		s.rep.BreaksApp = true
		w.checkNotNull(s, t, cmd.Name)
		proven := w.cfg.pgVersion >= 12 && w.validNotNull[t+"/"+cmd.Name]
		if exist && !proven {
			s.rep.ScanUnderLock = true
			s.workTable = t
			w.reportCtx("adding-not-nullable-field", s, t, LockAccessExclusive, workScan, "SET NOT NULL on %s.%s scans the whole table under an ACCESS EXCLUSIVE lock", t, cmd.Name)
		}
	case pgast.AlterTableType_AT_DropNotNull:
		w.touch(s, LockAccessExclusive)
		if exist {
			w.report("ban-drop-not-null", s, "dropping NOT NULL on %s.%s lets NULLs in that existing code may not handle", t, cmd.Name)
		}
	case pgast.AlterTableType_AT_AddConstraint:
		w.addConstraint(s, t, exist, cmd.Def.GetConstraint())
	case pgast.AlterTableType_AT_ValidateConstraint:
		w.touch(s, LockShareUpdateExclusive)
		w.checkValidate(s, t, cmd.Name)
		key := t + "/" + cmd.Name
		if tx, ok := w.notValidTx[key]; ok && tx == w.txSeq && w.inTx {
			w.report("constraint-missing-not-valid", s, "VALIDATE CONSTRAINT %s runs in the same transaction as its NOT VALID add, so the ACCESS EXCLUSIVE lock is held during the scan anyway", cmd.Name)
		}
		if col, ok := w.notNullCheck[key]; ok {
			w.validNotNull[t+"/"+col] = true
		}
	case pgast.AlterTableType_AT_DropConstraint:
		w.touch(s, LockAccessExclusive)
		s.rep.Drops = append(s.rep.Drops, Object{Kind: "constraint", Schema: sch, Table: tbl, Name: cmd.Name})
		if cmd.MissingOk {
			w.robustDrops[t+"/"+cmd.Name] = true
		} else if !w.inTx {
			w.report("prefer-robust-stmts", s, "DROP CONSTRAINT %s without IF EXISTS fails when a partly applied migration is re-run", cmd.Name)
		}
	case pgast.AlterTableType_AT_DetachPartition:
		pc := cmd.Def.GetPartitionCmd()
		part := rangeVarName(pc.GetName(), w.cfg.defaultSchema)
		if pc != nil && pc.Concurrent {
			w.touch(s, LockShareUpdateExclusive, part)
			s.rep.NonTransactional = true
		} else {
			w.touch(s, LockAccessExclusive, part)
			w.report("require-concurrent-partition-detach", s, "DETACH PARTITION %s without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on %s", part, t)
		}
	case pgast.AlterTableType_AT_DetachPartitionFinalize:
		w.touch(s, LockShareUpdateExclusive)
	case pgast.AlterTableType_AT_AttachPartition:
		w.touch(s, LockShareUpdateExclusive)
		if pc := cmd.Def.GetPartitionCmd(); pc != nil {
			w.touch(s, LockAccessExclusive, rangeVarName(pc.Name, w.cfg.defaultSchema))
		}
		s.rep.ScanUnderLock = true
	case pgast.AlterTableType_AT_SetStatistics, pgast.AlterTableType_AT_ClusterOn, pgast.AlterTableType_AT_DropCluster,
		pgast.AlterTableType_AT_SetRelOptions, pgast.AlterTableType_AT_ResetRelOptions,
		pgast.AlterTableType_AT_SetOptions, pgast.AlterTableType_AT_ResetOptions:
		w.touch(s, LockShareUpdateExclusive)
	case pgast.AlterTableType_AT_EnableTrig, pgast.AlterTableType_AT_EnableAlwaysTrig, pgast.AlterTableType_AT_EnableReplicaTrig,
		pgast.AlterTableType_AT_DisableTrig, pgast.AlterTableType_AT_EnableTrigAll, pgast.AlterTableType_AT_DisableTrigAll,
		pgast.AlterTableType_AT_EnableTrigUser, pgast.AlterTableType_AT_DisableTrigUser:
		w.touch(s, LockShareRowExclusive)
	case pgast.AlterTableType_AT_SetLogged, pgast.AlterTableType_AT_SetUnLogged,
		pgast.AlterTableType_AT_SetAccessMethod, pgast.AlterTableType_AT_SetTableSpace,
		pgast.AlterTableType_AT_SetExpression:
		w.touch(s, LockAccessExclusive)
		return true
	default:
		w.touch(s, LockAccessExclusive)
	}
	return false
}

// addColumn handles ADD COLUMN and reports whether it rewrites the table.
func (w *walker) addColumn(s *stmt, t string, exist bool, cd *pgast.ColumnDef, ifNotExists bool) (rewrite bool) {
	w.touch(s, LockAccessExclusive)
	if cd == nil {
		return false
	}
	sch, tbl := splitQualified(t)
	s.rep.Creates = append(s.rep.Creates, Object{Kind: "column", Schema: sch, Table: tbl, Name: cd.Colname})
	w.markCreatedColumn(t, cd.Colname)
	w.columnType(s, t, cd.Colname, cd.TypeName)
	w.setColumnType(t, cd.Colname, parsedColumnType(cd.TypeName))
	var (
		notNull    = cd.IsNotNull
		dflt       = cd.RawDefault
		stored     bool
		identity   = cd.Identity != ""
		primary    bool
		unique     bool
		foreign    *pgast.Constraint
		serialType = isSerial(typeName(cd.TypeName))
	)
	for _, c := range cd.Constraints {
		k := c.GetConstraint()
		if k == nil {
			continue
		}
		switch k.Contype {
		case pgast.ConstrType_CONSTR_NOTNULL:
			notNull = true
		case pgast.ConstrType_CONSTR_DEFAULT:
			dflt = k.RawExpr
		case pgast.ConstrType_CONSTR_GENERATED:
			stored = true
		case pgast.ConstrType_CONSTR_IDENTITY:
			identity = true
		case pgast.ConstrType_CONSTR_PRIMARY:
			primary, notNull = true, true
		case pgast.ConstrType_CONSTR_UNIQUE:
			unique = true
		case pgast.ConstrType_CONSTR_FOREIGN:
			foreign = k
		}
	}
	volatileDefault := dflt != nil && !safeDefault(dflt)
	rewrite = stored || identity || serialType || volatileDefault || (dflt != nil && w.cfg.pgVersion < 11)
	if exist {
		switch {
		case stored:
			w.reportCtx("adding-field-with-default", s, t, LockAccessExclusive, workRewrite, "adding the STORED generated column %s rewrites %s under an ACCESS EXCLUSIVE lock", cd.Colname, t)
		case volatileDefault:
			w.reportCtx("adding-field-with-default", s, t, LockAccessExclusive, workRewrite, "adding %s with a volatile DEFAULT rewrites %s under an ACCESS EXCLUSIVE lock", cd.Colname, t)
		case dflt != nil && w.cfg.pgVersion < 11:
			w.reportCtx("adding-field-with-default", s, t, LockAccessExclusive, workRewrite, "before PostgreSQL 11, adding %s with a DEFAULT rewrites %s under an ACCESS EXCLUSIVE lock", cd.Colname, t)
		}
		if notNull && dflt == nil && !stored && !identity && !serialType {
			s.rep.BreaksApp = true
			w.checkNonEmpty(s, t, cd.Colname)
			w.report("adding-required-field", s, "adding NOT NULL column %s without a DEFAULT fails on a non-empty %s and breaks inserts from deployed code", cd.Colname, t)
		}
		if primary {
			s.rep.ScanUnderLock = true
			w.reportCtx("adding-serial-primary-key-field", s, t, LockAccessExclusive, workIndex, "adding a PRIMARY KEY column to %s builds its index under an ACCESS EXCLUSIVE lock", t)
		}
		if unique {
			s.rep.ScanUnderLock = true
			w.reportCtx("disallowed-unique-constraint", s, t, LockAccessExclusive, workIndex, "adding a UNIQUE column to %s builds its index under an ACCESS EXCLUSIVE lock", t)
		}
		if foreign != nil {
			ref := rangeVarName(foreign.Pktable, w.cfg.defaultSchema)
			w.touch(s, LockShareRowExclusive, ref)
			w.report("adding-foreign-key-constraint", s, "adding %s REFERENCES %s locks both tables against writes (SHARE ROW EXCLUSIVE)", cd.Colname, ref)
		}
	}
	if !ifNotExists && !w.inTx {
		w.report("prefer-robust-stmts", s, "ADD COLUMN %s without IF NOT EXISTS fails when a partly applied migration is re-run", cd.Colname)
	}
	return rewrite
}

// addConstraint handles ADD CONSTRAINT.
func (w *walker) addConstraint(s *stmt, t string, exist bool, c *pgast.Constraint) {
	if c == nil {
		return
	}
	sch, tbl := splitQualified(t)
	s.rep.Creates = append(s.rep.Creates, Object{Kind: "constraint", Schema: sch, Table: tbl, Name: c.Conname})
	key := t + "/" + c.Conname
	if !w.inTx && !w.robustDrops[key] {
		w.report("prefer-robust-stmts", s, "ADD CONSTRAINT %s fails when a partly applied migration is re-run; precede it with DROP CONSTRAINT IF EXISTS", c.Conname)
	}
	switch c.Contype {
	case pgast.ConstrType_CONSTR_CHECK:
		w.touch(s, LockAccessExclusive)
		if col := notNullColumn(c.RawExpr); col != "" {
			w.notNullCheck[key] = col
			if !c.SkipValidation {
				w.validNotNull[t+"/"+col] = true
			}
		}
		if c.SkipValidation {
			w.notValidTx[key] = w.txSeq
			w.notValidAdd[key] = addedConstraint{s, c}
			return
		}
		w.checkCheck(s, s, t, c)
		if exist {
			s.rep.ScanUnderLock, s.rep.ConstraintWithoutNotValid = true, true
			s.workTable = t
			w.reportCtx("constraint-missing-not-valid", s, t, LockAccessExclusive, workScan, "ADD CONSTRAINT %s CHECK without NOT VALID scans %s under an ACCESS EXCLUSIVE lock", c.Conname, t)
		}
	case pgast.ConstrType_CONSTR_FOREIGN:
		ref := rangeVarName(c.Pktable, w.cfg.defaultSchema)
		w.touch(s, LockShareRowExclusive, ref)
		if c.SkipValidation {
			w.notValidTx[key] = w.txSeq
			w.notValidAdd[key] = addedConstraint{s, c}
			return
		}
		w.checkForeignKey(s, t, c)
		w.noteForeignKey(s, t, stringList(c.FkAttrs))
		if exist {
			s.rep.ScanUnderLock, s.rep.ConstraintWithoutNotValid = true, true
			s.workTable = t
			w.reportCtx("adding-foreign-key-constraint", s, t, LockShareRowExclusive, workScan, "adding foreign key %s checks every row of %s while blocking writes to %s and %s", c.Conname, t, t, ref)
			w.reportCtx("constraint-missing-not-valid", s, t, LockShareRowExclusive, workScan, "ADD CONSTRAINT %s FOREIGN KEY without NOT VALID scans %s while blocking writes", c.Conname, t)
		}
	case pgast.ConstrType_CONSTR_PRIMARY, pgast.ConstrType_CONSTR_UNIQUE, pgast.ConstrType_CONSTR_EXCLUSION:
		w.touch(s, LockAccessExclusive)
		if c.Indexname != "" || !exist {
			return
		}
		if c.Contype != pgast.ConstrType_CONSTR_EXCLUSION {
			keys := stringList(c.Keys)
			w.checkUnique(s, t, keys, c.NullsNotDistinct)
			if c.Contype == pgast.ConstrType_CONSTR_PRIMARY {
				for _, k := range keys {
					w.checkNotNull(s, t, k)
				}
			}
		}
		s.rep.ScanUnderLock = true
		s.workTable = t
		switch c.Contype {
		case pgast.ConstrType_CONSTR_PRIMARY:
			w.reportCtx("adding-serial-primary-key-field", s, t, LockAccessExclusive, workIndex, "ADD PRIMARY KEY on %s builds its index under an ACCESS EXCLUSIVE lock", t)
		case pgast.ConstrType_CONSTR_UNIQUE:
			w.reportCtx("disallowed-unique-constraint", s, t, LockAccessExclusive, workIndex, "ADD CONSTRAINT %s UNIQUE builds its index on %s under an ACCESS EXCLUSIVE lock", c.Conname, t)
		default:
			w.reportCtx("table-scan-under-lock", s, t, LockAccessExclusive, workIndex, "ADD CONSTRAINT %s EXCLUDE builds its index on %s under an ACCESS EXCLUSIVE lock", c.Conname, t)
		}
	default:
		w.touch(s, LockAccessExclusive)
	}
}

// notNullColumn returns col for a CHECK expression "col IS NOT NULL".
func notNullColumn(n *pgast.Node) string {
	nt := n.GetNullTest()
	if nt == nil || nt.Nulltesttype != pgast.NullTestType_IS_NOT_NULL {
		return ""
	}
	if cr := nt.Arg.GetColumnRef(); cr != nil {
		parts := stringList(cr.Fields)
		if len(parts) > 0 {
			return parts[len(parts)-1]
		}
	}
	return ""
}

func (w *walker) markCreatedColumn(t, col string) { w.created[t+"#"+col] = true }

func (w *walker) upCreatedColumn(t, col string) bool { return w.upCreated[t+"#"+col] }

// atName is a readable name for an ALTER TABLE subcommand.
func atName(t pgast.AlterTableType) string {
	switch t {
	case pgast.AlterTableType_AT_SetLogged:
		return "SET LOGGED"
	case pgast.AlterTableType_AT_SetUnLogged:
		return "SET UNLOGGED"
	case pgast.AlterTableType_AT_SetTableSpace:
		return "SET TABLESPACE"
	case pgast.AlterTableType_AT_SetAccessMethod:
		return "SET ACCESS METHOD"
	case pgast.AlterTableType_AT_SetExpression:
		return "SET EXPRESSION"
	case pgast.AlterTableType_AT_AddColumn:
		return "ADD COLUMN"
	case pgast.AlterTableType_AT_AlterColumnType:
		return "ALTER COLUMN TYPE"
	}
	return "ALTER TABLE"
}
