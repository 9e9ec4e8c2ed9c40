package lab

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/internal/loadgen"
)

// env is where one trial runs: a database, its load and how to put it
// back afterwards.
type env struct {
	dsn, applyDSN string
	db            *pgxpool.Pool
	table         string // "" for a corpus replay
	load          []loadgen.Statement
	// holdTable is the table the long transaction locks ("" none).
	holdTable  string
	filledRows int64
	// restore reverts the migration and puts the database back; it
	// reports whether the table had to be cloned again and the revert's
	// error.
	restore func(ctx context.Context, m Migration, applied bool, down []string) (repaired bool, revertErr string, err error)
	close   func()
}

// runVersion is the goose version of a run: unique per run, so a version a
// failed revert left behind never collides. A corpus replay keeps its
// file's own version.
func runVersion(tr Trial) int64 {
	if tr.Template.Corpus != nil {
		return tr.Template.Corpus.Version
	}
	arm := int64(0)
	if tr.Arm == ArmGoose {
		arm = 1
	}
	return 1_000_000 + int64(tr.Index)*16 + arm*8 + int64(tr.Repeat)
}

// trial runs one configuration on a lane: load, long transaction,
// baseline, analysis, live context, apply through the arm's applier,
// settle, judge, revert.
func (r *Runner) trial(ctx context.Context, srv *server, ln *lane, tr Trial) (Record, error) {
	t0 := time.Now()
	e, err := r.setup(ctx, srv, ln, tr)
	if err != nil {
		return Record{}, err
	}
	defer e.close()
	up, down := tr.Template.Render(e.table)
	src := tr.Template.Goose(e.table)
	rec := Record{
		Example: model.Example{Group: tr.Template.ID, Family: tr.Template.Family},
		Index:   tr.Index, Arm: tr.Arm, Repeat: tr.Repeat,
		Source: tr.Template.kind(), Template: tr.Template.ID, Family: tr.Template.Family,
		Rows: tr.Rows, ReadRate: tr.ReadRate, WriteRate: tr.WriteRate,
		LongTxnSeconds: tr.LongTxn.Seconds(), LongTxnWrite: tr.LongTxnWrite, Risk: tr.Risk,
		Up: up, Down: down, NoTransaction: tr.Template.NoTransaction, Goose: string(src), Version: runVersion(tr),
	}
	rec.Outcome.FilledRows, rec.Outcome.Started = e.filledRows, t0.UTC()
	gen, err := loadgen.Start(ctx, loadgen.Config{
		DSN: e.dsn, Statements: e.load, Rate: tr.ReadRate + tr.WriteRate, Workers: loadWorkers(tr.ReadRate + tr.WriteRate),
		Interval: 100 * time.Millisecond, StatementTimeout: 5 * time.Second, Seed: tr.Seed, StopGrace: 6 * time.Second,
	})
	if err != nil {
		return rec, fmt.Errorf("start load: %w", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			gen.Stop()
		}
	}()
	// The long transaction opens with the load, so when the migration
	// starts it is older than the warm-up plus the baseline (older than
	// the product applier's 1s threshold), and it stays open tr.LongTxn
	// longer.
	var longWG sync.WaitGroup
	longErr := make(chan error, 1)
	if tr.LongTxn > 0 && e.holdTable != "" {
		longWG.Add(1)
		go func() {
			defer longWG.Done()
			longErr <- holdTransaction(ctx, e.db, e.holdTable, tr.LongTxnWrite, r.cfg.Warmup+r.cfg.Baseline+tr.LongTxn)
		}()
	}
	if err := sleep(ctx, r.cfg.Warmup); err != nil {
		return rec, err
	}
	baseStart := time.Now()
	locks := startLockSampler(ctx, e.db, 100*time.Millisecond)
	defer locks.stop()

	// The analysis reads the live catalog while the baseline is measured.
	var rep *analysis.Report
	var anaErr error
	anaDone := make(chan struct{})
	go func() {
		defer close(anaDone)
		rep, anaErr = r.analyzeLive(ctx, e.dsn, rec.migration())
	}()
	if err := sleep(ctx, time.Until(baseStart.Add(r.cfg.Baseline))); err != nil {
		return rec, err
	}
	<-anaDone
	if anaErr != nil {
		return rec, anaErr
	}
	rec.Context = rep.Context
	// The load has run for a whole baseline, so its statistics are
	// flushed: measure what it uses right before the apply, as the
	// reconciler does before a canary.
	if rec.LiveContext, err = measureLive(ctx, e.applyDSN, rec.migration(), r.log); err != nil {
		return rec, err
	}

	m := migrationFor(rec.Version, tr.Template.ID, src, tr.Template.NoTransaction, rep)
	applyCtx, cancelApply := context.WithTimeout(ctx, r.cfg.ApplyTimeout+tr.LongTxn)
	applyStart := time.Now()
	res, applyErr := r.appliers[tr.Arm].Apply(applyCtx, e.applyDSN, m)
	applyEnd := time.Now()
	timedOut := applyCtx.Err() != nil
	cancelApply()
	if ctx.Err() != nil {
		return rec, ctx.Err()
	}
	rec.Outcome.ApplyMS = ms(applyEnd.Sub(applyStart))
	rec.Outcome.WaitMS, rec.Outcome.Attempts = ms(res.Waited), res.Attempts
	canaryStart := applyStart.Add(min(res.Waited, applyEnd.Sub(applyStart)))
	canaryEnd := applyEnd.Add(r.cfg.Settle)
	if err := sleep(ctx, time.Until(canaryEnd)); err != nil {
		return rec, err
	}
	waits := locks.stop()
	load := gen.Stop()
	stopped = true
	longWG.Wait()
	if tr.LongTxn > 0 && e.holdTable != "" {
		if err := <-longErr; err != nil {
			r.log.Debug("long transaction", "run", tr.Key(), "err", err)
		}
	}

	w := window(load, baseStart, applyStart, canaryStart, canaryEnd, waits)
	fillOutcome(&rec.Outcome, w)
	if err := r.label(ctx, &rec, w, applyErr, timedOut); err != nil {
		return rec, err
	}

	revertAt := time.Now()
	rec.Outcome.Repaired, rec.Outcome.RevertError, err = e.restore(ctx, m, applyErr == nil, down)
	if err != nil {
		return rec, err
	}
	if err := rec.featurize(ctx); err != nil {
		return rec, err
	}
	rec.Outcome.TrialMS = ms(time.Since(t0))
	r.log.Debug("trial", "run", tr.Key(), "template", tr.Template.ID, "rows", tr.Rows, "read", tr.ReadRate, "write", tr.WriteRate,
		"long_txn", tr.LongTxn, "apply_ms", int(rec.Outcome.ApplyMS), "wait_ms", int(rec.Outcome.WaitMS),
		"p99_before", rec.Outcome.BaselineP99, "p99_during", rec.Outcome.CanaryP99, "errors", rec.Outcome.CanaryErrors,
		"safe", rec.Safe, "reason", rec.Outcome.Verdict.Reason, "revert", time.Since(revertAt).Round(time.Millisecond))
	return rec, nil
}

