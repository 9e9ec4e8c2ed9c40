package main

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schemacanary/schemacanary/rollout/judge"

	"github.com/spf13/cobra"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/lab"
	"github.com/schemacanary/schemacanary/internal/pgtest"
)

type labFlags struct {
	out, dsn, refeature  string
	seed                 uint64
	examples, lanes      int
	longTxnShare         float64
	applyTimeout, budget time.Duration
	latencyTolerance     float64
}

func newLabCmd(g *globalFlags) *cobra.Command {
	var f labFlags
	cmd := &cobra.Command{
		Use:   "lab --out FILE [--seed N] [--examples N]",
		Short: "Build the labeled training dataset by applying migrations to a scratch PostgreSQL under load",
		Long: `lab measures what schema changes really do. It starts a scratch PostgreSQL
cluster (or uses --dsn), builds tables of 1k to 2M rows with generate_series,
and for each planned configuration (a migration template from a catalog of
57 — added columns with volatile defaults, SET NOT NULL, type changes,
indexes with and without CONCURRENTLY, foreign keys with and without NOT
VALID, dropped indexes the load uses, renames, backfills, triggers, ... —
crossed with a table size, a load level and, sometimes, a long transaction)
it:

  1. runs an open-loop OLTP load on the table and measures a baseline,
  2. analyzes the migration with live catalog context (the features),
  3. draws the risk label an author would have written, with authors'
     typical errors (they underrate locks on big tables),
  4. applies the migration and keeps measuring until shortly after it ends,
  5. asks rollout's judge (Mann-Whitney U + effect-size floors, error-rate
     guard) whether the canary would have been rolled back; a migration
     that errors or passes --apply-timeout is unsafe,
  6. runs the Down section so the table is reused.

The choice of configurations and labels depends only on --seed; the outcomes
are what the server measured. Each line of FILE (gzip-compressed when it
ends in .gz) is a JSON record that "schemacanary train" reads directly.
Expect about 25 minutes for 600 examples on 2 cores (--budget caps it).

--refeature FILE skips measuring: it recomputes the features of an existing
dataset from the SQL and the catalog context stored in it, for when the
analysis gains features.`,
		Example: `  schemacanary lab --out analysis/model/lab.jsonl.gz --seed 1
  schemacanary lab --out /tmp/small.jsonl --examples 60 --lanes 1
  schemacanary lab --refeature analysis/model/lab.jsonl.gz --out analysis/model/lab.jsonl.gz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runLab(cmd, g, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.out, "out", "", "dataset file to write (.jsonl or .jsonl.gz); required")
	fl.StringVar(&f.dsn, "dsn", "", "superuser DSN of a scratch server to use instead of starting one (databases lab_N are dropped and recreated)")
	fl.StringVar(&f.refeature, "refeature", "", "recompute the features of this dataset instead of measuring")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the configuration and label draws")
	fl.IntVar(&f.examples, "examples", 600, "number of configurations to run")
	fl.DurationVar(&f.budget, "budget", 0, "stop starting trials after this long (0: run them all)")
	fl.IntVar(&f.lanes, "lanes", 3, "configurations run in parallel, each on its own database")
	fl.Float64Var(&f.longTxnShare, "long-txn-share", 0.25, "share of configurations with a concurrent long transaction")
	fl.DurationVar(&f.applyTimeout, "apply-timeout", 8*time.Second, "a migration running longer is unsafe")
	fl.Float64Var(&f.latencyTolerance, "latency-tolerance", 1.0, "the judge's latency effect floor, relative to the baseline median (1.0 = twice as slow)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func runLab(cmd *cobra.Command, g *globalFlags, f labFlags) error {
	ctx := cmd.Context()
	log := g.logger(cmd.ErrOrStderr())
	if f.refeature != "" {
		return refeature(ctx, f.refeature, f.out)
	}
	// The lab compares each canary with its own baseline only, on a machine
	// other work shares, so latency must at least double (and by 2 ms) to
	// count: stalls and meltdowns, not scheduling noise.
	judge, err := judge.NewJudge(judge.JudgeConfig{
		Tolerances: map[string]float64{"latency": f.latencyTolerance},
		AbsFloors:  map[string]float64{"latency": 2},
	})
	if err != nil {
		return err
	}
	cfg := lab.Config{Examples: f.examples, Seed: f.seed, Lanes: f.lanes, LongTxnShare: f.longTxnShare, ApplyTimeout: f.applyTimeout, Budget: f.budget}
	if f.longTxnShare == 0 {
		cfg.LongTxnShare = -1
	}
	runner, err := lab.New(cfg, rolloutJudge{judge}, lab.WithLogger(log), lab.WithProgress(cmd.ErrOrStderr()),
		lab.WithCatalog(openLabCatalog))
	if err != nil {
		return &exitError{code: statusError, msg: err.Error()}
	}
	dsn := f.dsn
	if dsn == "" {
		c, err := pgtest.Start(ctx, pgtest.Options{Name: "lab", Settings: map[string]string{
			"shared_buffers": "'512MB'", "max_wal_size": "'4GB'", "checkpoint_timeout": "'30min'",
			"maintenance_work_mem": "'256MB'", "autovacuum_naptime": "'5s'",
		}})
		if err != nil {
			return err
		}
		defer c.Stop()
		dsn = c.DSN("postgres")
		log.Info("scratch cluster started", "port", c.Port)
	}
	w, closeOut, err := createDataset(f.out)
	if err != nil {
		return err
	}
	sum, err := runner.Run(ctx, dsn, w)
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d of %d planned examples (%d unsafe, %d tables rebuilt) in %s -> %s\n",
		sum.Examples, sum.Planned, sum.Unsafe, sum.Repaired, sum.Elapsed.Round(time.Second), f.out)
	return nil
}

// openLabCatalog gives the lab's analysis the same live context lint --dsn
// gives: sizes, traffic over a 0.5s sample (inside the lab's baseline window)
// and the server's rewrite throughput.
func openLabCatalog(ctx context.Context, dsn string) (analysis.Catalog, func(), error) {
	cat, err := analysis.NewPGCatalog(ctx, dsn, analysis.WithSampleInterval(500*time.Millisecond))
	if err != nil {
		return nil, nil, err
	}
	return cat, cat.Close, nil
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

// createDataset opens path for writing, gzip-compressed when it ends in .gz.
func createDataset(path string) (io.Writer, func() error, error) {
	fh, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	if !strings.HasSuffix(path, ".gz") {
		return fh, fh.Close, nil
	}
	zw := gzip.NewWriter(fh)
	return zw, func() error {
		if err := zw.Close(); err != nil {
			fh.Close()
			return err
		}
		return fh.Close()
	}, nil
}

func refeature(ctx context.Context, in, out string) error {
	recs, err := lab.ReadRecords(in)
	if err != nil {
		return err
	}
	if err := lab.Refeature(ctx, recs); err != nil {
		return err
	}
	w, closeOut, err := createDataset(out)
	if err != nil {
		return err
	}
	if err := lab.WriteRecords(w, recs); err != nil {
		closeOut()
		return err
	}
	return closeOut()
}
