package reconciler

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
)

// BenchmarkPolls10k runs 10,000 reconcile passes against real Postgres (the
// control store) and fake boundaries, with 20 merged changes in history and
// open proposals that come and go, and reports the live heap after 1,000 and
// after 10,000 polls: the daemon's memory must not grow with polls or
// history. One op is 10,000 polls.
func BenchmarkPolls10k(b *testing.B) {
	w := newFakeWorld(b)
	for v := 1; v <= 20; v++ {
		w.src.merge(b, fmt.Sprintf("migrations/%05d_t%d.sql", v, v), migrationtest.Source(2, fmt.Sprintf("CREATE TABLE t%d (id int);", v), fmt.Sprintf("DROP TABLE t%d;", v)))
	}
	ctx := context.Background()
	heap := func() float64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapAlloc)
	}
	var h1k, h10k float64
	for b.Loop() {
		for i := 0; i < 10000; i++ {
			// A different open PR every 50 polls: the sticky-comment cache
			// must forget closed ones.
			pr := 100 + i/50
			m, err := migration.ParseMigration(fmt.Sprintf("migrations/%05d_p.sql", pr), []byte(migrationtest.Source(3, "SELECT 1;", "SELECT 1;")))
			if err != nil {
				b.Fatal(err)
			}
			w.src.mu.Lock()
			w.src.props = []Proposal{{PR: pr, Ref: fmt.Sprintf("refs/pull/%d/head", pr), Migrations: []*migration.Migration{m}}}
			w.src.mu.Unlock()
			if _, err := w.rec.Reconcile(ctx); err != nil {
				b.Fatal(err)
			}
			switch i + 1 {
			case 1000:
				h1k = heap()
			case 10000:
				h10k = heap()
			}
		}
	}
	b.ReportMetric(h1k/1024, "heap-KiB@1k")
	b.ReportMetric(h10k/1024, "heap-KiB@10k")
	b.ReportMetric((h10k-h1k)/1024, "growth-KiB")
}
