package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// mustFail are templates whose Up fails by design on the lab's data.
var mustFail = map[string]bool{"add_not_null_column_no_default": true, "set_not_null_with_nulls": true, "add_check_violated": true}

// Every template applies on a real table (or fails exactly when it is meant
// to) and its Down restores the table's shape, so tables can be reused.
func TestTemplatesApplyAndRevert(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := labPool(t)
	if err := createCustomers(ctx, db); err != nil {
		t.Fatal(err)
	}
	const rows = 3000
	if err := createTable(ctx, db, rows); err != nil {
		t.Fatal(err)
	}
	table := TableName(rows)
	want, err := fingerprint(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range Templates() {
		up, down := tp.Render(table)
		err := apply(ctx, db, up, tp.NoTransaction, 30*time.Second)
		switch {
		case mustFail[tp.ID] && err == nil:
			t.Errorf("%s: Up succeeded, want it to fail on the lab's data", tp.ID)
		case !mustFail[tp.ID] && err != nil:
			t.Errorf("%s: Up: %v", tp.ID, err)
		}
		for _, s := range down {
			if _, err := db.Exec(ctx, s); err != nil && !mustFail[tp.ID] {
				t.Errorf("%s: Down %q: %v", tp.ID, s, err)
			}
		}
		got, err := fingerprint(ctx, db, table)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%s: Down did not restore %s:\nwant %s\ngot  %s", tp.ID, table, want, got)
		}
	}
}

// A small real run: a harmless change passes, one that renames a column the
// load reads makes the load fail, the records carry the analysis features
// and live context, and Refeature reproduces the features offline.
func TestRunMeasuresRealOutcomes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	byID := map[string]Template{}
	for _, tp := range Templates() {
		byID[tp.ID] = tp
	}
	cfg := Config{
		Examples: 4, Seed: 3, Sizes: []int64{2000}, Rates: []float64{80}, Lanes: 2, LongTxnShare: -1,
		Templates: []Template{byID["add_nullable_column"], byID["rename_used_column"]}, HeldOutShare: 0.01,
	}
	judge := JudgeFunc(func(_ context.Context, w Window) (Verdict, error) {
		if w.CanaryCalls == 0 || w.BaselineCalls == 0 {
			return Verdict{}, fmt.Errorf("empty window %+v", w)
		}
		if rate := float64(w.CanaryErrors) / float64(w.CanaryCalls); rate > 0.05 {
			return Verdict{Safe: false, Reason: fmt.Sprintf("error rate %.2f", rate)}, nil
		}
		return Verdict{Safe: true, Reason: "ok"}, nil
	})
	openCat := func(ctx context.Context, dsn string) (analysis.Catalog, func(), error) {
		c, err := analysis.NewPGCatalog(ctx, dsn, analysis.WithSampleInterval(300*time.Millisecond),
			analysis.WithThroughput(analysis.Throughput{RewriteBytesPerSec: 50e6, ScanBytesPerSec: 200e6}))
		if err != nil {
			return nil, nil, err
		}
		return c, c.Close, nil
	}
	var progress bytes.Buffer
	r, err := New(cfg, judge, WithCatalog(openCat), WithProgress(&progress))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum, err := r.Run(ctx, pgtest.Shared(t).DSN("postgres"), &out)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Examples != 4 || sum.Repaired != 0 {
		t.Fatalf("summary %+v", sum)
	}
	if !strings.Contains(progress.String(), "4/4 100%") {
		t.Errorf("progress bar never reached 4/4: %q", progress.String())
	}
	path := t.TempDir() + "/lab.jsonl"
	if err := writeFile(path, out.Bytes()); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadRecords(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		switch rec.Template {
		case "add_nullable_column":
			if !rec.Safe || rec.Outcome.CanaryErrors != 0 {
				t.Errorf("add_nullable_column: safe=%v errors=%d (%s)", rec.Safe, rec.Outcome.CanaryErrors, rec.Outcome.Verdict.Reason)
			}
		case "rename_used_column":
			if rec.Safe || rec.Outcome.CanaryErrors == 0 {
				t.Errorf("rename_used_column: safe=%v errors=%d, want the load to fail", rec.Safe, rec.Outcome.CanaryErrors)
			}
		}
		if rec.Group != rec.Template || rec.Features["risk"] != float64(rec.Risk) {
			t.Errorf("record %d: group %q, risk feature %v, risk %d", rec.Index, rec.Group, rec.Features["risk"], rec.Risk)
		}
		if rows := rec.Features[analysis.AuxRows]; rows < 1000 || rows > 5000 {
			t.Errorf("record %d: %s says %.0f rows, table has about 2000", rec.Index, analysis.AuxRows, rows)
		}
		if rec.Outcome.BaselineCalls < 20 {
			t.Errorf("record %d: only %d baseline calls at 80/s", rec.Index, rec.Outcome.BaselineCalls)
		}
		if _, ok := rec.Features[analysis.FeatureOldestXactSeconds]; !ok {
			t.Errorf("record %d: no %s", rec.Index, analysis.FeatureOldestXactSeconds)
		}
	}
	again := append([]Record(nil), recs...)
	for i := range again {
		again[i].Features = nil
	}
	if err := Refeature(ctx, again); err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if !reflect.DeepEqual(recs[i].Features, again[i].Features) {
			t.Errorf("record %d: Refeature gave other features:\n%v\n%v", i, recs[i].Features, again[i].Features)
		}
	}
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }

