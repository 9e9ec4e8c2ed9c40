package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/schemacanary/schemacanary/analysis"
)

// CatalogFunc opens the live catalog of the database at dsn for the
// analysis; close releases it. It is called once per trial.
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

// WithApplier sets the applier of an arm. ArmProduct has none by default
// (the caller wires the product's in); ArmGoose defaults to GooseApplier.
func WithApplier(arm Arm, a Applier) Option {
	return func(r *Runner) error {
		if a == nil {
			return fmt.Errorf("lab: WithApplier(%s, nil)", arm)
		}
		r.appliers[arm] = a
		return nil
	}
}

// WithCorpus replays the goose files of the named project folders under
// dir (../shared/corpus/goose): Run applies each project's files in order
// on an empty database, and every file that applies becomes a template
// replayed on a schema built from the files before it.
func WithCorpus(dir string, projects ...string) Option {
	return func(r *Runner) error {
		if dir == "" || len(projects) == 0 {
			return errors.New("lab: WithCorpus needs a folder and projects")
		}
		r.corpusDir, r.corpusProjects = dir, projects
		return nil
	}
}

// Runner runs a lab. Create it with New; Run may be called once.
type Runner struct {
	cfg            Config
	judge          Judge
	appliers       map[Arm]Applier
	log            *slog.Logger
	progress       io.Writer
	catalog        CatalogFunc
	corpusDir      string
	corpusProjects []string
}

// New validates cfg and returns a Runner that labels outcomes with judge.
// Every arm of cfg.Arms needs an applier (WithApplier; ArmGoose has one).
func New(cfg Config, judge Judge, opts ...Option) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if judge == nil {
		return nil, fmt.Errorf("%w: nil judge", ErrBadConfig)
	}
	r := &Runner{cfg: cfg, judge: judge, log: slog.New(slog.DiscardHandler), appliers: map[Arm]Applier{ArmGoose: GooseApplier{}}}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	for _, a := range cfg.Arms {
		if r.appliers[a] == nil {
			return nil, fmt.Errorf("%w: no applier for arm %s (WithApplier)", ErrBadConfig, a)
		}
	}
	return r, nil
}

// Summary counts what a run produced.
type Summary struct {
	// Planned runs; Resumed of them were in the output already; Runs were
	// made now; Failed could not be measured (they are retried by the next
	// run).
	Planned int `json:"planned"`
	Resumed int `json:"resumed"`
	Runs    int `json:"runs"`
	Failed  int `json:"failed"`
	// Examples and Unsafe count the training runs (primary arm, first
	// run) made now.
	Examples int `json:"examples"`
	Unsafe   int `json:"unsafe"`
	Repaired int `json:"repaired"`
	// Corpus says, per project, which files could be replayed.
	Corpus []CorpusCheck `json:"corpus,omitempty"`
	// Setup is the time spent preparing the template databases.
	Setup   time.Duration `json:"setup"`
	Elapsed time.Duration `json:"elapsed"`
	// Complete is true when every planned run is in the output.
	Complete bool `json:"complete"`
}

// maxFailures aborts a run whose trials keep failing.
const maxFailures = 25

// Run prepares the template databases on the server at adminDSN (a
// superuser DSN whose database is only used to create others; the lanes'
// databases lab_<lane>_* are dropped and cloned again), replays the corpus
// check, plans the runs, skips those out already has, and runs the rest
// on cfg.Lanes lanes, writing each record to out as it finishes.
func (r *Runner) Run(ctx context.Context, adminDSN string, out Output) (Summary, error) {
	start := time.Now()
	srv, err := newServer(adminDSN, r.log)
	if err != nil {
		return Summary{}, err
	}
	var sum Summary
	if r.corpusDir != "" {
		if r.cfg.Corpus, sum.Corpus, err = r.checkCorpus(ctx, srv); err != nil {
			return sum, err
		}
	}
	trials, err := Plan(r.cfg)
	if err != nil {
		return sum, err
	}
	sum.Planned = len(trials)
	done, err := out.Begin(PlanFingerprint(r.cfg, trials))
	if err != nil {
		return sum, err
	}
	var todo []Trial
	for _, tr := range trials {
		if done[tr.Key()] {
			sum.Resumed++
		} else {
			todo = append(todo, tr)
		}
	}
	lanes, err := r.prepare(ctx, srv, todo)
	if err != nil {
		return sum, err
	}
	defer closeLanes(lanes)
	sum.Setup = time.Since(start)
	r.log.Info("lab prepared", "lanes", r.cfg.Lanes, "planned", len(trials), "resumed", sum.Resumed,
		"setup", sum.Setup.Round(time.Millisecond))
	err = r.runAll(ctx, srv, lanes, todo, out, &sum, start)
	sum.Elapsed = time.Since(start)
	sum.Complete = sum.Resumed+sum.Runs == sum.Planned
	return sum, err
}

