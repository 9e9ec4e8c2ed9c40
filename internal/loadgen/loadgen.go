// Package loadgen is an open-loop load generator for PostgreSQL over pgx.
//
// It schedules weighted SQL statements at fixed intervals by the clock (not
// when a worker becomes free) and measures each statement's latency from
// its scheduled start, like `pgbench --rate`. A lock pile-up therefore shows
// as latency for everything scheduled behind it, where a closed-loop client
// would just slow down and hide it.
//
// It is used by the rollout tests, the lab and the demo:
//
//	g, err := loadgen.Start(ctx, loadgen.Config{
//		DSN:  dsn,
//		Rate: 500,
//		Statements: []loadgen.Statement{
//			{Name: "by_id", SQL: "SELECT * FROM orders WHERE id = $1", Weight: 9, Args: []loadgen.Arg{loadgen.IntRange(1, 100000)}},
//			{Name: "insert", SQL: "INSERT INTO orders(note) VALUES ($1)", Weight: 1, Args: []loadgen.Arg{loadgen.Text(12)}},
//		},
//	})
//	...
//	res := g.Stop()
//	p99 := res.Stats["by_id"].Quantile(0.99)
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrBadConfig is wrapped by Start for invalid configurations.
var ErrBadConfig = errors.New("loadgen: invalid config")

// Arg generates one statement parameter. It is called from the single
// scheduling goroutine, so it may use r without locking.
type Arg func(r *rand.Rand) any

// IntRange returns an Arg giving a uniformly random int64 in [lo, hi].
func IntRange(lo, hi int64) Arg {
	if hi < lo {
		lo, hi = hi, lo
	}
	return func(r *rand.Rand) any { return lo + r.Int64N(hi-lo+1) }
}

// Text returns an Arg giving a random lowercase string of n letters.
func Text(n int) Arg {
	return func(r *rand.Rand) any {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + r.IntN(26))
		}
		return string(b)
	}
}

// Statement is one kind of work the generator schedules.
type Statement struct {
	// Name labels the statement's results; required and unique.
	Name string `yaml:"name" json:"name"`
	// SQL is run with pgx's extended protocol; $1... take Args.
	SQL string `yaml:"sql" json:"sql"`
	// Weight is the statement's relative share of the rate; default 1.
	Weight float64 `yaml:"weight,omitempty" json:"weight,omitempty"`
	// Args generate the parameters, one per placeholder.
	Args []Arg `yaml:"-" json:"-"`
}

// Config describes a load. Rate, DSN and at least one statement are required.
type Config struct {
	// DSN is the database to load (a secret: never logged).
	DSN string
	// Statements are picked at random by weight for each scheduled slot.
	Statements []Statement
	// Rate is the total number of statements scheduled per second.
	Rate float64
	// Workers is the number of connections executing statements; default 8.
	// When all are busy, scheduled statements queue and their latency,
	// measured from the scheduled start, grows.
	Workers int
	// Interval is the bucket width of Result's per-interval counts; default 1s.
	Interval time.Duration
	// Duration stops scheduling after this long; 0 runs until Stop or the
	// context ends.
	Duration time.Duration
	// MaxQueue bounds the statements waiting for a worker; a slot that
	// finds the queue full is counted as Dropped. Default 10 s worth of Rate
	// (at least 1000).
	MaxQueue int
	// StatementTimeout cancels a statement running longer (counted as an
	// error); 0 means no limit.
	StatementTimeout time.Duration
	// Seed makes the statement choice and parameters reproducible; 0 uses 1.
	Seed uint64
	// StopGrace is how long Stop lets queued and running statements finish
	// before cancelling them; default 5s.
	StopGrace time.Duration
}

