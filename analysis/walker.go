package analysis

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/schemacanary/schemacanary/analysis/internal/pgast"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// walker runs through the statements of one section in order, keeping the
// state that rules depend on (transactions, timeouts, tables created so
// far, constraints added NOT VALID) and emitting findings.
type walker struct {
	cfg   config
	m     migration.Migration
	rep   *Report
	sup   *suppressions
	sec   Section
	plain bool

	inTx         bool     // a transaction is open (implicit or explicit)
	explicitOpen bool     // an explicit BEGIN is open
	openedAt     stmt     // the statement that opened it
	sawExplicit  bool     // an explicit transaction statement was seen
	txSeq        int      // increments at every transaction boundary
	schemas      []string // named explicitly (Report.Schemas)

	created map[string]bool // tables created earlier in the migration
	// unread are the tables, and columns ("table#column"), whose rows on
	// the target cannot answer a data check about this point of the
	// section: named by an earlier RENAME (the target has them under the
	// old name) or emptied by an earlier TRUNCATE.
	unread    map[string]bool
	upCreated map[string]bool // tables created by the Up section (for Down)
	// empty are the tables created by CREATE TABLE earlier in the section
	// that no later statement may have written rows to (emptyTables).
	empty        map[string]bool
	lockTimeout  bool
	stmtTimeout  bool
	warnedLockTO bool
	warnedStmtTO bool
	notValidTx   map[string]int             // "table/constraint" → txSeq where it was added NOT VALID
	notValidAdd  map[string]addedConstraint // "table/constraint" → where it was added NOT VALID
	notNullCheck map[string]string          // "table/constraint" → column of a CHECK (col IS NOT NULL)
	validNotNull map[string]bool            // "table/column" proven NOT NULL by a validated check
	robustDrops  map[string]bool            // "table/constraint" dropped IF EXISTS earlier
	statements   int                        // statements seen in this section (for robust-stmts)
	pendingNonTx []stmt                     // non-transactional statements in an assumed transaction

	// ctx is Analyze's context, for the ColumnCatalog lookups of the walk;
	// catErr is the first error of one (Analyze returns it).
	ctx    context.Context
	catErr error
	// colTypes are the column types this migration sets ("table/column");
	// tableCols caches a ColumnCatalog's answers by table.
	colTypes  map[string]ColumnType
	tableCols map[string]map[string]ColumnType

	// decorations are findings that want live context appended.
	decorations []decoration
	// obj is the state of the object rules (objects.go).
	obj objectState
}

// decoration asks for a finding's message to be completed with the live
// context of a table once the Catalog has answered.
type decoration struct {
	finding int
	table   string
	lock    LockMode
	work    workKind
}

type workKind int

const (
	workNone workKind = iota
	workScan
	workRewrite
	workIndex
)

// stmt is the statement being analyzed, with its report entry.
type stmt struct {
	p   parsedStmt
	rep *StatementReport
	// workTable is the table whose size bounds how long the lock is held.
	workTable string
}

func newWalker(cfg config, m migration.Migration, rep *Report, sup *suppressions) *walker {
	return &walker{
		cfg: cfg, m: m, rep: rep, sup: sup,
		created:      map[string]bool{},
		unread:       map[string]bool{},
		upCreated:    map[string]bool{},
		empty:        map[string]bool{},
		notValidTx:   map[string]int{},
		notValidAdd:  map[string]addedConstraint{},
		notNullCheck: map[string]string{},
		validNotNull: map[string]bool{},
		robustDrops:  map[string]bool{},
		colTypes:     map[string]ColumnType{},
		tableCols:    map[string]map[string]ColumnType{},
		obj:          objectState{enumValues: map[string]int{}, indexCols: map[string][]string{}, partitioned: map[string]bool{}},
	}
}

// startSection resets the per-run state: goose runs Up and Down separately.
func (w *walker) startSection(sec Section) {
	w.sec = sec
	w.inTx = w.assumeTx()
	w.explicitOpen, w.sawExplicit = false, false
	w.lockTimeout, w.stmtTimeout = false, false
	w.warnedLockTO, w.warnedStmtTO = false, false
	w.statements = 0
	w.pendingNonTx = nil
	w.txSeq++
	if sec == SectionDown {
		for t := range w.created {
			w.upCreated[t] = true
		}
	}
	w.created = map[string]bool{}
	w.unread = map[string]bool{}
	w.empty = map[string]bool{}
	w.notValidTx = map[string]int{}
	w.notValidAdd = map[string]addedConstraint{}
	w.robustDrops = map[string]bool{}
}

// assumeTx reports whether the section runs inside one transaction: goose
// wraps every file unless "-- +goose NO TRANSACTION"; plain SQL files only
// with WithAssumeInTransaction.
func (w *walker) assumeTx() bool {
	if w.sup != nil && w.sup.disableAssumeTx {
		return false
	}
	if w.plain {
		return w.cfg.assumeInTx
	}
	return !w.m.NoTransaction
}

