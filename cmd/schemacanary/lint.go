package main

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/schemacanary/schemacanary/analysis"
)

type lintFlags struct {
	target           targetFlags
	format           string
	pgVersion        int
	assumeInTx       bool
	include, exclude []string
	severity         map[string]string
	maxFileBytes     int64
}

func newLintCmd(g *globalFlags) *cobra.Command {
	var f lintFlags
	cmd := &cobra.Command{
		Use:   "lint [--dsn DSN] FILE|DIR...",
		Short: "Find locking, rewrite, data-loss and reversibility hazards in SQL migrations",
		Long: `lint parses every statement of each migration with the PostgreSQL parser
(pg_query) and reports hazards: the lock each statement takes (per ALTER TABLE
subcommand), table rewrites, full scans under lock, destructive statements,
changes that break running application code, CONCURRENTLY inside a
transaction, and Down sections that are missing, lossy or not the inverse of Up.
The rule set includes Squawk's rules; every rule is documented in
docs/rules/<rule-id>.md.

Files may be goose migrations (-- +goose Up/Down, StatementBegin/End, NO
TRANSACTION) or plain SQL (treated as an Up section only). Directories are
searched recursively for *.sql files.

With --dsn (or --dsn-env NAME), every touched table is looked up on the live
database: rows, bytes, indexes, and writes/scans per second over
--sample-interval; the server's rewrite throughput is measured once (a
CREATE TABLE AS of a sample inside a rolled-back transaction) and cached in
--calibration-cache, so findings read e.g. "rewrites public.orders (12 GB, est.
3 min under ACCESS EXCLUSIVE, 400 writes/s blocked)". With a DSN the Up
section is also dry-run on a schema-only scratch copy of the database
(--dry-run; needs CREATEDB, pg_dump and psql) and the rows are checked for
what will certainly fail (--data-checks): both read the target only. A check
that cannot run is reported (rule check-not-run), never passed silently.

Every rule has a class (docs/rules/README.md). Findings of the class "fails"
(the change cannot succeed as written) cannot be ignored or excluded, and
"schemacanary predict" scores such a change at most 0.05.

Silence a finding with a comment on the line before the statement:
  -- schemacanary:ignore <rule-id> <reason>

Exit status: 0 no error-severity finding, 1 at least one, 2 usage or I/O error.`,
		Example: `  schemacanary lint migrations/
  schemacanary lint --format github migrations/0042_add_note.sql
  schemacanary lint --dsn-env DATABASE_URL --format sarif migrations/ > lint.sarif`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLint(cmd, g, f, args)
		},
	}
	fl := cmd.Flags()
	f.target.register(fl)
	fl.StringVar(&f.format, "format", "text", "output format: "+strings.Join(analysis.Formats, ", "))
	fl.IntVar(&f.pgVersion, "pg-version", 15, "major version of the target PostgreSQL (with a DSN, the server's own)")
	fl.BoolVar(&f.assumeInTx, "assume-in-transaction", false, "plain SQL files run inside one transaction (goose files always do unless NO TRANSACTION)")
	fl.StringSliceVar(&f.include, "include", nil, "opt-in rules to enable (e.g. require-table-schema)")
	fl.StringSliceVar(&f.exclude, "exclude", nil, "rules to disable")
	fl.StringToStringVar(&f.severity, "severity", nil, "rule severities, e.g. ban-char-field=off,prefer-robust-stmts=error (error, warning, info or off)")
	maxFileBytesFlag(fl, &f.maxFileBytes)
	return cmd
}

func defaultCalibrationCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "schemacanary", "calibration.json")
}

func runLint(cmd *cobra.Command, g *globalFlags, f lintFlags, args []string) error {
	ctx := cmd.Context()
	files, err := sqlFiles(args)
	if err != nil {
		return &exitError{code: statusError, msg: err.Error()}
	}
	opts := []analysis.Option{analysis.WithPostgresVersion(f.pgVersion), analysis.WithAssumeInTransaction(f.assumeInTx)}
	if len(f.include) > 0 {
		opts = append(opts, analysis.WithEnabledRules(f.include...))
	}
	if len(f.exclude) > 0 {
		opts = append(opts, analysis.WithDisabledRules(f.exclude...))
	}
	if len(f.severity) > 0 {
		opts = append(opts, analysis.WithRuleSettings(f.severity))
	}
	target, err := f.target.open(ctx, g.logger(cmd.ErrOrStderr()))
	if err != nil {
		return err
	}
	if target != nil {
		defer target.Close()
		opts = append(opts, analysis.WithCatalog(target.Catalog()), analysis.WithPostgresVersion(target.Catalog().ServerMajor()))
	}
	reports, err := lintFiles(ctx, files, f.maxFileBytes, opts, target)
	if err != nil {
		return &exitError{code: statusError, msg: err.Error()}
	}
	out := bufio.NewWriter(cmd.OutOrStdout())
	if err := analysis.WriteReports(out, f.format, reports); err != nil {
		return &exitError{code: statusError, msg: err.Error()}
	}
	if err := out.Flush(); err != nil {
		return &exitError{code: statusError, msg: err.Error()}
	}
	for _, r := range reports {
		if r.HasErrors() {
			return &exitError{code: statusFindings}
		}
	}
	return nil
}

// lintFiles analyzes files on all cores (pg_query parsing is CPU-bound and
// safe for concurrent use) and returns the reports in file order. One
// worker per core takes the next file in turn: a goroutine per file would
// pay again for growing its stack through the parse tree's recursion.
func lintFiles(ctx context.Context, files []string, maxBytes int64, opts []analysis.Option, target *analysis.Target) ([]*analysis.Report, error) {
	reports := make([]*analysis.Report, len(files))
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		g.Go(func() error {
			for i := int(next.Add(1)) - 1; i < len(files); i = int(next.Add(1)) - 1 {
				r, err := lintFile(ctx, files[i], maxBytes, opts, target)
				if err != nil {
					return err
				}
				reports[i] = r
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return reports, nil
}

// lintFile reads and analyzes one file, and inspects it on the target when
// there is one; a file goose cannot parse becomes a report with one
// goose-syntax finding. A file above maxBytes is an error (exit 2), as the
// daemon would refuse it unread.
func lintFile(ctx context.Context, path string, maxBytes int64, opts []analysis.Option, target *analysis.Target) (*analysis.Report, error) {
	src, err := readMigrationFile(path, maxBytes)
	if err != nil {
		return nil, err
	}
	m, err := loadMigration(path, src)
	if err != nil {
		return parseErrorReport(path, err), nil
	}
	rep, err := analysis.Analyze(ctx, m, opts...)
	if err != nil || target == nil {
		return rep, err
	}
	return rep, target.Inspect(ctx, m, rep)
}

// sqlFiles expands directories into their *.sql files (sorted), keeping
// files named on the command line as given.
func sqlFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("lint: %w", err)
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(p, ".sql") {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("lint %s: %w", a, err)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}
