package reconciler

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/notify"
	"github.com/schemacanary/schemacanary/rollout"
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

// transitionKind is the event transition t raises, "" for none: a change
// adopted as done (every instance held it already, e.g. the history found
// on the first start) raises nothing; a change leaving the production
// watch for a rollback or a failure is a watch regression, one failed by
// schema drift in a target's pre-flight is drift; otherwise the state it
// moves into decides (alertKind).
func transitionKind(t *change.Transition) notify.Kind {
	switch {
	case t.From == change.StateDiscovered && t.To == change.StateDone:
		return ""
	case t.From == change.StateWatching && (t.To == change.StateRollingBack || t.To == change.StateFailed):
		return notify.KindWatchRegression
	case t.To == change.StateFailed && strings.Contains(t.Reason, ": "+rollout.PreflightDrift+": "):
		return notify.KindDrift
	}
	return alertKind(t.To)
}

// alertKind is the event a transition into state to raises, "" for none.
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
	k := transitionKind(t)
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
