package kpi

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schemacanary/schemacanary/rollout/judge"
)

// ProbeConfig is one SQL probe (YAML `canary.kpis.probes[]`): a statement
// schemacanary itself runs at a fixed rate on every canary and control
// instance, so latency and errors are measured even on a quiet database.
//
//	probes:
//	  - {name: orders_by_id, sql: "SELECT * FROM orders WHERE id = 42", rate: 20}
type ProbeConfig struct {
	// Name labels the KPIs "latency:<name>" and "error_rate:<name>".
	Name string `yaml:"name" json:"name"`
	// SQL is the statement; it should be read-only or harmless to repeat.
	SQL string `yaml:"sql" json:"sql"`
	// Rate is executions per second per instance; default 10.
	Rate float64 `yaml:"rate,omitempty" json:"rate,omitempty"`
	// Timeout cancels one execution (counted as an error); default 5s.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Concurrency is how many connections this probe adds to the pool the
	// probes share on each instance (executions that find every connection
	// busy wait, and the wait counts as latency); default max(2, rate/10).
	Concurrency int `yaml:"concurrency,omitempty" json:"concurrency,omitempty"`
}

// Probe runs the configured probes on a target for the whole window, each
// on its own schedule (open loop, like internal/loadgen: execution k of a
// probe is scheduled at from + k/rate and its latency runs from that
// scheduled start, so time spent queued behind a lock counts). Each
// execution yields a "latency:<name>" sample in ms (errors excluded); each
// window yields one "error_rate:<name>" sample (Count executions, Errors
// failures). Safe for concurrent use; Close releases its connections.
type Probe struct {
	probes  []ProbeConfig
	store   SampleStore
	workers int // connections per target: the probes' summed Concurrency

	mu    sync.Mutex
	pools map[string]*pgxpool.Pool
}

var _ KPISource = (*Probe)(nil)

// NewProbe validates the probes and returns the source; store keeps the
// collected windows (nil: a fresh MemoryStore).
func NewProbe(probes []ProbeConfig, store SampleStore) (*Probe, error) {
	if len(probes) == 0 {
		return nil, fmt.Errorf("%w: probe source without probes", ErrBadConfig)
	}
	if store == nil {
		store = NewMemoryStore(0)
	}
	seen := map[string]bool{}
	ps := make([]ProbeConfig, len(probes))
	workers := 0
	for i, p := range probes {
		switch {
		case p.Name == "" || seen[p.Name]:
			return nil, fmt.Errorf("%w: probe %d: name %q empty or duplicate", ErrBadConfig, i, p.Name)
		case p.SQL == "":
			return nil, fmt.Errorf("%w: probe %s: sql is empty", ErrBadConfig, p.Name)
		case p.Rate < 0 || p.Rate > 1000:
			return nil, fmt.Errorf("%w: probe %s: rate %g: want (0, 1000] per second", ErrBadConfig, p.Name, p.Rate)
		case p.Timeout < 0:
			return nil, fmt.Errorf("%w: probe %s: timeout %s < 0", ErrBadConfig, p.Name, p.Timeout)
		case p.Concurrency < 0 || p.Concurrency > 64:
			return nil, fmt.Errorf("%w: probe %s: concurrency %d: want 0..64", ErrBadConfig, p.Name, p.Concurrency)
		}
		seen[p.Name] = true
		if p.Rate == 0 {
			p.Rate = 10
		}
		if p.Timeout == 0 {
			p.Timeout = 5 * time.Second
		}
		if p.Concurrency == 0 {
			p.Concurrency = max(2, int(p.Rate/10))
		}
		workers += p.Concurrency
		ps[i] = p
	}
	return &Probe{probes: ps, store: store, workers: workers, pools: map[string]*pgxpool.Pool{}}, nil
}

// Name implements KPISource.
func (p *Probe) Name() string { return "probe" }

// Close closes the connections to every target.
func (p *Probe) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, pool := range p.pools {
		pool.Close()
		delete(p.pools, k)
	}
}

