package model

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText prints the evaluation as aligned tables: the split, each
// predictor's grouped k-fold and held-out scores, and the model's held-out
// calibration table.
func (ev *Evaluation) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "grouped split: %d training examples (%d templates), %d held-out (%d templates never seen in training)\n\n",
		ev.TrainExamples, ev.TrainGroups, ev.HeldOutExamples, len(ev.HeldOutGroups))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "predictor\tk-fold AUC\tk-fold Brier\theld-out AUC\theld-out Brier\theld-out log-loss")
	for _, r := range ev.Results {
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n", r.Name, r.KFold.AUC, r.KFold.Brier, r.HeldOut.AUC, r.HeldOut.Brier, r.HeldOut.LogLoss)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(ev.Results) > 1 {
		fmt.Fprintf(w, "\nheld-out AUC gain over the better baseline: %+.3f\n", ev.Results[0].HeldOut.AUC-ev.BestBaselineAUC())
	}
	fmt.Fprintf(w, "\ncalibration of the model on the held-out split (expected calibration error %.3f):\n",
		ExpectedCalibrationError(ev.Results[0].Calibration))
	return writeCalibration(w, ev.Results[0].Calibration)
}

func writeCalibration(w io.Writer, bins []CalibrationBin) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "confidence\tn\tmean predicted\tobserved safe rate")
	for _, b := range bins {
		fmt.Fprintf(tw, "%.1f-%.1f\t%d\t%.3f\t%.3f\n", b.Lo, b.Hi, b.N, b.MeanPredicted, b.Observed)
	}
	return tw.Flush()
}

// WriteMarkdown prints the same content as Markdown tables (for
// docs/BENCHMARKS.md).
func (ev *Evaluation) WriteMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "Grouped split: %d training examples (%d templates), %d held-out examples of %d templates never seen in training (%s).\n\n",
		ev.TrainExamples, ev.TrainGroups, ev.HeldOutExamples, len(ev.HeldOutGroups), strings.Join(ev.HeldOutGroups, ", "))
	fmt.Fprintln(w, "| predictor | k-fold AUC | k-fold Brier | held-out AUC | held-out Brier | held-out log-loss |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range ev.Results {
		fmt.Fprintf(w, "| %s | %.3f | %.3f | %.3f | %.3f | %.3f |\n", r.Name, r.KFold.AUC, r.KFold.Brier, r.HeldOut.AUC, r.HeldOut.Brier, r.HeldOut.LogLoss)
	}
	fmt.Fprintf(w, "\nCalibration on the held-out split (expected calibration error %.3f):\n\n", ExpectedCalibrationError(ev.Results[0].Calibration))
	fmt.Fprintln(w, "| confidence | n | mean predicted | observed safe rate |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
	for _, b := range ev.Results[0].Calibration {
		fmt.Fprintf(w, "| %.1f–%.1f | %d | %.3f | %.3f |\n", b.Lo, b.Hi, b.N, b.MeanPredicted, b.Observed)
	}
	return nil
}

// WriteText prints the model's version, training figures and its
// strongest coefficients.
func (m *Model) WriteText(w io.Writer, top int) error {
	fmt.Fprintf(w, "model %s (format %d, trained %s on %s: %d examples, %d safe, %d groups)\n",
		m.Version, m.Format, m.TrainedAt.Format("2006-01-02 15:04 UTC"), m.Source, m.Metrics.Examples, m.Metrics.SafeExamples, m.Metrics.Groups)
	fmt.Fprintf(w, "grouped %d-fold cross-validation: AUC %.3f, Brier %.3f; Platt a=%.3f b=%.3f; lambda %g\n",
		m.Metrics.Folds, m.Metrics.CrossValidated.AUC, m.Metrics.CrossValidated.Brier, m.Calibration.A, m.Calibration.B, m.Lambda)
	if m.Metrics.HeldOut != nil {
		fmt.Fprintf(w, "held-out (model trained without those groups): AUC %.3f, Brier %.3f\n", m.Metrics.HeldOut.AUC, m.Metrics.HeldOut.Brier)
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
	return tw.Flush()
}
