// Package analysis reads a goose migration with the real PostgreSQL parser
// (pg_query_go) and says what it will do to a live database: which locks each
// statement takes, whether it rewrites or scans a table under that lock,
// whether it destroys data, whether the Down section really undoes the Up
// section, and, given a Catalog, how big and busy the touched tables are.
//
// The result is a Report: rule findings for humans (lint output, PR
// comments) and a named numeric feature vector (Report.Features) for the
// prediction model. The package knows nothing of Git, the fleet or the
// control store; callers convert their migration type into a Migration.
package analysis

import "sort"

// Section names which part of a migration a statement belongs to.
type Section string

// The two sections of a goose migration.
const (
	SectionUp   Section = "up"
	SectionDown Section = "down"
)

// Severity ranks a finding. Lint exits non-zero on SeverityError.
type Severity string

// Severities, strongest first.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Finding is one rule hit (or a syntax error, rule "syntax-error").
type Finding struct {
	// RuleID names the rule; docs/rules/<RuleID>.md explains it.
	RuleID   string   `json:"rule_id"`
	Severity Severity `json:"severity"`
	// Message says what is wrong, with live context when a Catalog was given.
	Message string `json:"message"`
	// Fix is the recipe that avoids the hazard.
	Fix string `json:"fix,omitempty"`
	// File, Line and Column locate the finding (1-based; Column 0 = unknown).
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	// Section and Statement locate the statement (index into the section;
	// -1 for migration-level findings).
	Section   Section `json:"section,omitempty"`
	Statement int     `json:"statement"`
}

// StatementReport is what one statement does.
type StatementReport struct {
	Section Section `json:"section"`
	// Index is the statement's position within its section.
	Index int `json:"index"`
	// Line and Column locate its first token in the file.
	Line   int    `json:"line"`
	Column int    `json:"column"`
	SQL    string `json:"sql"`
	// Kind is a stable short name such as "create_table", "alter_table",
	// "create_index", "drop_table", "insert", "do", "set" (see kinds.go).
	Kind string `json:"kind"`
	// Relations are the tables (and indexes) the statement touches,
	// schema-qualified ("public.orders"), sorted, unique.
	Relations []string `json:"relations,omitempty"`
	// Lock is the strongest table lock mode it takes ("" when none).
	Lock string `json:"lock,omitempty"`
	// Rewrite: the statement rewrites a whole table under its lock.
	Rewrite bool `json:"rewrite,omitempty"`
	// ScanUnderLock: it scans a whole table while holding its lock.
	ScanUnderLock bool `json:"scan_under_lock,omitempty"`
	// Destructive: it destroys data (DROP TABLE/COLUMN, TRUNCATE, DELETE
	// or UPDATE without WHERE).
	Destructive bool `json:"destructive,omitempty"`
	// BreaksApp: running application code may fail after it (rename, drop,
	// type change, NOT NULL without default).
	BreaksApp bool `json:"breaks_app,omitempty"`
	// NonTransactional: it cannot run inside a transaction block
	// (CONCURRENTLY, ALTER TYPE ... ADD VALUE before PG12, VACUUM, ...).
	NonTransactional bool `json:"non_transactional,omitempty"`
	// IndexWithoutConcurrently: CREATE/DROP INDEX on an existing table
	// without CONCURRENTLY.
	IndexWithoutConcurrently bool `json:"index_without_concurrently,omitempty"`
	// ConstraintWithoutNotValid: ADD CONSTRAINT (CHECK/FOREIGN KEY) that
	// validates existing rows under lock.
	ConstraintWithoutNotValid bool `json:"constraint_without_not_valid,omitempty"`
	// Creates and Drops list the objects the statement creates or drops, as
	// DropTarget values (Column "" = the whole table; Kind says what it is).
	Creates []Object `json:"creates,omitempty"`
	Drops   []Object `json:"drops,omitempty"`
	// Alters lists the tables and columns the statement renames or changes
	// the type of: deployed queries that name them may fail afterwards.
	Alters []Object `json:"alters,omitempty"`
	// AheadOfTarget: the CREATE INDEX indexes a table or column that this
	// migration creates, adds, renames to or empties first, so the target
	// does not have it as the index will see it: the plan check leaves the
	// index out (hypopg cannot build it, and today's plans say nothing of
	// it).
	AheadOfTarget bool `json:"ahead_of_target,omitempty"`
	// WorkTable is the table whose size bounds how long the lock is held
	// (set for rewrites, scans and index builds).
	WorkTable string `json:"work_table,omitempty"`
	// InDo is true for statements found inside a DO block's body.
	InDo bool `json:"in_do,omitempty"`
	// ParseError is the parser's message when the statement does not parse.
	ParseError string `json:"parse_error,omitempty"`
}

// DropTarget is what a Down section would drop: a table (Column == "") or
// one column. The rollout archives these before running down.
type DropTarget struct {
	Schema string `json:"schema"`
	Table  string `json:"table"`
	Column string `json:"column,omitempty"`
}

// Object is a schema object a statement creates or drops.
type Object struct {
	// Kind is "table", "column", "index", "constraint", "view", "sequence",
	// "type", "function", "schema", "extension", "trigger", or "other".
	Kind   string `json:"kind"`
	Schema string `json:"schema,omitempty"`
	// Table is the table for tables, columns, constraints and triggers.
	Table string `json:"table,omitempty"`
	// Name is the object's own name (column, index, constraint, ...).
	Name string `json:"name,omitempty"`
}