// label sets the verdict: a migration that failed is unsafe (the rollout's
// hard guard); one cut at the apply timeout, or whose applier never got
// its lock, is judged on what it did to the traffic meanwhile (the
// rollout's statement_timeout is 30 min, so slowness alone is no failure);
// otherwise the judge decides.
func (r *Runner) label(ctx context.Context, rec *Record, w Window, applyErr error, timedOut bool) error {
	prefix := ""
	switch {
	case timedOut:
		rec.Outcome.TimedOut = true
		rec.Outcome.ApplyError = "timed out"
		if applyErr != nil {
			rec.Outcome.ApplyError = applyErr.Error()
		}
		prefix = fmt.Sprintf("still running after %v; traffic meanwhile: ", (time.Duration(rec.Outcome.ApplyMS) * time.Millisecond).Round(100*time.Millisecond))
	case errors.Is(applyErr, ErrLockTimeout):
		rec.Outcome.LockTimeout = true
		rec.Outcome.ApplyError = applyErr.Error()
		prefix = "lock never acquired; traffic meanwhile: "
	case applyErr != nil:
		rec.Outcome.ApplyError = applyErr.Error()
		rec.Outcome.Verdict = Verdict{Safe: false, Reason: "migration failed: " + firstLine(applyErr.Error())}
		rec.Safe = false
		return nil
	}
	v, err := r.judge.Judge(ctx, w)
	if err != nil {
		return fmt.Errorf("judge: %w", err)
	}
	v.Reason = prefix + v.Reason
	rec.Outcome.Verdict = v
	rec.Safe = v.Safe
	return nil
}

// analyzeLive analyzes m with the live catalog of dsn (when the Runner has
// one).
func (r *Runner) analyzeLive(ctx context.Context, dsn string, m migration.Migration) (*analysis.Report, error) {
	var opts []analysis.Option
	if r.catalog != nil {
		cat, closeCat, err := r.catalog(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("lab: open catalog: %w", err)
		}
		defer closeCat()
		opts = append(opts, analysis.WithCatalog(cat))
	}
	rep, err := analysis.Analyze(ctx, m, opts...)
	if err != nil {
		return nil, fmt.Errorf("lab: analyze %s: %w", m.Path, err)
	}
	return rep, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// holdTransaction opens a transaction that locks table as a reader
// (ACCESS SHARE) or a writer (ROW EXCLUSIVE, with a transaction id) and
// commits after hold.
func holdTransaction(ctx context.Context, db *pgxpool.Pool, table string, write bool, hold time.Duration) error {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit, a no-op
	q := "LOCK TABLE " + quoteQualified(table) + " IN ACCESS SHARE MODE"
	if write {
		q = "LOCK TABLE " + quoteQualified(table) + " IN ROW EXCLUSIVE MODE"
	}
	if _, err := tx.Exec(ctx, q); err != nil {
		return err
	}
	if write {
		if _, err := tx.Exec(ctx, "SELECT txid_current()"); err != nil {
			return err
		}
	}
	if err := sleep(ctx, hold); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
