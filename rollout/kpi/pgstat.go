package kpi

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schemacanary/schemacanary/rollout/judge"
)

// PgstatConfig configures the pgstat KPI source (YAML `canary.kpis.pgstat`).
//
//	pgstat:
//	  classes:
//	    orders_by_id: "^SELECT .* FROM orders WHERE id = \\$1"
//	    checkout: "INSERT INTO payments"
type PgstatConfig struct {
	// Disabled turns the source off (it is on by default).
	Disabled bool `yaml:"disabled,omitempty" json:"disabled,omitempty"`
	// Classes name query classes by a regular expression matched against
	// pg_stat_statements' normalized query text; each class yields the KPI
	// "latency:<class>", the mean execution time in ms of its calls in
	// the interval (Count = calls). A query in several classes counts in each.
	Classes map[string]string `yaml:"classes,omitempty" json:"classes,omitempty"`
	// MinCalls is the fewest calls a class needs in an interval to yield a
	// latency sample; default 1.
	MinCalls int64 `yaml:"min_calls,omitempty" json:"min_calls,omitempty"`
}

// Pgstat samples PostgreSQL's cumulative statistics of the target's
// database between two snapshots: pg_stat_statements per query class
// (latency), pg_stat_database (error_rate = xact_rollback out of all
// transactions, deadlocks, conflicts) and pg_stat_activity (lock_waits:
// sessions of the database waiting on a lock when the window ends).
// Safe for concurrent use; Close releases its connections.
type Pgstat struct {
	classes  map[string]*regexp.Regexp
	minCalls int64
	p        passive[pgstatSnap]

	mu    sync.Mutex
	pools map[string]*pgxpool.Pool
}

var _ KPISource = (*Pgstat)(nil)

// NewPgstat validates cfg and returns the source; store keeps snapshots and
// collected windows (nil: a fresh MemoryStore).
func NewPgstat(cfg PgstatConfig, store SampleStore) (*Pgstat, error) {
	if store == nil {
		store = NewMemoryStore(0)
	}
	s := &Pgstat{classes: map[string]*regexp.Regexp{}, minCalls: max(cfg.MinCalls, 1), pools: map[string]*pgxpool.Pool{}}
	for name, expr := range cfg.Classes {
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("%w: pgstat class %s: %w", ErrBadConfig, name, err)
		}
		if name == "" {
			return nil, fmt.Errorf("%w: pgstat class with an empty name", ErrBadConfig)
		}
		s.classes[name] = re
	}
	s.p = passive[pgstatSnap]{source: "pgstat", store: store, slack: time.Second, take: s.snapshot, diff: s.diff}
	return s, nil
}

// Name implements KPISource.
func (s *Pgstat) Name() string { return "pgstat" }

// Collect implements KPISource.
func (s *Pgstat) Collect(ctx context.Context, t Target, from, to time.Time) ([]judge.Sample, error) {
	return s.p.collect(ctx, t, from, to)
}

// Close closes the connections to every target.
func (s *Pgstat) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range s.pools {
		p.Close()
		delete(s.pools, k)
	}
}

// Warm implements Warmer: it opens the source's connections to t.
func (s *Pgstat) Warm(ctx context.Context, t Target) error {
	_, err := s.pool(ctx, t)
	return err
}

func (s *Pgstat) pool(ctx context.Context, t Target) (*pgxpool.Pool, error) {
	return sharedPool(ctx, &s.mu, s.pools, t, 2, false)
}

// sharedPool returns the pool for t's database from pools, creating it
// (with maxConns connections) on first use; with perSchema, the pool is
// t's schema's own, its sessions' search_path set to it (the targets of
// one database share a pool otherwise). mu guards pools.
func sharedPool(ctx context.Context, mu *sync.Mutex, pools map[string]*pgxpool.Pool, t Target, maxConns int32, perSchema bool) (*pgxpool.Pool, error) {
	mu.Lock()
	defer mu.Unlock()
	key := t.DSN
	if perSchema && t.Schema != "" {
		key += "\x00" + t.Schema
	}
	if p, ok := pools[key]; ok {
		return p, nil
	}
	cfg, err := pgxpool.ParseConfig(t.DSN)
	if err != nil {
		return nil, fmt.Errorf("instance %s: invalid dsn (not shown)", t.Instance)
	}
	cfg.MaxConns = maxConns
	cfg.ConnConfig.RuntimeParams["application_name"] = "schemacanary-kpi"
	if perSchema && t.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{t.Schema}.Sanitize()
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("instance %s: connect: %w", t.Instance, err)
	}
	// Open every connection now, so no measurement pays for connecting.
	conns := make([]*pgxpool.Conn, 0, maxConns)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for range maxConns {
		c, err := p.Acquire(ctx)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("instance %s: connect: %w", t.Instance, err)
		}
		conns = append(conns, c)
	}
	pools[key] = p
	return p, nil
}

