package analysis

import (
	"math"
	"sort"
)

// Features is a named numeric feature vector for the prediction model.
// Every name in FeatureNames is always present, so vectors of different
// reports line up. docs/features.md documents each.
type Features map[string]float64

// FeatureDoc documents one feature.
type FeatureDoc struct {
	Name string
	Doc  string
	// Hazard marks a feature that can only make a change riskier as it
	// grows: the model's weight on it is constrained so that it can only
	// lower the confidence. Every model feature is a hazard.
	Hazard bool
}

// The model's features: few, causal, each growing with a hazard.
const (
	// FeatureLockHold is ln(1 + Exposure.HoldSeconds).
	FeatureLockHold = "lock_hold_log1p"
	// FeatureQueuedWrites is ln(1 + Exposure.QueuedWrites).
	FeatureQueuedWrites = "queued_writes_log1p"
	// FeatureQueuedReads is ln(1 + Exposure.QueuedReads).
	FeatureQueuedReads = "queued_reads_log1p"
	// FeatureXactConflict is ln(1 + Exposure.XactConflictSeconds).
	FeatureXactConflict = "xact_conflict_log1p"
	// FeatureBreaksQueries is ln(1 + Exposure.QueryRefs).
	FeatureBreaksQueries = "breaks_queries_log1p"
	// FeatureDroppedIndexUse is ln(1 + Exposure.DroppedIndexScans).
	FeatureDroppedIndexUse = "dropped_index_scans_log1p"
	// FeatureDestroysData is 1 when Up destroys data of a pre-existing object.
	FeatureDestroysData = "destroys_data"
	// FeatureRisk is the author's front-matter risk label (1..10; 0 absent).
	FeatureRisk = "risk"
	// FeatureStatements is ln(1 + the Up statements, capped at 100).
	FeatureStatements = "statements_log1p"
	// FeaturePlanCostRise is ln of the largest estimated cost ratio among
	// the workload statements the change makes at least PlanRegressionRatio
	// times costlier (PlanChange.Regression); 0 when none (or no live view).
	FeaturePlanCostRise = "plan_cost_rise_log"
)

// Auxiliary values in the feature vector that no model is trained on: the
// baselines and the plain-words reasons read them.
const (
	// AuxLintErrors counts error-severity findings (the "any lint error"
	// baseline).
	AuxLintErrors = "aux_lint_errors"
	// AuxImputed is 1 when there was no live context (the reasons say the
	// table figures were assumed).
	AuxImputed = "aux_imputed"
	// AuxHoldSeconds is Exposure.HoldSeconds (the "lock time alone"
	// baseline).
	AuxHoldSeconds = "aux_hold_seconds"
	// AuxRows is the largest pre-existing touched table's rows.
	AuxRows = "aux_rows"
)

// featureDocs is the documented, stable feature set.
var featureDocs = []FeatureDoc{
	{FeatureLockHold, "ln(1 + seconds a write-blocking lock is held on a pre-existing table: rewrite, scan or index build of its rows at the server's measured throughput, to the end of the transaction)", true},
	{FeatureQueuedWrites, "ln(1 + writes that would queue behind that lock: hold seconds × the table's writes/s, summed over tables)", true},
	{FeatureQueuedReads, "ln(1 + reads that would queue behind an ACCESS EXCLUSIVE lock: hold seconds × the table's scans/s)", true},
	{FeatureXactConflict, "ln(1 + age in seconds of the oldest open transaction, when the change takes ACCESS EXCLUSIVE on a pre-existing table with traffic)", true},
	{FeatureBreaksQueries, "ln(1 + the workload's statements (pg_stat_statements) that use a table or column the Up section drops, renames or retypes)", true},
	{FeatureDroppedIndexUse, "ln(1 + scans so far of the indexes the Up section drops)", true},
	{FeatureDestroysData, "1 when the Up section destroys data of a pre-existing object (DROP TABLE/COLUMN, TRUNCATE, DELETE or UPDATE without WHERE)", true},
	{FeatureRisk, "the author's front-matter risk label (1..10; 0 when absent)", true},
	{FeatureStatements, "ln(1 + Up statements, capped at 100)", true},
	{FeaturePlanCostRise, "ln of the largest planner-estimated cost ratio (after/before, by EXPLAIN with hypopg) among the workload's statements the change makes at least 10x costlier at a meaningful call rate; 0 when none", true},
}

