package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/comment"
	"github.com/schemacanary/schemacanary/analysis/lab"
	"github.com/schemacanary/schemacanary/analysis/model"
)

type predictFlags struct {
	dsn, dsnEnv, modelPath, format string
	failBelow, threshold           float64
	sample                         time.Duration
	maxFileBytes                   int64
}

func newPredictCmd() *cobra.Command {
	var f predictFlags
	cmd := &cobra.Command{
		Use:   "predict FILE... [--dsn DSN] [--model FILE] [--format text|json|markdown]",
		Short: "Predict the chance that each migration deploys without a rollback, with reasons",
		Long: `predict analyzes each goose migration (as lint does) and asks the model for
the calibrated probability that it deploys without a rollback. The reasons
are the features that moved the prediction most, in plain words, each with
its term of the log-odds ("rewrites a 2M-row table: −1.31").

Without --model the bootstrap model embedded in the binary is used: trained
on the lab dataset (real migrations applied to a real PostgreSQL under load,
outcomes judged from the measured KPIs). With --dsn (or --dsn-env) the touched
tables are looked up live (rows, bytes, traffic) and the age of the oldest
open transaction and the workload's use of what the change drops, renames or
retypes (pg_stat_statements, index scans) are measured; without it those features are taken at their
training mean, and the prediction says so.

--format markdown prints the pull-request comment the daemon posts
(confidence, decision, reasons, lock and hazard table).

Exit status: 0, or 1 when --fail-below is set and a confidence is below it,
2 on usage or I/O errors.`,
		Example: `  schemacanary predict migrations/0042_add_index.sql
  schemacanary predict --dsn-env DATABASE_URL --format markdown migrations/0042_add_index.sql
  schemacanary predict --fail-below 0.8 --format json migrations/*.sql`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runPredict(cmd, f, args) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dsn, "dsn", "", "PostgreSQL connection string for live context (prefer --dsn-env)")
	fl.StringVar(&f.dsnEnv, "dsn-env", "", "name of the environment variable holding the DSN")
	fl.StringVar(&f.modelPath, "model", "", "model JSON written by `schemacanary train --out` (default: the embedded bootstrap model)")
	fl.StringVar(&f.format, "format", "text", "output format: text, json or markdown")
	fl.Float64Var(&f.failBelow, "fail-below", 0, "exit 1 when a confidence is below this (0 disables)")
	fl.Float64Var(&f.threshold, "threshold", 0, "decision threshold (default: the model's, 0.80)")
	fl.DurationVar(&f.sample, "sample-interval", 2*time.Second, "with a DSN: interval between the two table-statistics samples")
	maxFileBytesFlag(fl, &f.maxFileBytes)
	return cmd
}

// predictResult is one file's JSON output.
type predictResult struct {
	Path       string           `json:"path"`
	Prediction model.Prediction `json:"prediction"`
	Report     *analysis.Report `json:"report"`
}

func runPredict(cmd *cobra.Command, f predictFlags, args []string) error {
	ctx := cmd.Context()
	m, err := loadPredictModel(f.modelPath)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	var popts []model.PredictOption
	if f.threshold != 0 {
		popts = append(popts, model.WithThreshold(f.threshold))
	}
	dsn := f.dsn
	if f.dsnEnv != "" {
		if dsn = os.Getenv(f.dsnEnv); dsn == "" {
			return &exitError{code: 2, msg: fmt.Sprintf("--dsn-env: $%s is empty", f.dsnEnv)}
		}
	}
	var aopts []analysis.Option
	if dsn != "" {
		cat, err := analysis.NewPGCatalog(ctx, dsn, analysis.WithSampleInterval(f.sample), analysis.WithCalibrationCache(defaultCalibrationCache()))
		if err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
		defer cat.Close()
		aopts = append(aopts, analysis.WithCatalog(cat), analysis.WithPostgresVersion(cat.ServerMajor()))
	}
	var items []comment.Item
	for _, path := range args {
		src, err := readMigrationFile(path, f.maxFileBytes)
		if err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
		mig, err := loadMigration(path, src)
		if err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
		rep, err := analysis.Analyze(ctx, mig, aopts...)
		if err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
		live := model.Features{}
		if dsn != "" {
			var up []string
			for _, st := range mig.Up {
				up = append(up, st.SQL)
			}
			if live, err = lab.LiveFeatures(ctx, dsn, up); err != nil {
				return &exitError{code: 2, msg: err.Error()}
			}
		}
		feats := model.Merge(model.Features(rep.Features()), live, model.TimeFeatures(time.Now()))
		p, err := m.Predict(feats, popts...)
		if err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
		items = append(items, comment.Item{Report: rep, Prediction: p})
	}
	if err := writePredictions(cmd, f.format, items); err != nil {
		return err
	}
	if f.failBelow > 0 {
		for _, it := range items {
			if it.Prediction.Confidence < f.failBelow {
				return &exitError{code: 1}
			}
		}
	}
	return nil
}

func loadPredictModel(path string) (*model.Model, error) {
	if path == "" {
		return model.Bootstrap()
	}
	return model.LoadFile(path)
}

func writePredictions(cmd *cobra.Command, format string, items []comment.Item) error {
	out := cmd.OutOrStdout()
	switch format {
	case "markdown":
		return comment.Write(out, items, comment.Options{})
	case "json":
		res := make([]predictResult, len(items))
		for i, it := range items {
			res[i] = predictResult{Path: it.Report.Path, Prediction: it.Prediction, Report: it.Report}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	case "text":
		for _, it := range items {
			p := it.Prediction
			fmt.Fprintf(out, "%s: confidence %.2f, %s (threshold %.2f, model %s)\n", it.Report.Path, p.Confidence, p.Decision, p.Threshold, p.ModelVersion)
			for _, r := range p.Reasons {
				fmt.Fprintf(out, "  %+.2f  %s\n", r.Contribution, r.Text)
			}
			if len(p.Missing) > 0 {
				fmt.Fprintf(out, "  (not measured, taken at the training mean: %d features; pass --dsn for live context)\n", len(p.Missing))
			}
		}
		return nil
	default:
		return &exitError{code: 2, msg: fmt.Sprintf("--format %q: want text, json or markdown", format)}
	}
}
