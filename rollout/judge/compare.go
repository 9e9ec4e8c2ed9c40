package judge

import (
	"fmt"
	"math"
	"strings"
)

// compare judges one KPI of the canary against one reference.
func (j *Judge) compare(kpi, ref string, canary, reference []Sample) Verdict {
	if KindOf(kpi) == KindProportion {
		return j.compareProportion(kpi, ref, canary, reference)
	}
	return j.compareContinuous(kpi, ref, canary, reference)
}

func sampleValues(s []Sample) []float64 {
	v := make([]float64, len(s))
	for i := range s {
		v[i] = s[i].Value
	}
	return v
}

// compareContinuous: one-sided Mann-Whitney U plus a Hodges-Lehmann
// effect-size floor, relative to the reference median and absolute.
func (j *Judge) compareContinuous(kpi, ref string, canary, reference []Sample) Verdict {
	c, r := sampleValues(canary), sampleValues(reference)
	v := Verdict{KPI: kpi, Reference: ref, Test: TestMannWhitney, PValue: 1,
		Tolerance: kpiLookup(j.cfg.Tolerances, kpi, 0.2),
		CanaryN:   len(c), ReferenceN: len(r), CanaryValue: Median(c), ReferenceValue: Median(r)}
	if len(c) < j.cfg.MinSamples || len(r) < j.cfg.MinSamples {
		v.Outcome = Extend
		v.Reason = fmt.Sprintf("too few samples (%d canary, %d %s; need %d each)", len(c), len(r), ref, j.cfg.MinSamples)
		return v
	}
	mw := MannWhitneyGreater(c, r)
	v.PValue = mw.P
	v.Effect = HodgesLehmann(c, r)
	switch {
	case v.ReferenceValue != 0:
		v.RelEffect = v.Effect / math.Abs(v.ReferenceValue)
	case v.Effect > 0:
		v.RelEffect = math.Inf(1)
	}
	floor := kpiLookup(j.cfg.AbsFloors, kpi, 0)
	need := math.Max(v.Tolerance*math.Abs(v.ReferenceValue), floor)
	significant := mw.P < j.cfg.Alpha
	large := v.Effect > need
	switch {
	case significant && large:
		v.Outcome = Fail
		v.Reason = fmt.Sprintf("canary worse: shift %+.4g (%+.1f%%) beyond floor %.4g, p=%.3g < %g", v.Effect, 100*v.RelEffect, need, mw.P, j.cfg.Alpha)
	case significant:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("significant (p=%.3g) but shift %+.4g within floor %.4g", mw.P, v.Effect, need)
	default:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("not significantly worse (p=%.3g >= %g)", mw.P, j.cfg.Alpha)
	}
	return v
}

// sumEvents totals Errors out of Count (a sample with Count 0 counts as one
// event, failed when Errors > 0).
func sumEvents(s []Sample) (errs, n int64) {
	for _, x := range s {
		c := max(x.Count, 1)
		n += c
		errs += min(x.Errors, c)
	}
	return errs, n
}

// compareProportion: the summed error rate over the window, with Fisher's
// exact test when an expected cell count is below 5, else the pooled
// two-proportion z-test, plus an absolute floor on the difference of rates.
func (j *Judge) compareProportion(kpi, ref string, canary, reference []Sample) Verdict {
	e1, n1 := sumEvents(canary)
	e2, n2 := sumEvents(reference)
	v := Verdict{KPI: kpi, Reference: ref, PValue: 1, Tolerance: kpiLookup(j.cfg.Tolerances, kpi, 0.01),
		CanaryN: int(n1), ReferenceN: int(n2)}
	if n1 > 0 {
		v.CanaryValue = float64(e1) / float64(n1)
	}
	if n2 > 0 {
		v.ReferenceValue = float64(e2) / float64(n2)
	}
	v.Effect = v.CanaryValue - v.ReferenceValue
	v.RelEffect = v.Effect
	if n1 < int64(j.cfg.MinEvents) || n2 < int64(j.cfg.MinEvents) {
		v.Test = TestNone
		v.Outcome = Extend
		v.Reason = fmt.Sprintf("too few events (%d canary, %d %s; need %d each)", n1, n2, ref, j.cfg.MinEvents)
		return v
	}
	N, K := float64(n1+n2), float64(e1+e2)
	minExpected := math.Min(math.Min(float64(n1)*K/N, float64(n2)*K/N), math.Min(float64(n1)*(N-K)/N, float64(n2)*(N-K)/N))
	if minExpected < 5 {
		v.Test = TestFisher
		v.PValue = FisherExactGreater(e1, n1, e2, n2)
	} else {
		v.Test = TestTwoProp
		_, v.PValue = TwoProportionGreater(e1, n1, e2, n2)
	}
	significant := v.PValue < j.cfg.Alpha
	large := v.Effect > v.Tolerance
	switch {
	case significant && large:
		v.Outcome = Fail
		v.Reason = fmt.Sprintf("canary rate %.4f vs %.4f (%d/%d vs %d/%d), difference beyond %.4g, p=%.3g", v.CanaryValue, v.ReferenceValue, e1, n1, e2, n2, v.Tolerance, v.PValue)
	case significant:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("significant (p=%.3g) but difference %+.4f within %.4g", v.PValue, v.Effect, v.Tolerance)
	default:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("rate %.4f vs %.4f not significantly higher (p=%.3g)", v.CanaryValue, v.ReferenceValue, v.PValue)
	}
	return v
}

