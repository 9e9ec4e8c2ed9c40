package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/web"
	"github.com/schemacanary/schemacanary/rollout/judge"
)

// watcher follows one change request in the control store and prints each
// new step of its timeline and the judge's KPI verdicts.
type watcher struct {
	src     web.StatusSource
	p       *printer
	seen    map[string]bool
	verdict map[string]bool
	// assessed, when set, gives the lines to print about a change's stored
	// assessment once it is predicted.
	assessed func(version int64) []string
}

func newWatcher(src web.StatusSource, p *printer) *watcher {
	return &watcher{src: src, p: p, seen: map[string]bool{}, verdict: map[string]bool{}}
}

// ErrTimeout is returned when a change does not reach the expected state in time.
var ErrTimeout = fmt.Errorf("demo: timed out")

// waitFor prints the change's progress until its state is one of want, and
// returns the final detail. It fails when the change reaches a state in
// stop (e.g. failed) or the deadline passes.
func (w *watcher) waitFor(ctx context.Context, version int64, timeout time.Duration, want ...string) (*change.StatusChangeDetail, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		d, err := w.src.GetChange(ctx, version)
		if err != nil {
			return nil, err
		}
		if d != nil {
			w.print(d)
			for _, s := range want {
				if d.State == s {
					return d, nil
				}
			}
			switch d.State {
			case "failed", "done", "reverted", "skipped", "awaiting_approval":
				// A settled state that is not the one awaited: the story went
				// another way; say so now rather than at the timeout.
				return d, fmt.Errorf("demo: change %d is %s, want %s: %s", version, d.State, strings.Join(want, " or "), lastMessage(d))
			}
		}
		if time.Now().After(deadline) {
			state := "not discovered"
			if d != nil {
				state = d.State
			}
			return d, fmt.Errorf("%w: change %d is %s after %v, want %s", ErrTimeout, version, state, timeout, strings.Join(want, " or "))
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-tick.C:
		}
	}
}

// waitLeave waits until change version is no longer in state from (e.g. an
// approved change still awaiting_approval until the daemon's next pass).
func (w *watcher) waitLeave(ctx context.Context, version int64, timeout time.Duration, from string) error {
	deadline := time.Now().Add(timeout)
	for {
		d, err := w.src.GetChange(ctx, version)
		if err != nil {
			return err
		}
		if d != nil && d.State != from {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: change %d still %s after %v", ErrTimeout, version, from, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func lastMessage(d *change.StatusChangeDetail) string {
	if len(d.Timeline) == 0 {
		return ""
	}
	return d.Timeline[len(d.Timeline)-1].Message
}

// print prints the timeline entries not printed yet, then new verdicts.
func (w *watcher) print(d *change.StatusChangeDetail) {
	for _, e := range d.Timeline {
		key := fmt.Sprintf("%d|%s|%s|%s|%s", d.Version, e.At.Format(time.RFC3339Nano), e.Step, e.Instance, e.Message)
		if w.seen[key] {
			continue
		}
		w.seen[key] = true
		where := e.Wave
		if e.Instance != "" {
			where = strings.TrimSpace(where + " " + e.Instance)
		}
		mark := " "
		if e.Failed {
			mark = "✗"
		}
		msg := e.Message
		if len(msg) > 110 {
			msg = msg[:107] + "…"
		}
		w.p.line("#%d %s %-17s %-16s %s", d.Version, mark, e.Step, where, msg)
		if e.Step == "predicted" && w.assessed != nil {
			for _, l := range w.assessed(d.Version) {
				w.p.detail("%s", l)
			}
		}
		if strings.HasPrefix(e.Step, "judge") {
			w.printVerdicts(d)
		}
	}
	w.printVerdicts(d)
}

// printVerdicts prints, once, each KPI's verdict that stands for its
// outcome (against the control unless the baseline or the tail test decided).
func (w *watcher) printVerdicts(d *change.StatusChangeDetail) {
	for _, k := range d.KPIs {
		v := k.Verdict
		if v == nil {
			continue
		}
		key := fmt.Sprintf("%d|%s|%s|%.3g", d.Version, k.KPI, v.Outcome, v.PValue)
		if w.verdict[key] {
			continue
		}
		w.verdict[key] = true
		unit := k.Unit
		if v.Test == judge.TestTail { // shares of samples above the tail threshold
			unit = "ratio"
		}
		w.p.detail("%-28s %-6s vs %-8s p = %-9s canary %s vs %s%s", k.KPI, v.Outcome, v.Reference, judge.FormatPValue(v.PValue),
			kpiValue(v.CanaryValue, unit), kpiValue(v.ReferenceValue, unit), ratio(v))
	}
}

func kpiValue(v float64, unit string) string {
	if unit == "ratio" {
		return fmt.Sprintf("%.2f%%", 100*v)
	}
	s := fmt.Sprintf("%.3g", v)
	if unit != "" {
		s += " " + unit
	}
	return s
}

func ratio(v *judge.Verdict) string {
	if v.Outcome == judge.Fail && v.Test != judge.TestTail && v.ReferenceValue > 0 && v.CanaryValue/v.ReferenceValue >= 2 {
		return fmt.Sprintf("  (%.0f× slower)", v.CanaryValue/v.ReferenceValue)
	}
	return ""
}
