package analysis

import (
	"math"
	"sort"
	"strings"
)

// Features is a named numeric feature vector for the prediction model.
// Every name in FeatureNames is always present (0 when it does not apply),
// so vectors of different reports line up. docs/features.md documents each.
type Features map[string]float64

// FeatureDoc documents one feature.
type FeatureDoc struct {
	Name string
	Doc  string
}

// kindGroups maps statement kinds onto the kind_* features.
var kindGroups = []struct {
	feature string
	match   func(kind string) bool
}{
	{"kind_create_table", func(k string) bool { return k == "create_table" || k == "create_table_as" }},
	{"kind_alter_table", func(k string) bool { return k == "alter_table" }},
	{"kind_create_index", func(k string) bool { return k == "create_index" }},
	{"kind_drop_table", func(k string) bool { return k == "drop_table" }},
	{"kind_drop_index", func(k string) bool { return k == "drop_index" }},
	{"kind_drop_other", func(k string) bool {
		return strings.HasPrefix(k, "drop_") && k != "drop_table" && k != "drop_index"
	}},
	{"kind_rename", func(k string) bool { return strings.HasPrefix(k, "rename_") }},
	{"kind_dml", func(k string) bool { return k == "insert" || k == "update" || k == "delete" || k == "merge" }},
	{"kind_do", func(k string) bool { return k == "do" }},
	{"kind_create_other", func(k string) bool {
		return strings.HasPrefix(k, "create_") && k != "create_table" && k != "create_table_as" && k != "create_index"
	}},
}

var lockFeatureNames = [...]string{
	"lock_none", "lock_access_share", "lock_row_share", "lock_row_exclusive", "lock_share_update_exclusive",
	"lock_share", "lock_share_row_exclusive", "lock_exclusive", "lock_access_exclusive",
}

