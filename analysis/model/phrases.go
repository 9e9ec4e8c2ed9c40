package model

import (
	"fmt"
	"math"
)

// Names of analysis.Report features the explanations phrase specially (the
// analysis package documents them all in docs/features.md).
const (
	featRowsLog10       = "rows_touched_log10"
	featRewrite         = "rewrite"
	featScanUnderLock   = "scan_under_lock"
	featIndexNoConc     = "index_without_concurrently"
	featConstraintValid = "constraint_without_not_valid"
	featAccessExclusive = "lock_access_exclusive"
	featLockLevel       = "lock_level"
)

// tableWords is "a 2M-row table" from the rows_touched_log10 feature, or
// "a table" without context.
func tableWords(f Features) string {
	v, ok := f[featRowsLog10]
	if !ok || v <= 0 {
		return "a table"
	}
	return "a " + HumanCount(math.Pow(10, v)-1) + "-row table"
}

func plural(v float64) string {
	if v == 1 {
		return ""
	}
	return "s"
}

// flag phrases a 0/1 feature: yes when set, no when not.
func flag(yes, no string) func(float64, Features) string {
	return func(v float64, _ Features) string {
		if v > 0 {
			return yes
		}
		return no
	}
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
	FeatureLintErrors: func(v float64, _ Features) string {
		if v > 0 {
			return fmt.Sprintf("the linter reports %.0f error-severity hazard%s", v, plural(v))
		}
		return "no error-severity lint finding"
	},
	"findings_warning": func(v float64, _ Features) string {
		return fmt.Sprintf("%.0f lint warning%s", v, plural(v))
	},
	featRewrite: func(v float64, f Features) string {
		if v > 0 {
			return "rewrites " + tableWords(f)
		}
		return "rewrites no table"
	},
	featScanUnderLock: func(v float64, f Features) string {
		if v > 0 {
			return "scans " + tableWords(f) + " while blocking writes"
		}
		return "scans no table under a blocking lock"
	},
	featIndexNoConc: func(v float64, f Features) string {
		if v > 0 {
			return "builds or drops an index on " + tableWords(f) + " without CONCURRENTLY"
		}
		return "no index built or dropped without CONCURRENTLY"
	},
	featConstraintValid: func(v float64, f Features) string {
		if v > 0 {
			return "validates a new constraint over " + tableWords(f) + " under lock (no NOT VALID)"
		}
		return "no constraint validated under lock"
	},
	featAccessExclusive: func(v float64, f Features) string {
		if v > 0 {
			return "takes an ACCESS EXCLUSIVE lock on " + tableWords(f) + " (blocks reads and writes)"
		}
		return "takes no ACCESS EXCLUSIVE lock"
	},
	featLockLevel: func(v float64, _ Features) string {
		names := []string{"no table lock", "ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE",
			"SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}
		i := int(math.Round(v))
		if i < 0 || i >= len(names) {
			return fmt.Sprintf("lock level %v", v)
		}
		if i == 0 {
			return "takes no table lock"
		}
		return "strongest lock is " + names[i]
	},
	"lock_share":               flag("takes a SHARE lock (blocks writes)", "takes no SHARE lock"),
	"lock_share_row_exclusive": flag("takes a SHARE ROW EXCLUSIVE lock (blocks writes)", "takes no SHARE ROW EXCLUSIVE lock"),
	"lock_share_update_exclusive": flag("takes only a SHARE UPDATE EXCLUSIVE lock (reads and writes go on)",
		"takes no SHARE UPDATE EXCLUSIVE lock"),
	"lock_row_exclusive": flag("takes only ROW EXCLUSIVE locks (like ordinary writes)", "takes no ROW EXCLUSIVE lock"),
	"lock_none":          flag("takes no table lock", "takes a table lock"),
	"locks_blocking_writes": func(v float64, _ Features) string {
		return fmt.Sprintf("%.0f statement%s block writes to an existing table", v, plural(v))
	},
	"destructive_up": flag("destroys data (drop, truncate, unbounded delete or update)", "destroys no data"),
	"breaks_app":     flag("may break running application code (rename, drop, type change, NOT NULL)", "keeps the columns the application uses"),
	"lossy_down":     flag("the Down section would drop data written after Up", "the Down section loses no data"),
	"irreversible":   flag("cannot be undone (no Down section)", "has a Down section"),
	"not_inverse":    flag("the Down section does not undo everything Up does", "the Down section undoes Up"),
	"transactional":  flag("runs in one transaction", "runs outside a transaction (NO TRANSACTION)"),
	"non_tx_in_tx":   flag("runs a CONCURRENTLY/VACUUM statement inside a transaction (it will fail)", "no non-transactional statement in a transaction"),
	"syntax_errors": func(v float64, _ Features) string {
		return fmt.Sprintf("%.0f statement%s do not parse", v, plural(v))
	},
	"rows_touched_log10": func(v float64, _ Features) string {
		return "touches tables of " + HumanCount(math.Pow(10, v)-1) + " rows in total"
	},
	"bytes_touched_log10": func(v float64, _ Features) string {
		return "touches " + humanBytes(math.Pow(10, v)-1) + " of tables and indexes"
	},
	"max_table_bytes_log10": func(v float64, _ Features) string {
		return "the largest touched table holds " + humanBytes(math.Pow(10, v)-1)
	},
	"writes_per_sec_log1p": func(v float64, _ Features) string {
		return fmt.Sprintf("the tables take %.0f writes/s", math.Expm1(v))
	},
	"scans_per_sec_log1p": func(v float64, _ Features) string {
		return fmt.Sprintf("the tables serve %.0f scans/s", math.Expm1(v))
	},
	"est_lock_seconds": func(v float64, _ Features) string {
		return fmt.Sprintf("holds its strongest lock for about %.1f s (estimated)", v)
	},
	"est_lock_seconds_log1p": func(v float64, _ Features) string {
		return fmt.Sprintf("holds its strongest lock for about %.1f s (estimated)", math.Expm1(v))
	},
	"writes_blocked_log1p": func(v float64, _ Features) string {
		return fmt.Sprintf("about %s writes would queue behind the lock", HumanCount(math.Expm1(v)))
	},
	"has_context":    flag("sized against the live database", "no live database context"),
	"tables_touched": func(v float64, _ Features) string { return fmt.Sprintf("touches %.0f existing table%s", v, plural(v)) },
	"statements":     func(v float64, _ Features) string { return fmt.Sprintf("%.0f statement%s", v, plural(v)) },
	"live_oldest_xact_seconds": func(v float64, _ Features) string {
		if v < 0.5 {
			return "no long-running transaction in the database"
		}
		return fmt.Sprintf("a transaction has been open for %.1f s (locks queue behind it)", v)
	},
	"live_workload_refs": func(v float64, _ Features) string {
		if v == 0 {
			return "no running query uses what it drops, renames or retypes"
		}
		return fmt.Sprintf("%.0f of the application's query classes use what it drops, renames or retypes", v)
	},
	"live_dropped_index_scans_log1p": func(v float64, _ Features) string {
		if v == 0 {
			return "drops no index the application uses"
		}
		return fmt.Sprintf("drops an index the application has scanned %s times", HumanCount(math.Expm1(v)))
	},
	"live_baseline_p50_ms_log1p": func(v float64, _ Features) string {
		return fmt.Sprintf("the application's median latency is %.1f ms right now", math.Expm1(v))
	},
	"live_baseline_p99_ms_log1p": func(v float64, _ Features) string {
		return fmt.Sprintf("the application's p99 latency is %.0f ms right now", math.Expm1(v))
	},
	FeatureHistoryAuthorRollbackRate: func(v float64, _ Features) string {
		return fmt.Sprintf("%.0f%% of the author's past changes were rolled back", 100*v)
	},
	FeatureHistoryTableRollbackRate: func(v float64, _ Features) string {
		return fmt.Sprintf("%.0f%% of past changes to these tables were rolled back", 100*v)
	},
	FeatureHistoryRecentIncidents: func(v float64, _ Features) string {
		return fmt.Sprintf("%.0f rollback%s on the fleet in the last 7 days", v, plural(v))
	},
}

func humanBytes(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.0f MB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.0f kB", b/(1<<10))
	default:
		return fmt.Sprintf("%.0f B", b)
	}
}
