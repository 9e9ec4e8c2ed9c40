package rollout

import (
	"fmt"
	"math"
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