// featureDocs is the documented, stable feature set. H6's model trains on
// exactly these names; add new ones at the end, never rename.
var featureDocs = []FeatureDoc{
	{"statements", "number of Up statements (statements run by DO blocks included)"},
	{"statements_down", "number of Down statements"},
	{"kind_create_table", "Up statements that create a table (CREATE TABLE, CREATE TABLE AS)"},
	{"kind_alter_table", "Up ALTER TABLE statements"},
	{"kind_create_index", "Up CREATE INDEX statements"},
	{"kind_drop_table", "Up DROP TABLE statements"},
	{"kind_drop_index", "Up DROP INDEX statements"},
	{"kind_drop_other", "Up DROP statements of other objects (views, types, functions, ...)"},
	{"kind_rename", "Up RENAME statements"},
	{"kind_dml", "Up INSERT/UPDATE/DELETE/MERGE statements"},
	{"kind_do", "Up DO blocks"},
	{"kind_create_other", "Up CREATE statements of other objects (types, functions, views, sequences, ...)"},
	{"kind_other", "Up statements of any other kind (SET, transaction control, GRANT, ...)"},
	{"lock_level", "strongest Up lock as an ordinal: 0 none, 1 ACCESS SHARE, 2 ROW SHARE, 3 ROW EXCLUSIVE, 4 SHARE UPDATE EXCLUSIVE, 5 SHARE, 6 SHARE ROW EXCLUSIVE, 7 EXCLUSIVE, 8 ACCESS EXCLUSIVE"},
	{"lock_none", "one-hot: the Up section takes no table lock"},
	{"lock_access_share", "one-hot: strongest Up lock is ACCESS SHARE"},
	{"lock_row_share", "one-hot: strongest Up lock is ROW SHARE"},
	{"lock_row_exclusive", "one-hot: strongest Up lock is ROW EXCLUSIVE"},
	{"lock_share_update_exclusive", "one-hot: strongest Up lock is SHARE UPDATE EXCLUSIVE"},
	{"lock_share", "one-hot: strongest Up lock is SHARE (blocks writes)"},
	{"lock_share_row_exclusive", "one-hot: strongest Up lock is SHARE ROW EXCLUSIVE (blocks writes)"},
	{"lock_exclusive", "one-hot: strongest Up lock is EXCLUSIVE (blocks writes)"},
	{"lock_access_exclusive", "one-hot: strongest Up lock is ACCESS EXCLUSIVE (blocks reads and writes)"},
	{"locks_blocking_writes", "Up statements on pre-existing tables whose lock blocks writes (SHARE or stronger)"},
	{"rewrite", "1 when an Up statement rewrites a pre-existing table"},
	{"scan_under_lock", "1 when an Up statement scans a pre-existing table under a lock that blocks writes"},
	{"index_without_concurrently", "1 when Up creates or drops an index on a pre-existing table without CONCURRENTLY"},
	{"constraint_without_not_valid", "1 when Up adds a CHECK or FOREIGN KEY to a pre-existing table without NOT VALID"},
	{"destructive_up", "1 when Up destroys data (DROP TABLE/COLUMN, TRUNCATE, DELETE/UPDATE without WHERE)"},
	{"breaks_app", "1 when Up may break running application code (rename, drop, type change, NOT NULL)"},
	{"lossy_down", "1 when Down drops tables or columns (data written after Up would be lost without archiving)"},
	{"irreversible", "1 when there is no Down section or it does nothing"},
	{"not_inverse", "1 when Down does not undo everything Up does"},
	{"transactional", "1 when goose runs the file in a transaction (no \"-- +goose NO TRANSACTION\")"},
	{"non_tx_in_tx", "1 when a statement that cannot run in a transaction (CONCURRENTLY, VACUUM, ...) is in one"},
	{"findings_error", "number of error-severity findings"},
	{"findings_warning", "number of warning-severity findings"},
	{"syntax_errors", "number of statements that do not parse"},
	{"risk", "the author's front-matter risk label (1..10; 0 when absent)"},
	{"has_context", "1 when live catalog context was available (the features below are 0 otherwise)"},
	{"tables_touched", "number of pre-existing tables the Up section touches (with context)"},
	{"rows_touched_log10", "log10(1 + sum of rows of the touched tables)"},
	{"bytes_touched_log10", "log10(1 + sum of bytes of the touched tables, indexes included)"},
	{"max_table_bytes_log10", "log10(1 + bytes of the largest touched table)"},
	{"writes_per_sec_log1p", "ln(1 + sum of inserts+updates+deletes per second on the touched tables)"},
	{"scans_per_sec_log1p", "ln(1 + sum of seq+index scans per second on the touched tables)"},
	{"est_lock_seconds", "estimated seconds the strongest lock is held by a rewrite, scan or index build (measured server throughput)"},
	{"est_lock_seconds_log1p", "ln(1 + est_lock_seconds)"},
	{"writes_blocked_log1p", "ln(1 + est_lock_seconds × writes/s of the touched tables, for write-blocking locks): writes that would queue"},
}

// Live features, present only when a live Target inspected the migration
// (Report.Live); without one they are absent, and the model says so.
const (
	// FeatureOldestXactSeconds is LiveContext.OldestXactSeconds.
	FeatureOldestXactSeconds = "live_oldest_xact_seconds"
	// FeatureWorkloadRefs is LiveContext.WorkloadRefs.
	FeatureWorkloadRefs = "live_workload_refs"
	// FeatureDroppedIndexScans is ln(1 + LiveContext.DroppedIndexScans).
	FeatureDroppedIndexScans = "live_dropped_index_scans_log1p"
)

var liveFeatureDocs = []FeatureDoc{
	{FeatureOldestXactSeconds, "age in seconds of the oldest open transaction of another session on the target: a conflicting lock queues the traffic behind it (live target only)"},
	{FeatureWorkloadRefs, "statements of the workload (pg_stat_statements) naming a table or column the Up section drops, renames or retypes (live target only)"},
	{FeatureDroppedIndexScans, "ln(1 + scans so far of the indexes the Up section drops) (live target only)"},
}

// LiveFeatureDocs documents the live features.
func LiveFeatureDocs() []FeatureDoc { return append([]FeatureDoc(nil), liveFeatureDocs...) }

