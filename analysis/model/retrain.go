package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// TimedExample is an example from the fleet's history with the time its
// change merged, for the time-ordered holdout.
type TimedExample struct {
	Example
	At time.Time
}

// RetrainPolicy says when a challenger trained on fleet history may
// replace the champion.
type RetrainPolicy struct {
	// MinRollbacks is how many rolled-back changes history must hold
	// before the model is refitted on it; below, only the calibration is
	// refitted (default 20).
	MinRollbacks int
	// HistoryWeight weights a history example against a lab example in a
	// refit (default 3): history adds to the lab, never replaces it.
	HistoryWeight float64
	// HoldoutShare is the most recent share of history kept out of
	// training to compare challenger and champion (default 0.3), and
	// MinHoldout the fewest examples that comparison needs (default 10).
	HoldoutShare float64
	MinHoldout   int
}

func (p RetrainPolicy) withDefaults() RetrainPolicy {
	if p.MinRollbacks <= 0 {
		p.MinRollbacks = 20
	}
	if p.HistoryWeight <= 0 {
		p.HistoryWeight = 3
	}
	if p.HoldoutShare <= 0 || p.HoldoutShare >= 1 {
		p.HoldoutShare = 0.3
	}
	if p.MinHoldout <= 0 {
		p.MinHoldout = 10
	}
	return p
}

// Retrain modes.
const (
	// ModeCalibration refits only the champion's calibration on history.
	ModeCalibration = "calibration"
	// ModeRefit trains a new model on the lab data plus weighted history.
	ModeRefit = "refit"
)

// RetrainDecision is the outcome of Retrain: what was tried, the figures
// it was judged by, and whether the challenger replaces the champion.
type RetrainDecision struct {
	Mode string `json:"mode"`
	// Challenger is the candidate (nil when none could be built).
	Challenger *Model `json:"-"`
	Accepted   bool   `json:"accepted"`
	// Reason says why, in words.
	Reason string `json:"reason"`
	// History and HistoryRollbacks describe the history used; Holdout is
	// the size of the time-ordered holdout.
	History          int `json:"history"`
	HistoryRollbacks int `json:"history_rollbacks"`
	Holdout          int `json:"holdout"`
	// Champion and ChallengerScores are both models' scores on the holdout.
	ChampionScores   Scores `json:"champion"`
	ChallengerScores Scores `json:"challenger"`
	// ChampionLabUnsafeProceed and ChallengerLabUnsafeProceed are the
	// shares of the lab's unsafe examples each model lets proceed at its
	// threshold.
	ChampionLabUnsafeProceed   float64 `json:"champion_lab_unsafe_proceed"`
	ChallengerLabUnsafeProceed float64 `json:"challenger_lab_unsafe_proceed"`
	// NamedCaseFailures are the challenger's failed named cases.
	NamedCaseFailures []string `json:"named_case_failures,omitempty"`
}