// TableStats is the live context of one table, from a Catalog.
type TableStats struct {
	// Name is schema-qualified ("public.orders").
	Name string `json:"name"`
	// Exists is false when the table is not in the catalog (created by the
	// migration itself, or a typo).
	Exists bool `json:"exists"`
	// Rows is the planner's estimate (pg_class.reltuples, 0 when never analyzed).
	Rows float64 `json:"rows"`
	// Bytes is pg_total_relation_size (heap + indexes + TOAST).
	Bytes int64 `json:"bytes"`
	// Indexes is the number of indexes on the table.
	Indexes int `json:"indexes"`
	// IndexColumns lists the key columns of each valid index, comma-joined
	// in key order ("customer_id,created_at"); expression indexes are left
	// out.
	IndexColumns []string `json:"index_columns,omitempty"`
	// Partitioned is true for a partitioned table (relkind p).
	Partitioned bool `json:"partitioned,omitempty"`
	// Columns are the types of the table's columns by name (StaticCatalog
	// answers ColumnTypes from it; PGCatalog reads pg_attribute instead).
	Columns map[string]ColumnType `json:"columns,omitempty"`
	// WritesPerSec and ScansPerSec are rates between two samples of
	// pg_stat_user_tables (inserts+updates+deletes; seq+idx scans).
	WritesPerSec float64 `json:"writes_per_sec"`
	ScansPerSec  float64 `json:"scans_per_sec"`
	// RewriteBytesPerSec and ScanBytesPerSec are the measured rewrite and
	// sequential-scan throughput of the server (calibrated once per
	// Catalog); 0 when unknown.
	RewriteBytesPerSec float64 `json:"rewrite_bytes_per_sec"`
	ScanBytesPerSec    float64 `json:"scan_bytes_per_sec"`
}

// Report is the analysis of one migration. It is a plain value, safe to
// marshal to JSON and to share between goroutines once returned.
type Report struct {
	Path    string `json:"path"`
	Version int64  `json:"version"`
	// Statements lists every statement of Up then Down, including statements
	// embedded in DO blocks (InDo).
	Statements []StatementReport `json:"statements"`
	// Findings are rule hits sorted by file position.
	Findings []Finding `json:"findings"`
	// Tables is every table the Up section touches, schema-qualified, sorted.
	Tables []string `json:"tables"`
	// Schemas are the schemas the file (Up and Down) names explicitly in a
	// relation name ("public.orders" names public), sorted. The names of
	// Tables are qualified either way; a schema-per-tenant fleet, whose
	// migrations must name their tables unqualified, refuses a change that
	// names the default schema.
	Schemas []string `json:"schemas,omitempty"`
	// StrongestLock is the strongest lock mode the Up section takes,
	// a PostgreSQL lock mode name such as "AccessExclusiveLock" ("" none).
	StrongestLock string `json:"strongest_lock"`
	// DownDrops is what the Down section would drop (tables and columns that
	// may hold data written after Up).
	DownDrops []DropTarget `json:"down_drops,omitempty"`
	// Irreversible: there is no Down section or it does nothing.
	Irreversible bool `json:"irreversible"`
	// LossyDown: the Down section drops tables or columns (DownDrops).
	LossyDown bool `json:"lossy_down"`
	// NotInverse: Down does not undo everything Up creates.
	NotInverse bool `json:"not_inverse"`
	// NoTransaction and Risk are copied from the input migration.
	NoTransaction bool `json:"no_transaction"`
	Risk          int  `json:"risk"`
	// Context is the live catalog context for each touched table, keyed by
	// schema-qualified name, when a Catalog was given.
	Context map[string]TableStats `json:"context,omitempty"`
	// Ignored are the findings an ignore comment silenced, with the
	// comment's reason (PR comments show them to reviewers).
	Ignored []Ignored `json:"ignored,omitempty"`
	// DataChecks are the questions about the target's rows that decide
	// whether the Up section can succeed (see DataCheck); Target.Inspect
	// answers them.
	DataChecks []DataCheck `json:"data_checks,omitempty"`
	// Live is what a live target showed (nil without one).
	Live *LiveContext `json:"live,omitempty"`
	// EstLockSeconds estimates how long the strongest lock is held on the
	// largest rewritten or scanned table (0 without a Catalog).
	EstLockSeconds float64 `json:"est_lock_seconds,omitempty"`
}

// HasErrors reports whether any finding has SeverityError.
func (r *Report) HasErrors() bool {
	for _, f := range r.Findings {
		if f.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Ignored is a finding an ignore comment silenced.
type Ignored struct {
	RuleID string `json:"rule_id"`
	// Line is the statement's line (0: the whole file); CommentLine the
	// ignore comment's.
	Line        int    `json:"line"`
	CommentLine int    `json:"comment_line"`
	Reason      string `json:"reason"`
}

// HazardKinds names the kinds of hazard the Up section has: the sorted,
// distinct IDs of its rules of class fails, blocks, loses-data or
// breaks-app. Changes that share one are "of the same kind" for the
// history of past rollbacks.
func (r *Report) HazardKinds() []string {
	seen := map[string]bool{}
	kinds := []string{}
	for _, f := range r.Findings {
		if f.Section == SectionDown || seen[f.RuleID] {
			continue
		}
		switch ClassOf(f.RuleID) {
		case ClassFails, ClassBlocks, ClassLosesData, ClassBreaksApp:
			seen[f.RuleID] = true
			kinds = append(kinds, f.RuleID)
		}
	}
	sort.Strings(kinds)
	return kinds
}