// pgstatSnap is one reading of the cumulative counters.
type pgstatSnap struct {
	At        time.Time              `json:"at"`
	Commits   int64                  `json:"commits"`
	Rollbacks int64                  `json:"rollbacks"`
	Deadlocks int64                  `json:"deadlocks"`
	Conflicts int64                  `json:"conflicts"`
	LockWaits int64                  `json:"lock_waits"`
	Classes   map[string]classTotals `json:"classes"`
	// HasStatements is false when pg_stat_statements is not installed.
	HasStatements bool `json:"has_statements"`
}

// classTotals sums pg_stat_statements counters over a class's queries.
type classTotals struct {
	Calls  int64   `json:"calls"`
	TimeMs float64 `json:"time_ms"`
}

func (s *Pgstat) snapshot(ctx context.Context, t Target) (pgstatSnap, error) {
	snap := pgstatSnap{Classes: map[string]classTotals{}}
	pool, err := s.pool(ctx, t)
	if err != nil {
		return snap, err
	}
	// Read pg_stat_database outside any transaction: with the default
	// stats_fetch_consistency = cache a transaction would freeze it.
	err = pool.QueryRow(ctx, `SELECT coalesce(xact_commit, 0), coalesce(xact_rollback, 0), coalesce(deadlocks, 0), coalesce(conflicts, 0),
		(SELECT count(*) FROM pg_stat_activity a WHERE a.datname = current_database() AND a.wait_event_type = 'Lock')
		FROM pg_stat_database WHERE datname = current_database()`).
		Scan(&snap.Commits, &snap.Rollbacks, &snap.Deadlocks, &snap.Conflicts, &snap.LockWaits)
	if err != nil {
		return snap, fmt.Errorf("pg_stat_database: %w", err)
	}
	snap.At = time.Now()
	if len(s.classes) == 0 {
		return snap, nil
	}
	var installed bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')`).Scan(&installed); err != nil {
		return snap, fmt.Errorf("pg_extension: %w", err)
	}
	if !installed {
		return snap, nil
	}
	snap.HasStatements = true
	rows, err := pool.Query(ctx, `SELECT query, calls, total_exec_time FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel`)
	if err != nil {
		return snap, fmt.Errorf("pg_stat_statements: %w", err)
	}
	var (
		query string
		calls int64
		ms    float64
	)
	_, err = pgx.ForEachRow(rows, []any{&query, &calls, &ms}, func() error {
		for name, re := range s.classes {
			if re.MatchString(query) {
				c := snap.Classes[name]
				c.Calls += calls
				c.TimeMs += ms
				snap.Classes[name] = c
			}
		}
		return nil
	})
	if err != nil {
		return snap, fmt.Errorf("pg_stat_statements: %w", err)
	}
	return snap, nil
}

// diff turns two snapshots into the window's samples. A counter that went
// down (a stats reset, pg_stat_statements evicting a query) yields no
// sample for that KPI rather than a negative one.
func (s *Pgstat) diff(t Target, prev, cur pgstatSnap, _, to time.Time) []judge.Sample {
	var out []judge.Sample
	add := func(kpi string, value float64, count, errs int64) {
		out = append(out, judge.Sample{Instance: t.Instance, KPI: kpi, At: to, Value: value, Count: count, Errors: errs})
	}
	xacts := (cur.Commits - prev.Commits) + (cur.Rollbacks - prev.Rollbacks)
	if xacts > 0 && cur.Commits >= prev.Commits && cur.Rollbacks >= prev.Rollbacks {
		rb := cur.Rollbacks - prev.Rollbacks
		add(judge.KPIErrorRate, float64(rb)/float64(xacts), xacts, rb)
		if d := cur.Deadlocks - prev.Deadlocks; d >= 0 {
			add(judge.KPIDeadlocks, float64(d)/float64(xacts), xacts, d)
		}
		if c := cur.Conflicts - prev.Conflicts; c >= 0 {
			add(judge.KPIConflicts, float64(c)/float64(xacts), xacts, c)
		}
	}
	add(judge.KPILockWaits, float64(cur.LockWaits), 1, 0)
	names := make([]string, 0, len(cur.Classes))
	for n := range cur.Classes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c, p := cur.Classes[n], prev.Classes[n]
		calls, ms := c.Calls-p.Calls, c.TimeMs-p.TimeMs
		if calls >= s.minCalls && ms >= 0 {
			add(judge.KPILatencyPrefix+n, ms/float64(calls), calls, 0)
		}
	}
	return out
}
