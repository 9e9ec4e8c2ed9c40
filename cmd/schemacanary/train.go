package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/analysis/lab"
	"github.com/schemacanary/schemacanary/analysis/model"
)

type trainFlags struct {
	data, out, evalJSON, source, format string
	eval                                bool
	lambda                              string
	folds                               int
	seed                                uint64
	interactions                        string
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train --data FILE [--eval] [--out model.json]",
		Short: "Train, calibrate and evaluate the deployment-safety model",
		Long: `train fits the prediction model on a labeled dataset (JSON lines, gzip or
plain: the lab's output, or history exported by the daemon): an
L2-regularized logistic regression on standardized features (L-BFGS),
calibrated with Platt scaling on grouped out-of-fold predictions so that a
confidence of 0.80 means 80% of such changes deployed safely.

--eval holds out whole groups (the lab's templates; the records marked
"heldout") and prints, for the model and two baselines (the author's risk
label alone, and "any error-severity lint finding"), the grouped k-fold and
held-out AUC, Brier score and log-loss, and the model's held-out
calibration table. With --interactions auto (the default) the model is also
evaluated with interaction features (hazard × table size, lock × long
transaction); they are used only if they win on the held-out split.

--out writes the chosen model, trained on all the data, as versioned JSON
with its metrics; --eval-json also writes the evaluation as JSON, which
cmd/calplot draws as the held-out calibration plot (make lab does both).`,
		Example: `  schemacanary train --data analysis/model/lab.jsonl.gz --eval
  schemacanary train --data analysis/model/lab.jsonl.gz --eval --out analysis/model/bootstrap.json --eval-json eval.json
  schemacanary train --data history.jsonl --interactions none --lambda 0.1 --out model.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrain(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "dataset (JSON lines, optionally gzip); required")
	fl.BoolVar(&f.eval, "eval", false, "evaluate on the grouped held-out split and k-fold, with baselines")
	fl.StringVar(&f.out, "out", "", "write the trained model here (JSON)")
	fl.StringVar(&f.evalJSON, "eval-json", "", "also write the evaluation here as JSON (implies --eval; go run ./cmd/calplot plots it)")
	fl.StringVar(&f.source, "source", "lab", "what the data is, recorded in the model version (lab, history)")
	fl.StringVar(&f.format, "format", "text", "evaluation output: text, markdown or json")
	fl.StringVar(&f.lambda, "lambda", "auto", `L2 penalty on standardized coefficients, or "auto": the lowest grouped k-fold log-loss on the training part over 0.001..3`)
	fl.IntVar(&f.folds, "folds", 5, "k of the grouped cross-validation")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the fold assignment (and of the held-out draw when the data marks none)")
	fl.StringVar(&f.interactions, "interactions", "auto", `"auto" (try the default interactions), "none", or a comma-separated list of A*B`)
	_ = cmd.MarkFlagRequired("data")
	return cmd
}

func runTrain(cmd *cobra.Command, f trainFlags) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	ds, err := model.ReadFile(f.data)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	common := []model.TrainOption{model.WithFolds(f.folds), model.WithSeed(f.seed), model.WithSource(f.source)}
	lambda, err := chooseLambda(cmd, ds, f, common)
	if err != nil {
		return err
	}
	common = append(common, model.WithLambda(lambda))
	variants := []model.Variant{{Name: "model (logistic)"}}
	switch f.interactions {
	case "none", "":
	case "auto":
		variants = append(variants, model.Variant{Name: "model (logistic + interactions)", Options: []model.TrainOption{model.WithInteractions(model.DefaultInteractions()...)}})
	default:
		var ins []model.Interaction
		for _, s := range strings.Split(f.interactions, ",") {
			in, err := model.ParseInteraction(strings.TrimSpace(s))
			if err != nil {
				return &exitError{code: 2, msg: err.Error()}
			}
			ins = append(ins, in)
		}
		variants = append(variants, model.Variant{Name: "model (logistic + interactions)", Options: []model.TrainOption{model.WithInteractions(ins...)}})
	}
	if !f.eval && f.evalJSON == "" {
		m, err := model.Train(ctx, ds, append(common, variants[len(variants)-1].Options...)...)
		if err != nil {
			return err
		}
		if err := m.WriteText(out, 15); err != nil {
			return err
		}
		return saveModel(cmd, m, f)
	}
	cmp, err := model.Compare(ctx, ds, model.Baselines(), variants, common...)
	if err != nil {
		return err
	}
	if err := writeComparison(cmd, cmp, f.format); err != nil {
		return err
	}
	if f.evalJSON != "" {
		if err := writeEvalJSON(f.evalJSON, cmp); err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
	}
	if f.out == "" {
		return nil
	}
	m, err := cmp.TrainChosen(ctx, ds, variants, common...)
	if err != nil {
		return err
	}
	return saveModel(cmd, m, f)
}

func writeComparison(cmd *cobra.Command, cmp *model.Comparison, format string) error {
	out := cmd.OutOrStdout()
	switch format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(cmp)
	case "markdown", "text":
		for i, ev := range cmp.Evaluations {
			if i > 0 {
				fmt.Fprintln(out)
			}
			var err error
			if format == "markdown" {
				fmt.Fprintf(out, "#### %s\n\n", cmp.Variants[i])
				err = ev.WriteMarkdown(out)
			} else {
				fmt.Fprintf(out, "== %s ==\n", cmp.Variants[i])
				err = ev.WriteText(out)
			}
			if err != nil {
				return err
			}
		}
		fmt.Fprintf(out, "\nchosen: %s (best held-out AUC; a more complex variant must win to be used)\n", cmp.Variants[cmp.Best])
		return nil
	default:
		return &exitError{code: 2, msg: fmt.Sprintf("--format %q: want text, markdown or json", format)}
	}
}

// saveModel writes m to --out, with the live stage (the re-prediction
// during a bake) fitted on the dataset's trial outcomes when it has them
// (the lab's records do; exported history does not).
func saveModel(cmd *cobra.Command, m *model.Model, f trainFlags) error {
	if f.out == "" {
		return nil
	}
	recs, err := lab.ReadRecords(f.data)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
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
	if err := m.Save(f.out); err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "model %s written to %s\n", m.Version, f.out)
	return nil
}

// chooseLambda parses --lambda, or with "auto" selects it by grouped k-fold
// log-loss on the training part of the split (never on the held-out part).
func chooseLambda(cmd *cobra.Command, ds model.Dataset, f trainFlags, common []model.TrainOption) (float64, error) {
	if f.lambda != "auto" {
		l, err := strconv.ParseFloat(f.lambda, 64)
		if err != nil {
			return 0, &exitError{code: 2, msg: fmt.Sprintf("--lambda %q: want a number or auto", f.lambda)}
		}
		return l, nil
	}
	tr, _ := ds.Split(0.25, f.seed)
	l, scores, err := model.SelectLambda(cmd.Context(), tr, []float64{0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3}, common...)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "lambda by grouped k-fold log-loss on the training part:")
	for _, s := range scores {
		fmt.Fprintf(cmd.OutOrStdout(), " %g→%.3f", s.Lambda, s.KFold.LogLoss)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "; chosen %g\n\n", l)
	return l, nil
}

// writeEvalJSON writes the comparison to path, replacing it only once it
// is complete.
func writeEvalJSON(path string, cmp *model.Comparison) error {
	b, err := json.MarshalIndent(cmp, "", "  ")
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
