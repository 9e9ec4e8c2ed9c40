package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
)

// Evidence of harm that a canary's bake shows, by feature name. Each is >= 0,
// and 0 means no sign of harm; BakeEvidence computes them from what the
// judge compared, and the lab from its trial windows.
const (
	// EvidenceLatency is ln(1 + the largest relative latency increase of
	// a query class on the canary), counting only increases the judge's
	// one-sided test finds significant.
	EvidenceLatency = "bake_latency_log_ratio"
	// EvidenceErrors is the increase of the error rate (failed over all
	// transactions) on the canary, when significant.
	EvidenceErrors = "bake_error_rate_increase"
	// EvidenceLockWaits is ln(1 + the increase of sessions waiting for a
	// lock on the canary), when significant.
	EvidenceLockWaits = "bake_lock_waits_log1p"
)

// EvidenceNames lists the evidence features in a stable order.
func EvidenceNames() []string { return []string{EvidenceLatency, EvidenceErrors, EvidenceLockWaits} }

// Observation is one comparison of a KPI on the canary against a reference
// (the control instances or the canary's own baseline), as the judge made
// it.
type Observation struct {
	// KPI is "latency", "errors" or "lock_waits"; others are ignored.
	KPI string
	// Increase is the canary's increase over the reference: relative for
	// latency (0.5 = 50% slower), absolute for errors (a difference of
	// rates) and lock waits (sessions).
	Increase float64
	// Significant is true when the judge's one-sided test rejected "the
	// canary is not worse" at its significance level.
	Significant bool
}

// BakeEvidence turns the judge's comparisons into the evidence features:
// for each kind of KPI, the largest significant increase over all query
// classes and references. Increases that are not significant count as 0,
// so noise never lowers a confidence.
func BakeEvidence(obs []Observation) Features {
	f := Features{EvidenceLatency: 0, EvidenceErrors: 0, EvidenceLockWaits: 0}
	for _, o := range obs {
		if !o.Significant || !(o.Increase > 0) {
			continue
		}
		inc := o.Increase
		switch o.KPI {
		case "latency":
			if math.IsInf(inc, 1) {
				inc = 1e6 // from a zero reference median: treat as a million-fold rise
			}
			f[EvidenceLatency] = math.Max(f[EvidenceLatency], math.Log1p(inc))
		case "errors":
			f[EvidenceErrors] = math.Max(f[EvidenceErrors], inc)
		case "lock_waits":
			f[EvidenceLockWaits] = math.Max(f[EvidenceLockWaits], math.Log1p(inc))
		}
	}
	return f
}

// LiveStage re-scores a change during its bake: its logit is the deploy
// prediction's plus Intercept plus the weighted evidence. Every weight is
// <= 0 (evidence of harm can only lower the confidence) and Intercept >= 0
// (a bake that shows nothing can only raise it), both enforced when it is
// fitted (FitLive) and loaded.
type LiveStage struct {
	Intercept float64            `json:"intercept"`
	Weights   map[string]float64 `json:"weights"`
	// Examples is how many lab trials it was fitted on.
	Examples int `json:"examples"`
}

// validate checks the signs.
func (l *LiveStage) validate() error {
	if !(l.Intercept >= 0) {
		return fmt.Errorf("live stage: intercept %v < 0", l.Intercept)
	}
	for k, w := range l.Weights {
		if !(w <= 0) {
			return fmt.Errorf("live stage: weight of %s is %v > 0", k, w)
		}
	}
	return nil
}

// ErrNoLiveStage is returned by Repredict for a model without a LiveStage.
var ErrNoLiveStage = errors.New("model: no live stage (train it with lab data that records outcomes)")

// Repredict re-scores a change during its bake from its deploy prediction
// (stored when the change was assessed, gate included) and the bake's
// evidence (BakeEvidence). The result's reasons are the evidence terms,
// strongest first, in plain words; its Logit is prior.Logit plus their sum.
func (m *Model) Repredict(prior Prediction, evidence Features) (Prediction, error) {
	if m.Live == nil {
		return Prediction{}, ErrNoLiveStage
	}
	p := Prediction{Threshold: prior.Threshold, Base: prior.Logit, ModelVersion: m.Version}
	logit := prior.Logit + m.Live.Intercept
	if m.Live.Intercept != 0 {
		p.Contributions = append(p.Contributions, Reason{Feature: "bake_clean", Value: 1, Contribution: m.Live.Intercept,
			Text: "the bake so far, before any evidence of harm"})
	}
	for _, name := range EvidenceNames() {
		v := evidence[name]
		c := m.Live.Weights[name] * v
		if math.IsNaN(c) {
			return Prediction{}, fmt.Errorf("model %s: evidence %s is NaN", m.Version, name)
		}
		logit += c
		if c != 0 {
			p.Contributions = append(p.Contributions, Reason{Feature: name, Value: v, Contribution: c, Text: Describe(name, v, evidence)})
		}
	}
	sort.SliceStable(p.Contributions, func(i, j int) bool {
		return math.Abs(p.Contributions[i].Contribution) > math.Abs(p.Contributions[j].Contribution)
	})
	p.Reasons = topReasons(p.Contributions, 5)
	p.Logit = logit
	p.Confidence = sigmoid(logit)
	p.decide()
	return p, nil
}

// LiveExample is one lab trial for FitLive: the deploy model's logit for
// the change (Prior), what the trial's KPIs showed (Evidence, from
// BakeEvidence), and whether the judge found the change safe.
type LiveExample struct {
	Prior    float64
	Evidence Features
	Safe     bool
}

// FitLive fits a LiveStage by maximum likelihood with the prior logit as a
// fixed offset, weights constrained <= 0 and the intercept >= 0, and a
// small L2 penalty.
func FitLive(ctx context.Context, ex []LiveExample) (*LiveStage, error) {
	names := EvidenceNames()
	d := len(names)
	m := &design{n: len(ex), d: d, x: make([]float64, len(ex)*d), y: make([]float64, len(ex)), w: make([]float64, len(ex)), off: make([]float64, len(ex))}
	var safe int
	for i, e := range ex {
		for j, n := range names {
			m.x[i*d+j] = e.Evidence[n]
		}
		if e.Safe {
			m.y[i] = 1
			safe++
		}
		m.w[i], m.off[i] = 1, e.Prior
	}
	if safe == 0 || safe == len(ex) {
		return nil, ErrEmptyDataset
	}
	signs := make([]float64, d+1)
	for j := range names {
		signs[j] = -1
	}
	signs[d] = +1
	f, err := fitSigned(ctx, m, 1e-3, 500, nil, signs)
	if err != nil {
		return nil, fmt.Errorf("model: fit live stage: %w", err)
	}
	ls := &LiveStage{Intercept: f.intercept, Weights: map[string]float64{}, Examples: len(ex)}
	for j, n := range names {
		ls.Weights[n] = f.coef[j]
	}
	return ls, ls.validate()
}

// WithLive returns a copy of m with ls as its live stage, versioned anew.
func (m *Model) WithLive(ls *LiveStage) (*Model, error) {
	if ls != nil {
		if err := ls.validate(); err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
	}
	out := *m
	out.Live = ls
	out.Version = versionOf(&out)
	return &out, nil
}
