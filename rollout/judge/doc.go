// Package judge decides whether a canary is worse than its references:
// the control instances over the same window and its own pre-change
// baseline (Kayenta's method). It holds the statistics (one-sided
// Mann-Whitney U with exact p-values for small groups, the Hodges-Lehmann
// shift, Fisher's exact and the two-proportion z test, a tail test on the
// share of slow samples), the hard guards, and the Sample and KPI names the
// KPI sources produce.
//
// Everything here is a pure function of the samples: no I/O, no clock but
// the decision's timestamp. docs/judge.md explains every test and default.
package judge
