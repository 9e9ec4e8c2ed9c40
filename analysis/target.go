package analysis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

// Target is a live database a migration is assessed against before it
// runs there: its catalog (sizes and traffic of the touched tables), its
// workload (pg_stat_statements, index scans), its oldest open transaction,
// a dry run of the Up section on a schema-only scratch copy, and the data
// checks (Report.DataChecks) on its rows. Everything it does on the target
// is read-only; the dry run writes only to its own scratch database.
// Safe for concurrent use; Close releases its connections.
type Target struct {
	cat        *PGCatalog
	dsn        string
	dryRun     bool
	dataChecks bool
	timeout    time.Duration
	binDir     string
	log        *slog.Logger
	catOpts    []CatalogOption
	// schema is a schema-per-tenant target's schema (WithTargetSchema).
	schema string
}

// TargetOption configures OpenTarget.
type TargetOption func(*Target) error

// WithDryRun turns the dry run on a schema-only scratch copy on or off
// (default on). It needs pg_dump and psql and a role with CREATEDB; when
// it cannot run, the report says so (rule check-not-run).
func WithDryRun(on bool) TargetOption {
	return func(t *Target) error { t.dryRun = on; return nil }
}

// WithDataChecks turns the data checks on or off (default on).
func WithDataChecks(on bool) TargetOption {
	return func(t *Target) error { t.dataChecks = on; return nil }
}

// WithCheckTimeout bounds each data check (statement_timeout) and the dry
// run (default 30s). It must be positive.
func WithCheckTimeout(d time.Duration) TargetOption {
	return func(t *Target) error {
		if d <= 0 {
			return fmt.Errorf("WithCheckTimeout(%s): want > 0", d)
		}
		t.timeout = d
		return nil
	}
}

// WithTargetCatalog passes options to the target's PGCatalog.
func WithTargetCatalog(opts ...CatalogOption) TargetOption {
	return func(t *Target) error { t.catOpts = append(t.catOpts, opts...); return nil }
}

// WithTargetLogger sets the logger (default: discard).
func WithTargetLogger(l *slog.Logger) TargetOption {
	return func(t *Target) error {
		if l == nil {
			return errors.New("WithTargetLogger: nil logger")
		}
		t.log = l
		return nil
	}
}

