package model

import "math"

// Adjustment is a deterministic correction of a prediction that no model
// makes: a certain failure caps the confidence, a check that could not run
// lowers it, a destructive change needs a human whatever its confidence.
// Adjustments come before the model's reasons, in the order given.
type Adjustment struct {
	// Feature names the adjustment in the reasons ("gate:<rule>").
	Feature string `json:"feature"`
	// Text says why, in plain words.
	Text string `json:"text,omitempty"`
	// Cap, when > 0, caps the confidence at Cap.
	Cap float64 `json:"cap,omitempty"`
	// Penalty, when > 0, is subtracted from the logit.
	Penalty float64 `json:"penalty,omitempty"`
	// Hold makes the decision needs_approval whatever the confidence.
	Hold bool `json:"hold,omitempty"`
}

// Adjust applies adjustments to p: each becomes a reason whose
// contribution is the change it made to the logit, so the contributions
// still add up (with Base) to the logit of the printed confidence.
func (p Prediction) Adjust(adj ...Adjustment) Prediction {
	if len(adj) == 0 {
		return p
	}
	out := p
	out.Reasons = nil
	out.Contributions = nil
	hold := false
	capAt := 1.0
	for _, a := range adj {
		before := out.Logit
		if a.Penalty > 0 {
			out.Logit -= a.Penalty
		}
		if a.Cap > 0 {
			capAt = math.Min(capAt, a.Cap)
			out.Logit = math.Min(out.Logit, logit(a.Cap))
		}
		hold = hold || a.Hold
		out.Reasons = append(out.Reasons, Reason{Feature: a.Feature, Value: 1, Text: a.Text, Contribution: out.Logit - before})
	}
	out.Contributions = append(append([]Reason(nil), out.Reasons...), p.Contributions...)
	out.Reasons = append(out.Reasons, p.Reasons...)
	// min: sigmoid(logit(c)) may round a hair above c.
	out.Confidence = math.Min(sigmoid(out.Logit), capAt)
	out.Held = out.Held || hold
	out.decide()
	return out
}

// logit is the inverse of sigmoid.
func logit(p float64) float64 { return math.Log(p / (1 - p)) }
