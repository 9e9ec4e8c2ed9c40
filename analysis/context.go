package analysis

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"
)

// addContext asks the Catalog about every touched table, completes the
// findings that asked for it, and estimates how long the strongest lock is
// held. A warning whose lock blocks writes and whose estimate is at least
// EscalateAfter becomes an error.
func (w *walker) addContext(ctx context.Context) error {
	r := w.rep
	want := map[string]bool{}
	for _, t := range r.Tables {
		want[t] = true
	}
	for _, d := range w.decorations {
		want[d.table] = true
	}
	names := make([]string, 0, len(want))
	for t := range want {
		names = append(names, t)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil
	}
	stats, err := w.cfg.catalog.TableStats(ctx, names)
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	r.Context = stats
	for _, d := range w.decorations {
		st, ok := stats[d.table]
		if !ok || !st.Exists {
			continue
		}
		f := &r.Findings[d.finding]
		secs := estimateSeconds(st, d.work)
		f.Message += " (" + contextPhrase(st, d.lock, secs) + ")"
		if f.Severity == SeverityWarning && d.lock.BlocksWrites() && secs >= escalateAfter.Seconds() {
			f.Severity = SeverityError
		}
	}
	for _, s := range r.Statements {
		if s.Section != SectionUp || s.WorkTable == "" {
			continue
		}
		st, ok := stats[s.WorkTable]
		if !ok || !st.Exists {
			continue
		}
		work := workScan
		if s.Rewrite {
			work = workRewrite
		} else if s.IndexWithoutConcurrently {
			work = workIndex
		}
		r.EstLockSeconds = math.Max(r.EstLockSeconds, estimateSeconds(st, work))
	}
	return nil
}

// escalateAfter is the estimated lock duration from which a write-blocking
// warning becomes an error.
const escalateAfter = time.Second

// estimateSeconds estimates how long work on a table of st's size takes on
// this server, from the Catalog's measured throughput (0 when unknown).
func estimateSeconds(st TableStats, work workKind) float64 {
	rate := st.RewriteBytesPerSec
	if work == workScan && st.ScanBytesPerSec > 0 {
		rate = st.ScanBytesPerSec
	}
	if work == workNone || rate <= 0 {
		return 0
	}
	return float64(st.Bytes) / rate
}

// contextPhrase renders e.g. "public.orders: 12 GB, 1.2M rows, est. 3 min
// under ACCESS EXCLUSIVE, 400 writes/s blocked".
func contextPhrase(st TableStats, lock LockMode, secs float64) string {
	s := fmt.Sprintf("%s: %s, %s rows", st.Name, humanBytes(st.Bytes), humanCount(st.Rows))
	if secs > 0 {
		s += fmt.Sprintf(", est. %s under %s", humanDuration(secs), lock.SQLName())
	}
	if lock.BlocksWrites() {
		s += fmt.Sprintf(", %.0f writes/s blocked", st.WritesPerSec)
	}
	if lock.BlocksReads() {
		s += fmt.Sprintf(", %.0f scans/s blocked", st.ScansPerSec)
	}
	return s
}

func humanBytes(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(b)/float64(div), "KMGTPE"[exp])
}

func humanCount(n float64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fG", n/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}

func humanDuration(secs float64) string {
	switch {
	case secs < 1:
		return fmt.Sprintf("%.0f ms", secs*1000)
	case secs < 120:
		return fmt.Sprintf("%.1f s", secs)
	case secs < 7200:
		return fmt.Sprintf("%.0f min", secs/60)
	}
	return fmt.Sprintf("%.1f h", secs/3600)
}
