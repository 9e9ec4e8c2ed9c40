package change

import "github.com/schemacanary/schemacanary/rollout/judge"

// JudgeRecord is a judge decision as the control store keeps it (plain
// JSON, outcome names as strings).
type JudgeRecord struct {
	Outcome  string          `json:"outcome"`
	Reason   string          `json:"reason"`
	Verdicts []VerdictRecord `json:"verdicts"`
	// KPIs is each KPI's combined outcome (judge.Decision.KPIs); absent in
	// records stored before it was kept.
	KPIs map[string]string `json:"kpis,omitempty"`
}

// VerdictRecord is one KPI's verdict within a JudgeRecord.
type VerdictRecord struct {
	KPI            string  `json:"kpi"`
	Reference      string  `json:"reference"`
	Outcome        string  `json:"outcome"`
	Test           string  `json:"test,omitempty"`
	PValue         float64 `json:"p_value"`
	CanaryValue    float64 `json:"canary_value"`
	ReferenceValue float64 `json:"reference_value"`
	RelEffect      float64 `json:"rel_effect"`
	Reason         string  `json:"reason"`
}

// NewJudgeRecord records d.
func NewJudgeRecord(d judge.Decision) *JudgeRecord {
	j := &JudgeRecord{Outcome: d.Outcome.String(), Reason: d.Reason}
	if len(d.KPIs) > 0 {
		j.KPIs = make(map[string]string, len(d.KPIs))
		for k, o := range d.KPIs {
			j.KPIs[k] = o.String()
		}
	}
	for _, v := range d.Verdicts {
		j.Verdicts = append(j.Verdicts, VerdictRecord{KPI: v.KPI, Reference: v.Reference, Outcome: v.Outcome.String(), Test: v.Test,
			PValue: v.PValue, CanaryValue: v.CanaryValue, ReferenceValue: v.ReferenceValue, RelEffect: v.RelEffect, Reason: v.Reason})
	}
	return j
}

// Failed returns the failed verdicts.
func (j *JudgeRecord) Failed() []VerdictRecord {
	var out []VerdictRecord
	for _, v := range j.Verdicts {
		if v.Outcome == judge.Fail.String() {
			out = append(out, v)
		}
	}
	return out
}

// Decision reads the record back as the judge's decision (outcomes by
// name; an unknown name reads as judge.Extend).
func (j *JudgeRecord) Decision() judge.Decision {
	d := judge.Decision{Outcome: outcomeNamed(j.Outcome), Reason: j.Reason, Verdicts: make([]judge.Verdict, 0, len(j.Verdicts))}
	for _, v := range j.Verdicts {
		d.Verdicts = append(d.Verdicts, judge.Verdict{KPI: v.KPI, Reference: v.Reference, Outcome: outcomeNamed(v.Outcome), Test: v.Test,
			PValue: v.PValue, CanaryValue: v.CanaryValue, ReferenceValue: v.ReferenceValue, RelEffect: v.RelEffect, Reason: v.Reason})
	}
	if len(j.KPIs) > 0 {
		d.KPIs = make(map[string]judge.Outcome, len(j.KPIs))
		for k, o := range j.KPIs {
			d.KPIs[k] = outcomeNamed(o)
		}
	}
	return d
}

// outcomeNamed is the inverse of judge.Outcome.String.
func outcomeNamed(s string) judge.Outcome {
	for _, o := range []judge.Outcome{judge.Pass, judge.Fail} {
		if o.String() == s {
			return o
		}
	}
	return judge.Extend
}