// FeatureDocs returns the documented feature set in its stable order.
func FeatureDocs() []FeatureDoc { return append([]FeatureDoc(nil), featureDocs...) }

// FeatureNames returns every model feature name, sorted.
func FeatureNames() []string {
	out := make([]string, len(featureDocs))
	for i, d := range featureDocs {
		out[i] = d.Name
	}
	sort.Strings(out)
	return out
}

// Live features, present only when a live Target inspected the migration
// (Report.Live). They are raw measurements the lab records; the model sees
// them through the Exposure features.
const (
	// FeatureOldestXactSeconds is LiveContext.OldestXactSeconds.
	FeatureOldestXactSeconds = "live_oldest_xact_seconds"
	// FeatureWorkloadRefs is LiveContext.WorkloadRefs.
	FeatureWorkloadRefs = "live_workload_refs"
	// FeatureDroppedIndexScans is ln(1 + LiveContext.DroppedIndexScans).
	FeatureDroppedIndexScans = "live_dropped_index_scans_log1p"
)

var liveFeatureDocs = []FeatureDoc{
	{FeatureOldestXactSeconds, "age in seconds of the oldest open transaction of another session on the target (live target only)", false},
	{FeatureWorkloadRefs, "statements of the workload (pg_stat_statements) naming a table or column the Up section drops, renames or retypes (live target only)", false},
	{FeatureDroppedIndexScans, "ln(1 + scans so far of the indexes the Up section drops) (live target only)", false},
}

// LiveFeatureDocs documents the live measurements.
func LiveFeatureDocs() []FeatureDoc { return append([]FeatureDoc(nil), liveFeatureDocs...) }

// Features returns the report's feature vector: the model features of
// FeatureDocs (from Exposure), the auxiliary values, and the live
// measurements when there was a live target.
func (r *Report) Features() Features {
	x := r.Exposure()
	up := 0
	for _, s := range r.Statements {
		if s.Section == SectionUp {
			up++
		}
	}
	f := Features{
		FeatureLockHold:        math.Log1p(x.HoldSeconds),
		FeatureQueuedWrites:    math.Log1p(x.QueuedWrites),
		FeatureQueuedReads:     math.Log1p(x.QueuedReads),
		FeatureXactConflict:    math.Log1p(x.XactConflictSeconds),
		FeatureBreaksQueries:   math.Log1p(x.QueryRefs),
		FeatureDroppedIndexUse: math.Log1p(x.DroppedIndexScans),
		FeatureDestroysData:    b2f(x.DestroysData),
		FeatureRisk:            float64(r.Risk),
		FeatureStatements:      math.Log1p(float64(min(up, 100))),
		FeaturePlanCostRise:    0,
		AuxImputed:             b2f(x.Imputed),
		AuxHoldSeconds:         x.HoldSeconds,
	}
	for _, fd := range r.Findings {
		if fd.Severity == SeverityError {
			f[AuxLintErrors]++
		}
	}
	if r.Live != nil {
		for _, pc := range r.Live.PlanChanges {
			if pc.Regression() {
				f[FeaturePlanCostRise] = math.Max(f[FeaturePlanCostRise], math.Log(pc.Ratio))
			}
		}
	}
	for _, t := range r.Tables {
		if st, ok := r.Context[t]; ok && st.Exists {
			f[AuxRows] = math.Max(f[AuxRows], st.Rows)
		}
	}
	if x.Imputed && len(r.Tables) > 0 {
		f[AuxRows] = ImputedTable.Rows
	}
	if r.Live != nil {
		f[FeatureOldestXactSeconds] = r.Live.OldestXactSeconds
		f[FeatureWorkloadRefs] = r.Live.WorkloadRefs
		f[FeatureDroppedIndexScans] = math.Log1p(r.Live.DroppedIndexScans)
	}
	return f
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
