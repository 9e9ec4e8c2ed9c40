package reconciler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Changes merged behind the head of the queue are analyzed and predicted
// before their turn, so their decision is visible early (status page,
// comments); they still roll out one at a time. That work runs off the
// loop, in at most one background goroutine at a time, so analyzing a large
// change behind the head never delays the head: its approval, canary, bake
// or rollback go on meanwhile. Every analysis, ahead or at the head, is
// bounded by the analysis timeout (WithAnalysisTimeout).

// DefaultAnalysisTimeout bounds the analysis and prediction of one change.
const DefaultAnalysisTimeout = 2 * time.Minute

// aheadState coordinates the background predictions with the loop.
type aheadState struct {
	mu      sync.Mutex
	running bool
	// head is the version the loop is working on: the background leaves it
	// alone.
	head int64
	// current is the version the background is predicting (0: none).
	current int64
	// failed remembers changes (version → SHA-256) whose prediction ahead
	// failed or timed out: they are not retried ahead of their turn (the
	// head's own step retries them, counting attempts).
	failed map[int64]string
	// moved counts changes the background moved since the last pass.
	moved int
	wg    sync.WaitGroup
}

// WithAnalysisTimeout bounds the analysis and prediction of one change
// (default DefaultAnalysisTimeout); past it the step fails like any
// transient error (the head counts an attempt) and the analysis stops.
func WithAnalysisTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("analysis timeout %s must be > 0", d)
		}
		o.analysisTimeout = d
		return nil
	}
}

// WithTrigger registers a function that asks for another reconcile pass
// (Daemon.Trigger); the background prediction calls it after it moved a
// change, so the side effects of that move are flushed at once. It must not
// block.
func WithTrigger(fn func()) Option {
	return func(o *options) error { o.trigger = fn; return nil }
}

// Wait blocks until the background predictions started by earlier passes
// have ended. Cancel the passes' context to end them early: the daemon does
// so when it stops or loses leadership, then waits.
func (r *Reconciler) Wait() { r.ahead.wg.Wait() }

// analysisContext bounds one change's analysis and prediction.
func (r *Reconciler) analysisContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.o.analysisTimeout)
}

// timedOut wraps err with the analysis timeout when actx's deadline (and
// not the caller's ctx) ended the work.
func (r *Reconciler) timedOut(ctx, actx context.Context, what string, err error) error {
	if err == nil || ctx.Err() != nil || !errors.Is(actx.Err(), context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("analysis and prediction of %s did not finish within %s (prediction.timeout): %w", what, r.o.analysisTimeout, err)
}

// predictBounded runs c's prediction step under the analysis timeout.
func (r *Reconciler) predictBounded(ctx context.Context, c *ChangeRequest) (bool, error) {
	actx, cancel := r.analysisContext(ctx)
	defer cancel()
	r.o.log.Info("analyzing", "change", c.Version, "path", c.Path, "bytes", len(c.Source), "timeout", r.o.analysisTimeout)
	moved, err := r.stepPredict(actx, c)
	return moved, r.timedOut(ctx, actx, c.Path, err)
}

// holdHead tells the background that the loop works on version now. It
// reports true when the background is predicting that very version: the
// head then waits for it, without holding up the pass; the background asks
// for a new pass when it is done.
func (r *Reconciler) holdHead(version int64) bool {
	a := &r.ahead
	a.mu.Lock()
	defer a.mu.Unlock()
	a.head = version
	return a.current == version
}

// startAhead starts the background prediction of the changes behind the
// head, unless it is running already.
func (r *Reconciler) startAhead(ctx context.Context) {
	a := &r.ahead
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running {
		return
	}
	a.running = true
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		tried, moved := r.predictAhead(ctx)
		a.mu.Lock()
		a.running = false
		a.moved += moved
		a.mu.Unlock()
		if tried > 0 && r.o.trigger != nil && ctx.Err() == nil {
			r.o.trigger()
		}
	}()
}

// takeAheadMoved returns and resets the count of changes the background
// moved since the last call.
func (r *Reconciler) takeAheadMoved() int {
	a := &r.ahead
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.moved
	a.moved = 0
	return n
}

// predictAhead predicts the discovered changes other than the loop's head,
// in version order, each under the analysis timeout. It reports how many
// it tried and how many moved.
func (r *Reconciler) predictAhead(ctx context.Context) (tried, moved int) {
	pend, err := r.store.Pending(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.o.log.Warn("predict ahead", "err", err)
		}
		return 0, 0
	}
	r.forgetAheadFailures(pend)
	for _, c := range pend {
		if ctx.Err() != nil {
			break
		}
		if !r.claimAhead(c) {
			continue
		}
		tried++
		m, err := r.predictBounded(ctx, c)
		r.releaseAhead(c, err)
		switch {
		case err != nil && ctx.Err() == nil && !errors.Is(err, ErrStale):
			r.o.log.Warn("predict ahead", "change", c.Version, "err", err)
		case m:
			moved++
		}
	}
	return tried, moved
}

// claimAhead marks c as being predicted by the background, unless the loop
// works on it or its prediction ahead failed before (false: skip it).
func (r *Reconciler) claimAhead(c *ChangeRequest) bool {
	a := &r.ahead
	a.mu.Lock()
	defer a.mu.Unlock()
	if c.Version == a.head || (a.failed != nil && a.failed[c.Version] == c.SHA256) {
		return false
	}
	a.current = c.Version
	return true
}

// releaseAhead ends the claim on c, remembering a failure.
func (r *Reconciler) releaseAhead(c *ChangeRequest, err error) {
	a := &r.ahead
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil && !errors.Is(err, context.Canceled) {
		if a.failed == nil {
			a.failed = map[int64]string{}
		}
		a.failed[c.Version] = c.SHA256
	}
	a.current = 0
}

// forgetAheadFailures drops remembered failures of changes no longer
// pending, so the memory stays as small as the queue.
func (r *Reconciler) forgetAheadFailures(pend []*ChangeRequest) {
	a := &r.ahead
	a.mu.Lock()
	defer a.mu.Unlock()
	keep := make(map[int64]bool, len(pend))
	for _, c := range pend {
		keep[c.Version] = true
	}
	for v := range a.failed {
		if !keep[v] {
			delete(a.failed, v)
		}
	}
}