// setDefaults fills the tail test's defaults and checks its ranges.
func (t *TailConfig) setDefaults() error {
	if t.Quantile == 0 {
		t.Quantile = 0.99
	}
	if !(t.Quantile > 0.5 && t.Quantile < 1) {
		return fmt.Errorf("%w: judge tail quantile %g: must be in (0.5, 1)", ErrBadConfig, t.Quantile)
	}
	if t.Tolerance == 0 {
		t.Tolerance = 0.01
	}
	if math.IsNaN(t.Tolerance) || t.Tolerance >= 1 {
		return fmt.Errorf("%w: judge tail tolerance %g: must be below 1 (negative: off)", ErrBadConfig, t.Tolerance)
	}
	if t.MinBaseline == 0 {
		t.MinBaseline = 100
	}
	if t.MinBaseline < 20 {
		return fmt.Errorf("%w: judge tail min_baseline %d: must be >= 20", ErrBadConfig, t.MinBaseline)
	}
	for k, v := range t.SLO {
		if !(v > 0) {
			return fmt.Errorf("%w: judge tail slo %s=%g: must be > 0 (milliseconds)", ErrBadConfig, k, v)
		}
	}
	return nil
}

// tailThreshold is the latency above which a sample is in the tail: the
// KPI's SLO, else the configured quantile of the canary's own (drift
// corrected) baseline; ok is false when there is neither.
func (j *Judge) tailThreshold(kpi string, baseline []Sample) (thr float64, what string, ok bool) {
	if slo := kpiLookup(j.cfg.Tail.SLO, kpi, 0); slo > 0 {
		return slo, fmt.Sprintf("the SLO %.4g ms", slo), true
	}
	if len(baseline) < j.cfg.Tail.MinBaseline {
		return 0, "", false
	}
	q := j.cfg.Tail.Quantile
	thr = Quantile(sampleValues(baseline), q)
	return thr, fmt.Sprintf("the baseline's p%g (%.4g ms)", 100*q, thr), true
}

// tailVerdicts runs the tail test of a latency KPI against the control and
// the baseline; none when the test is off, the KPI is not a latency or
// there is no threshold.
func (j *Judge) tailVerdicts(kpi string, canary, control, baseline []Sample) []Verdict {
	if j.cfg.Tail.Tolerance < 0 || !isLatency(kpi) {
		return nil
	}
	thr, what, ok := j.tailThreshold(kpi, baseline)
	if !ok {
		return nil
	}
	var out []Verdict
	for _, ref := range []struct {
		name    string
		samples []Sample
	}{{RefControl, control}, {RefBaseline, baseline}} {
		if len(ref.samples) == 0 {
			continue
		}
		out = append(out, j.compareTail(kpi, ref.name, canary, ref.samples, thr, what))
	}
	return out
}

// isLatency reports whether kpi is a latency class ("latency" or
// "latency:<class>").
func isLatency(kpi string) bool {
	return kpi == "latency" || strings.HasPrefix(kpi, KPILatencyPrefix)
}

// above counts the samples whose value exceeds thr.
func above(s []Sample, thr float64) int64 {
	var k int64
	for _, x := range s {
		if x.Value > thr {
			k++
		}
	}
	return k
}

// compareTail: the share of samples above thr, canary against reference,
// one-sided Fisher's exact test plus an absolute floor on the difference.
func (j *Judge) compareTail(kpi, ref string, canary, reference []Sample, thr float64, what string) Verdict {
	n1, n2 := int64(len(canary)), int64(len(reference))
	v := Verdict{KPI: kpi, Reference: ref, Test: TestTail, PValue: 1, Tolerance: j.cfg.Tail.Tolerance,
		CanaryN: int(n1), ReferenceN: int(n2)}
	if n1 < int64(j.cfg.MinSamples) || n2 < int64(j.cfg.MinSamples) {
		v.Outcome = Extend
		v.Reason = fmt.Sprintf("tail: too few samples (%d canary, %d %s; need %d each)", n1, n2, ref, j.cfg.MinSamples)
		return v
	}
	k1, k2 := above(canary, thr), above(reference, thr)
	v.CanaryValue, v.ReferenceValue = float64(k1)/float64(n1), float64(k2)/float64(n2)
	v.Effect = v.CanaryValue - v.ReferenceValue
	v.RelEffect = v.Effect
	v.PValue = FisherExactGreater(k1, n1, k2, n2)
	significant := v.PValue < j.cfg.Alpha
	switch {
	case significant && v.Effect > v.Tolerance:
		v.Outcome = Fail
		v.Reason = fmt.Sprintf("tail worse: %.1f%% of canary samples above %s vs %.1f%% (%d/%d vs %d/%d), p=%.3g", 100*v.CanaryValue, what, 100*v.ReferenceValue, k1, n1, k2, n2, v.PValue)
	case significant:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("tail: significant (p=%.3g) but %+.2f points within %.2f", v.PValue, 100*v.Effect, 100*v.Tolerance)
	default:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("tail: %.1f%% vs %.1f%% above %s, not significantly more (p=%.3g)", 100*v.CanaryValue, 100*v.ReferenceValue, what, v.PValue)
	}
	return v
}