// Warm implements Warmer: it opens the probe's connections to t.
func (p *Probe) Warm(ctx context.Context, t Target) error {
	_, err := sharedPool(ctx, &p.mu, p.pools, t, int32(p.workers), true)
	return err
}

type probeRun struct {
	probe     int
	scheduled time.Time
}

// Collect implements KPISource. It measures from max(from, now) to to; a
// window already past that was not collected returns ErrWindowLost.
func (p *Probe) Collect(ctx context.Context, t Target, from, to time.Time) ([]judge.Sample, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("probe %s: empty window", t.Instance)
	}
	key := windowKey("probe", t.Instance, from, to)
	var out []judge.Sample
	if ok, err := loadJSON(ctx, p.store, key, &out); err != nil || ok {
		return out, err
	}
	if !to.After(time.Now()) {
		return nil, fmt.Errorf("probe %s: %w", t.Instance, ErrWindowLost)
	}
	pool, err := sharedPool(ctx, &p.mu, p.pools, t, int32(p.workers), true)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	if !to.After(time.Now()) { // connecting took the whole window: call Warm first
		return nil, fmt.Errorf("probe %s: connecting took the window: %w", t.Instance, ErrWindowLost)
	}
	if err := sleepUntil(ctx, from); err != nil {
		return nil, err
	}
	runs := make(chan probeRun, 1024)
	var (
		mu       sync.Mutex
		lat      []judge.Sample
		calls    = make([]int64, len(p.probes))
		failures = make([]int64, len(p.probes))
		wg       sync.WaitGroup
	)
	for range p.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range runs {
				pr := p.probes[r.probe]
				ectx, cancel := context.WithTimeout(ctx, pr.Timeout)
				_, err := pool.Exec(ectx, pr.SQL)
				cancel()
				elapsed := time.Since(r.scheduled)
				if ctx.Err() != nil {
					continue // the caller gave up: not an observation
				}
				mu.Lock()
				calls[r.probe]++
				if err != nil {
					failures[r.probe]++
				} else {
					lat = append(lat, judge.Sample{Instance: t.Instance, KPI: judge.KPILatencyPrefix + pr.Name, At: r.scheduled,
						Value: float64(elapsed) / float64(time.Millisecond), Count: 1})
				}
				mu.Unlock()
			}
		}()
	}
	p.schedule(ctx, runs, time.Now(), to)
	close(runs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out = lat
	for i, pr := range p.probes {
		if calls[i] > 0 {
			out = append(out, judge.Sample{Instance: t.Instance, KPI: judge.KPIErrorRate + ":" + pr.Name, At: to,
				Value: float64(failures[i]) / float64(calls[i]), Count: calls[i], Errors: failures[i]})
		}
	}
	return out, saveJSON(ctx, p.store, key, out)
}

// schedule sends every probe's runs scheduled in [start, to) at its rate,
// following the clock. A run that finds all workers busy and the queue
// full is still recorded late, never dropped: its latency shows the wait.
func (p *Probe) schedule(ctx context.Context, runs chan<- probeRun, start, to time.Time) {
	next := make([]time.Time, len(p.probes))
	period := make([]time.Duration, len(p.probes))
	for i, pr := range p.probes {
		period[i] = time.Duration(float64(time.Second) / pr.Rate)
		// Stagger the probes so they do not all fire together.
		next[i] = start.Add(time.Duration(i) * period[i] / time.Duration(len(p.probes)))
	}
	for {
		first := -1
		for i := range next {
			if next[i].Before(to) && (first < 0 || next[i].Before(next[first])) {
				first = i
			}
		}
		if first < 0 {
			return
		}
		if err := sleepUntil(ctx, next[first]); err != nil {
			return
		}
		select {
		case runs <- probeRun{probe: first, scheduled: next[first]}:
		case <-ctx.Done():
			return
		}
		next[first] = next[first].Add(period[first])
	}
}
