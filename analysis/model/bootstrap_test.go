package model

import (
	"context"
	"errors"
	"math"
	"os"
	"testing"
)

// The embedded bootstrap model is the one the committed lab dataset gives:
// retraining with its recorded recipe reproduces its coefficients, and it
// predicts every lab example with a valid explanation.
func TestBootstrapIsReproducibleFromTheLabDataset(t *testing.T) {
	t.Parallel()
	m, err := Bootstrap()
	if errors.Is(err, ErrNoBootstrap) {
		t.Skip("no bootstrap model embedded yet")
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("lab.jsonl.gz"); err != nil {
		t.Fatalf("bootstrap model without its dataset: %v", err)
	}
	ds, err := ReadFile("lab.jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	if m.Metrics.Examples != len(ds) {
		t.Fatalf("bootstrap trained on %d examples, dataset has %d", m.Metrics.Examples, len(ds))
	}
	again, err := Train(context.Background(), ds, WithLambda(m.Lambda), WithInteractions(m.Interactions...),
		WithSource(m.Source), WithFolds(m.Metrics.Folds))
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Coefficients) != len(m.Coefficients) {
		t.Fatalf("retrained model has %d coefficients, bootstrap %d", len(again.Coefficients), len(m.Coefficients))
	}
	for i, c := range m.Coefficients {
		if d := math.Abs(again.Coefficients[i].Weight - c.Weight); c.Name != again.Coefficients[i].Name || d > 1e-4 {
			t.Errorf("coefficient %s: bootstrap %v, retrained %s %v", c.Name, c.Weight, again.Coefficients[i].Name, again.Coefficients[i].Weight)
		}
	}
	var p []float64
	var y []bool
	for _, e := range ds {
		pr, err := m.Predict(e.Features)
		if err != nil {
			t.Fatal(err)
		}
		if len(pr.Missing) > 0 {
			t.Fatalf("lab example lacks model features %v", pr.Missing)
		}
		sum := pr.Base
		for _, c := range pr.Contributions {
			sum += c.Contribution
		}
		if math.Abs(sum-pr.Logit) > 1e-9 {
			t.Fatalf("contributions sum to %v, logit %v", sum, pr.Logit)
		}
		p = append(p, pr.Confidence)
		y = append(y, e.Safe)
	}
	// In-sample, the model must rank far better than chance (the held-out
	// figures are in its metrics and docs/BENCHMARKS.md).
	if auc := AUC(p, y); auc < 0.7 {
		t.Errorf("bootstrap in-sample AUC %.3f", auc)
	}
}
