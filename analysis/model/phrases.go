package model

import (
	"fmt"
	"math"
)

// Names of analysis.Report features the explanations phrase (the analysis
// package defines and documents them in docs/features.md; the model knows
// them only by name).
const (
	featLockHold       = "lock_hold_log1p"
	featQueuedWrites   = "queued_writes_log1p"
	featQueuedReads    = "queued_reads_log1p"
	featXactConflict   = "xact_conflict_log1p"
	featBreaksQueries  = "breaks_queries_log1p"
	featDroppedIndex   = "dropped_index_scans_log1p"
	featDestroysData   = "destroys_data"
	featStatements     = "statements_log1p"
	featPlanCostRise   = "plan_cost_rise_log"
	featImputed        = "aux_imputed"
	featRows           = "aux_rows"
	featOldestXactSecs = "live_oldest_xact_seconds"
)

// assumed is the note a reason carries when the figures behind it were
// imputed for lack of live context.
func assumed(f Features) string {
	if f[featImputed] > 0 {
		return " (assumed: no live database, so a large busy table is assumed)"
	}
	return ""
}

// tableWords is "a 2M-row table", or "a table" when unknown.
func tableWords(f Features) string {
	if v := f[featRows]; v > 0 {
		return "a " + HumanCount(v) + "-row table"
	}
	return "a table"
}

func plural(v float64) string {
	if v == 1 {
		return ""
	}
	return "s"
}

// phrases maps known feature names to their plain-words description. It is
// read-only.
var phrases = map[string]func(v float64, f Features) string{
	EvidenceLatency: func(v float64, _ Features) string {
		return fmt.Sprintf("the canary's queries are %.1fx slower (significant)", math.Exp(v))
	},
	EvidenceErrors: func(v float64, _ Features) string {
		return fmt.Sprintf("the canary's error rate is up %.2f%% (significant)", 100*v)
	},
	EvidenceLockWaits: func(v float64, _ Features) string {
		return fmt.Sprintf("%.0f more sessions wait for locks on the canary (significant)", math.Expm1(v))
	},
	FeatureRisk: func(v float64, _ Features) string {
		if v <= 0 {
			return "the author gave no risk label"
		}
		return fmt.Sprintf("the author rated the risk %.0f of 10", v)
	},
	featLockHold: func(v float64, f Features) string {
		if v <= 0 {
			return "holds no lock that blocks writes for longer than an instant"
		}
		return fmt.Sprintf("blocks writes to %s for about %s", tableWords(f), seconds(math.Expm1(v))) + assumed(f)
	},
	featQueuedWrites: func(v float64, f Features) string {
		if v <= 0 {
			return "no write would queue behind its locks"
		}
		return fmt.Sprintf("about %s writes would queue behind the lock", HumanCount(math.Expm1(v))) + assumed(f)
	},
	featQueuedReads: func(v float64, f Features) string {
		if v <= 0 {
			return "no read would queue behind its locks"
		}
		return fmt.Sprintf("about %s reads would queue behind its ACCESS EXCLUSIVE lock", HumanCount(math.Expm1(v))) + assumed(f)
	},
	featXactConflict: func(v float64, f Features) string {
		if v <= 0 {
			return "no long transaction stands in the way of its ACCESS EXCLUSIVE lock"
		}
		return fmt.Sprintf("its ACCESS EXCLUSIVE lock must wait for a transaction open for %s", seconds(math.Expm1(v)))
	},
	featBreaksQueries: func(v float64, f Features) string {
		if v <= 0 {
			return "no running query uses what it drops, renames or retypes"
		}
		if f[featImputed] > 0 {
			return "it drops, renames or retypes something the application may use (assumed: no live database to check the workload)"
		}
		return fmt.Sprintf("%.0f of the application's statements use what it drops, renames or retypes", math.Expm1(v))
	},
	featDroppedIndex: func(v float64, f Features) string {
		if v <= 0 {
			return "drops no index the application uses"
		}
		if f[featImputed] > 0 {
			return "drops an index the application may use (assumed: no live database to check)"
		}
		return fmt.Sprintf("drops an index the application has scanned %s times", HumanCount(math.Expm1(v)))
	},
	featDestroysData: func(v float64, _ Features) string {
		if v > 0 {
			return "destroys data (drop, truncate, unbounded delete or update)"
		}
		return "destroys no data"
	},
	featPlanCostRise: func(v float64, _ Features) string {
		if v <= 0 {
			return "the planner estimates no workload statement much costlier"
		}
		return fmt.Sprintf("the planner estimates a workload statement at %.0fx its cost", math.Exp(v))
	},
	featStatements: func(v float64, _ Features) string {
		n := math.Round(math.Expm1(v))
		return fmt.Sprintf("%.0f statement%s", n, plural(n))
	},
	FeatureHistoryTableRollbackRate: func(v float64, _ Features) string {
		return fmt.Sprintf("%.0f%% of past changes to these tables were rolled back", 100*v)
	},
	FeatureHistoryKindRollbackRate: func(v float64, _ Features) string {
		return fmt.Sprintf("%.0f%% of past changes of this kind were rolled back", 100*v)
	},
}

// seconds renders a duration in seconds as "0.4 s", "12 s", "3.2 min".
func seconds(s float64) string {
	switch {
	case s >= 90:
		return fmt.Sprintf("%.1f min", s/60)
	case s >= 10:
		return fmt.Sprintf("%.0f s", s)
	}
	return fmt.Sprintf("%.1f s", s)
}
