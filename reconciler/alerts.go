package reconciler

import (
	"fmt"
	"log/slog"

	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/notify"
)

// Notifier receives the pipeline's events (package notify's Dispatcher).
// Notify is called synchronously from the reconcile loop after the
// transition is stored: it must return at once and never fail the loop.
type Notifier interface {
	Notify(notify.Event)
}

var _ Notifier = (*notify.Dispatcher)(nil)

// WithNotifier sends an event to n for every transition that raises one
// (alertKind). Default: none (events are still counted in the metrics).
func WithNotifier(n Notifier) Option {
	return func(o *options) error { o.notifier = n; return nil }
}

// alertKind is the event a transition into state to raises, "" for none.
// Drift and watch regressions are not transitions (yet): the pre-flight
// and the production watch raise them when they exist.
func alertKind(to change.State) notify.Kind {
	switch to {
	case change.StateAwaitingApproval:
		return notify.KindAwaitingApproval
	case change.StateCanary:
		return notify.KindCanaryStarted
	case change.StateInconclusive:
		return notify.KindInconclusive
	case change.StatePromoting:
		return notify.KindWavePromoted
	case change.StateRolledBack:
		return notify.KindRolledBack
	case change.StateFailed:
		return notify.KindFailed
	case change.StateDone:
		return notify.KindDone
	}
	return ""
}

// alert counts and sends the event of stored transition t of c (c already
// in its new state). It never blocks and never fails.
func (r *Reconciler) alert(c *change.Request, t *change.Transition) {
	k := alertKind(t.To)
	if k == "" {
		return
	}
	if r.o.metrics != nil {
		r.o.metrics.alertEvents.WithLabelValues(string(k)).Inc()
	}
	if r.o.notifier == nil {
		return
	}
	e := notify.Event{ID: fmt.Sprintf("%d.%d", c.Version, t.ID), Kind: k, Version: c.Version, File: c.Path,
		State: string(t.To), Wave: t.Wave, Reason: t.Reason, PR: c.PR, Time: t.At}
	if c.Confidence != nil {
		conf := *c.Confidence
		e.Confidence = &conf
	}
	r.o.notifier.Notify(e)
	r.o.log.Debug("alert raised", slog.String("event", string(k)), slog.Int64("change", c.Version), slog.String("id", e.ID))
}
