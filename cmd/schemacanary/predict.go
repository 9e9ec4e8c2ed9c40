package main

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/comment"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
)

type predictFlags struct {
	target               targetFlags
	modelPath, format    string
	failBelow, threshold float64
	severity             map[string]string
	maxFileBytes         int64
}

func newPredictCmd(g *globalFlags) *cobra.Command {
	var f predictFlags
	cmd := &cobra.Command{
		Use:   "predict FILE|DIR... [--dsn DSN] [--model FILE] [--format text|json|markdown]",
		Short: "Predict the chance that each migration deploys without a rollback, with reasons",
		Long: `predict assesses each goose migration exactly as the daemon does before a
change rolls out, and prints the calibrated probability that it deploys
without a rollback, the decision at the threshold, and the reasons.

First the gate: what cannot succeed as written (SQL that does not parse, a
statement that cannot run inside goose's transaction, BEGIN/COMMIT in a
transactional file, a failing dry run, data that violates the change) caps
the confidence at 0.05 with that finding as the first reason; lint reports
the same findings. DROP DATABASE, DROP SCHEMA ... CASCADE and TRUNCATE of a
table in use (or of any table without a DSN) are never auto-approved. Then
the model: each reason is one feature's term of the log-odds in plain words
("rewrites a 2M-row table: −1.31"); the terms add up to the confidence.

With --dsn (or --dsn-env) the migration is checked against that live
database, read-only: sizes and traffic of the touched tables, the oldest
open transaction, the workload's use of what the change drops, renames or
retypes (pg_stat_statements, index scans), a dry run of Up on a schema-only
scratch copy (pg_dump --schema-only into a scratch database on the same
server; needs CREATEDB), and data checks on the rows (duplicates for a new
UNIQUE, NULLs for SET NOT NULL, violations of a new CHECK or FOREIGN KEY,
values that do not fit a narrowed type). A check that cannot run lowers the
confidence and says why. Without --dsn none of that is measured: every
touched table is assumed large and busy (a missing measurement never makes
a change look safer), and the output says so.

Without --model the bootstrap model embedded in the binary is used.
--format markdown prints the pull-request comment the daemon posts.

Exit status: 0, or 1 when --fail-below is set and a confidence is below it,
2 on usage or I/O errors.`,
		Example: `  schemacanary predict migrations/0042_add_index.sql
  schemacanary predict --dsn-env DATABASE_URL --format markdown migrations/0042_add_index.sql
  schemacanary predict --fail-below 0.8 --format json migrations/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runPredict(cmd, g, f, args) },
	}
	fl := cmd.Flags()
	f.target.register(fl)
	fl.StringVar(&f.modelPath, "model", "", "model JSON written by `schemacanary train --out` (default: the embedded bootstrap model)")
	fl.StringVar(&f.format, "format", "text", "output format: text, json or markdown")
	fl.Float64Var(&f.failBelow, "fail-below", 0, "exit 1 when a confidence is below this (0 disables)")
	fl.StringToStringVar(&f.severity, "severity", nil, "rule severities, as lint --severity (off disables a rule; certain failures cannot be turned off)")
	fl.Float64Var(&f.threshold, "threshold", model.DefaultThreshold, "decision threshold: at or above it a change proceeds without approval")
	maxFileBytesFlag(fl, &f.maxFileBytes)
	return cmd
}

func runPredict(cmd *cobra.Command, g *globalFlags, f predictFlags, args []string) error {
	ctx := cmd.Context()
	if f.format != "text" && f.format != "json" && f.format != "markdown" {
		return &exitError{code: statusError, msg: fmt.Sprintf("--format %q: want text, json or markdown", f.format)}
	}
	files, err := sqlFiles(args)
	if err != nil {
		return &exitError{code: statusError, msg: err.Error()}
	}
	m, err := loadPredictModel(f.modelPath)
	if err != nil {
		return &exitError{code: statusError, msg: err.Error()}
	}
	opts := []assess.Option{assess.WithThreshold(f.threshold)}
	if len(f.severity) > 0 {
		opts = append(opts, assess.WithAnalysisOptions(analysis.WithRuleSettings(f.severity)))
	}
	if !(f.threshold > 0 && f.threshold <= 1) {
		return &exitError{code: statusError, msg: fmt.Sprintf("--threshold %v: want a probability in (0, 1]", f.threshold)}
	}
	target, err := f.target.open(ctx, g.logger(cmd.ErrOrStderr()))
	if err != nil {
		return err
	}
	if target != nil {
		defer target.Close()
		opts = append(opts, assess.WithTarget(target))
	}
	as, err := assess.New(assess.Static{M: m}, opts...)
	if err != nil {
		return &exitError{code: statusError, msg: err.Error()}
	}
	var items []*assess.Assessment
	for _, path := range files {
		in, err := predictInput(path, f.maxFileBytes)
		if err != nil {
			return &exitError{code: statusError, msg: err.Error()}
		}
		a, err := as.Assess(ctx, in)
		if err != nil {
			return &exitError{code: statusError, msg: err.Error()}
		}
		items = append(items, a)
	}
	if err := writePredictions(cmd, f.format, items); err != nil {
		return err
	}
	if f.failBelow > 0 {
		for _, it := range items {
			if it.Prediction.Confidence < f.failBelow {
				return &exitError{code: statusFindings}
			}
		}
	}
	return nil
}

// predictInput reads one file as lint does: a file goose cannot parse is
// assessed as its goose-syntax finding (a certain failure), not an error; a
// file above maxBytes is an error.
func predictInput(path string, maxBytes int64) (assess.Input, error) {
	src, err := readMigrationFile(path, maxBytes)
	if err != nil {
		return assess.Input{}, err
	}
	mig, err := loadMigration(path, src)
	if err != nil {
		f := parseErrorReport(path, err).Findings[0]
		return assess.Input{Migration: migration.Migration{Path: path}, Invalid: &f}, nil
	}
	return assess.Input{Migration: mig}, nil
}

func loadPredictModel(path string) (*model.Model, error) {
	if path == "" {
		return model.Bootstrap()
	}
	return model.LoadFile(path)
}

func writePredictions(cmd *cobra.Command, format string, items []*assess.Assessment) error {
	out := cmd.OutOrStdout()
	switch format {
	case "markdown":
		return comment.Write(out, items, comment.Options{})
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(items)
	}
	for _, it := range items {
		p := it.Prediction
		fmt.Fprintf(out, "%s: confidence %.2f, %s (threshold %.2f, model %s)\n", it.Path, p.Confidence, p.Decision, p.Threshold, p.ModelVersion)
		fmt.Fprintf(out, "  %.2f for a change with no hazard; each reason below is its term of the log-odds\n", 1/(1+math.Exp(-p.Base)))
		for _, r := range p.Reasons {
			fmt.Fprintf(out, "  %+.2f  %s\n", r.Contribution, r.Text)
		}
		if live := it.Report.Live; live != nil {
			for _, x := range live.Broken {
				fmt.Fprintf(out, "  breaks (%.2g calls/s): %s: %s\n", x.CallsPerSec, x.Why, x.Query)
			}
			for _, pc := range live.PlanChanges {
				fmt.Fprintf(out, "  plan change (%.2g calls/s): cost %.1f -> %.1f (x%.2f), %s -> %s: %s\n", pc.CallsPerSec, pc.CostBefore, pc.CostAfter, pc.Ratio, pc.NodesBefore, pc.NodesAfter, pc.Query)
			}
			if live.PlanCheck == analysis.CheckNotRun && live.PlanNote != "" {
				fmt.Fprintf(out, "  plans not compared: %s\n", live.PlanNote)
			}
		}
		if !it.Live() {
			fmt.Fprintln(out, "  (no live database: sizes, traffic, workload, dry run and data checks not measured; every touched table assumed large and busy; pass --dsn)")
		}
	}
	return nil
}
