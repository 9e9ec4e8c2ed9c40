package judge

import (
	"errors"
	"sort"
	"strings"
	"time"
)

// KPI names. A sample's KPI is one of these, or a prefixed name such as
// "latency:orders_by_id" (the part after the colon names a query class or a
// probe). Higher values are worse for every KPI.
const (
	// KPILatencyPrefix starts latency KPIs: "latency:<query class or probe>",
	// values in milliseconds.
	KPILatencyPrefix = "latency:"
	// KPIErrorRate is the fraction of failed events: Sample.Errors out of
	// Sample.Count (rolled-back transactions out of all, for pgstat; failed
	// executions, for a probe: "error_rate:<probe>").
	KPIErrorRate = "error_rate"
	// KPIDeadlocks counts deadlocks (Sample.Errors) out of transactions
	// (Sample.Count) per interval; judged like an error rate.
	KPIDeadlocks = "deadlocks"
	// KPIConflicts counts recovery conflicts (Errors) out of transactions (Count).
	KPIConflicts = "conflicts"
	// KPILockWaits is the number of sessions waiting for a lock at the
	// sampling instant (a gauge).
	KPILockWaits = "lock_waits"
	// KPICPU is CPU seconds used per wall-clock second by the instance's
	// processes (1.0 = one core busy).
	KPICPU = "cpu"
	// KPIMemory is the resident memory of the instance's processes in bytes.
	KPIMemory = "memory"
)

// Kind says how the judge treats a KPI.
type Kind int

const (
	// KindContinuous KPIs (latency, cpu, memory, lock waits, Prometheus
	// series) are compared with a one-sided Mann-Whitney U test and a
	// Hodges-Lehmann effect-size floor.
	KindContinuous Kind = iota
	// KindProportion KPIs (error rates, deadlocks, conflicts) are summed as
	// Errors out of Count over the window and compared with a one-sided
	// two-proportion test (Fisher's exact test for small counts).
	KindProportion
)

// KindOf returns how the judge treats the KPI with this name: names that
// start with "error_rate", "deadlocks" or "conflicts" are proportions, all
// others continuous.
func KindOf(kpi string) Kind {
	for _, p := range []string{KPIErrorRate, KPIDeadlocks, KPIConflicts} {
		if kpi == p || strings.HasPrefix(kpi, p+":") {
			return KindProportion
		}
	}
	return KindContinuous
}

// Sample is one observation of one KPI on one instance.
type Sample struct {
	// Instance is Target.Instance.
	Instance string `json:"instance"`
	// KPI names what was measured (see the KPI constants).
	KPI string `json:"kpi"`
	// At is when the observation was made (for interval aggregates: the
	// end of the interval).
	At time.Time `json:"at"`
	// Value is the measurement: milliseconds for latency, the rate for
	// proportions (Errors/Count), the gauge reading otherwise.
	Value float64 `json:"value"`
	// Count is how many events Value summarizes: calls behind a mean
	// latency, transactions or executions behind an error rate. 0 or 1
	// means a single observation.
	Count int64 `json:"count,omitempty"`
	// Errors is the number of failed events out of Count (proportion KPIs).
	Errors int64 `json:"errors,omitempty"`
}

// ErrBadConfig is wrapped by NewJudge (and by rollout's constructors) on
// invalid options.
var ErrBadConfig = errors.New("invalid kpi configuration")

// SelectKPI returns the samples of one KPI, in time order.
func SelectKPI(samples []Sample, kpi string) []Sample {
	var out []Sample
	for _, s := range samples {
		if s.KPI == kpi {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// KPINames returns the distinct KPI names in samples, sorted.
func KPINames(samples []Sample) []string {
	seen := map[string]bool{}
	var names []string
	for _, s := range samples {
		if !seen[s.KPI] {
			seen[s.KPI] = true
			names = append(names, s.KPI)
		}
	}
	sort.Strings(names)
	return names
}
