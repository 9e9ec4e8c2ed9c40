package lab

import (
	"context"
	"fmt"

	"github.com/schemacanary/schemacanary/analysis/model"
)

// Evidence is what the trial's KPIs showed, as the bake evidence the
// product's judge gives the live re-prediction (model.BakeEvidence): the
// relative rise of the median latency (the judge compares medians by
// Hodges-Lehmann shifts, not tails), the rise of the error rate, and the
// sessions seen waiting for a lock. A trial window
// holds hundreds of executions, so a rise counts as significant when both
// windows have at least minCalls executions (errors: at least two failed
// statements; lock waits: at least one waiting session).
func (r *Record) Evidence() model.Features {
	const minCalls = 20
	o := r.Outcome
	enough := o.BaselineCalls >= minCalls && o.CanaryCalls >= minCalls
	var obs []model.Observation
	if o.BaselineP50 > 0 {
		obs = append(obs, model.Observation{KPI: "latency", Increase: o.CanaryP50/o.BaselineP50 - 1, Significant: enough})
	}
	if o.CanaryCalls > 0 {
		base := 0.0
		if o.BaselineCalls > 0 {
			base = float64(o.BaselineErrors) / float64(o.BaselineCalls)
		}
		obs = append(obs, model.Observation{KPI: "errors", Increase: float64(o.CanaryErrors)/float64(o.CanaryCalls) - base, Significant: o.CanaryErrors >= 2})
	}
	obs = append(obs, model.Observation{KPI: "lock_waits", Increase: o.MaxLockWaits, Significant: o.MaxLockWaits >= 1})
	return model.BakeEvidence(obs)
}

// FitLiveStage fits m's live stage on the records: each trial's prior is
// m's logit for its features (in sample: the deploy model saw these
// trials), its evidence is Evidence, its label the judge's verdict.
// Trials whose migration failed to apply are left out: the rollout's hard
// guard, not the re-prediction, handles those.
func FitLiveStage(ctx context.Context, recs []Record, m *model.Model) (*model.LiveStage, error) {
	var ex []model.LiveExample
	for i := range recs {
		r := &recs[i]
		if r.Outcome.ApplyError != "" || r.Outcome.CanaryCalls == 0 {
			continue
		}
		p, err := m.Predict(r.Features)
		if err != nil {
			return nil, fmt.Errorf("lab: record %d: %w", r.Index, err)
		}
		ex = append(ex, model.LiveExample{Prior: p.Logit, Evidence: r.Evidence(), Safe: r.Outcome.Verdict.Safe})
	}
	return model.FitLive(ctx, ex)
}
