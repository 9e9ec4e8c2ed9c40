package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/schemacanary/schemacanary/analysis"
)

// CatalogFunc opens the live catalog of the database at dsn for the
// analysis; close releases it.
type CatalogFunc func(ctx context.Context, dsn string) (cat analysis.Catalog, close func(), err error)

// Option configures a Runner.
type Option func(*Runner) error

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(r *Runner) error {
		if l == nil {
			return errors.New("lab: WithLogger(nil)")
		}
		r.log = l
		return nil
	}
}

// WithProgress draws a progress bar on w (typically os.Stderr).
func WithProgress(w io.Writer) Option {
	return func(r *Runner) error { r.progress = w; return nil }
}

// WithCatalog gives the analysis live context (table sizes and traffic)
// through catalogs opened by open; without it the features lack context.
func WithCatalog(open CatalogFunc) Option {
	return func(r *Runner) error {
		if open == nil {
			return errors.New("lab: WithCatalog(nil)")
		}
		r.catalog = open
		return nil
	}
}

// Runner runs a lab. Create it with New; Run may be called once.
type Runner struct {
	cfg      Config
	judge    Judge
	log      *slog.Logger
	progress io.Writer
	catalog  CatalogFunc
}

// New validates cfg and returns a Runner that labels outcomes with judge.
func New(cfg Config, judge Judge, opts ...Option) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if judge == nil {
		return nil, fmt.Errorf("%w: nil judge", ErrBadConfig)
	}
	r := &Runner{cfg: cfg, judge: judge, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Summary counts what a run produced.
type Summary struct {
	Planned  int           `json:"planned"`
	Examples int           `json:"examples"`
	Unsafe   int           `json:"unsafe"`
	Repaired int           `json:"repaired"`
	Elapsed  time.Duration `json:"elapsed"`
}

// lane is one database with its own copy of every table.
type lane struct {
	id      int
	dsn     string
	db      *pgxpool.Pool
	shape   map[int64]string
	catalog analysis.Catalog
	close   func()
}

// Run plans the trials, prepares one database per lane on the server at
// adminDSN (a superuser DSN whose database is only used to create the lane
// databases lab_0, lab_1, ...; existing ones are dropped), runs every trial
// and writes one JSON Record per line to out, in completion order.
func (r *Runner) Run(ctx context.Context, adminDSN string, out io.Writer) (Summary, error) {
	start := time.Now()
	trials, err := Plan(r.cfg)
	if err != nil {
		return Summary{}, err
	}
	lanes, err := r.prepare(ctx, adminDSN)
	if err != nil {
		return Summary{}, err
	}
	defer closeLanes(lanes)
	r.log.Info("lab prepared", "lanes", len(lanes), "trials", len(trials), "setup", time.Since(start).Round(time.Millisecond))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan Trial)
	results := make(chan Record)
	errc := make(chan error, len(lanes))
	var wg sync.WaitGroup
	for _, ln := range lanes {
		wg.Add(1)
		go func(ln *lane) {
			defer wg.Done()
			for tr := range work {
				rec, err := r.trial(ctx, ln, tr)
				if err != nil {
					errc <- fmt.Errorf("trial %d (%s on %s): %w", tr.Index, tr.Template.ID, TableName(tr.Rows), err)
					cancel()
					return
				}
				select {
				case results <- rec:
				case <-ctx.Done():
					return
				}
			}
		}(ln)
	}
	go func() {
		defer close(work)
		for _, tr := range trials {
			if r.cfg.Budget > 0 && time.Since(start) > r.cfg.Budget {
				r.log.Warn("time budget spent: no new trials", "budget", r.cfg.Budget, "started", tr.Index)
				return
			}
			select {
			case work <- tr:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	sum := Summary{Planned: len(trials)}
	bar := newProgress(r.progress, len(trials))
	enc := json.NewEncoder(out)
	var writeErr error
	for rec := range results {
		if writeErr == nil {
			if err := enc.Encode(&rec); err != nil {
				writeErr = fmt.Errorf("lab: write record: %w", err)
				cancel()
			}
		}
		sum.Examples++
		if !rec.Safe {
			sum.Unsafe++
		}
		if rec.Outcome.Repaired {
			sum.Repaired++
		}
		bar.update(sum.Examples, sum.Unsafe)
	}
	bar.done()
	sum.Elapsed = time.Since(start)
	select {
	case err := <-errc:
		return sum, err
	default:
	}
	if writeErr != nil {
		return sum, writeErr
	}
	if err := ctx.Err(); err != nil && sum.Examples < len(trials) {
		return sum, fmt.Errorf("lab: stopped after %d of %d trials: %w", sum.Examples, len(trials), err)
	}
	return sum, nil
}

// prepare builds lane 0's database and tables, then clones it for the
// other lanes (CREATE DATABASE ... TEMPLATE copies files, far faster than
// building 2M-row tables again).
func (r *Runner) prepare(ctx context.Context, adminDSN string) ([]*lane, error) {
	admin, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return nil, fmt.Errorf("lab: connect: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	cc, err := pgx.ParseConfig(adminDSN)
	if err != nil {
		return nil, fmt.Errorf("lab: parse dsn: %w", err)
	}
	lanes := make([]*lane, r.cfg.Lanes)
	for i := range lanes {
		name := fmt.Sprintf("lab_%d", i)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return nil, fmt.Errorf("lab: drop %s: %w", name, err)
		}
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE lab_0"); err != nil {
		return nil, fmt.Errorf("lab: create lab_0: %w", err)
	}
	first, err := r.openLane(ctx, adminDSN, cc, 0)
	if err != nil {
		return nil, err
	}
	if err := r.buildTables(ctx, first); err != nil {
		first.close()
		return nil, err
	}
	first.close() // a template database must have no sessions
	for i := 1; i < len(lanes); i++ {
		t0 := time.Now()
		name := fmt.Sprintf("lab_%d", i)
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE lab_0 STRATEGY FILE_COPY"); err != nil {
			// Before PostgreSQL 15 there is no STRATEGY; FILE_COPY is the only way.
			if _, err2 := admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE lab_0"); err2 != nil {
				return nil, fmt.Errorf("lab: clone %s: %w", name, errors.Join(err, err2))
			}
		}
		r.log.Debug("lane cloned", "lane", i, "took", time.Since(t0).Round(time.Millisecond))
	}
	for i := range lanes {
		ln, err := r.openLane(ctx, adminDSN, cc, i)
		if err != nil {
			closeLanes(lanes)
			return nil, err
		}
		lanes[i] = ln
		for _, rows := range r.cfg.Sizes {
			fp, err := fingerprint(ctx, ln.db, TableName(rows))
			if err != nil {
				closeLanes(lanes)
				return nil, err
			}
			ln.shape[rows] = fp
		}
		if r.catalog != nil {
			cat, closeCat, err := r.catalog(ctx, ln.dsn)
			if err != nil {
				closeLanes(lanes)
				return nil, fmt.Errorf("lab: open catalog: %w", err)
			}
			ln.catalog = cat
			dbClose := ln.close
			ln.close = func() { closeCat(); dbClose() }
		}
	}
	return lanes, nil
}

func closeLanes(lanes []*lane) {
	for _, ln := range lanes {
		if ln != nil {
			ln.close()
		}
	}
}

// openLane connects to lane i's database (lab_i).
func (r *Runner) openLane(ctx context.Context, adminDSN string, cc *pgx.ConnConfig, i int) (*lane, error) {
	name := fmt.Sprintf("lab_%d", i)
	pc, err := pgxpool.ParseConfig(adminDSN)
	if err != nil {
		return nil, fmt.Errorf("lab: parse dsn: %w", err)
	}
	pc.ConnConfig.Database = name
	pc.MaxConns = 6
	untracked(pc)
	db, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("lab: connect %s: %w", name, err)
	}
	return &lane{id: i, db: db, shape: map[int64]string{}, close: db.Close, dsn: (&pgconnURL{cfg: cc, db: name}).String()}, nil
}

