package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/schemacanary/schemacanary/reconciler/change"
)

// A change is analyzed and predicted when it reaches the head of the queue
// (every earlier change is then applied or taken back, so the live target
// shows what this change will meet), under the analysis timeout
// (WithAnalysisTimeout): a huge file or a slow target costs the head an
// attempt, never the daemon its loop. The status page, API and webhook are
// served by the HTTP server meanwhile, and approvals and skips are recorded
// in the control store, not by the loop.

// DefaultAnalysisTimeout bounds the analysis and prediction of one change.
const DefaultAnalysisTimeout = 2 * time.Minute

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
func (r *Reconciler) predictBounded(ctx context.Context, c *change.Request) (bool, error) {
	actx, cancel := r.analysisContext(ctx)
	defer cancel()
	r.o.log.Info("analyzing", "change", c.Version, "path", c.Path, "bytes", len(c.Source), "timeout", r.o.analysisTimeout)
	moved, err := r.stepPredict(actx, c)
	return moved, r.timedOut(ctx, actx, c.Path, err)
}
