package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/lab"
	"github.com/schemacanary/schemacanary/analysis/model"
)

type trainFlags struct {
	data, out, evalJSON, source, format string
	eval                                bool
	lambda                              float64
	folds, bootstrap                    int
	seed                                uint64
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train --data FILE [--eval] [--out model.json]",
		Short: "Train, calibrate and evaluate the deployment-safety model",
		Long: `train fits the prediction model on a labeled dataset (JSON lines, gzip or
plain: the lab's records, or history exported by the daemon).

The model is a logistic regression over the few causal features of
docs/features.md (how long a write-blocking lock is held and how much
traffic queues behind it, what the change breaks in the workload, whether
it destroys data, the author's risk label, the number of statements), each
constrained as a hazard: its weight can only lower the confidence. It is
fitted with L-BFGS under an L2 penalty (--lambda, fixed: nothing is tuned on
the evaluation) and calibrated with Platt scaling on grouped out-of-fold
predictions, so that "0.80" means 80% of such changes deployed safely.
Lab records are re-featured from their stored SQL, catalog context and live
measurements first, so the dataset always matches the current features.

--eval scores the model and three baselines (the author's risk label alone,
"any error-severity lint finding", the physical lock-time estimate alone)
on examples whose template (then whose family) the model never saw: every
prediction comes from a model trained without its group. It prints AUC,
Brier score, the share of unsafe and of safe changes that would proceed at
the threshold, and the calibration curve, each with a 95% interval from
resampling whole groups, and whether the goals are met.

--out writes the model trained on all the data, with its evaluation and
the live stage (the re-prediction during a bake, fitted on the trials'
outcomes); --eval-json also writes the evaluation, which cmd/calplot draws
(make lab does both).

Exit status: 0, 2 on usage or I/O errors.`,
		Example: `  schemacanary train --data analysis/model/lab.jsonl.gz --eval
  schemacanary train --data analysis/model/lab.jsonl.gz --eval --out analysis/model/bootstrap.json --eval-json eval.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrain(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "dataset (JSON lines, optionally gzip); required")
	fl.BoolVar(&f.eval, "eval", false, "evaluate leaving templates and families out, with baselines and intervals")
	fl.StringVar(&f.out, "out", "", "write the trained model here (JSON)")
	fl.StringVar(&f.evalJSON, "eval-json", "", "also write the evaluation here as JSON (implies --eval; go run ./cmd/calplot plots it)")
	fl.StringVar(&f.source, "source", "lab", "what the data is, recorded in the model version (lab, history)")
	fl.StringVar(&f.format, "format", "text", "evaluation output: text, markdown or json")
	fl.Float64Var(&f.lambda, "lambda", 0.01, "L2 penalty on standardized coefficients")
	fl.IntVar(&f.folds, "folds", 5, "k of the grouped cross-validation behind the calibration")
	fl.IntVar(&f.bootstrap, "bootstrap", 1000, "group resamples behind each 95% interval")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the fold assignment and the resampling")
	_ = cmd.MarkFlagRequired("data") // fails only for a flag not defined just above
	return cmd
}

func runTrain(cmd *cobra.Command, f trainFlags) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	if f.format != "text" && f.format != "markdown" && f.format != "json" {
		return &exitError{code: statusError, msg: fmt.Sprintf("--format %q: want text, markdown or json", f.format)}
	}
	recs, err := lab.ReadRecords(f.data)
	if err != nil {
		return &exitError{code: statusError, msg: err.Error()}
	}
	if err := lab.Refeature(ctx, recs); err != nil {
		return &exitError{code: statusError, msg: err.Error()}
	}
	ds := lab.Dataset(recs)
	opts := append(assess.TrainOptions(), model.WithLambda(f.lambda), model.WithFolds(f.folds), model.WithSeed(f.seed), model.WithSource(f.source))
	var ev *model.Evaluation
	if f.eval || f.evalJSON != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "evaluating on %d examples (every template, then every family, left out in turn)...\n", len(ds))
		if ev, err = model.Evaluate(ctx, ds, model.Baselines(), f.bootstrap, opts...); err != nil {
			return err
		}
		if err := writeEvaluation(cmd, ev, f.format); err != nil {
			return err
		}
		if f.evalJSON != "" {
			if err := writeEvalJSON(f.evalJSON, ev); err != nil {
				return &exitError{code: statusError, msg: err.Error()}
			}
		}
	}
	m, err := model.Train(ctx, ds, opts...)
	if err != nil {
		return err
	}
	if ev != nil {
		m.Metrics.LeaveOneTemplateOut, m.Metrics.LeaveOneFamilyOut = ev.Model("template"), ev.Model("family")
	}
	if f.format == "text" {
		if err := m.WriteText(out, 0); err != nil {
			return err
		}
	}
	return saveModel(cmd, m, recs, f.out)
}

func writeEvaluation(cmd *cobra.Command, ev *model.Evaluation, format string) error {
	out := cmd.OutOrStdout()
	switch format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(ev)
	case "markdown":
		return ev.WriteMarkdown(out)
	}
	return ev.WriteText(out)
}

// saveModel writes m to path, with the live stage (the re-prediction during
// a bake) fitted on the records' trial outcomes when they have them (the
// lab's do; exported history does not).
func saveModel(cmd *cobra.Command, m *model.Model, recs []lab.Record, path string) error {
	if path == "" {
		return nil
	}
	ls, err := lab.FitLiveStage(cmd.Context(), recs, m)
	switch {
	case errors.Is(err, model.ErrEmptyDataset):
		fmt.Fprintln(cmd.ErrOrStderr(), "no trial outcomes in the data: the model has no live stage (rollback_below has no effect with it)")
	case err != nil:
		return err
	default:
		if m, err = m.WithLive(ls); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "live stage fitted on %d trials: intercept %+.2f, weights %v\n", ls.Examples, ls.Intercept, ls.Weights)
	}
	if err := m.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "model %s written to %s\n", m.Version, path)
	return nil
}

// writeEvalJSON writes the evaluation to path, replacing it only once it
// is complete.
func writeEvalJSON(path string, ev *model.Evaluation) error {
	b, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return fmt.Errorf("--eval-json: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--eval-json: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("--eval-json: %w", err)
	}
	return nil
}
