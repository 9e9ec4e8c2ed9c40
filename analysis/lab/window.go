package lab

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schemacanary/schemacanary/internal/loadgen"
)

// lockSampler counts sessions waiting for a lock at a fixed interval.
type lockSampler struct {
	mu      sync.Mutex
	samples []lockSample
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
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

// stop ends the sampling (again: a no-op) and returns the samples.
func (ls *lockSampler) stop() []lockSample {
	ls.once.Do(func() {
		ls.cancel()
		<-ls.done
	})
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.samples
}

// window splits the load's executions by scheduled time: the baseline is
// [baseStart, applyStart), the canary [canaryStart, canaryEnd); what was
// scheduled while the applier waited (applyStart to canaryStart) is in
// neither.
func window(res *loadgen.Result, baseStart, applyStart, canaryStart, canaryEnd time.Time, waits []lockSample) Window {
	w := Window{Baseline: map[string][]float64{}, Canary: map[string][]float64{},
		BaselineClassErrors: map[string]int{}, CanaryClassErrors: map[string]int{},
		BaselineStart: baseStart.UnixMilli(), BaselineEnd: applyStart.UnixMilli(), CanaryStart: canaryStart.UnixMilli(), CanaryEnd: canaryEnd.UnixMilli()}
	for _, o := range res.Observations {
		ms := float64(o.Latency) / float64(time.Millisecond)
		switch {
		case !o.Scheduled.Before(baseStart) && o.Scheduled.Before(applyStart):
			w.BaselineCalls++
			if o.Err != "" {
				w.BaselineErrors++
				w.BaselineClassErrors[o.Statement]++
			} else {
				w.Baseline[o.Statement] = append(w.Baseline[o.Statement], ms)
			}
		case !o.Scheduled.Before(canaryStart) && o.Scheduled.Before(canaryEnd):
			w.CanaryCalls++
			if o.Err != "" {
				w.CanaryErrors++
				w.CanaryClassErrors[o.Statement]++
			} else {
				w.Canary[o.Statement] = append(w.Canary[o.Statement], ms)
			}
		}
	}
	for _, s := range waits {
		switch {
		case s.at.Before(applyStart):
			w.BaselineLockWaits = append(w.BaselineLockWaits, s.n)
		case !s.at.Before(canaryStart) && s.at.Before(canaryEnd):
			w.CanaryLockWaits = append(w.CanaryLockWaits, s.n)
		}
	}
	return w
}

// fillOutcome summarizes a window: quantiles over all classes and per
// class, calls, errors, lock waits.
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
	o.BaselineMS = float64(w.BaselineEnd - w.BaselineStart)
	o.CanaryMS = float64(w.CanaryEnd - w.CanaryStart)
	o.Classes = map[string]ClassOutcome{}
	classes := map[string]bool{}
	for _, m := range []map[string][]float64{w.Baseline, w.Canary} {
		for k := range m {
			classes[k] = true
		}
	}
	for k := range w.CanaryClassErrors {
		classes[k] = true
	}
	for k := range classes {
		bs := append([]float64(nil), w.Baseline[k]...)
		cs := append([]float64(nil), w.Canary[k]...)
		sort.Float64s(bs)
		sort.Float64s(cs)
		o.Classes[k] = ClassOutcome{BaselineN: len(bs), CanaryN: len(cs),
			BaselineP50: quantile(bs, 0.5), BaselineP99: quantile(bs, 0.99),
			CanaryP50: quantile(cs, 0.5), CanaryP99: quantile(cs, 0.99), CanaryErrors: w.CanaryClassErrors[k]}
	}
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