// checkCorpus loads the corpus and applies every project in order on a
// scratch database to find the files that can be replayed.
func (r *Runner) checkCorpus(ctx context.Context, srv *server) ([]Template, []CorpusCheck, error) {
	projects, err := LoadCorpus(r.corpusDir, r.corpusProjects)
	if err != nil {
		return nil, nil, err
	}
	var ts []Template
	var checks []CorpusCheck
	for _, pr := range projects {
		const name = "lab_corpus_check"
		if err := srv.create(ctx, name); err != nil {
			return nil, nil, err
		}
		files, chk, err := CheckCorpus(ctx, srv.dsn(name, untrackedParams), pr)
		if derr := srv.drop(ctx, name); err == nil {
			err = derr
		}
		if err != nil {
			return nil, nil, err
		}
		r.log.Info("corpus checked", "project", pr.Name, "files", chk.Files, "replayable", chk.Applied, "skipped", len(chk.Skipped))
		ts = append(ts, CorpusTemplates(files)...)
		checks = append(checks, chk)
	}
	return ts, checks, nil
}

// prepare builds (or reuses) the template database of every size the
// runs need, smallest first, drops the lanes' old databases and clones
// every lane's databases up front (a clone checkpoints the server, which
// would disturb the trials running meanwhile).
func (r *Runner) prepare(ctx context.Context, srv *server, todo []Trial) ([]*lane, error) {
	need := map[int64]bool{}
	for _, tr := range todo {
		if tr.Template.Corpus == nil {
			need[tr.Rows] = true
		}
	}
	for _, rows := range r.cfg.Sizes {
		if !need[rows] {
			continue
		}
		t0 := time.Now()
		built, err := srv.prepareTemplate(ctx, rows)
		if err != nil {
			return nil, err
		}
		r.log.Info("template database ready", "db", TemplateDatabase(rows), "built", built, "took", time.Since(t0).Round(time.Millisecond))
	}
	for i := range 8 {
		for _, rows := range r.cfg.Sizes {
			if err := srv.drop(ctx, laneDatabase(i, rows)); err != nil {
				return nil, err
			}
		}
		if len(r.cfg.Corpus) == 0 {
			continue
		}
		if err := srv.drop(ctx, corpusDatabase(i)); err != nil {
			return nil, err
		}
	}
	lanes := make([]*lane, r.cfg.Lanes)
	for i := range lanes {
		lanes[i] = &lane{id: i, tables: map[int64]*tableDB{}}
		for _, rows := range r.cfg.Sizes {
			if !need[rows] {
				continue
			}
			t, err := srv.openTableDB(ctx, i, rows)
			if err != nil {
				closeLanes(lanes)
				return nil, err
			}
			lanes[i].tables[rows] = t
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

// lane is one worker with its own databases (one clone per table size,
// made when first needed).
type lane struct {
	id     int
	tables map[int64]*tableDB
}

func (ln *lane) close() {
	for _, t := range ln.tables {
		t.close()
	}
}

// runAll hands the runs to the lanes and writes the records.
func (r *Runner) runAll(ctx context.Context, srv *server, lanes []*lane, todo []Trial, out Output, sum *Summary, start time.Time) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sched := newScheduler(todo, len(lanes), r.cfg.Budget, start, Trial.heavy)
	stop := context.AfterFunc(ctx, sched.stop)
	defer stop()
	results := make(chan Record)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures int
		fatal    error
	)
	for _, ln := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				tr, ok := sched.next()
				if !ok {
					return
				}
				rec, err := r.trial(ctx, srv, ln, tr)
				sched.done(tr)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					r.log.Warn("trial failed", "run", tr.Key(), "template", tr.Template.ID, "rows", tr.Rows, "err", err)
					r.forget(ln, tr)
					mu.Lock()
					failures++
					if failures >= maxFailures && fatal == nil {
						fatal = fmt.Errorf("lab: %d trials failed, the last: %s: %w", failures, tr.Key(), err)
						cancel()
					}
					mu.Unlock()
					continue
				}
				select {
				case results <- rec:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

	bar := newProgress(r.progress, sum.Planned, sum.Resumed, "measured", "unsafe")
	var writeErr error
	for rec := range results {
		if writeErr == nil {
			if err := out.Write(&rec); err != nil {
				writeErr = err
				cancel()
				continue
			}
		}
		sum.Runs++
		if rec.Arm == r.cfg.Arms[0] && rec.Repeat == 0 {
			sum.Examples++
			if !rec.Safe {
				sum.Unsafe++
			}
		}
		if rec.Outcome.Repaired {
			sum.Repaired++
		}
		bar.update(sum.Resumed+sum.Runs, sum.Examples, sum.Unsafe)
	}
	bar.done()
	sum.Failed = failures
	switch {
	case fatal != nil:
		return fatal
	case writeErr != nil:
		return writeErr
	case ctx.Err() != nil && sum.Resumed+sum.Runs < sum.Planned:
		return fmt.Errorf("lab: stopped after %d of %d runs: %w", sum.Resumed+sum.Runs, sum.Planned, ctx.Err())
	}
	return nil
}

// forget drops a lane's clone after a failed trial, so the next trial on
// that size clones it again.
func (r *Runner) forget(ln *lane, tr Trial) {
	if t, ok := ln.tables[tr.Rows]; ok && tr.Template.Corpus == nil {
		t.close()
		delete(ln.tables, tr.Rows)
	}
}

// scheduler hands out runs in plan order. A heavy run takes all lanes but
// one (so it shares the machine with at most one light run), until the
// budget is spent.
type scheduler struct {
	mu       sync.Mutex
	cond     *sync.Cond
	pending  []Trial
	capacity int
	busy     int
	heavy    int // heavy runs under way
	stopped  bool
	budget   time.Duration
	start    time.Time
	// isHeavy says which runs are heavy (Trial.heavy for trials).
	isHeavy func(Trial) bool
}

func newScheduler(todo []Trial, lanes int, budget time.Duration, start time.Time, isHeavy func(Trial) bool) *scheduler {
	s := &scheduler{pending: append([]Trial(nil), todo...), capacity: lanes, budget: budget, start: start, isHeavy: isHeavy}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// weight is the share of the lanes a run takes.
func (s *scheduler) weight(tr Trial) int {
	if s.isHeavy(tr) {
		return max(1, s.capacity-1)
	}
	return 1
}

// next blocks until a run may start; false when there is none left, the
// budget is spent or the run was stopped. A heavy run that does not fit
// while no heavy run is under way holds back the light runs behind it, so
// it is not starved.
func (s *scheduler) next() (Trial, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.budget > 0 && time.Since(s.start) > s.budget {
			s.stopped = true
		}
		if s.stopped || len(s.pending) == 0 {
			return Trial{}, false
		}
		reserve := 0
		for i, tr := range s.pending {
			w := s.weight(tr)
			if s.isHeavy(tr) && s.heavy > 0 {
				continue // one heavy run at a time
			}
			if w <= s.capacity-s.busy-reserve {
				s.pending = append(s.pending[:i], s.pending[i+1:]...)
				s.busy += w
				if s.isHeavy(tr) {
					s.heavy++
				}
				return tr, true
			}
			if s.isHeavy(tr) && reserve == 0 {
				reserve = w
			}
		}
		s.cond.Wait()
	}
}

func (s *scheduler) done(tr Trial) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy -= s.weight(tr)
	if s.isHeavy(tr) {
		s.heavy--
	}
	s.cond.Broadcast()
}

func (s *scheduler) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.cond.Broadcast()
}