// The workload features see which columns and indexes the running queries
// use, so a rename of a used column differs from one of an unused column.
func TestLiveFeaturesSeeWhatTheLoadUses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := labPool(t)
	if err := createCustomers(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := createTable(ctx, db, 3000); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, db.Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if _, err := conn.Exec(ctx, "SELECT id, status FROM orders_3k WHERE id = $1", i); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "SELECT count(*) FROM orders_3k WHERE customer_id = $1", i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT pg_stat_force_next_flush()"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil { // a transaction end flushes the forced stats
		t.Fatal(err)
	}
	conn.Close(ctx)
	for _, tc := range []struct {
		sql         string
		refs, scans bool
	}{
		{"ALTER TABLE orders_3k RENAME COLUMN status TO state", true, false},
		{"ALTER TABLE orders_3k RENAME COLUMN note TO memo", false, false},
		{"ALTER TABLE orders_3k ALTER COLUMN status TYPE text", true, false},
		{"ALTER TABLE orders_3k DROP COLUMN qty", false, false},
		{"ALTER TABLE orders_3k RENAME TO orders_old", true, false},
		{"DROP INDEX orders_3k_customer_idx", false, true},
		{"DROP INDEX orders_3k_created_idx", false, false},
		{"CREATE INDEX ON orders_3k (status)", false, false},
	} {
		var f map[string]float64
		// Index statistics reach the shared view asynchronously.
		for try := 0; try < 20; try++ {
			if f, err = liveFeatures(ctx, db, []string{tc.sql}); err != nil {
				t.Fatal(err)
			}
			if !tc.scans || f[analysis.FeatureDroppedIndexScans] > 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got := f[analysis.FeatureWorkloadRefs] > 0; got != tc.refs {
			t.Errorf("%s: workload refs %v, want > 0: %v", tc.sql, f[analysis.FeatureWorkloadRefs], tc.refs)
		}
		if got := f[analysis.FeatureDroppedIndexScans] > 0; got != tc.scans {
			t.Errorf("%s: dropped index scans %v, want > 0: %v", tc.sql, f[analysis.FeatureDroppedIndexScans], tc.scans)
		}
	}
}

// labPool connects to a fresh database like a lane does (untracked by
// pg_stat_statements).
func labPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pc, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	untracked(pc)
	db, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}