// add records a statement in the report and runs every check on it.
func (w *walker) add(p parsedStmt, inDo bool) {
	// The section's counter, not a recount of rep.Statements: that rescan
	// made Analyze quadratic in the number of statements.
	idx := w.statements
	w.rep.Statements = append(w.rep.Statements, StatementReport{
		Section: w.sec, Index: idx, Line: p.line, Column: p.col, SQL: p.sql,
		Kind: kindOf(p.node), InDo: inDo,
	})
	s := &stmt{p: p, rep: &w.rep.Statements[len(w.rep.Statements)-1]}
	w.statements++
	namedSchemas(p.node, &w.schemas)
	w.enumUse(s)
	w.classify(s)
	s.rep.Relations = uniqSorted(s.rep.Relations)
	if s.rep.Rewrite || s.rep.ScanUnderLock || s.rep.IndexWithoutConcurrently {
		s.rep.WorkTable = s.workTable
	}
	// Remember the index of this statement to locate findings; pointers
	// into rep.Statements are invalidated by appends from DO bodies.
	if do := p.node.GetDoStmt(); do != nil {
		w.walkDo(p, do)
	}
}

// report emits a finding for rule id at statement s, unless the rule is
// off or suppressed. It returns the finding's index or -1.
func (w *walker) report(id string, s *stmt, format string, args ...any) int {
	rule, ok := ruleByID(id)
	if !ok {
		panic("analysis: unknown rule " + id)
	}
	if rule.OptIn && !w.cfg.enabledOptIn[id] {
		return -1
	}
	if w.cfg.disabled[id] {
		return -1
	}
	line, col := 0, 0
	idx := -1
	if s != nil {
		line, col, idx = s.p.line, s.p.col, s.rep.Index
	}
	// A certain failure is a fact about PostgreSQL, not an opinion: no
	// ignore comment silences it (unusedIgnores reports such comments).
	if rule.Class != ClassFails && w.ignored(id, line) {
		return -1
	}
	sev := rule.Severity
	if o, ok := w.cfg.severity[id]; ok {
		sev = o
	}
	w.rep.Findings = append(w.rep.Findings, Finding{
		RuleID: id, Severity: sev, Message: fmt.Sprintf(format, args...), Fix: rule.Fix,
		File: w.m.Path, Line: line, Column: col, Section: w.sec, Statement: idx,
	})
	return len(w.rep.Findings) - 1
}

// reportCtx is report plus a request for live context on table.
func (w *walker) reportCtx(id string, s *stmt, table string, lock LockMode, work workKind, format string, args ...any) {
	if i := w.report(id, s, format, args...); i >= 0 && table != "" {
		w.decorations = append(w.decorations, decoration{finding: i, table: table, lock: lock, work: work})
	}
}

// existing reports whether a table existed before this migration (it was
// not created by an earlier statement of the same section).
func (w *walker) existing(table string) bool { return !w.created[table] }

func (w *walker) touch(s *stmt, lock LockMode, tables ...string) {
	for _, t := range tables {
		if t != "" {
			s.rep.Relations = append(s.rep.Relations, t)
		}
	}
	if lock > ParseLockMode(s.rep.Lock) {
		s.rep.Lock = lock.String()
	}
}

func uniqSorted(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	sort.Strings(in)
	out := in[:1]
	for _, s := range in[1:] {
		if s != out[len(out)-1] {
			out = append(out, s)
		}
	}
	return out
}

// transaction handles BEGIN/COMMIT/ROLLBACK for the transaction rules.
func (w *walker) transaction(s *stmt, t *pgast.TransactionStmt) {
	switch t.Kind {
	case pgast.TransactionStmtKind_TRANS_STMT_BEGIN, pgast.TransactionStmtKind_TRANS_STMT_START:
		if w.inTx {
			if w.explicitOpen {
				w.report("transaction-nesting", s, "BEGIN inside an open transaction: PostgreSQL ignores it with a warning, and the next COMMIT ends the outer transaction")
			} else {
				w.report("transaction-nesting", s, "BEGIN inside the transaction goose (or --assume-in-transaction) already opened; the file's own COMMIT would end it early")
			}
		}
		w.inTx, w.explicitOpen, w.sawExplicit = true, true, true
		w.openedAt = *s
		w.txSeq++
	case pgast.TransactionStmtKind_TRANS_STMT_COMMIT, pgast.TransactionStmtKind_TRANS_STMT_ROLLBACK,
		pgast.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED, pgast.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
		word := "COMMIT"
		if t.Kind == pgast.TransactionStmtKind_TRANS_STMT_ROLLBACK {
			word = "ROLLBACK"
		}
		switch {
		case w.explicitOpen:
		case w.inTx:
			w.report("transaction-nesting", s, "%s ends the transaction goose (or --assume-in-transaction) opened around the file; later statements run outside it", word)
		case w.sawExplicit:
			w.report("transaction-nesting", s, "%s without an open transaction", word)
		}
		w.inTx, w.explicitOpen, w.sawExplicit = false, false, true
		w.txSeq++
	}
}

// finishSection emits section-level findings.
func (w *walker) finishSection() {
	if w.statements > 1 {
		for i := range w.pendingNonTx {
			w.reportNonTx(&w.pendingNonTx[i])
		}
	}
	w.pendingNonTx = nil
	if w.explicitOpen {
		w.report("ban-uncommitted-transaction", &w.openedAt, "BEGIN without a matching COMMIT: the changes are never committed")
	}
}

func lower(s string) string { return strings.ToLower(s) }

// ignored reports whether an ignore comment silences rule id at line, and
// records the silenced finding with the comment's reason (Report.Ignored).
func (w *walker) ignored(id string, line int) bool {
	d, ok := w.sup.suppressed(id, line)
	if ok {
		w.rep.Ignored = append(w.rep.Ignored, Ignored{RuleID: id, Line: line, CommentLine: d.line, Reason: d.reason})
	}
	return ok
}
