package reconciler

import "github.com/schemacanary/schemacanary/rollout/judge"

// judgeRecord is a judge decision as the control store keeps it (plain
// JSON, outcome names as strings).
type judgeRecord struct {
	Outcome  string          `json:"outcome"`
	Reason   string          `json:"reason"`
	Verdicts []verdictRecord `json:"verdicts"`
}

type verdictRecord struct {
	KPI            string  `json:"kpi"`
	Reference      string  `json:"reference"`
	Outcome        string  `json:"outcome"`
	PValue         float64 `json:"p_value"`
	CanaryValue    float64 `json:"canary_value"`
	ReferenceValue float64 `json:"reference_value"`
	RelEffect      float64 `json:"rel_effect"`
	Reason         string  `json:"reason"`
}

func newJudgeRecord(d judge.Decision) judgeRecord {
	j := judgeRecord{Outcome: d.Outcome.String(), Reason: d.Reason}
	for _, v := range d.Verdicts {
		j.Verdicts = append(j.Verdicts, verdictRecord{KPI: v.KPI, Reference: v.Reference, Outcome: v.Outcome.String(),
			PValue: v.PValue, CanaryValue: v.CanaryValue, ReferenceValue: v.ReferenceValue, RelEffect: v.RelEffect, Reason: v.Reason})
	}
	return j
}

// failed returns the failed verdicts.
func (j judgeRecord) failed() []verdictRecord {
	var out []verdictRecord
	for _, v := range j.Verdicts {
		if v.Outcome == judge.Fail.String() {
			out = append(out, v)
		}
	}
	return out
}
