package model

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Goals the evaluation is held to (issue "A model whose confidence means
// something"): on templates it never saw, AUC at least GoalAUC and Brier at
// most GoalBrier; at the default threshold, at most GoalUnsafeProceed of
// unsafe changes proceed and at least GoalSafeProceed of safe ones do.
const (
	GoalAUC           = 0.90
	GoalBrier         = 0.10
	GoalUnsafeProceed = 0.02
	GoalSafeProceed   = 0.70
)

// WriteText prints the evaluation as aligned tables: per grouping, every
// predictor's AUC, Brier and threshold shares with their intervals, then
// the model's leave-one-template-out calibration.
func (ev *Evaluation) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%d examples, %d templates, %d families; every prediction by a model trained without its group; 95%% intervals from %d group resamples\n",
		ev.Examples, ev.Templates, ev.Families, ev.Bootstrap)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "left out\tpredictor\tAUC\tBrier\tunsafe proceeding at %.2f\tsafe proceeding at %.2f\n", ev.Threshold, ev.Threshold)
	for _, r := range ev.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.By, r.Name, r.AUC, r.Brier, r.UnsafeProceed, r.SafeProceed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if m := ev.Model("template"); m != nil {
		fmt.Fprintf(w, "\ngoals (leave-one-template-out): AUC >= %.2f: %s; Brier <= %.2f: %s; unsafe proceeding <= %.0f%%: %s; safe proceeding >= %.0f%%: %s\n",
			GoalAUC, met(m.AUC.Value >= GoalAUC), GoalBrier, met(m.Brier.Value <= GoalBrier),
			100*GoalUnsafeProceed, met(m.UnsafeProceed.Value <= GoalUnsafeProceed), 100*GoalSafeProceed, met(m.SafeProceed.Value >= GoalSafeProceed))
		fmt.Fprintf(w, "\ncalibration of the model, leave-one-template-out (expected calibration error %.3f):\n", ExpectedCalibrationError(bins(m.Calibration)))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "confidence\tn\tmean predicted\tobserved safe rate [95%]")
		for _, b := range m.Calibration {
			fmt.Fprintf(tw, "%.1f-%.1f\t%d\t%.3f\t%.3f [%.3f, %.3f]\n", b.Lo, b.Hi, b.N, b.MeanPredicted, b.Observed, b.ObservedLo, b.ObservedHi)
		}
		return tw.Flush()
	}
	return nil
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func bins(ps []CalibrationPoint) []CalibrationBin {
	out := make([]CalibrationBin, len(ps))
	for i, p := range ps {
		out[i] = p.CalibrationBin
	}
	return out
}

// WriteMarkdown prints the same content as Markdown tables (for
// docs/model.md).
func (ev *Evaluation) WriteMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "%d examples, %d templates, %d families. Every prediction is made by a model trained without the example's template (or family); 95%% intervals from %d resamples of whole groups.\n\n",
		ev.Examples, ev.Templates, ev.Families, ev.Bootstrap)
	fmt.Fprintf(w, "| left out | predictor | AUC | Brier | unsafe proceeding at %.2f | safe proceeding at %.2f |\n", ev.Threshold, ev.Threshold)
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, r := range ev.Results {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.By, r.Name, r.AUC, r.Brier, r.UnsafeProceed, r.SafeProceed)
	}
	if m := ev.Model("template"); m != nil {
		fmt.Fprintf(w, "\nCalibration, leave-one-template-out (expected calibration error %.3f):\n\n", ExpectedCalibrationError(bins(m.Calibration)))
		fmt.Fprintln(w, "| confidence | n | mean predicted | observed safe rate [95%] |")
		fmt.Fprintln(w, "| --- | ---: | ---: | --- |")
		for _, b := range m.Calibration {
			fmt.Fprintf(w, "| %.1f–%.1f | %d | %.3f | %.3f [%.3f, %.3f] |\n", b.Lo, b.Hi, b.N, b.MeanPredicted, b.Observed, b.ObservedLo, b.ObservedHi)
		}
	}
	return nil
}

// WriteText prints the model's version, training figures and its
// coefficients.
func (m *Model) WriteText(w io.Writer, top int) error {
	fmt.Fprintf(w, "model %s (format %d, trained %s on %s: %d examples, %d safe, %d groups)\n",
		m.Version, m.Format, m.TrainedAt.Format("2006-01-02 15:04 UTC"), m.Source, m.Metrics.Examples, m.Metrics.SafeExamples, m.Metrics.Groups)
	fmt.Fprintf(w, "grouped %d-fold cross-validation: AUC %.3f, Brier %.3f; Platt a=%.3f b=%.3f; lambda %g\n",
		m.Metrics.Folds, m.Metrics.CrossValidated.AUC, m.Metrics.CrossValidated.Brier, m.Calibration.A, m.Calibration.B, m.Lambda)
	for _, r := range []*Result{m.Metrics.LeaveOneTemplateOut, m.Metrics.LeaveOneFamilyOut} {
		if r != nil {
			fmt.Fprintf(w, "leave-one-%s-out: AUC %s, Brier %s\n", r.By, r.AUC, r.Brier)
		}
	}
	cs := append([]Coefficient(nil), m.Coefficients...)
	sortByAbsWeight(cs)
	if top > 0 && top < len(cs) {
		cs = cs[:top]
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "feature\tweight (per SD)\tmean\tSD")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%+.3f\t%.3g\t%.3g\n", c.Name, c.Weight, c.Mean, c.Scale)
	}
	if m.Live != nil {
		fmt.Fprintf(tw, "live stage\tintercept %+.3f\t%s\t\n", m.Live.Intercept, strings.TrimPrefix(fmt.Sprint(m.Live.Weights), "map"))
	}
	return tw.Flush()
}
