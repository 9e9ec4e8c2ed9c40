package analysis

import "math"

// Exposure is the physics of a change against the tables it touches: how
// long it holds locks that stop traffic, and how much traffic that stops.
// It is computed from the report's statements and its live context; when
// there is no live context, every pre-existing touched table is assumed to
// be large and busy (Imputed), so a missing measurement never makes a
// change look safer.
type Exposure struct {
	// HoldSeconds is the longest estimated time a write-blocking lock
	// (SHARE or stronger) is held on one pre-existing table: the work done
	// under it (rewrites, scans, index builds), summed to the end of the
	// transaction in a transactional file.
	HoldSeconds float64 `json:"hold_seconds"`
	// QueuedWrites and QueuedReads estimate how many writes (and, under
	// ACCESS EXCLUSIVE, reads) would wait while the locks are held: hold
	// time × the table's write (scan) rate, summed over tables.
	QueuedWrites float64 `json:"queued_writes"`
	QueuedReads  float64 `json:"queued_reads"`
	// XactConflictSeconds is the age of the oldest open transaction when
	// the change takes an ACCESS EXCLUSIVE lock on a pre-existing table with
	// traffic (that transaction's locks make it wait), else 0.
	XactConflictSeconds float64 `json:"xact_conflict_seconds"`
	// QueryRefs is how many of the workload's statements use what Up
	// drops, renames or retypes; DroppedIndexScans how often the indexes
	// it drops were scanned.
	QueryRefs         float64 `json:"query_refs"`
	DroppedIndexScans float64 `json:"dropped_index_scans"`
	// DestroysData is set when Up destroys data of a pre-existing object.
	DestroysData bool `json:"destroys_data"`
	// Imputed is set when there was no live context: the table figures
	// are ImputedTable's, the workload is assumed to use what Up removes.
	Imputed bool `json:"imputed"`
}

// ImputedTable is the table assumed when there is no live context: large
// and busy, so that a change is never judged safer for being unmeasured.
var ImputedTable = TableStats{Exists: true, Rows: 10e6, Bytes: 2 << 30, WritesPerSec: 1000, ScansPerSec: 1000,
	RewriteBytesPerSec: 50e6, ScanBytesPerSec: 300e6}

// Imputed workload figures when there is no live context: a change that
// drops, renames or retypes something is assumed to break this many
// statements; a dropped index is assumed to be scanned this often.
const (
	ImputedQueryRefs         = 10
	ImputedDroppedIndexScans = 1e6
)

// Exposure computes the report's exposure (see Exposure).
func (r *Report) Exposure() Exposure {
	x := Exposure{Imputed: len(r.Context) == 0}
	created := map[string]bool{}
	stats := func(t string) (TableStats, bool) {
		if created[t] {
			return TableStats{}, false
		}
		if x.Imputed {
			st := ImputedTable
			st.Name = t
			return st, true
		}
		st, ok := r.Context[t]
		if !ok || !st.Exists {
			return TableStats{}, false
		}
		if st.RewriteBytesPerSec <= 0 {
			st.RewriteBytesPerSec = ImputedTable.RewriteBytesPerSec
		}
		if st.ScanBytesPerSec <= 0 {
			st.ScanBytesPerSec = ImputedTable.ScanBytesPerSec
		}
		return st, true
	}
	type tableLock struct {
		lock LockMode
		hold float64
	}
	locks := map[string]*tableLock{}
	var order []string
	var txWork float64 // work done so far in the file's transaction
	tx := !r.NoTransaction
	removes := false
	for _, s := range r.Statements {
		if s.Section != SectionUp {
			continue
		}
		work := 0.0
		if st, ok := stats(s.WorkTable); ok && s.WorkTable != "" {
			work = estimateSeconds(st, workOf(s))
		}
		txWork += work
		lock := ParseLockMode(s.Lock)
		for _, t := range s.Relations {
			if _, ok := stats(t); !ok || !isTableStats(r, t) {
				continue
			}
			tl := locks[t]
			if tl == nil {
				tl = &tableLock{}
				locks[t] = tl
				order = append(order, t)
			}
			tl.lock = maxLock(tl.lock, lock)
			if lock.BlocksWrites() {
				tl.hold = math.Max(tl.hold, work)
			}
			if s.Destructive {
				x.DestroysData = true
			}
		}
		if tx {
			// Locks are held to COMMIT: whatever work follows a lock
			// extends its hold.
			for _, tl := range locks {
				if tl.lock.BlocksWrites() {
					tl.hold = math.Max(tl.hold, txWork)
				}
			}
		}
		for _, o := range append(append([]Object(nil), s.Drops...), s.Alters...) {
			if o.Kind == "table" || o.Kind == "column" {
				if _, ok := stats(qualify(o.Schema, o.Table, "public")); ok {
					removes = true
				}
			}
		}
		for _, c := range s.Creates {
			if c.Kind == "table" {
				created[qualify(c.Schema, c.Table, "public")] = true
			}
		}
	}
	for _, t := range order {
		tl := locks[t]
		st, _ := stats(t)
		if !tl.lock.BlocksWrites() {
			continue
		}
		x.HoldSeconds = math.Max(x.HoldSeconds, tl.hold)
		x.QueuedWrites += tl.hold * st.WritesPerSec
		if tl.lock.BlocksReads() {
			x.QueuedReads += tl.hold * st.ScansPerSec
			if r.Live != nil && st.WritesPerSec+st.ScansPerSec > 0 {
				x.XactConflictSeconds = math.Max(x.XactConflictSeconds, r.Live.OldestXactSeconds)
			}
		}
	}
	switch {
	case r.Live != nil && r.Live.WorkloadStats:
		x.QueryRefs = r.Live.WorkloadRefs
	case removes:
		x.QueryRefs = ImputedQueryRefs
	}
	switch {
	case r.Live != nil:
		x.DroppedIndexScans = r.Live.DroppedIndexScans
	case dropsIndex(r):
		x.DroppedIndexScans = ImputedDroppedIndexScans
	}
	return x
}

// workOf is the kind of work a statement does under its lock.
func workOf(s StatementReport) workKind {
	switch {
	case s.Rewrite:
		return workRewrite
	case s.IndexWithoutConcurrently:
		return workIndex
	case s.ScanUnderLock:
		return workScan
	}
	return workNone
}

// isTableStats reports whether rel is a table (not an index the statement
// names): it is one of the report's tables.
func isTableStats(r *Report, rel string) bool {
	for _, t := range r.Tables {
		if t == rel {
			return true
		}
	}
	return false
}

func dropsIndex(r *Report) bool {
	for _, s := range r.Statements {
		if s.Section != SectionUp {
			continue
		}
		for _, d := range s.Drops {
			if d.Kind == "index" {
				return true
			}
		}
	}
	return false
}
