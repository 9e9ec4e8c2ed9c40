package reconciler

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/rollout/judge"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/rollout"
)

// assess assesses a migration through the one assessment path
// (analysis/assess): analysis, live target, gate, history and prediction.
func (r *Reconciler) assess(ctx context.Context, mig *migration.Migration) (*assess.Assessment, error) {
	a, err := r.assessor.Assess(ctx, assess.Input{Migration: *mig})
	if err != nil {
		return nil, fmt.Errorf("assess %s: %w", mig.Path, err)
	}
	if r.o.metrics != nil {
		r.o.metrics.confidence.Observe(a.Prediction.Confidence)
	}
	return a, nil
}

// predictionRecord is what the control store keeps of an assessment.
func predictionRecord(version int64, pr int, sha string, a *assess.Assessment) change.PredictionRecord {
	rec := change.PredictionRecord{Version: version, PR: pr, SHA256: sha, Confidence: a.Prediction.Confidence,
		ModelVersion: a.Prediction.ModelVersion, Features: a.Features, Assessment: a}
	for _, x := range a.Prediction.Reasons {
		rec.Reasons = append(rec.Reasons, change.Reason{Feature: x.Feature, Value: x.Value, Contribution: x.Contribution, Text: x.Text})
	}
	return rec
}

// repredictor is the live re-prediction of a change during its bake: the
// stored assessment re-scored with the judge's comparisons so far.
func (r *Reconciler) repredictor(stored *assess.Assessment) rollout.Repredictor {
	return func(_ context.Context, d judge.Decision) (rollout.Reprediction, error) {
		p, err := r.assessor.Repredict(stored, Observations(d))
		if err != nil {
			return rollout.Reprediction{}, err
		}
		var why []string
		for _, x := range p.Reasons {
			if x.Contribution < 0 {
				why = append(why, x.Text)
			}
		}
		return rollout.Reprediction{Confidence: p.Confidence, Prior: stored.Prediction.Confidence, Why: strings.Join(why, "; ")}, nil
	}
}

// Observations turns the judge's verdicts into the model's bake
// observations: latency, error-rate and lock-wait comparisons, each
// significant when its one-sided test rejects "not worse" at alpha 0.05.
func Observations(d judge.Decision) []model.Observation {
	var obs []model.Observation
	for _, v := range d.Verdicts {
		if v.Reference == judge.RefGuard || v.Test == judge.TestTail {
			continue // guards decide alone; the tail's share is no latency ratio
		}
		o := model.Observation{Significant: v.PValue < 0.05}
		switch {
		case strings.HasPrefix(v.KPI, judge.KPILatencyPrefix):
			o.KPI, o.Increase = "latency", v.RelEffect
		case v.KPI == judge.KPIErrorRate:
			o.KPI, o.Increase = "errors", v.Effect
		case v.KPI == judge.KPILockWaits:
			o.KPI, o.Increase = "lock_waits", v.Effect
		default:
			continue
		}
		if math.IsNaN(o.Increase) {
			continue
		}
		obs = append(obs, o)
	}
	return obs
}