// buildTables creates the customers table and one orders table per size.
func (r *Runner) buildTables(ctx context.Context, ln *lane) error {
	// The workload features read pg_stat_statements when the server loads it.
	if _, err := ln.db.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		r.log.Warn("no pg_stat_statements: workload features will be 0", "err", err)
	}
	if err := createCustomers(ctx, ln.db); err != nil {
		return err
	}
	for _, rows := range r.cfg.Sizes {
		t0 := time.Now()
		if err := createTable(ctx, ln.db, rows); err != nil {
			return err
		}
		r.log.Debug("table ready", "table", TableName(rows), "took", time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

// pgconnURL renders a libpq URL for another database on the same server.
type pgconnURL struct {
	cfg *pgx.ConnConfig
	db  string
}

func (u *pgconnURL) String() string {
	user := u.cfg.User
	if u.cfg.Password != "" {
		user += ":" + u.cfg.Password
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", user, u.cfg.Host, u.cfg.Port, u.db)
}

// untracked keeps the lab's own statements (table builds, migrations,
// reverts, probes) out of pg_stat_statements, so the workload features see
// only the application load.
func untracked(pc *pgxpool.Config) {
	if pc.ConnConfig.RuntimeParams == nil {
		pc.ConnConfig.RuntimeParams = map[string]string{}
	}
	pc.ConnConfig.RuntimeParams["pg_stat_statements.track"] = "none"
}
