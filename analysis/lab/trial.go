package lab

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/internal/loadgen"
)

// trial runs one configuration on a lane: load, baseline, (long
// transaction), apply, settle, judge, revert.
func (r *Runner) trial(ctx context.Context, ln *lane, tr Trial) (Record, error) {
	table := TableName(tr.Rows)
	up, down := tr.Template.Render(table)
	rec := Record{
		Example: model.Example{Group: tr.Template.ID, Family: tr.Template.Family},
		Index:   tr.Index, Template: tr.Template.ID, Family: tr.Template.Family,
		Rows: tr.Rows, Rate: tr.Rate, LongTxn: tr.LongTxn, Risk: tr.Risk,
		Up: up, Down: down, NoTransaction: tr.Template.NoTransaction,
	}
	t0 := time.Now()
	gen, err := loadgen.Start(ctx, loadgen.Config{
		DSN: ln.dsn, Statements: loadStatements(tr.Rows), Rate: tr.Rate, Workers: 4,
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
	loadStarted := time.Now()
	if err := sleep(ctx, r.cfg.Warmup); err != nil {
		return rec, err
	}
	baseStart := time.Now()
	locks := startLockSampler(ctx, ln.db, 100*time.Millisecond)

	// The analysis reads the live catalog while the baseline is measured.
	var anaErr error
	anaDone := make(chan struct{})
	go func() {
		defer close(anaDone)
		anaErr = rec.featurize(ctx, ln.catalog)
	}()

	var longWG sync.WaitGroup
	longErr := make(chan error, 1)
	if tr.LongTxn {
		hold := r.cfg.Baseline - 200*time.Millisecond + r.cfg.LongTxn
		longWG.Add(1)
		go func() {
			defer longWG.Done()
			longErr <- holdReadTransaction(ctx, ln.db, table, 200*time.Millisecond, hold)
		}()
	}
	if err := sleep(ctx, time.Until(baseStart.Add(r.cfg.Baseline))); err != nil {
		return rec, err
	}
	<-anaDone
	if anaErr != nil {
		return rec, anaErr
	}
	// The load has run for a whole baseline, so its statistics are
	// flushed: measure what it uses right before the apply, as the
	// reconciler does before a canary.
	live, err := liveFeatures(ctx, ln.db, up)
	if err != nil {
		return rec, err
	}
	for k, v := range baselineFeatures(gen.Snapshot(), baseStart, time.Now()) {
		live[k] = v
	}
	rec.Live = live
	// The features again, now with the live measurements (exactly what
	// Refeature computes from the stored record).
	if err := rec.featurize(ctx, analysis.StaticCatalog(rec.Context)); err != nil {
		return rec, err
	}

	applyStart := time.Now()
	applyErr := apply(ctx, ln.db, up, tr.Template.NoTransaction, r.cfg.ApplyTimeout)
	applyEnd := time.Now()
	rec.Outcome.ApplyMS = float64(applyEnd.Sub(applyStart)) / float64(time.Millisecond)
	if ctx.Err() != nil {
		return rec, ctx.Err()
	}
	canaryEnd := applyEnd.Add(r.cfg.Settle)
	if err := sleep(ctx, time.Until(canaryEnd)); err != nil {
		return rec, err
	}
	waits := locks.stop()
	stopAt := time.Now()
	res := gen.Stop()
	stopped = true
	loadStopped := time.Now()
	longWG.Wait()
	if tr.LongTxn {
		if err := <-longErr; err != nil {
			r.log.Warn("long transaction", "trial", tr.Index, "err", err)
		}
	}

	w := window(res, baseStart, applyStart, canaryEnd, waits)
	fillOutcome(&rec.Outcome, w)
	rec.baselineFromOutcome()
	switch {
	case applyErr != nil && errors.Is(applyErr, context.DeadlineExceeded):
		// The rollout's statement_timeout is far longer than the lab's, so a
		// slow migration is not a failure by itself: what it did to the
		// traffic while it ran decides. A blocking rewrite stalls the load
		// (unsafe); a CONCURRENTLY build on a big table usually does not.
		rec.Outcome.TimedOut = true
		rec.Outcome.ApplyError = applyErr.Error()
		v, err := r.judge.Judge(ctx, w)
		if err != nil {
			return rec, fmt.Errorf("judge: %w", err)
		}
		v.Reason = fmt.Sprintf("still running at the %v timeout; traffic meanwhile: %s", r.cfg.ApplyTimeout, v.Reason)
		rec.Outcome.Verdict = v
	case applyErr != nil:
		rec.Outcome.ApplyError = applyErr.Error()
		rec.Outcome.Verdict = Verdict{Safe: false, Reason: "migration failed: " + applyErr.Error()}
	default:
		v, err := r.judge.Judge(ctx, w)
		if err != nil {
			return rec, fmt.Errorf("judge: %w", err)
		}
		rec.Outcome.Verdict = v
	}
	rec.Safe = rec.Outcome.Verdict.Safe

	revertAt := time.Now()
	repaired, err := r.revert(ctx, ln, tr.Rows, down)
	if err != nil {
		return rec, err
	}
	r.log.Debug("trial phases", "index", tr.Index, "load_start", loadStarted.Sub(t0).Round(time.Millisecond),
		"to_apply", applyStart.Sub(baseStart).Round(time.Millisecond), "load_stop", loadStopped.Sub(stopAt).Round(time.Millisecond),
		"judge", revertAt.Sub(loadStopped).Round(time.Millisecond), "revert", time.Since(revertAt).Round(time.Millisecond), "total", time.Since(t0).Round(time.Millisecond))
	rec.Outcome.Repaired = repaired
	r.log.Debug("trial", "index", tr.Index, "template", tr.Template.ID, "table", table, "rate", tr.Rate, "long_txn", tr.LongTxn,
		"apply_ms", int(rec.Outcome.ApplyMS), "p99_before", rec.Outcome.BaselineP99, "p99_during", rec.Outcome.CanaryP99,
		"errors", rec.Outcome.CanaryErrors, "safe", rec.Safe, "reason", rec.Outcome.Verdict.Reason)
	return rec, nil
}

// apply runs the Up statements as goose would: in one transaction, or one
// by one for NO TRANSACTION, under a deadline.
func apply(ctx context.Context, db *pgxpool.Pool, stmts []string, noTx bool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := db.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	defer conn.Release()
	if noTx {
		for _, s := range stmts {
			if _, err := conn.Exec(ctx, s); err != nil {
				return timeoutOr(ctx, err)
			}
		}
		return nil
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return timeoutOr(ctx, err)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // the statement error is the one that matters
			return timeoutOr(ctx, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return timeoutOr(ctx, err)
	}
	return nil
}

// timeoutOr reports a deadline as context.DeadlineExceeded whatever pgx
// wrapped it in.
func timeoutOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

// revert runs the Down statements (errors tolerated: Up may have failed) and
// rebuilds the table when its shape was not restored.
func (r *Runner) revert(ctx context.Context, ln *lane, rows int64, down []string) (bool, error) {
	// A CONCURRENTLY build or drop cut short by the timeout leaves an
	// INVALID index behind; drop it so Down's CREATE INDEX IF NOT EXISTS
	// rebuilds it instead of skipping it.
	if err := dropInvalidIndexes(ctx, ln.db, TableName(rows)); err != nil {
		r.log.Debug("drop invalid indexes", "err", err)
	}
	for _, s := range down {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		_, err := ln.db.Exec(cctx, s)
		cancel()
		if err != nil && ctx.Err() == nil {
			r.log.Debug("down statement failed", "sql", s, "err", err)
		}
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	fp, err := fingerprint(ctx, ln.db, TableName(rows))
	if err != nil {
		return false, err
	}
	if fp == ln.shape[rows] {
		return false, nil
	}
	r.log.Warn("table not restored by down; rebuilding", "lane", ln.id, "table", TableName(rows))
	if err := createTable(ctx, ln.db, rows); err != nil {
		return true, err
	}
	fp, err = fingerprint(ctx, ln.db, TableName(rows))
	if err != nil {
		return true, err
	}
	ln.shape[rows] = fp
	return true, nil
}

// holdReadTransaction opens a transaction after delay, reads the table (an
// ACCESS SHARE lock held to the end) and commits after hold.
func holdReadTransaction(ctx context.Context, db *pgxpool.Pool, table string, delay, hold time.Duration) error {
	if err := sleep(ctx, delay); err != nil {
		return err
	}
	conn, err := db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	if _, err := tx.Exec(ctx, "SELECT id FROM "+table+" LIMIT 1"); err != nil {
		return err
	}
	if err := sleep(ctx, hold); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// lockSampler counts sessions waiting for a lock at a fixed interval.
type lockSampler struct {
	mu      sync.Mutex
	samples []lockSample
	cancel  context.CancelFunc
	done    chan struct{}
}

type lockSample struct {
	at time.Time
	n  float64
}

func startLockSampler(ctx context.Context, db *pgxpool.Pool, every time.Duration) *lockSampler {
	ctx, cancel := context.WithCancel(ctx)
	ls := &lockSampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(ls.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			var n float64
			qctx, qcancel := context.WithTimeout(ctx, every)
			err := db.QueryRow(qctx, `SELECT count(*)::float8 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE NOT l.granted AND a.datname = current_database()`).Scan(&n)
			qcancel()
			if err == nil {
				ls.mu.Lock()
				ls.samples = append(ls.samples, lockSample{time.Now(), n})
				ls.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return ls
}

func (ls *lockSampler) stop() []lockSample {
	ls.cancel()
	<-ls.done
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.samples
}

// window splits the load's executions by scheduled time.
func window(res *loadgen.Result, baseStart, applyStart, canaryEnd time.Time, waits []lockSample) Window {
	w := Window{Baseline: map[string][]float64{}, Canary: map[string][]float64{},
		BaselineStart: baseStart.UnixMilli(), CanaryStart: applyStart.UnixMilli(), CanaryEnd: canaryEnd.UnixMilli()}
	for _, o := range res.Observations {
		ms := float64(o.Latency) / float64(time.Millisecond)
		switch {
		case !o.Scheduled.Before(baseStart) && o.Scheduled.Before(applyStart):
			w.BaselineCalls++
			if o.Err != "" {
				w.BaselineErrors++
			} else {
				w.Baseline[o.Statement] = append(w.Baseline[o.Statement], ms)
			}
		case !o.Scheduled.Before(applyStart) && o.Scheduled.Before(canaryEnd):
			w.CanaryCalls++
			if o.Err != "" {
				w.CanaryErrors++
			} else {
				w.Canary[o.Statement] = append(w.Canary[o.Statement], ms)
			}
		}
	}
	for _, s := range waits {
		switch {
		case s.at.Before(applyStart):
			w.BaselineLockWaits = append(w.BaselineLockWaits, s.n)
		case s.at.Before(canaryEnd):
			w.CanaryLockWaits = append(w.CanaryLockWaits, s.n)
		}
	}
	return w
}

func fillOutcome(o *Outcome, w Window) {
	all := func(m map[string][]float64) []float64 {
		var v []float64
		for _, s := range m {
			v = append(v, s...)
		}
		sort.Float64s(v)
		return v
	}
	b, c := all(w.Baseline), all(w.Canary)
	o.BaselineP50, o.BaselineP99 = quantile(b, 0.5), quantile(b, 0.99)
	o.CanaryP50, o.CanaryP99, o.CanaryMax = quantile(c, 0.5), quantile(c, 0.99), quantile(c, 1)
	o.BaselineCalls, o.BaselineErrors = w.BaselineCalls, w.BaselineErrors
	o.CanaryCalls, o.CanaryErrors = w.CanaryCalls, w.CanaryErrors
	for _, n := range w.CanaryLockWaits {
		o.MaxLockWaits = max(o.MaxLockWaits, n)
	}
}

// quantile of sorted values (nearest rank); 0 for none.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
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

func dropInvalidIndexes(ctx context.Context, db *pgxpool.Pool, table string) error {
	rows, err := db.Query(ctx, "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = to_regclass($1) AND NOT indisvalid", table)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := db.Exec(ctx, "DROP INDEX IF EXISTS "+n); err != nil {
			return err
		}
	}
	return nil
}

// baselineFeatures are the application's latency quantiles over the
// baseline window, as the canary's pre-change KPIs give them.
func baselineFeatures(res *loadgen.Result, from, to time.Time) map[string]float64 {
	var all []float64
	for name := range res.Stats {
		all = append(all, res.Between(name, from, to)...)
	}
	if len(all) == 0 {
		return nil
	}
	sort.Float64s(all)
	return baselineFromQuantiles(quantile(all, 0.5), quantile(all, 0.99))
}
