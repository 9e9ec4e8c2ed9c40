package model

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// gated marks every fourth unsafe example of ds as a certain failure of the
// gate and gives those a feature value that looks harmless (the model
// cannot see what the gate saw).
func gated(ds Dataset) Dataset {
	out := make(Dataset, len(ds))
	n := 0
	for i, e := range ds {
		f := make(Features, len(e.Features))
		for k, v := range e.Features {
			f[k] = v
		}
		e.Features = f
		if !e.Safe {
			if n%4 == 0 {
				e.Features["f0"] = -3
				e.Gate = []Adjustment{{Feature: "gate:dry-run-failed", Text: "certain failure", Cap: 0.05}}
			}
			n++
		}
		out[i] = e
	}
	return out
}

// The model learns what the gate lets through: examples the gate caps do
// not enter training, so the coefficients are those of the passing
// examples alone.
func TestTrainLeavesOutWhatTheGateCaps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ds := gated(synthetic(1200, []float64{-1.2, 0.8}, 1.5, 11, 20))
	var passing Dataset
	for _, e := range ds {
		if !e.GateFailed() {
			passing = append(passing, e)
		}
	}
	if len(passing) == len(ds) {
		t.Fatal("no example is gated")
	}
	clock := WithClock(func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) })
	a, err := Train(ctx, ds, WithHazards("f0"), clock)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Train(ctx, passing, WithHazards("f0"), clock)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Coefficients, b.Coefficients) || a.Intercept != b.Intercept {
		t.Errorf("training on all examples gave %v %v, on the gate's passing ones %v %v", a.Coefficients, a.Intercept, b.Coefficients, b.Intercept)
	}
}

// Evaluate scores the product's confidence: the model after each
// example's gate. A change the gate caps never proceeds, so the model's
// unsafe share proceeding is lower than without the gate, and the gate
// alone is a row of its own.
func TestEvaluateAppliesTheGate(t *testing.T) {
	t.Parallel()
	ds := gated(synthetic(1200, []float64{-1.2, 0.8}, 1.5, 12, 20))
	ev, err := Evaluate(context.Background(), ds, nil, 50, WithHazards("f0"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]Result{}
	for _, r := range ev.Results {
		if r.By == "template" {
			rows[r.Name] = r
		}
	}
	m, raw, gate := rows["model"], rows["model without the gate"], rows["gate alone"]
	if m.N == 0 || raw.N == 0 || gate.N == 0 {
		t.Fatalf("rows %v", ev.Results)
	}
	for i, e := range ds {
		if e.GateFailed() && m.Predictions[i] > 0.05 {
			t.Fatalf("example %d: the gate caps it, the model row says %.3f", i, m.Predictions[i])
		}
	}
	if !(m.UnsafeProceed.Value < raw.UnsafeProceed.Value) {
		t.Errorf("unsafe proceeding: %.3f with the gate, %.3f without", m.UnsafeProceed.Value, raw.UnsafeProceed.Value)
	}
	if !(m.AUC.Value > gate.AUC.Value) {
		t.Errorf("AUC: model %.3f not above the gate alone %.3f", m.AUC.Value, gate.AUC.Value)
	}
}
