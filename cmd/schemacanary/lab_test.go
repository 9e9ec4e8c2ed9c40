package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/rollout/judge"

	"github.com/schemacanary/schemacanary/analysis/lab"
	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/rollout"
)

// Behind a transaction that stays open 4 s after the migration starts, the
// product arm (rollout's lock-safe applier, wired as `schemacanary lab`
// wires it) waits without queueing and the load never stalls: judged
// safe. Plain goose queues its ACCESS EXCLUSIVE lock behind the
// transaction, every statement of the load queues behind it: judged
// unsafe. Same configurations, same judge.
//
// The mechanism is asserted on every pair (the product arm waits and its
// worst statement stays far below the stall goose causes); the verdict on
// at least one, because a loaded CI host can stall every statement of the
// load for a few hundred milliseconds (CPU, not locks: no lock wait is
// seen), which the judge rightly calls worse than the quiet baseline.
func TestLabProductArmDoesNotStallBehindLongTransaction(t *testing.T) {
	t.Parallel()
	judge, err := judge.NewJudge(judge.JudgeConfig{Tolerances: map[string]float64{"latency": 1}, AbsFloors: map[string]float64{"latency": 2}})
	if err != nil {
		t.Fatal(err)
	}
	applier, err := rollout.NewApplier(rollout.CanaryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := lab.Config{
		Examples: 2, Seed: 1, Sizes: []int64{10_000}, ReadRates: []float64{100}, WriteRates: []float64{50},
		LongTxns: []time.Duration{4 * time.Second}, Arms: []lab.Arm{lab.ArmProduct, lab.ArmGoose}, SecondArmShare: 1,
		RepeatShare: -1, Lanes: 1, Templates: catalogTemplates("add_nullable_column"), HeldOutShare: 0.01,
	}
	r, err := lab.New(cfg, rolloutJudge{judge}, lab.WithApplier(lab.ArmProduct, rolloutApplier{applier}))
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := measureLab(t, r, filepath.Join(t.TempDir(), "lab.jsonl"))
	if len(recs) != 4 {
		t.Fatalf("%d records, want 2 configurations x 2 arms", len(recs))
	}
	productSafe := 0
	for _, rec := range recs {
		o := rec.Outcome
		t.Logf("%s %s: safe %v, waited %.0f ms, apply %.0f ms, canary p99 %.0f ms max %.0f ms: %s",
			rec.Key(), rec.Arm, rec.Safe, o.WaitMS, o.ApplyMS, o.CanaryP99, o.CanaryMax, o.Verdict.Reason)
		switch rec.Arm {
		case lab.ArmProduct:
			if rec.Safe {
				productSafe++
			}
			if o.WaitMS < 2000 || o.CanaryMax > 1500 || o.ApplyError != "" {
				t.Errorf("product arm: waited %.0f ms, canary max %.0f ms, error %q: want it to wait, then apply without stalling the load",
					o.WaitMS, o.CanaryMax, o.ApplyError)
			}
		case lab.ArmGoose:
			if rec.Safe || o.CanaryMax < 2500 || o.WaitMS != 0 {
				t.Errorf("goose arm: safe %v, canary max %.0f ms, waited %.0f ms: want the load stalled behind the queued lock",
					rec.Safe, o.CanaryMax, o.WaitMS)
			}
		}
	}
	if productSafe == 0 {
		t.Errorf("the product arm was judged unsafe in every pair")
	}
	c := lab.CompareArms(recs)
	if c.Pairs != 2 || c.OnlyProductSafe != productSafe || c.BothUnsafe != 2-productSafe || c.LongTxnFlipped != productSafe {
		t.Errorf("arm comparison %+v", c)
	}
}

// The product arm applies a change with the plan the reconciler makes
// (reconciler.PlanChange), so a CREATE INDEX CONCURRENTLY that times out
// behind a long transaction is cleaned up and retried, as on a canary.
// When the lab built its own plan it left out the indexes the change
// creates, the INVALID index stayed, and the retry failed with "already
// exists": 20 trials of the 2026-12-06 lab run were labeled unsafe that way.
func TestLabProductArmRetriesAConcurrentIndexBehindALongTransaction(t *testing.T) {
	t.Parallel()
	j, err := newLabJudge(1, -1)
	if err != nil {
		t.Fatal(err)
	}
	applier, err := rollout.NewApplier(rollout.CanaryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := lab.Config{
		// A table size no other test uses: tests running in parallel on
		// the shared cluster would build the same template database.
		Examples: 1, Seed: 1, Sizes: []int64{12_000}, ReadRates: []float64{100}, WriteRates: []float64{50},
		LongTxns: []time.Duration{2 * time.Second}, Arms: []lab.Arm{lab.ArmProduct},
		RepeatShare: -1, Lanes: 1, Templates: catalogTemplates("create_unique_index_concurrently"), HeldOutShare: 0.01,
	}
	// The build waits for transactions that wrote to the table (an idle
	// reader holds no snapshot under READ COMMITTED): take the first seed
	// whose trial's transaction writes.
	writes := func(cfg lab.Config) bool {
		trials, err := lab.Plan(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return len(trials) == 1 && trials[0].LongTxnWrite
	}
	for ; !writes(cfg); cfg.Seed++ {
		if cfg.Seed == 100 {
			t.Fatal("no seed up to 100 plans a writing transaction")
		}
	}
	r, err := lab.New(cfg, j, lab.WithApplier(lab.ArmProduct, rolloutApplier{applier}))
	if err != nil {
		t.Fatal(err)
	}
	recs, sum := measureLab(t, r, filepath.Join(t.TempDir(), "lab.jsonl"))
	if len(recs) != 1 {
		t.Fatalf("%d records (%d runs failed), want 1", len(recs), sum.Failed)
	}
	o := recs[0].Outcome
	t.Logf("attempts %d, waited %.0f ms, apply %.0f ms: %s", o.Attempts, o.WaitMS, o.ApplyMS, o.Verdict.Reason)
	if o.ApplyError != "" || o.Attempts < 2 {
		t.Errorf("attempts %d, apply error %q: want the build to time out behind the transaction, be cleaned up and succeed on a retry",
			o.Attempts, o.ApplyError)
	}
}

// `lab --checks` resumes: records already checked in the work file of an
// interrupted run (whose last line a kill tore) keep their checks, the others are checked on their
// databases, the dataset is written with every record checked and the
// work file is removed.
func TestLabChecksResumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := lab.Config{
		Examples: 2, Seed: 2, Sizes: []int64{2000}, ReadRates: []float64{50}, WriteRates: []float64{10},
		LongTxns: []time.Duration{0}, Arms: []lab.Arm{lab.ArmProduct}, RepeatShare: -1, Lanes: 1,
		Templates: catalogTemplates("add_nullable_column", "set_not_null_with_nulls"), HeldOutShare: 0.01,
	}
	j, err := judge.NewJudge(judge.JudgeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := lab.New(cfg, rolloutJudge{j}, lab.WithApplier(lab.ArmProduct, lab.GooseApplier{}))
	if err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.Shared(t).DSN("postgres")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "lab.jsonl"), filepath.Join(dir, "checked.jsonl")
	recs, _ := measureLab(t, r, in)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	// An interrupted run checked the first record already.
	done := recs[0]
	done.Checks = &lab.Checks{DryRun: "passed", Seconds: 42}
	fh, err := os.Create(out + ".checks.partial")
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.WriteRecords(fh, []lab.Record{done}); err != nil {
		t.Fatal(err)
	}
	fh.WriteString(`{"index": 1, "arm": "prod`) // the kill tore the next line
	fh.Close()

	var report strings.Builder
	if err := labChecks(ctx, &report, r, dsn, in, out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(report.String(), "2 records, 1 checked now") {
		t.Errorf("report %q", report.String())
	}
	got, err := lab.ReadRecords(out)
	if err != nil || len(got) != 2 {
		t.Fatalf("%d records, %v", len(got), err)
	}
	for _, rec := range got {
		switch {
		case rec.Checks == nil:
			t.Errorf("%s: not checked", rec.Key())
		case rec.Key() == done.Key() && rec.Checks.Seconds != 42:
			t.Errorf("%s: checked again (%+v), want the work file's checks", rec.Key(), rec.Checks)
		case rec.Key() != done.Key() && rec.Checks.DryRun != "passed":
			t.Errorf("%s: dry run %q", rec.Key(), rec.Checks.DryRun)
		}
	}
	if _, err := os.Stat(out + ".checks.partial"); !os.IsNotExist(err) {
		t.Errorf("work file left behind: %v", err)
	}
}

// The lab's judge counts a stall and not a few slow samples: without a
// control group a tail test against the canary's own baseline fails on the
// machine's scheduling noise, so it is off unless --tail-tolerance turns
// it on (a flag that, left at the product's default, judges the same
// window unsafe).
func TestLabJudgeCountsStallsNotTails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	around := func(n int, ms float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = ms * (0.9 + 0.2*float64(i%10)/9) // 0.9x .. 1.1x
		}
		return v
	}
	window := func(canary []float64) lab.Window {
		return lab.Window{
			Baseline: map[string][]float64{"by_id": around(400, 1)}, Canary: map[string][]float64{"by_id": canary},
			BaselineCalls: 400, CanaryCalls: len(canary),
			BaselineStart: 1_000, BaselineEnd: 3_000, CanaryStart: 3_000, CanaryEnd: 4_000,
		}
	}
	tail := append(around(180, 1), around(20, 12)...) // 10% of the canary 12x slower, median unchanged
	stall := around(200, 3.5)                         // every statement 3.5x slower
	cases := []struct {
		name          string
		tailTolerance float64
		w             lab.Window
		safe          bool
	}{
		{"tail, lab default", -1, window(tail), true},
		{"tail, product's tail test", 0.01, window(tail), false},
		{"stall, lab default", -1, window(stall), false},
		{"unchanged, product's tail test", 0.01, window(around(200, 1)), true},
	}
	for _, c := range cases {
		j, err := newLabJudge(1, c.tailTolerance)
		if err != nil {
			t.Fatal(err)
		}
		v, err := j.Judge(ctx, c.w)
		if err != nil {
			t.Fatal(err)
		}
		if v.Safe != c.safe {
			t.Errorf("%s: safe %v (%s), want %v", c.name, v.Safe, v.Reason, c.safe)
		}
	}
	if _, err := newLabJudge(1, 1.5); err == nil {
		t.Error("a tail tolerance of 1.5 was accepted")
	}
}

// The method that goes into the plan's fingerprint is the judge's and the
// applier's effective settings: another tail tolerance or lock_timeout is
// another method, the same flags the same one.
func TestLabMethodFollowsTheSettings(t *testing.T) {
	t.Parallel()
	method := func(tail float64, lock time.Duration) string {
		j, err := newLabJudge(1, tail)
		if err != nil {
			t.Fatal(err)
		}
		m, err := labMethod(j, rollout.CanaryConfig{LockTimeout: lock})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	base := method(-1, 100*time.Millisecond)
	if base != method(-1, 100*time.Millisecond) {
		t.Error("the same settings, two methods")
	}
	if base == method(0.01, 100*time.Millisecond) {
		t.Error("the tail test on, the same method")
	}
	if base == method(-1, 200*time.Millisecond) {
		t.Error("another lock_timeout, the same method")
	}
	if !strings.Contains(base, `"Retries":30`) {
		t.Errorf("the applier's defaults are not in the method: %s", base)
	}
}

// catalogTemplates returns the lab's templates with the given ids.
func catalogTemplates(ids ...string) []lab.Template {
	var tpl []lab.Template
	for _, tp := range lab.Catalog() {
		if slices.Contains(ids, tp.ID) {
			tpl = append(tpl, tp)
		}
	}
	return tpl
}

// measureLab runs r on the shared cluster with the resumable output of path,
// and returns the finished records (the product arm's are the training
// ones) and the run's summary.
func measureLab(t *testing.T, r *lab.Runner, path string) ([]lab.Record, lab.Summary) {
	t.Helper()
	out := lab.NewResumable(path)
	sum, err := r.Run(context.Background(), pgtest.Shared(t).DSN("postgres"), out)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := out.Finish(lab.ArmProduct, sum.Complete)
	if err != nil {
		t.Fatal(err)
	}
	return recs, sum
}
