package lab

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func byID(t *testing.T, ids ...string) []Template {
	t.Helper()
	all := map[string]Template{}
	for _, tp := range Catalog() {
		all[tp.ID] = tp
	}
	var out []Template
	for _, id := range ids {
		tp, ok := all[id]
		if !ok {
			t.Fatalf("no template %s", id)
		}
		out = append(out, tp)
	}
	return out
}

// errorJudge fails a window whose error rate exceeds 5%.
var errorJudge = JudgeFunc(func(_ context.Context, w Window) (Verdict, error) {
	if w.CanaryCalls == 0 || w.BaselineCalls == 0 {
		return Verdict{}, fmt.Errorf("empty window %+v", w)
	}
	if rate := float64(w.CanaryErrors) / float64(w.CanaryCalls); rate > 0.05 {
		return Verdict{Safe: false, Reason: fmt.Sprintf("error rate %.2f", rate)}, nil
	}
	return Verdict{Safe: true, Reason: "ok"}, nil
})

func openTestCatalog(ctx context.Context, dsn string) (analysis.Catalog, func(), error) {
	c, err := analysis.NewPGCatalog(ctx, dsn, analysis.WithSampleInterval(300*time.Millisecond),
		analysis.WithThroughput(analysis.Throughput{RewriteBytesPerSec: 50e6, ScanBytesPerSec: 200e6}))
	if err != nil {
		return nil, nil, err
	}
	return c, c.Close, nil
}