// OpenTarget connects to dsn. It fails when the server cannot be reached.
func OpenTarget(ctx context.Context, dsn string, opts ...TargetOption) (*Target, error) {
	t := &Target{dsn: dsn, dryRun: true, dataChecks: true, timeout: 30 * time.Second, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if err := o(t); err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
	}
	// pg_dump and psql (the dry run) and single pgx connections (the
	// plan check) take no pool settings: the DSN is made one libpq reads,
	// with a tenant's search_path in its options.
	var settings []string
	if t.schema != "" {
		settings = append(settings, "search_path="+t.schema)
		t.catOpts = append(t.catOpts, WithCatalogSchema(t.schema))
	}
	var err error
	if t.dsn, err = libpqDSN(dsn, settings...); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	cat, err := NewPGCatalog(ctx, t.dsn, append([]CatalogOption{WithCatalogLogger(t.log)}, t.catOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	t.cat = cat
	return t, nil
}

// Catalog is the target's catalog, for Analyze's WithCatalog.
func (t *Target) Catalog() *PGCatalog { return t.cat }

// Close releases the connections.
func (t *Target) Close() { t.cat.Close() }

// LiveContext is what a live target showed about a migration before it
// ran (Target.Inspect).
type LiveContext struct {
	// OldestXactSeconds is the age of the oldest open transaction of
	// another session in the target database: a lock that conflicts with
	// it would make the traffic queue behind it.
	OldestXactSeconds float64 `json:"oldest_xact_seconds"`
	// WorkloadStats is true when pg_stat_statements could be read.
	WorkloadStats bool `json:"workload_stats"`
	// WorkloadRefs counts the application's statements (pg_stat_statements
	// entries of SELECT/INSERT/UPDATE/DELETE that ran) naming a table or
	// column the Up section drops, renames or retypes.
	WorkloadRefs float64 `json:"workload_refs"`
	// DroppedIndexScans is the number of scans so far of the indexes the
	// Up section drops.
	DroppedIndexScans float64 `json:"dropped_index_scans"`
	// DryRun is one of the DryRun* constants.
	DryRun string `json:"dry_run"`
	// DataChecks answers Report.DataChecks, in the same order.
	DataChecks []DataCheckResult `json:"data_checks,omitempty"`
	// Statements is how many of the workload's top statements were read
	// (pg_stat_statements; 0 when it cannot be read).
	Statements int `json:"statements"`
	// Broken are the workload statements the change will make fail.
	Broken []BrokenStatement `json:"broken,omitempty"`
	// PlanCheck is the outcome of comparing plans before and after the
	// change's index changes (a Check* value); PlanNote says why when it
	// did not run; PlanChanges are the statements whose plan changes.
	PlanCheck   string       `json:"plan_check"`
	PlanNote    string       `json:"plan_note,omitempty"`
	PlanChanges []PlanChange `json:"plan_changes,omitempty"`
}

// Outcomes of the dry run and of a data check.
const (
	CheckPassed   = "passed"
	CheckFailed   = "failed"
	CheckNotRun   = "not run"
	CheckDisabled = "disabled"
	CheckSkipped  = "skipped"
)

// DataCheckResult is the answer to one DataCheck.
type DataCheckResult struct {
	// Outcome is CheckPassed, CheckFailed (the data violates the change),
	// CheckNotRun (timeout, permission, ...) or CheckDisabled.
	Outcome string `json:"outcome"`
	// Detail is PostgreSQL's error for CheckNotRun, or for a failed type
	// check the conversion error.
	Detail string `json:"detail,omitempty"`
	// Seconds is how long the check took.
	Seconds float64 `json:"seconds"`
}

// Inspect measures m on the target and completes rep, which Analyze made
// for m with this target's catalog: it sets rep.Live and appends the
// findings of the dry run (dry-run-failed), the data checks
// (data-check-failed) and of every check that could not run
// (check-not-run). It fails only when the target cannot be read at all
// or ctx ends; checks that cannot run are findings, never silent passes.
func (t *Target) Inspect(ctx context.Context, m migration.Migration, rep *Report) error {
	conn, err := t.cat.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", m.Path, err)
	}
	defer conn.Release()
	live, err := MeasureLive(ctx, conn, rep)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", m.Path, err)
	}
	live.DryRun = CheckDisabled
	rep.Live = live
	if err := t.inspectWorkload(ctx, conn, m, rep); err != nil {
		return fmt.Errorf("inspect %s: %w", m.Path, err)
	}
	if t.dryRun {
		t.runDryRun(ctx, m, rep)
	}
	if t.dataChecks {
		t.runDataChecks(ctx, conn.Conn(), m, rep)
	} else {
		for range rep.DataChecks {
			live.DataChecks = append(live.DataChecks, DataCheckResult{Outcome: CheckDisabled})
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("inspect %s: %w", m.Path, err)
	}
	sortFindings(rep)
	return nil
}

// oldestXactSQL is the age in seconds of the oldest open transaction of
// another session in the current database.
const oldestXactSQL = `SELECT coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0)::float8
FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`

// MeasureLive measures, on q's database, the live context of a migration
// that Analyze reported as rep: the oldest open transaction and how the
// workload uses what the Up section removes. It runs no dry run and no data
// check (Target.Inspect does).
func MeasureLive(ctx context.Context, q Querier, rep *Report) (*LiveContext, error) {
	live := &LiveContext{}
	var err error
	if live.OldestXactSeconds, err = OldestTransactionAge(ctx, q); err != nil {
		return nil, err
	}
	if err := measureWorkload(ctx, q, rep, live); err != nil {
		return nil, err
	}
	return live, nil
}

// OldestTransactionAge returns the age in seconds of the oldest open
// transaction of another session in q's database.
func OldestTransactionAge(ctx context.Context, q Querier) (float64, error) {
	var age float64
	if err := q.QueryRow(ctx, oldestXactSQL).Scan(&age); err != nil {
		return 0, fmt.Errorf("oldest transaction: %w", err)
	}
	return age, nil
}

// Querier is the one method the live measurements need (a *pgx.Conn, a
// *pgxpool.Pool or a transaction).
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// finding appends a finding of rule id located at line/statement of the Up
// section (line 0: the whole file).
func addFinding(rep *Report, m migration.Migration, id string, line, statement int, format string, args ...any) {
	rule, _ := ruleByID(id)
	f := Finding{RuleID: id, Severity: rule.Severity, Message: fmt.Sprintf(format, args...), Fix: rule.Fix,
		File: m.Path, Line: line, Column: 1, Section: SectionUp, Statement: statement}
	if line == 0 {
		f.Line, f.Statement, f.Section = 1, -1, ""
	}
	rep.Findings = append(rep.Findings, f)
}

// sortFindings orders findings by file position.
func sortFindings(r *Report) {
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// AddBrokenFindings adds a breaks-workload-queries finding (a certain
// failure) for each workload statement the report's live context says the
// change breaks. Inspect calls it; the lab calls it on a stored live
// context, so its gate is the product's.
func (r *Report) AddBrokenFindings(m migration.Migration) {
	if r.Live == nil {
		return
	}
	for _, b := range r.Live.Broken {
		addFinding(r, m, "breaks-workload-queries", b.Line, -1, "breaks a statement the workload runs %.2g times/s: %s: %s", b.CallsPerSec, b.Why, b.Query)
	}
}

// pgErrorText is PostgreSQL's message and SQLSTATE, or the error text.
func pgErrorText(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	}
	return err.Error()
}

// workloadLimit is how many statements are read by calls and by total time.
const workloadLimit = 100

// inspectWorkload reads the workload's top statements, finds those the
// change breaks (a breaks-workload-queries finding each, a certain
// failure) and compares their plans across the change's index changes.
func (t *Target) inspectWorkload(ctx context.Context, q Querier, m migration.Migration, rep *Report) error {
	stmts, err := readWorkload(ctx, q, workloadLimit)
	if err != nil {
		return err
	}
	live := rep.Live
	live.Statements = len(stmts)
	if live.Broken, err = findBroken(ctx, q, rep, stmts, t.schema); err != nil {
		return err
	}
	rep.AddBrokenFindings(m)
	changes, status, note, err := t.planCheck(ctx, rep, stmts)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		status, note = CheckNotRun, err.Error()
	}
	live.PlanCheck, live.PlanNote, live.PlanChanges = status, note, changes
	if status == CheckNotRun {
		t.log.Info("plan check not run", "migration", m.Path, "why", note)
	}
	return nil
}
