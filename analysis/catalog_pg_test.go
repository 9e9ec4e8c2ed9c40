package analysis

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// TestPGCatalogMillionRows checks the live context on a real table of a
// million rows under write load: size, rows, indexes, write rate, and a
// rewrite estimate that is compared with the real rewrite's duration.
func TestPGCatalogMillionRows(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dsn := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, q := range []string{
		`CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, note text, created_at timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO orders (id, customer_id, note) SELECT g, g % 5000, md5(g::text) FROM generate_series(1, 1000000) g`,
		`CREATE INDEX orders_customer_idx ON orders (customer_id)`,
		`ANALYZE orders`,
		`CREATE TABLE quiet (id bigint)`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	// Write load on orders while the catalog samples.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; loadCtx.Err() == nil; i++ {
			_, _ = pool.Exec(loadCtx, `UPDATE orders SET note = 'x' WHERE id = $1`, i%1000000+1)
		}
	}()
	cat, err := NewPGCatalog(ctx, dsn, WithSampleInterval(1500*time.Millisecond), WithCalibrationRows(100_000))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	m := migration.Migration{Path: "0002_retype.sql", Version: 2, Sections: migration.Sections{HasDown: true, Up: []migration.Statement{{SQL: "ALTER TABLE orders ALTER COLUMN customer_id TYPE numeric(20,0);", Line: 2}}, Down: []migration.Statement{{SQL: "ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint;", Line: 4}}}}
	rep, err := Analyze(ctx, m, WithCatalog(cat))
	stopLoad()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	st, ok := rep.Context["public.orders"]
	if !ok || !st.Exists {
		t.Fatalf("no context for public.orders: %+v", rep.Context)
	}
	if math.Abs(st.Rows-1e6) > 5e4 {
		t.Errorf("rows = %.0f, want about 1,000,000", st.Rows)
	}
	if st.Bytes < 60<<20 {
		t.Errorf("bytes = %d, want > 60 MB for 1M rows with two indexes", st.Bytes)
	}
	if st.Indexes != 2 {
		t.Errorf("indexes = %d, want 2", st.Indexes)
	}
	if st.WritesPerSec <= 0 {
		t.Errorf("writes/s = %v under an update loop, want > 0", st.WritesPerSec)
	}
	if st.RewriteBytesPerSec <= 0 || st.ScanBytesPerSec <= 0 {
		t.Errorf("throughput not calibrated: %+v", st)
	}
	var msg string
	for _, f := range rep.Findings {
		if f.RuleID == "changing-column-type" && f.Section == SectionUp {
			msg = f.Message
		}
	}
	for _, want := range []string{"public.orders:", "MB", "1.0M rows", "to numeric", "est.", "under ACCESS EXCLUSIVE", "writes/s blocked"} {
		if !strings.Contains(msg, want) {
			t.Errorf("changing-column-type message %q lacks %q", msg, want)
		}
	}
	if rep.EstLockSeconds <= 0 {
		t.Fatalf("EstLockSeconds = %v", rep.EstLockSeconds)
	}
	// The estimate must be of the right order: time the real rewrite.
	start := time.Now()
	if _, err := pool.Exec(ctx, m.Up[0].SQL); err != nil {
		t.Fatal(err)
	}
	actual := time.Since(start).Seconds()
	ratio := rep.EstLockSeconds / actual
	t.Logf("estimated %.2fs, actual rewrite %.2fs (ratio %.2f); %s", rep.EstLockSeconds, actual, ratio, msg)
	if ratio < 0.1 || ratio > 10 {
		t.Errorf("estimate %.2fs is not within 10x of the real rewrite %.2fs", rep.EstLockSeconds, actual)
	}
	// An untouched table has no write rate; a missing one does not exist.
	stats, err := cat.TableStats(ctx, []string{"public.quiet", "public.nope"})
	if err != nil {
		t.Fatal(err)
	}
	if !stats["public.quiet"].Exists || stats["public.quiet"].WritesPerSec != 0 {
		t.Errorf("quiet: %+v", stats["public.quiet"])
	}
	if stats["public.nope"].Exists {
		t.Errorf("nope exists: %+v", stats["public.nope"])
	}
}

func TestPGCatalogOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, o := range []CatalogOption{WithSampleInterval(-1), WithCalibrationRows(10), WithThroughput(Throughput{}), WithCatalogLogger(nil)} {
		if _, err := NewPGCatalog(ctx, "postgres://127.0.0.1:1/x", o); err == nil {
			t.Error("invalid option accepted")
		}
	}
	if _, err := NewPGCatalog(ctx, "postgres://127.0.0.1:1/x", WithSampleInterval(0)); err == nil {
		t.Error("connect to a closed port succeeded")
	}
}
