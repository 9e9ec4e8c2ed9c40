package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/rollout"

	"github.com/schemacanary/schemacanary/rollout/judge"

	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/lab"
	"github.com/schemacanary/schemacanary/internal/pgtest"
)

type labFlags struct {
	out, dsn, refeature, arm    string
	checks                      string
	corpus, corpusProjects      string
	seed                        uint64
	examples, lanes             int
	secondArmShare, repeatShare float64
	corpusShare                 float64
	applyTimeout, budget        time.Duration
	lockTimeout                 time.Duration
	latencyTolerance            float64
	tailTolerance               float64
}

func newLabCmd(g *globalFlags) *cobra.Command {
	var f labFlags
	cmd := &cobra.Command{
		Use:   "lab --out FILE [--seed N] [--examples N] [--arm product|goose|both] [--corpus DIR]",
		Short: "Build the labeled training dataset by applying migrations to a scratch PostgreSQL under load",
		Long: `lab measures what schema changes really do. It starts a scratch PostgreSQL
cluster (or uses --dsn), builds one template database per table size (empty
to 10M rows, reused by later runs on the same server) and clones it for each
lane; with --corpus it also replays third-party goose files on a schema
built from their project's own history. For each planned configuration (a
template from a catalog of more than 160 — hand-written and composed
multi-statement files — or a corpus file, crossed with a table size, read
and write rates up to 2,000 writes/s, and an open transaction of 0/1/5/30 s
in front of the DDL) it:

  1. runs an open-loop load on the table and measures a baseline,
  2. analyzes the migration with live catalog context and measures the live
     context (oldest transaction, workload use of what the change removes),
  3. draws the risk label an author would have written,
  4. applies the migration through an arm: "product" is the rollout's
     lock-safe applier (waits without queueing behind old transactions,
     lock_timeout, retries), "goose" is plain goose,
  5. asks rollout's judge whether the canary would have been rolled back
     (a migration that errors is unsafe); the canary is compared with its
     own baseline only, so latency must double (--latency-tolerance) and
     the tail test is off unless --tail-tolerance turns it on,
  6. reverts it (through the same applier) so the table is reused.

FILE holds the training data: the first arm's first run of each
configuration, one JSON record per line (gzip when it ends in .gz) that
"schemacanary train" reads directly. The other runs (--arm both: the goose
arm on --second-arm-share of the configurations; repeats of
--repeat-share of them, which measure label noise) go to FILE with -extra
before the extension. Records are written as they are measured to
FILE.partial: a killed run started again with the same flags continues
from there. docs/lab-datasheet.md describes every column.

--checks FILE runs, for each record of an existing dataset, the gate's
checks that need a database (the dry run of Up on a schema-only copy and
the data checks on the rows, through the product's analysis target, as the
daemon runs them before a canary) on the run's database prepared as its
trial prepared it, without load, and writes the dataset with them to
--out. The checks depend only on the file and the database, so the records
of one template on one table size share one run of them. Give it the flags
that measured the dataset (the plan must be the same). It resumes from
--out's .checks.partial file. Training applies the gate to every
prediction, as the product does (docs/model.md).

--refeature FILE skips measuring: it recomputes the features of an existing
dataset from the SQL, catalog context and live values stored in it.`,
		Example: `  schemacanary lab --out analysis/model/lab.jsonl.gz --seed 1 --arm both --corpus ../shared/corpus/goose
  schemacanary lab --out /tmp/small.jsonl --examples 60 --lanes 1 --budget 5m
  schemacanary lab --checks analysis/model/lab.jsonl.gz --out analysis/model/lab.jsonl.gz --seed 1 --corpus ../shared/corpus/goose
  schemacanary lab --refeature analysis/model/lab.jsonl.gz --out analysis/model/lab.jsonl.gz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runLab(cmd, g, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.out, "out", "", "dataset file to write (.jsonl or .jsonl.gz); required")
	fl.StringVar(&f.dsn, "dsn", "", "superuser DSN of a scratch server to use instead of starting one (databases lab_* are dropped and recreated; labtpl_* are reused)")
	fl.StringVar(&f.refeature, "refeature", "", "recompute the features of this dataset instead of measuring")
	fl.StringVar(&f.checks, "checks", "", "run the gate's database checks (dry run, data checks) for the records of this dataset instead of measuring")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the configuration and label draws")
	fl.IntVar(&f.examples, "examples", 2000, "number of configurations (training examples) to plan")
	fl.DurationVar(&f.budget, "budget", 0, "stop starting trials after this long (0: run them all); a later run resumes")
	fl.IntVar(&f.lanes, "lanes", 3, "trials run in parallel, each on its own databases")
	fl.StringVar(&f.arm, "arm", "product", "how migrations are applied: product (the rollout's lock-safe applier), goose (plain goose), or both (product is the training data)")
	fl.Float64Var(&f.secondArmShare, "second-arm-share", 0.15, "with --arm both, the share of configurations also run on the goose arm")
	fl.Float64Var(&f.repeatShare, "repeat-share", 0.11, "share of configurations run twice to measure label noise (0: none)")
	fl.StringVar(&f.corpus, "corpus", "", "folder of goose projects to replay (../shared/corpus/goose); empty: none")
	fl.StringVar(&f.corpusProjects, "corpus-projects", "scroll-tech__scroll,ethpandaops__dora,smartcontractkit__chainlink", "comma-separated project folders under --corpus")
	fl.Float64Var(&f.corpusShare, "corpus-share", 0.2, "share of configurations that replay a corpus file")
	fl.DurationVar(&f.applyTimeout, "apply-timeout", 8*time.Second, "a migration running longer than this plus the trial's long transaction is cut and judged on the traffic meanwhile")
	fl.DurationVar(&f.lockTimeout, "lock-timeout", 100*time.Millisecond, "the product applier's lock_timeout per attempt")
	fl.Float64Var(&f.latencyTolerance, "latency-tolerance", 1.0, "the judge's latency effect floor, relative to the baseline median (1.0 = twice as slow)")
	fl.Float64Var(&f.tailTolerance, "tail-tolerance", -1, "the judge's tail test floor (share of samples above the baseline's p99; 0.01 = one point, the product's default); negative: off, since without a control group it counts the machine's own scheduling noise")
	_ = cmd.MarkFlagRequired("out") // fails only for a flag not defined just above
	return cmd
}

func runLab(cmd *cobra.Command, g *globalFlags, f labFlags) error {
	ctx := cmd.Context()
	log := g.logger(cmd.ErrOrStderr())
	if f.refeature != "" {
		return refeature(ctx, f.refeature, f.out)
	}
	// Refuse before any work: a missing folder would only show when the
	// first record is written.
	if dir := filepath.Dir(f.out); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return &exitError{code: statusError, msg: fmt.Sprintf("lab: --out %s: folder %s does not exist", f.out, dir)}
		}
	}
	arms, err := lab.ParseArms(f.arm)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	labJudge, err := newLabJudge(f.latencyTolerance, f.tailTolerance)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	// The product arm is the canary's own applier with its defaults (only
	// lock_timeout is a flag): wait without queueing while a transaction
	// older than 1s holds a conflicting lock, 30 retries with backoff.
	applierCfg := rollout.CanaryConfig{LockTimeout: f.lockTimeout}
	applier, err := rollout.NewApplier(applierCfg)
	if err != nil {
		return &exitError{code: statusError, msg: err.Error()}
	}
	method, err := labMethod(labJudge, applierCfg)
	if err != nil {
		return err
	}
	cfg := lab.Config{Examples: f.examples, Seed: f.seed, Lanes: f.lanes, Arms: arms, ApplyTimeout: f.applyTimeout, Budget: f.budget,
		SecondArmShare: noneIfZero(f.secondArmShare), RepeatShare: noneIfZero(f.repeatShare), CorpusShare: noneIfZero(f.corpusShare),
		Method: method}
	dsn := f.dsn
	if dsn == "" {
		c, err := pgtest.Start(ctx, pgtest.Options{Name: "lab", Settings: map[string]string{
			"shared_buffers": "'1GB'", "max_wal_size": "'8GB'", "checkpoint_timeout": "'30min'",
			"maintenance_work_mem": "'256MB'", "autovacuum_naptime": "'5s'", "max_connections": "300",
		}})
		if err != nil {
			return err
		}
		defer c.Stop()
		dsn = c.DSN("postgres")
		log.Info("scratch cluster started", "port", c.Port)
	}
	catalogs, err := newLabCatalogs(ctx, dsn, log)
	if err != nil {
		return err
	}
	log.Info("rewrite throughput calibrated", "rewrite_mb_s", catalogs.tp.RewriteBytesPerSec/1e6, "scan_mb_s", catalogs.tp.ScanBytesPerSec/1e6)
	opts := []lab.Option{lab.WithLogger(log), lab.WithProgress(cmd.ErrOrStderr()), lab.WithCatalog(catalogs.open),
		lab.WithApplier(lab.ArmProduct, rolloutApplier{applier})}
	if f.corpus != "" {
		opts = append(opts, lab.WithCorpus(f.corpus, strings.Split(f.corpusProjects, ",")...))
	}
	runner, err := lab.New(cfg, labJudge, opts...)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	if f.checks != "" {
		return labChecks(ctx, cmd.OutOrStdout(), runner, dsn, f.checks, f.out)
	}
	out := lab.NewResumable(f.out)
	sum, err := runner.Run(ctx, dsn, out)
	if errors.Is(err, lab.ErrPlanChanged) {
		return &exitError{code: 2, msg: err.Error()}
	}
	recs, ferr := out.Finish(arms[0], err == nil && sum.Complete)
	if err == nil {
		err = ferr
	}
	printLabSummary(cmd.OutOrStdout(), f, sum, recs, arms[0])
	return err
}

// noneIfZero maps a share of 0 (none) to the lab's "none" (negative).
func noneIfZero(share float64) float64 {
	if share == 0 {
		return -1
	}
	return share
}

func printLabSummary(w io.Writer, f labFlags, sum lab.Summary, recs []lab.Record, primary lab.Arm) {
	var train []lab.Record
	for _, r := range recs {
		if r.Arm == primary && r.Repeat == 0 {
			train = append(train, r)
		}
	}
	state := "complete"
	if !sum.Complete {
		state = fmt.Sprintf("incomplete (%d of %d runs; run again to resume)", sum.Resumed+sum.Runs, sum.Planned)
	}
	fmt.Fprintf(w, "%d runs now, %d resumed, %d failed, in %s (setup %s); %s\n", sum.Runs, sum.Resumed, sum.Failed,
		sum.Elapsed.Round(time.Second), sum.Setup.Round(time.Second), state)
	for _, c := range sum.Corpus {
		fmt.Fprintf(w, "corpus %s: %d of %d files replayable, %d skipped\n", c.Project, c.Applied, c.Files, len(c.Skipped))
	}
	fmt.Fprintf(w, "%s (training, %s arm): ", f.out, primary)
	lab.Describe(train).WriteText(w)
	n := lab.LabelNoise(recs)
	fmt.Fprintf(w, "label noise: %d of %d repeated configurations disagree (%.1f%%); %d of the %d judged safe first were unsafe the second time (%.1f%%)\n",
		n.Disagree, n.Pairs, 100*n.Rate, n.SafeThenUnsafe, n.FirstSafe, 100*n.SafeFlip)
	if c := lab.CompareArms(recs); c.Pairs > 0 {
		fmt.Fprintf(w, "arms on %d configurations: unsafe %.0f%% product vs %.0f%% goose; only the product's run safe in %d (%d of %d with a long transaction), only goose's in %d\n",
			c.Pairs, 100*c.ProductUnsafeRate, 100*c.GooseUnsafeRate, c.OnlyProductSafe, c.LongTxnFlipped, c.LongTxnPairs, c.OnlyGooseSafe)
	}
	fmt.Fprintf(w, "other runs -> %s\n", lab.ExtraPath(f.out))
}

// labCatalogs opens the analysis' live catalogs with one rewrite
// throughput, measured once on the idle server before the trials.
type labCatalogs struct {
	tp  analysis.Throughput
	log *slog.Logger
}

func newLabCatalogs(ctx context.Context, dsn string, log *slog.Logger) (*labCatalogs, error) {
	cat, err := analysis.NewPGCatalog(ctx, dsn, analysis.WithCatalogLogger(log))
	if err != nil {
		return nil, err
	}
	defer cat.Close()
	tp, err := cat.Calibrate(ctx)
	if err != nil {
		return nil, err
	}
	return &labCatalogs{tp: tp, log: log}, nil
}

// open gives the lab's analysis the same live context lint --dsn gives:
// sizes, traffic over a 0.5s sample (inside the lab's baseline window)
// and the server's rewrite throughput.
func (c *labCatalogs) open(ctx context.Context, dsn string) (analysis.Catalog, func(), error) {
	cat, err := analysis.NewPGCatalog(ctx, dsn, analysis.WithSampleInterval(500*time.Millisecond), analysis.WithThroughput(c.tp),
		analysis.WithCatalogLogger(c.log))
	if err != nil {
		return nil, nil, err
	}
	return cat, cat.Close, nil
}

// rolloutApplier is the product arm: the rollout's lock-safe Applier (the
// code the canary runs) behind the lab's Applier interface.
type rolloutApplier struct{ a *rollout.Applier }

var _ lab.Applier = rolloutApplier{}

// Apply runs m's Up section through rollout.Applier.Apply.
func (r rolloutApplier) Apply(ctx context.Context, dsn string, m lab.Migration) (lab.ApplyResult, error) {
	return rolloutStep(ctx, dsn, m, r.a.Apply)
}

// Revert runs m's Down section through rollout.Applier.Revert.
func (r rolloutApplier) Revert(ctx context.Context, dsn string, m lab.Migration) (lab.ApplyResult, error) {
	return rolloutStep(ctx, dsn, m, r.a.Revert)
}

func rolloutStep(ctx context.Context, dsn string, m lab.Migration,
	step func(context.Context, rollout.Instance, *rollout.Plan) (*rollout.StepResult, error)) (lab.ApplyResult, error) {
	// The plan the reconciler makes; the lab's trials may destroy data.
	mig := &migration.Migration{Version: m.Version, Name: m.Name, Source: m.Source,
		Sections: migration.Sections{NoTransaction: m.NoTransaction}, FrontMatter: migration.FrontMatter{AllowDataLoss: true}}
	ch := reconciler.PlanChange(mig, m.Report)
	sr, err := step(ctx, rollout.Instance{Name: "lab", DSN: dsn}, ch)
	var res lab.ApplyResult
	if sr != nil {
		res = lab.ApplyResult{Attempts: sr.Attempts, Waited: sr.Waited, AlreadyDone: sr.AlreadyDone}
	}
	if errors.Is(err, rollout.ErrLockTimeout) {
		err = fmt.Errorf("%w: %w", lab.ErrLockTimeout, err)
	}
	return res, err
}

// newLabJudge is rollout's judge with the lab's settings. The lab compares
// each canary with its own baseline only (one instance, no control group),
// on a machine other work shares, so latency must at least double (by
// latencyTolerance, and by 2 ms) to count: stalls and meltdowns, not
// scheduling noise. The tail test (the share of samples above the
// baseline's p99) is off unless tailTolerance >= 0: in the product it must
// find the canary worse than the control too, which absorbs the machine's
// own noise; against a baseline alone a few slow samples of a busy
// scheduler fail it (docs/lab-datasheet.md).
func newLabJudge(latencyTolerance, tailTolerance float64) (rolloutJudge, error) {
	j, err := judge.NewJudge(judge.JudgeConfig{
		Tolerances: map[string]float64{"latency": latencyTolerance},
		AbsFloors:  map[string]float64{"latency": 2},
		Tail:       judge.TailConfig{Tolerance: tailTolerance},
	})
	if err != nil {
		return rolloutJudge{}, fmt.Errorf("lab judge: %w", err)
	}
	return rolloutJudge{j}, nil
}

// labMethod describes how the lab's runs are judged and applied, for the
// plan's fingerprint (lab.Config.Method): the judge's and the product
// applier's effective settings, defaults filled in, so that a default that
// changes between a killed run and its resumption (as the tail test once
// did) refuses the resumption instead of mixing labels.
func labMethod(j rolloutJudge, applier rollout.CanaryConfig) (string, error) {
	applier.SetDefaults()
	b, err := json.Marshal(struct {
		Judge   judge.JudgeConfig
		Applier rollout.CanaryConfig
	}{j.j.Config(), applier})
	if err != nil {
		return "", fmt.Errorf("lab: describe the method: %w", err)
	}
	return string(b), nil
}

// rolloutJudge feeds a lab window to rollout's judge: every execution is a
// latency sample of its query class, each window's calls and errors an
// error_rate sample, and the lock-wait gauge a lock_waits series; the
// canary is compared with its own baseline.
type rolloutJudge struct{ j *judge.Judge }

var _ lab.Judge = rolloutJudge{}

func (r rolloutJudge) Judge(_ context.Context, w lab.Window) (lab.Verdict, error) {
	samples := func(lat map[string][]float64, calls, errs int, waits []float64, from int64) []judge.Sample {
		at := time.UnixMilli(from)
		var out []judge.Sample
		for class, v := range lat {
			for _, ms := range v {
				out = append(out, judge.Sample{Instance: "lab", KPI: judge.KPILatencyPrefix + class, At: at, Value: ms})
			}
		}
		if calls > 0 {
			out = append(out, judge.Sample{Instance: "lab", KPI: judge.KPIErrorRate, At: at,
				Value: float64(errs) / float64(calls), Count: int64(calls), Errors: int64(errs)})
		}
		for _, n := range waits {
			out = append(out, judge.Sample{Instance: "lab", KPI: judge.KPILockWaits, At: at, Value: n})
		}
		return out
	}
	base := samples(w.Baseline, w.BaselineCalls, w.BaselineErrors, w.BaselineLockWaits, w.BaselineStart)
	canary := samples(w.Canary, w.CanaryCalls, w.CanaryErrors, w.CanaryLockWaits, w.CanaryStart)
	d := r.j.Judge(canary, nil, base)
	return lab.Verdict{Safe: d.Outcome != judge.Fail, Reason: d.Reason}, nil
}

// labChecks runs the gate's database checks for the records of in that
// have none (lab.Runner.CheckDataset, resumable) and writes every record
// to out.
func labChecks(ctx context.Context, w io.Writer, runner *lab.Runner, dsn, in, out string) error {
	sum, recs, err := runner.CheckDataset(ctx, dsn, in, out)
	fmt.Fprintf(w, "%d records, %d checked now (%d certain failures; %d runs of the checks: a template on one table size runs once) in %s\n",
		sum.Records, sum.Checked, sum.Failed, sum.Ran, sum.Elapsed.Round(time.Second))
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range recs {
		if r.GateFailed() {
			failed++
		}
	}
	fmt.Fprintf(w, "%s: %d records, %d of them certain failures by the gate\n", out, len(recs), failed)
	return nil
}

func refeature(ctx context.Context, in, out string) error {
	recs, err := lab.ReadRecords(in)
	if err != nil {
		return err
	}
	if err := lab.Refeature(ctx, recs); err != nil {
		return err
	}
	return lab.WriteDataset(out, recs)
}