func (c *Config) validate() error {
	var errs []error
	if c.DSN == "" {
		errs = append(errs, errors.New("dsn is empty"))
	}
	if c.Rate <= 0 {
		errs = append(errs, fmt.Errorf("rate %g: must be > 0", c.Rate))
	}
	if len(c.Statements) == 0 {
		errs = append(errs, errors.New("no statements"))
	}
	seen := map[string]bool{}
	for i, s := range c.Statements {
		if s.Name == "" || seen[s.Name] {
			errs = append(errs, fmt.Errorf("statement %d: name %q empty or duplicate", i, s.Name))
		}
		seen[s.Name] = true
		if s.SQL == "" {
			errs = append(errs, fmt.Errorf("statement %q: sql is empty", s.Name))
		}
		if s.Weight < 0 {
			errs = append(errs, fmt.Errorf("statement %q: weight %g < 0", s.Name, s.Weight))
		}
	}
	if c.Workers < 0 || c.MaxQueue < 0 || c.Interval < 0 || c.Duration < 0 || c.StatementTimeout < 0 {
		errs = append(errs, errors.New("workers, max_queue, interval, duration, statement_timeout must be >= 0"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrBadConfig, errors.Join(errs...))
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = max(1000, int(c.Rate*10))
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.StopGrace == 0 {
		c.StopGrace = 5 * time.Second
	}
	return nil
}

type job struct {
	stmt      int
	scheduled time.Time
	args      []any
}

// Generator is a running load. Its methods are safe for concurrent use.
type Generator struct {
	cfg   Config
	pool  *pgxpool.Pool
	start time.Time

	queue      chan job
	stopSched  context.CancelFunc
	cancelExec context.CancelFunc
	schedDone  chan struct{}
	workers    sync.WaitGroup

	mu        sync.Mutex
	obs       []Observation
	dropped   map[string]int
	scheduled map[string]int
	end       time.Time

	stopOnce sync.Once
	final    *Result
}

// Start connects (Workers connections), then schedules statements until
// Stop, ctx's end or Duration. It returns an error wrapping ErrBadConfig for
// an invalid config, or the connection error.
func Start(ctx context.Context, cfg Config) (*Generator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("loadgen: parse dsn: %w", err)
	}
	pc.MaxConns = int32(cfg.Workers)
	pc.MinConns = int32(cfg.Workers)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("loadgen: connect: %w", err)
	}
	// Open every connection now so the first slots do not pay for it.
	conns := make([]*pgxpool.Conn, 0, cfg.Workers)
	for range cfg.Workers {
		c, err := pool.Acquire(ctx)
		if err != nil {
			for _, c := range conns {
				c.Release()
			}
			pool.Close()
			return nil, fmt.Errorf("loadgen: connect: %w", err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
	g := &Generator{cfg: cfg, pool: pool, queue: make(chan job, cfg.MaxQueue),
		schedDone: make(chan struct{}), dropped: map[string]int{}, scheduled: map[string]int{}}
	schedCtx, stopSched := context.WithCancel(ctx)
	execCtx, cancelExec := context.WithCancel(context.WithoutCancel(ctx))
	g.stopSched, g.cancelExec = stopSched, cancelExec
	g.start = time.Now()
	for range cfg.Workers {
		g.workers.Add(1)
		go g.work(execCtx)
	}
	go g.schedule(schedCtx)
	return g, nil
}

// schedule enqueues slot k at start + k/Rate, catching up after oversleeping
// so the schedule follows the clock.
func (g *Generator) schedule(ctx context.Context) {
	defer close(g.schedDone)
	defer close(g.queue)
	r := rand.New(rand.NewPCG(g.cfg.Seed, g.cfg.Seed^0x9e3779b97f4a7c15))
	cum := make([]float64, len(g.cfg.Statements))
	var total float64
	for i, s := range g.cfg.Statements {
		w := s.Weight
		if w == 0 {
			w = 1
		}
		total += w
		cum[i] = total
	}
	period := time.Duration(float64(time.Second) / g.cfg.Rate)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := int64(0); ; {
		next := g.start.Add(time.Duration(k) * period)
		if g.cfg.Duration > 0 && next.Sub(g.start) >= g.cfg.Duration {
			return
		}
		if wait := time.Until(next); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		now := time.Now()
		for ; ; k++ {
			next = g.start.Add(time.Duration(k) * period)
			if next.After(now) || (g.cfg.Duration > 0 && next.Sub(g.start) >= g.cfg.Duration) {
				break
			}
			x := r.Float64() * total
			i := 0
			for i < len(cum)-1 && x >= cum[i] {
				i++
			}
			st := g.cfg.Statements[i]
			args := make([]any, len(st.Args))
			for a, gen := range st.Args {
				args[a] = gen(r)
			}
			g.mu.Lock()
			g.scheduled[st.Name]++
			g.mu.Unlock()
			select {
			case g.queue <- job{stmt: i, scheduled: next, args: args}:
			default:
				g.mu.Lock()
				g.dropped[st.Name]++
				g.mu.Unlock()
			}
		}
	}
}

func (g *Generator) work(ctx context.Context) {
	defer g.workers.Done()
	for j := range g.queue {
		if ctx.Err() != nil {
			continue // drain without running after a cancelled stop
		}
		st := g.cfg.Statements[j.stmt]
		ectx, cancel := ctx, context.CancelFunc(func() {})
		if g.cfg.StatementTimeout > 0 {
			ectx, cancel = context.WithTimeout(ctx, g.cfg.StatementTimeout)
		}
		_, err := g.pool.Exec(ectx, st.SQL, j.args...)
		cancel()
		done := time.Now()
		if err != nil && ctx.Err() != nil {
			continue // cancelled by Stop: not an observation
		}
		o := Observation{Statement: st.Name, Scheduled: j.scheduled, Latency: done.Sub(j.scheduled)}
		if err != nil {
			o.Err = errorCode(err)
		}
		g.mu.Lock()
		g.obs = append(g.obs, o)
		g.mu.Unlock()
	}
}

// errorCode is the SQLSTATE of a server error, "timeout" or "client".
func errorCode(err error) string {
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		return pe.Code
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "client"
	}
}

// Snapshot returns the results observed so far; the load keeps running.
func (g *Generator) Snapshot() *Result {
	g.mu.Lock()
	defer g.mu.Unlock()
	end := g.end
	if end.IsZero() {
		end = time.Now()
	}
	return newResult(g.cfg, g.start, end, g.obs, g.dropped, g.scheduled)
}

// Stop stops scheduling, lets queued and running statements finish for up
// to StopGrace (then cancels them, without recording them), closes the
// connections and returns the final results. Calling it again returns the
// same results.
func (g *Generator) Stop() *Result {
	g.stopOnce.Do(func() {
		g.stopSched()
		<-g.schedDone
		g.mu.Lock()
		g.end = time.Now()
		g.mu.Unlock()
		done := make(chan struct{})
		go func() { g.workers.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(g.cfg.StopGrace):
			g.cancelExec()
			<-done
		}
		g.cancelExec()
		g.pool.Close()
		g.final = g.Snapshot()
	})
	return g.final
}

// Wait blocks until the configured Duration has elapsed (or ctx ends) and
// then stops the generator, returning the final results.
func (g *Generator) Wait(ctx context.Context) *Result {
	select {
	case <-g.schedDone:
	case <-ctx.Done():
	}
	return g.Stop()
}
