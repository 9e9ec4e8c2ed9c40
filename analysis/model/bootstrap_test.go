package model_test

import (
	"context"
	"errors"
	"math"
	"os"
	"testing"

	"github.com/schemacanary/schemacanary/analysis/lab"
	"github.com/schemacanary/schemacanary/analysis/model"
)

// The embedded bootstrap model is the one the committed lab dataset gives:
// retraining the re-featured records with its recorded recipe reproduces
// its coefficients, every hazard weight can only lower the confidence, and
// it predicts every lab example with an explanation that adds up.
func TestBootstrapIsReproducibleFromTheLabDataset(t *testing.T) {
	t.Parallel()
	m, err := model.Bootstrap()
	if errors.Is(err, model.ErrNoBootstrap) {
		t.Skip("no bootstrap model embedded yet")
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("lab.jsonl.gz"); err != nil {
		t.Fatalf("bootstrap model without its dataset: %v", err)
	}
	recs, err := lab.ReadRecords("lab.jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Refeature(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	ds := lab.Dataset(recs)
	passing := 0
	for _, e := range ds {
		if !e.GateFailed() {
			passing++
		}
	}
	if m.Metrics.Examples != passing {
		t.Fatalf("bootstrap trained on %d examples, the dataset has %d the gate lets through", m.Metrics.Examples, passing)
	}
	again, err := model.Train(context.Background(), ds, m.Recipe()...)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Coefficients) != len(m.Coefficients) {
		t.Fatalf("retrained model has %d coefficients, bootstrap %d", len(again.Coefficients), len(m.Coefficients))
	}
	hazard := map[string]bool{}
	for _, h := range m.Hazards {
		hazard[h] = true
	}
	for i, c := range m.Coefficients {
		if d := math.Abs(again.Coefficients[i].Weight - c.Weight); c.Name != again.Coefficients[i].Name || d > 1e-4 {
			t.Errorf("coefficient %s: bootstrap %v, retrained %s %v", c.Name, c.Weight, again.Coefficients[i].Name, again.Coefficients[i].Weight)
		}
		if !hazard[c.Name] || c.Weight > 0 {
			t.Errorf("coefficient %s: weight %v, hazard %v: every feature must be a hazard with a weight <= 0", c.Name, c.Weight, hazard[c.Name])
		}
	}
	var p []float64
	var y []bool
	var trained []model.Example // the examples the gate lets through, which it was trained on
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
		if e.GateFailed() {
			continue
		}
		trained = append(trained, e)
		p = append(p, pr.Confidence)
		y = append(y, e.Safe)
	}
	// In-sample, the model must rank its training examples better than any
	// of its features does alone (as a hazard: the larger, the less safe);
	// the figures on unseen templates are in its metrics and docs/model.md.
	auc := model.AUC(p, y)
	for _, c := range m.Coefficients {
		score := make([]float64, len(trained))
		for i, e := range trained {
			score[i] = -e.Features[c.Name]
		}
		if alone := model.AUC(score, y); auc <= alone {
			t.Errorf("bootstrap in-sample AUC %.3f, no better than %s alone (%.3f)", auc, c.Name, alone)
		}
	}
	t.Logf("bootstrap in-sample AUC %.3f on the %d examples the gate lets through", auc, len(trained))
}