// A small real run: a harmless change passes, one that renames a column the
// load reads makes the load fail, the records carry the raw inputs (SQL,
// catalog context, live context, baseline and per-class latencies) and
// Refeature reproduces the features offline.
func TestRunMeasuresRealOutcomes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := Config{
		Examples: 4, Seed: 3, Sizes: []int64{2000}, ReadRates: []float64{60}, WriteRates: []float64{30}, Lanes: 2,
		LongTxns: []time.Duration{0}, RepeatShare: -1, Templates: byID(t, "add_nullable_column", "rename_used_column"), HeldOutShare: 0.01,
		// GooseApplier stands in for the product's applier, which lives in
		// the rollout (cmd/schemacanary's tests run the real one).
		Arms: []Arm{ArmProduct},
	}
	var progress bytes.Buffer
	r, err := New(cfg, errorJudge, WithCatalog(openTestCatalog), WithProgress(&progress), WithApplier(ArmProduct, GooseApplier{}))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum, err := r.Run(ctx, pgtest.Shared(t).DSN("postgres"), WriterOutput{&out})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Examples != 4 || sum.Repaired != 0 || !sum.Complete {
		t.Fatalf("summary %+v", sum)
	}
	if !strings.Contains(progress.String(), "4/4 100%") {
		t.Errorf("progress bar never reached 4/4: %q", progress.String())
	}
	recs, _, err := readRecords(&out, false)
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
			if ev := rec.Evidence(); ev[model.EvidenceErrors] <= 0 {
				t.Errorf("rename_used_column: evidence %v shows no error rise", ev)
			}
		}
		if rec.Group != rec.Template || rec.Features["risk"] != float64(rec.Risk) || rec.Arm != ArmProduct {
			t.Errorf("record %d: group %q, risk feature %v, risk %d, arm %s", rec.Index, rec.Group, rec.Features["risk"], rec.Risk, rec.Arm)
		}
		if rows := rec.Features[analysis.AuxRows]; rows < 1000 || rows > 5000 {
			t.Errorf("record %d: %s says %.0f rows, table has about 2000", rec.Index, analysis.AuxRows, rows)
		}
		if rec.Outcome.BaselineCalls < 40 || len(rec.Outcome.Classes) != 4 {
			t.Errorf("record %d: %d baseline calls at 90/s, classes %v", rec.Index, rec.Outcome.BaselineCalls, rec.Outcome.Classes)
		}
		if rec.LiveContext == nil || !strings.Contains(rec.Goose, "-- +goose Up") || rec.Version == 0 || len(rec.Context) == 0 {
			t.Errorf("record %d: raw inputs missing: live %v, version %d, context %v, goose %q", rec.Index, rec.LiveContext, rec.Version, rec.Context, rec.Goose)
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

// killAfter is an Output that stops the run (as a kill would) once n
// records are written.
type killAfter struct {
	*Resumable
	n      int
	cancel context.CancelFunc
}

func (k *killAfter) Write(rec *Record) error {
	if err := k.Resumable.Write(rec); err != nil {
		return err
	}
	if k.n--; k.n == 0 {
		k.cancel()
	}
	return nil
}

// A run killed part way leaves its records in the work file; the next run
// with the same plan measures only what is missing (a torn last line is
// dropped), and Finish splits training runs from repeats.
func TestRunResumesAfterAKill(t *testing.T) {
	t.Parallel()
	cfg := Config{
		Examples: 5, Seed: 9, Sizes: []int64{1500}, ReadRates: []float64{60}, WriteRates: []float64{0}, Lanes: 1,
		LongTxns: []time.Duration{0}, RepeatShare: 0.4, Templates: byID(t, "add_nullable_column", "comment_on_table"),
		Baseline: 500 * time.Millisecond, Settle: 200 * time.Millisecond, Warmup: 1,
	}
	path := filepath.Join(t.TempDir(), "lab.jsonl.gz")
	admin := pgtest.Shared(t).DSN("postgres")
	newRunner := func() *Runner {
		r, err := New(cfg, errorJudge, WithApplier(ArmProduct, GooseApplier{}))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := &killAfter{Resumable: NewResumable(path), n: 3, cancel: cancel}
	sum, err := newRunner().Run(ctx, admin, first)
	if err == nil || sum.Complete || sum.Runs != 3 {
		t.Fatalf("killed run: summary %+v, err %v", sum, err)
	}
	first.work.Close()
	// The kill tore the last line.
	wf, err := os.OpenFile(WorkPath(path), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	wf.WriteString(`{"index":4,"arm":"prod`)
	wf.Close()

	out := NewResumable(path)
	sum, err = newRunner().Run(context.Background(), admin, out)
	if err != nil {
		t.Fatal(err)
	}
	planned := 5 + 2 // two repeats
	if sum.Resumed != 3 || sum.Runs != planned-3 || !sum.Complete {
		t.Fatalf("resumed run: summary %+v", sum)
	}
	recs, err := out.Finish(ArmProduct, sum.Complete)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, r := range recs {
		if keys[r.Key()] {
			t.Errorf("run %s measured twice", r.Key())
		}
		keys[r.Key()] = true
	}
	if len(keys) != planned {
		t.Errorf("%d runs, want %d", len(keys), planned)
	}
	train, err := ReadRecords(path)
	if err != nil {
		t.Fatal(err)
	}
	extra, err := ReadRecords(ExtraPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(train) != 5 || len(extra) != 2 || extra[0].Repeat != 1 {
		t.Errorf("training %d records, extra %d (%+v)", len(train), len(extra), extra)
	}
	if _, err := os.Stat(WorkPath(path)); !os.IsNotExist(err) {
		t.Errorf("work file left after a complete run: %v", err)
	}
	if n := LabelNoise(recs); n.Pairs != 2 {
		t.Errorf("label noise over %d pairs, want 2", n.Pairs)
	}
}

// Another plan cannot resume a work file.
func TestResumableRefusesAnotherPlan(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lab.jsonl")
	o := NewResumable(path)
	if _, err := o.Begin("aaaa"); err != nil {
		t.Fatal(err)
	}
	if err := o.Write(&Record{Index: 1, Arm: ArmProduct}); err != nil {
		t.Fatal(err)
	}
	o.work.Close()
	if _, err := NewResumable(path).Begin("bbbb"); err == nil || !strings.Contains(err.Error(), "another plan") {
		t.Fatalf("err = %v, want ErrPlanChanged", err)
	}
	done, err := NewResumable(path).Begin("aaaa")
	if err != nil || !done["1/product/0"] {
		t.Fatalf("done %v, err %v", done, err)
	}
}

// A template database is built once per size and reused; lanes get clones
// with the same rows and shape, and a clone's changes stay in the clone.
func TestTemplateDatabaseIsClonedNotRebuilt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := newServer(pgtest.Shared(t).DSN("postgres"), discard())
	if err != nil {
		t.Fatal(err)
	}
	const rows = 2500
	t.Cleanup(func() {
		srv.drop(context.Background(), laneDatabase(7, rows))
		srv.drop(context.Background(), TemplateDatabase(rows))
	})
	built, err := srv.prepareTemplate(ctx, rows)
	if err != nil || !built {
		t.Fatalf("first prepare: built %v, err %v", built, err)
	}
	built, err = srv.prepareTemplate(ctx, rows)
	if err != nil || built {
		t.Fatalf("second prepare: built %v (want reused), err %v", built, err)
	}
	clone, err := srv.openTableDB(ctx, 7, rows)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := clone.db.QueryRow(ctx, "SELECT count(*) FROM "+clone.table()).Scan(&n); err != nil || n != rows {
		t.Fatalf("clone has %d rows (err %v), want %d", n, err, rows)
	}
	if _, err := clone.db.Exec(ctx, "ALTER TABLE "+clone.table()+" DROP COLUMN note"); err != nil {
		t.Fatal(err)
	}
	clone.close()
	var tplShape string
	err = srv.withDB(ctx, TemplateDatabase(rows), func(db *pgxpool.Pool) error {
		var err error
		tplShape, err = fingerprint(ctx, db, TableName(rows))
		return err
	})
	if err != nil || !strings.Contains(tplShape, "c:note:") {
		t.Fatalf("template changed with its clone: %q %v", tplShape, err)
	}
	again, err := srv.openTableDB(ctx, 7, rows)
	if err != nil {
		t.Fatal(err)
	}
	defer again.close()
	if again.shape != tplShape {
		t.Errorf("a fresh clone differs from its template:\n%s\n%s", again.shape, tplShape)
	}
}

// The live context sees which columns and indexes the running queries use,
// so a rename of a used column differs from one of an unused column.
func TestLiveContextSeesWhatTheLoadUses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	db := labPool(t, dsn)
	if err := createCustomers(ctx, db, Customers); err != nil {
		t.Fatal(err)
	}
	if err := createTable(ctx, db, 3000); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "CREATE EXTENSION hypopg"); err != nil {
		t.Fatalf("hypopg (Debian package postgresql-15-hypopg): %v", err)
	}
	conn, err := pgx.Connect(ctx, dsn)
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
		var live *analysis.LiveContext
		// Index statistics reach the shared view asynchronously.
		for try := 0; try < 20; try++ {
			if live, err = measureLive(ctx, dsn+"&pg_stat_statements.track=none", analysisMigration("t", []string{tc.sql}, nil, false, 0), slog.Default()); err != nil {
				t.Fatal(err)
			}
			if !tc.scans || live.DroppedIndexScans > 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got := live.WorkloadRefs > 0; got != tc.refs {
			t.Errorf("%s: workload refs %v, want > 0: %v", tc.sql, live.WorkloadRefs, tc.refs)
		}
		if got := live.DroppedIndexScans > 0; got != tc.scans {
			t.Errorf("%s: dropped index scans %v, want > 0: %v", tc.sql, live.DroppedIndexScans, tc.scans)
		}
		// The product's plan check ran: dropping the index the load's
		// lookup by customer uses makes that lookup costlier (a sequential
		// scan of 3,000 rows: dearer, below the 10x of a regression).
		var rise bool
		for _, pc := range live.PlanChanges {
			rise = rise || (pc.Ratio > 1 && strings.Contains(pc.NodesAfter, "Seq Scan"))
		}
		if live.PlanCheck == analysis.CheckNotRun || rise != tc.scans {
			t.Errorf("%s: plan check %s (%s), costlier plan %v, want %v: %+v", tc.sql, live.PlanCheck, live.PlanNote, rise, tc.scans, live.PlanChanges)
		}
	}
}

// labPool connects to dsn like the lab does (untracked by
// pg_stat_statements).
func labPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if pc.ConnConfig.RuntimeParams == nil {
		pc.ConnConfig.RuntimeParams = map[string]string{}
	}
	for k, v := range untrackedParams {
		pc.ConnConfig.RuntimeParams[k] = v
	}
	db, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Check runs the gate's database checks on each record's database as its
// trial prepared it, and the records' gate is the product's: a SET NOT
// NULL on a column with NULLs fails its data check, renaming a column the
// load reads breaks the workload's statements (from the stored live
// context), a harmless change passes its dry run. The records of one
// template and size share one run of the checks. A second Check has
// nothing left to do.
func TestCheckGatesLikeTheProduct(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := Config{
		Examples: 6, Seed: 5, Sizes: []int64{3000}, ReadRates: []float64{60}, WriteRates: []float64{30}, Lanes: 2,
		LongTxns: []time.Duration{0}, RepeatShare: -1, HeldOutShare: 0.01, Arms: []Arm{ArmProduct},
		Templates: byID(t, "add_nullable_column", "set_not_null_with_nulls", "rename_used_column"),
	}
	r, err := New(cfg, errorJudge, WithCatalog(openTestCatalog), WithApplier(ArmProduct, GooseApplier{}))
	if err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.Shared(t).DSN("postgres")
	var out bytes.Buffer
	if _, err := r.Run(ctx, dsn, WriterOutput{&out}); err != nil {
		t.Fatal(err)
	}
	recs, _, err := readRecords(&out, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Checks != nil || rec.GateFailed() && rec.Template != "rename_used_column" {
			t.Fatalf("%s: gated before its checks ran: %+v %v", rec.Template, rec.Checks, rec.Gate)
		}
	}
	var saved []string
	sum, err := r.Check(ctx, dsn, recs, func(rec *Record) error { saved = append(saved, rec.Key()); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Checked != len(recs) || len(saved) != len(recs) {
		t.Fatalf("checked %d, saved %d of %d records", sum.Checked, len(saved), len(recs))
	}
	// One table size: the records of a template share one run.
	seen := map[string]bool{}
	shared := map[string]*Checks{}
	for _, rec := range recs {
		seen[rec.Template] = true
		if c, ok := shared[rec.Template]; ok && c != rec.Checks {
			t.Errorf("%s: records of one template and size ran their checks apart", rec.Template)
		}
		shared[rec.Template] = rec.Checks
		var gates []string
		for _, a := range rec.Gate {
			gates = append(gates, a.Feature)
		}
		c := rec.Checks
		switch rec.Template {
		case "add_nullable_column":
			if c.DryRun != analysis.CheckPassed || rec.GateFailed() || !rec.Safe {
				t.Errorf("add_nullable_column: dry run %s, gate %v, safe %v", c.DryRun, gates, rec.Safe)
			}
		case "set_not_null_with_nulls":
			if len(c.DataChecks) == 0 || c.DataChecks[0].Outcome != analysis.CheckFailed || !rec.GateFailed() || rec.Safe {
				t.Errorf("set_not_null_with_nulls: data checks %+v, gate %v, safe %v", c.DataChecks, gates, rec.Safe)
			}
		case "rename_used_column":
			if !rec.GateFailed() || !strings.Contains(strings.Join(gates, " "), "gate:breaks-workload-queries") {
				t.Errorf("rename_used_column: gate %v", gates)
			}
		}
	}
	if len(seen) != 3 || len(recs) <= len(seen) || sum.Ran != len(seen) {
		t.Fatalf("the plan ran only %v in %d records; the checks ran %d times", seen, len(recs), sum.Ran)
	}
	// A record resumed with its checks lends them to its group.
	for i := range recs {
		if recs[i].Template == "set_not_null_with_nulls" {
			recs[i].Checks = nil
			break
		}
	}
	lent, err := r.Check(ctx, dsn, recs, func(*Record) error { return nil })
	if err != nil || lent.Checked != 1 || lent.Ran != 0 {
		t.Fatalf("resumed check: %+v %v", lent, err)
	}
	for _, rec := range recs {
		if rec.Template == "set_not_null_with_nulls" && (rec.Checks != shared[rec.Template] || !rec.GateFailed()) {
			t.Errorf("set_not_null_with_nulls: resumed record did not take its group's checks: %+v", rec.Checks)
		}
	}
	again, err := r.Check(ctx, dsn, recs, func(*Record) error { t.Error("checked twice"); return nil })
	if err != nil || again.Checked != 0 {
		t.Fatalf("second check: %+v %v", again, err)
	}
}
