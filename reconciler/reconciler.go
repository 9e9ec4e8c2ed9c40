package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/schemacanary/schemacanary/reconciler/change"
)

// Reconciler runs reconcile passes: ingest merged migrations, predict open
// proposals, bring targets that joined the fleet late up to its version,
// take the head of the queue as far as it can go, and flush the
// side effects of persisted transitions (audit, comments, revert). One
// Reconciler must run one pass at a time (the Daemon serializes them); the
// state lives in the Store, so a new Reconciler resumes where a killed one
// stopped.
type Reconciler struct {
	store    Store
	src      Source
	assessor Assessor
	roll     Roller
	forge    Forge
	audit    Audit
	o        options

	// proposals remembers, per open proposal, the head and files last
	// predicted and commented, so an unchanged proposal costs nothing;
	// closed proposals are dropped, so it stays as small as the set of open
	// ones.
	mu        sync.Mutex
	proposals map[string]string

	// known is the catch-up step's set of targets holding the newest done
	// change (step_catchup.go).
	known upToDateSet
}

// Option configures a Reconciler.
type Option func(*options) error

type options struct {
	log           *slog.Logger
	metrics       *Metrics
	onDown        string
	maxAttempts   int
	onOutcome     func()
	maxSteps      int
	forgeRequired bool
	notifier      Notifier

	analysisTimeout time.Duration
	trigger         func()
}

// Instance-down policies for WithOnInstanceDown.
const (
	// OnDownPause pauses the rollout before the wave of an unreachable
	// target (its pre-flight found it down; nothing of the wave is
	// applied): the change keeps its state and each pass checks again,
	// going on once the target is back (default). An instance lost during
	// an apply is treated as OnDownHold.
	OnDownPause = "pause"
	// OnDownRollback rolls the change back on every reachable instance that
	// holds it when an instance goes down mid-rollout.
	OnDownRollback = "rollback"
	// OnDownHold stops and leaves every instance as it is (failed state,
	// versions reported), for a human to decide.
	OnDownHold = "hold"
)

// WithLogger sets the logger (wrap it in a RedactingHandler).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("nil logger")
		}
		o.log = l
		return nil
	}
}

// WithMetrics records metrics into m.
func WithMetrics(m *Metrics) Option {
	return func(o *options) error { o.metrics = m; return nil }
}

// WithOnInstanceDown sets what happens when an instance is unreachable
// during a rollout: OnDownPause (default), OnDownRollback or OnDownHold.
func WithOnInstanceDown(policy string) Option {
	return func(o *options) error {
		if policy != OnDownPause && policy != OnDownRollback && policy != OnDownHold {
			return fmt.Errorf("on instance down %q: want %s, %s or %s", policy, OnDownPause, OnDownRollback, OnDownHold)
		}
		o.onDown = policy
		return nil
	}
}

// WithMaxAttempts sets how many consecutive transient failures of a step
// move a change to failed; default 5.
func WithMaxAttempts(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("max attempts %d < 1", n)
		}
		o.maxAttempts = n
		return nil
	}
}

// WithOnOutcome registers a function called after every outcome (done,
// rolled back, failed); the daemon retrains there. It must not block.
func WithOnOutcome(fn func()) Option {
	return func(o *options) error { o.onOutcome = fn; return nil }
}

// New builds a Reconciler. store, src, assessor and roll are required;
// forge and audit may be nil (no comments, no audit branch).
func New(st Store, src Source, assessor Assessor, roll Roller, forge Forge, audit Audit, opts ...Option) (*Reconciler, error) {
	if st == nil || src == nil || assessor == nil || roll == nil {
		return nil, errors.New("reconciler: store, source, assessor and roller are required")
	}
	o := options{log: slog.New(slog.DiscardHandler), onDown: OnDownPause, maxAttempts: 5, maxSteps: 64,
		analysisTimeout: DefaultAnalysisTimeout}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("reconciler: %w", err)
		}
	}
	return &Reconciler{store: st, src: src, assessor: assessor, roll: roll, forge: forge, audit: audit, o: o, proposals: map[string]string{}}, nil
}

// Result summarizes one reconcile pass.
type Result struct {
	// Head is the commit the pass ingested up to.
	Head string
	// Discovered and Rejected count new change requests and new bad files.
	Discovered, Rejected int
	// Proposals counts open proposals looked at.
	Proposals int
	// Transitions counts transitions made.
	Transitions int
	// Waiting names what the head of the queue waits for, if anything.
	Waiting string
	// Flushed counts transitions whose side effects were done.
	Flushed int
}

type step struct {
	name string
	fn   func(context.Context, *Result) error
}

// Reconcile runs one pass. Its steps run in order; a failing step ends the
// pass with its error, except that the flush of side effects always runs.
// Waiting (for an approval, a revert) is not an error.
func (r *Reconciler) Reconcile(ctx context.Context) (res Result, err error) {
	start := time.Now()
	defer func() { r.summarize(ctx, res, err, time.Since(start)) }()
	steps := []step{
		{"ingest", r.ingest},
		{"proposals", r.predictProposals},
		{"flush", r.flush},
		{"catch-up", r.catchUp},
		{"queue", r.advance},
	}
	var errs []error
	for _, s := range steps {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if serr := s.fn(ctx, &res); serr != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, serr))
			if s.name == "ingest" {
				break // nothing reliable to act on
			}
		}
	}
	if ferr := r.flush(ctx, &res); ferr != nil {
		errs = append(errs, fmt.Errorf("flush: %w", ferr))
	}
	return res, errors.Join(errs...)
}

// summarize is the deferred block of a pass: metrics and one log line.
func (r *Reconciler) summarize(ctx context.Context, res Result, err error, d time.Duration) {
	m := r.o.metrics
	if m != nil {
		m.reconcileDuration.Observe(d.Seconds())
		if err == nil {
			m.lastPoll.SetToCurrentTime()
		}
		if counts, cerr := r.store.CountByState(context.WithoutCancel(ctx)); cerr == nil {
			m.setStates(counts)
		}
	}
	attrs := []any{"duration", d, "head", change.ShortCommit(res.Head), "discovered", res.Discovered,
		"rejected", res.Rejected, "proposals", res.Proposals, "transitions", res.Transitions, "flushed", res.Flushed}
	if res.Waiting != "" {
		attrs = append(attrs, "waiting", res.Waiting)
	}
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		r.o.log.Warn("reconcile failed", append(attrs, "err", err)...)
	case res.Discovered+res.Rejected+res.Transitions+res.Flushed > 0:
		r.o.log.Info("reconciled", attrs...)
	default:
		r.o.log.Debug("reconciled", attrs...)
	}
}