// FeatureDocs returns the documented feature set in its stable order.
func FeatureDocs() []FeatureDoc { return append([]FeatureDoc(nil), featureDocs...) }

// FeatureNames returns every feature name, sorted.
func FeatureNames() []string {
	out := make([]string, len(featureDocs))
	for i, d := range featureDocs {
		out[i] = d.Name
	}
	sort.Strings(out)
	return out
}

// Features returns the report's feature vector (see FeatureDocs).
func (r *Report) Features() Features {
	f := make(Features, len(featureDocs))
	for _, d := range featureDocs {
		f[d.Name] = 0
	}
	var nonTx bool
	for _, x := range r.Findings {
		switch x.Severity {
		case SeverityError:
			f["findings_error"]++
		case SeverityWarning:
			f["findings_warning"]++
		}
		switch x.RuleID {
		case "syntax-error":
			f["syntax_errors"]++
		case "ban-concurrent-index-creation-in-transaction":
			nonTx = true
		}
	}
	strongest := ParseLockMode(r.StrongestLock)
	for _, s := range r.Statements {
		if s.Section == SectionDown {
			f["statements_down"]++
			continue
		}
		f["statements"]++
		grouped := false
		for _, g := range kindGroups {
			if g.match(s.Kind) {
				f[g.feature]++
				grouped = true
				break
			}
		}
		if !grouped {
			f["kind_other"]++
		}
		if ParseLockMode(s.Lock).BlocksWrites() && (s.Rewrite || s.ScanUnderLock || s.IndexWithoutConcurrently ||
			s.ConstraintWithoutNotValid || strings.HasPrefix(s.Kind, "alter_") || s.Kind == "drop_table" || s.Kind == "drop_index") {
			f["locks_blocking_writes"]++
		}
		f["rewrite"] = math.Max(f["rewrite"], b2f(s.Rewrite))
		f["scan_under_lock"] = math.Max(f["scan_under_lock"], b2f(s.ScanUnderLock))
		f["index_without_concurrently"] = math.Max(f["index_without_concurrently"], b2f(s.IndexWithoutConcurrently))
		f["constraint_without_not_valid"] = math.Max(f["constraint_without_not_valid"], b2f(s.ConstraintWithoutNotValid))
		f["destructive_up"] = math.Max(f["destructive_up"], b2f(s.Destructive))
		f["breaks_app"] = math.Max(f["breaks_app"], b2f(s.BreaksApp))
	}
	f["lock_level"] = float64(strongest)
	f[lockFeatureNames[strongest]] = 1
	f["lossy_down"] = b2f(r.LossyDown)
	f["irreversible"] = b2f(r.Irreversible)
	f["not_inverse"] = b2f(r.NotInverse)
	f["transactional"] = b2f(!r.NoTransaction)
	f["non_tx_in_tx"] = b2f(nonTx)
	f["risk"] = float64(r.Risk)
	if len(r.Context) > 0 {
		f["has_context"] = 1
		var rows, bytes, maxBytes, writes, scans float64
		for _, t := range r.Tables {
			st, ok := r.Context[t]
			if !ok || !st.Exists {
				continue
			}
			f["tables_touched"]++
			rows += st.Rows
			bytes += float64(st.Bytes)
			maxBytes = math.Max(maxBytes, float64(st.Bytes))
			writes += st.WritesPerSec
			scans += st.ScansPerSec
		}
		f["rows_touched_log10"] = math.Log10(1 + rows)
		f["bytes_touched_log10"] = math.Log10(1 + bytes)
		f["max_table_bytes_log10"] = math.Log10(1 + maxBytes)
		f["writes_per_sec_log1p"] = math.Log1p(writes)
		f["scans_per_sec_log1p"] = math.Log1p(scans)
		f["est_lock_seconds"] = r.EstLockSeconds
		f["est_lock_seconds_log1p"] = math.Log1p(r.EstLockSeconds)
		if strongest.BlocksWrites() {
			f["writes_blocked_log1p"] = math.Log1p(r.EstLockSeconds * writes)
		}
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