// Retrain builds a challenger from the champion's recipe, the lab data and
// the fleet's history, and decides whether it replaces the champion: only
// when it scores at least as well (Brier) on the most recent history, which
// neither model was fitted on, lets no more of the lab's unsafe changes
// proceed, and passes check (the named-case suite).
// Until history holds policy.MinRollbacks rollbacks only the calibration is
// refitted. The champion is never changed.
func Retrain(ctx context.Context, champion *Model, lab Dataset, history []TimedExample, policy RetrainPolicy,
	check func(context.Context, *Model) ([]string, error)) (*RetrainDecision, error) {
	pol := policy.withDefaults()
	h := append([]TimedExample(nil), history...)
	sort.SliceStable(h, func(i, j int) bool { return h[i].At.Before(h[j].At) })
	d := &RetrainDecision{History: len(h)}
	for _, e := range h {
		if !e.Safe {
			d.HistoryRollbacks++
		}
	}
	d.Holdout = max(pol.MinHoldout, int(math.Ceil(pol.HoldoutShare*float64(len(h)))))
	if len(h)-d.Holdout < pol.MinHoldout {
		d.Reason = fmt.Sprintf("history of %d finished changes is too short for a time-ordered holdout of %d and as many to learn from", len(h), d.Holdout)
		d.Holdout = 0
		return d, nil
	}
	train, hold := h[:len(h)-d.Holdout], h[len(h)-d.Holdout:]
	var err error
	if d.HistoryRollbacks < pol.MinRollbacks {
		d.Mode = ModeCalibration
		d.Challenger, err = champion.Recalibrated(ctx, examples(train, 1))
	} else {
		d.Mode = ModeRefit
		ds := append(append(Dataset(nil), lab...), examples(train, pol.HistoryWeight)...)
		d.Challenger, err = Train(ctx, ds, append(champion.Recipe(), WithSource("lab+history"))...)
	}
	if errors.Is(err, ErrEmptyDataset) {
		d.Reason = "the history to learn from has a single outcome"
		return d, nil
	}
	if err != nil {
		return nil, err
	}
	if d.ChampionScores, err = scoreOn(champion, hold); err != nil {
		return nil, err
	}
	if d.ChallengerScores, err = scoreOn(d.Challenger, hold); err != nil {
		return nil, err
	}
	if d.ChallengerScores.Brier > d.ChampionScores.Brier+1e-12 {
		d.Reason = fmt.Sprintf("challenger's Brier %.4f on the %d most recent changes is worse than the champion's %.4f", d.ChallengerScores.Brier, len(hold), d.ChampionScores.Brier)
		return d, nil
	}
	if len(lab) > 0 {
		// The lab is ground truth about hazards: history mostly of safe
		// changes must not teach the model to wave unsafe ones through.
		if d.ChampionLabUnsafeProceed, err = unsafeProceed(champion, lab); err != nil {
			return nil, err
		}
		if d.ChallengerLabUnsafeProceed, err = unsafeProceed(d.Challenger, lab); err != nil {
			return nil, err
		}
		if d.ChallengerLabUnsafeProceed > d.ChampionLabUnsafeProceed+1e-12 {
			d.Reason = fmt.Sprintf("challenger lets %.1f%% of the lab's unsafe changes proceed at the threshold, the champion %.1f%%",
				100*d.ChallengerLabUnsafeProceed, 100*d.ChampionLabUnsafeProceed)
			return d, nil
		}
	}
	if check != nil {
		if d.NamedCaseFailures, err = check(ctx, d.Challenger); err != nil {
			return nil, err
		}
		if len(d.NamedCaseFailures) > 0 {
			d.Reason = fmt.Sprintf("challenger fails %d named case(s): %s", len(d.NamedCaseFailures), d.NamedCaseFailures[0])
			return d, nil
		}
	}
	d.Accepted = true
	d.Reason = fmt.Sprintf("challenger's Brier %.4f on the %d most recent changes is at least as good as the champion's %.4f, and it passes the named cases", d.ChallengerScores.Brier, len(hold), d.ChampionScores.Brier)
	return d, nil
}

func examples(h []TimedExample, weight float64) Dataset {
	ds := make(Dataset, len(h))
	for i, e := range h {
		ds[i] = e.Example
		ds[i].Weight = weight
	}
	return ds
}

// scoreOn scores m's confidence after each example's gate, as the product
// prints it.
func scoreOn(m *Model, h []TimedExample) (Scores, error) {
	p := make([]float64, len(h))
	y := make([]bool, len(h))
	for i, e := range h {
		pr, err := m.Predict(e.Features)
		if err != nil {
			return Scores{}, err
		}
		p[i], y[i] = pr.Adjust(e.Gate...).Confidence, e.Safe
	}
	return Score(p, y), nil
}

// Recalibrated returns a copy of m whose Platt calibration is refitted on
// ds (the coefficients, hence every sign and every ranking, are kept),
// leaving out the examples the gate caps, as Train does.
func (m *Model) Recalibrated(ctx context.Context, ds Dataset) (*Model, error) {
	ds = ds.gatePassed()
	if !ds.hasBothOutcomes() {
		return nil, ErrEmptyDataset
	}
	z := make([]float64, len(ds))
	y := make([]float64, len(ds))
	w := make([]float64, len(ds))
	for i, e := range ds {
		z[i] = m.rawLogit(e.Features)
		if e.Safe {
			y[i] = 1
		}
		w[i] = e.weight()
	}
	platt, err := fitPlatt(ctx, z, y, w)
	if err != nil {
		return nil, err
	}
	out := *m
	out.Calibration = platt
	out.Source = m.Source + "+recalibrated"
	out.Version = versionOf(&out)
	return &out, nil
}

// rawLogit is the uncalibrated logit (missing features at their mean).
func (m *Model) rawLogit(f Features) float64 {
	z := m.Intercept
	for _, c := range m.Coefficients {
		if v, ok := value(f, c.Name); ok {
			z += c.Weight * (v - c.Mean) / c.Scale
		}
	}
	return z
}

// unsafeProceed is the share of ds's unsafe examples m lets proceed after
// each example's gate (as the product decides).
func unsafeProceed(m *Model, ds Dataset) (float64, error) {
	var n, ok float64
	for _, e := range ds {
		if e.Safe {
			continue
		}
		p, err := m.Predict(e.Features)
		if err != nil {
			return 0, err
		}
		n++
		if p.Adjust(e.Gate...).Decision == DecisionProceed {
			ok++
		}
	}
	if n == 0 {
		return 0, nil
	}
	return ok / n, nil
}
