package lab

import (
	"context"
	"fmt"
	"sort"

	"github.com/schemacanary/schemacanary/analysis/model"
)

// evidenceMinCalls is the fewest executions each window of a query class
// needs for its median shift to count as evidence.
const evidenceMinCalls = 10

// Evidence is what the trial's KPIs showed, as the bake evidence the
// product's judge gives the live re-prediction (model.BakeEvidence): the
// relative rise of each query class's median latency (the judge compares
// classes separately, by Hodges-Lehmann shifts of medians, not tails;
// BakeEvidence keeps the largest), the rise of the error rate, and the
// sessions seen waiting for a lock. A rise counts as significant when both
// windows of the class have at least evidenceMinCalls executions (errors:
// at least two failed statements; lock waits: at least one waiting
// session). Records without per-class latencies use the all-class medians.
func (r *Record) Evidence() model.Features {
	o := r.Outcome
	var obs []model.Observation
	if len(o.Classes) > 0 {
		names := make([]string, 0, len(o.Classes))
		for n := range o.Classes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			c := o.Classes[n]
			if c.BaselineP50 > 0 && c.CanaryN > 0 {
				obs = append(obs, model.Observation{KPI: "latency", Increase: c.CanaryP50/c.BaselineP50 - 1,
					Significant: c.BaselineN >= evidenceMinCalls && c.CanaryN >= evidenceMinCalls})
			}
		}
	} else if o.BaselineP50 > 0 {
		const minCalls = 20
		obs = append(obs, model.Observation{KPI: "latency", Increase: o.CanaryP50/o.BaselineP50 - 1,
			Significant: o.BaselineCalls >= minCalls && o.CanaryCalls >= minCalls})
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
