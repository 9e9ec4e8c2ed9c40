package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/rollout"
	"github.com/schemacanary/schemacanary/rollout/judge"
)

// Status serves the status page from the control store. It only reads.
// Safe for concurrent use.
type Status struct {
	store *Store
	// limit caps the changes listed.
	limit int
}

// NewStatus returns the status page's view of the control store; the list shows the
// newest 500 change requests.
func NewStatus(st *Store) *Status { return &Status{store: st, limit: 500} }

// ListChanges implements the status page's source.
func (s *Status) ListChanges(ctx context.Context) ([]change.StatusChange, error) {
	crs, err := s.store.List(ctx, s.limit)
	if err != nil {
		return nil, err
	}
	out := make([]change.StatusChange, 0, len(crs))
	for _, c := range crs {
		out = append(out, statusSummary(c))
	}
	return out, nil
}

// statusSummary maps a stored change request to a list row.
func statusSummary(c *change.Request) change.StatusChange {
	sc := change.StatusChange{Version: c.Version, Name: c.Name, Path: c.Path, State: string(c.State), Confidence: -1,
		Risk: c.Risk, Author: c.Author, PR: c.PR, UpdatedAt: c.UpdatedAt}
	if c.Confidence != nil {
		sc.Confidence = *c.Confidence
	}
	if c.State == change.StatePromoting || c.State == change.StateCanary {
		sc.Wave = change.WaveLabel(c.Wave)
	}
	if c.State == change.StatePromoting && len(c.Checkpoint) > 0 {
		var cp struct {
			Wave     int                   `json:"wave"`
			Progress *rollout.WaveProgress `json:"progress"`
		}
		// A checkpoint that does not decode shows no progress: it is a
		// display detail, the rollout reads its checkpoint itself.
		if json.Unmarshal(c.Checkpoint, &cp) == nil && cp.Progress != nil && cp.Wave == c.Wave {
			sc.Progress = cp.Progress.String()
		}
	}
	if c.Migration != nil {
		sc.Owner = c.Migration.FrontMatter.Owner
	}
	return sc
}

// GetChange implements the status page's source.
func (s *Status) GetChange(ctx context.Context, version int64) (*change.StatusChangeDetail, error) {
	c, err := s.store.Get(ctx, version)
	if errors.Is(err, change.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d := &change.StatusChangeDetail{StatusChange: statusSummary(c), Commit: c.Commit, RevertBranch: c.RevertBranch}
	if c.Migration != nil {
		d.Ticket = c.Migration.FrontMatter.Ticket
	}
	switch {
	case c.ApprovedBy != "":
		d.Decision = "approved by " + c.ApprovedBy
	case c.State == change.StateAwaitingApproval:
		d.Decision = fmt.Sprintf("awaiting approval: run `schemacanary approve %d --by NAME`", c.Version)
	}
	if p, err := s.store.Prediction(ctx, c.Version, c.SHA256); err == nil {
		d.ModelVersion = p.ModelVersion
		for _, r := range p.Reasons {
			d.Reasons = append(d.Reasons, change.StatusReason{Feature: r.Feature, Text: r.Text, Contribution: r.Contribution})
		}
		sort.SliceStable(d.Reasons, func(i, j int) bool { return math.Abs(d.Reasons[i].Contribution) > math.Abs(d.Reasons[j].Contribution) })
		if d.Decision == "" && c.State != change.StateDiscovered && c.State != change.StatePredicted {
			d.Decision = fmt.Sprintf("proceed (confidence %.2f)", p.Confidence)
		}
	} else if !errors.Is(err, change.ErrNotFound) {
		return nil, err
	}
	if c.State == change.StateInconclusive {
		d.Held = c.Reason
	}
	d.CatchUp = catchUpSummary(c.Instances)
	if err := s.timeline(ctx, c, d); err != nil {
		return nil, err
	}
	if err := s.operator(ctx, c, d); err != nil {
		return nil, err
	}
	if err := s.kpis(ctx, c.Version, d); err != nil {
		return nil, err
	}
	return d, nil
}

// timeline merges the state transitions and the per-instance events, and
// finds the apply and rollback moments.
func (s *Status) timeline(ctx context.Context, c *change.Request, d *change.StatusChangeDetail) error {
	trs, err := s.store.Transitions(ctx, c.Version)
	if err != nil {
		return err
	}
	for _, t := range trs {
		ev := change.StatusEvent{At: t.At, Step: string(t.To), Message: t.Reason,
			Failed: t.To == change.StateRollingBack || t.To == change.StateRolledBack || t.To == change.StateFailed}
		if t.To == change.StateCanary || t.To == change.StateBaking || t.To == change.StatePromoting {
			ev.Wave = change.WaveLabel(t.Wave)
		}
		d.Timeline = append(d.Timeline, ev)
		switch {
		case t.To == change.StateBaking && d.AppliedAt.IsZero():
			d.AppliedAt = t.At
		case t.To == change.StateRollingBack && d.RolledBackAt.IsZero():
			d.RolledBackAt = t.At
			d.RollbackReason = t.Reason
		}
	}
	evs, err := s.store.Events(ctx, c.Version)
	if err != nil {
		return err
	}
	for _, e := range evs {
		ev := change.StatusEvent{At: e.At, Step: e.Step, Message: e.Outcome, Failed: e.Outcome == "fail" || e.Outcome == "failed"}
		if e.Detail.Error != "" {
			ev.Message += ": " + e.Detail.Error
		}
		if e.Instance != "*" {
			ev.Instance = e.Instance
		}
		if strings.HasPrefix(e.Step, "judge") { // "judge" or "judge <outcome>"
			if rec := e.Detail.Decision; rec != nil {
				dec := rec.Decision()
				ev.Message = fmt.Sprintf("%s: %s", dec.Outcome, dec.Reason)
				seen := map[string]bool{}
				for _, v := range dec.Verdicts {
					if seen[v.KPI] {
						continue
					}
					seen[v.KPI] = true
					if kv, ok := dec.KPIVerdict(v.KPI); ok {
						s.setVerdict(d, kv)
					}
				}
			}
		}
		d.Timeline = append(d.Timeline, ev)
	}
	sort.SliceStable(d.Timeline, func(i, j int) bool { return d.Timeline[i].At.Before(d.Timeline[j].At) })
	return nil
}

// operator adds the operators' commands to the timeline and, while a
// pause is in force on a change rolling out, says so in the held box.
func (s *Status) operator(ctx context.Context, c *change.Request, d *change.StatusChangeDetail) error {
	acts, err := s.store.Actions(ctx, c.Version)
	if err != nil || len(acts) == 0 {
		return err
	}
	for _, a := range acts {
		d.Timeline = append(d.Timeline, change.StatusEvent{At: a.At, Step: "operator " + string(a.Command), Instance: a.Target,
			Message: fmt.Sprintf("by %s via %s: %s", a.By, a.Source, a.Why)})
	}
	sort.SliceStable(d.Timeline, func(i, j int) bool { return d.Timeline[i].At.Before(d.Timeline[j].At) })
	f := change.Fold(acts)
	if p := f.Paused; p != nil && f.Aborted == nil && !c.State.Terminal() && d.Held == "" {
		d.Held = fmt.Sprintf("paused by %s: %s; `schemacanary resume %d --by NAME --why TEXT` lifts the pause", p.By, p.Why, c.Version)
	}
	if len(f.Excluded) > 0 {
		names := make([]string, 0, len(f.Excluded))
		for n := range f.Excluded {
			names = append(names, n)
		}
		sort.Strings(names)
		d.Timeline = append(d.Timeline, change.StatusEvent{At: acts[len(acts)-1].At, Step: "operator excluded",
			Message: "excluded from the rollout now: " + strings.Join(names, ", ")})
	}
	return nil
}

// setVerdict attaches a verdict to its KPI, creating the KPI entry when the
// samples have not been read yet.
func (s *Status) setVerdict(d *change.StatusChangeDetail, v judge.Verdict) {
	for i := range d.KPIs {
		if d.KPIs[i].KPI == v.KPI {
			vv := v
			d.KPIs[i].Verdict = &vv
			return
		}
	}
	vv := v
	d.KPIs = append(d.KPIs, change.StatusKPI{KPI: v.KPI, Unit: kpiUnit(v.KPI), Verdict: &vv})
}

// kpis reads the change's KPI samples, averaged per role and second across
// instances (the baseline is the canary before the change).
func (s *Status) kpis(ctx context.Context, version int64, d *change.StatusChangeDetail) error {
	idx := map[string]int{}
	for i, k := range d.KPIs {
		idx[k.KPI] = i
	}
	rows, err := s.store.pool.Query(ctx, `SELECT kpi, role, date_trunc('second', at) AS t, sum(value * n) / sum(n)
		FROM kpi_samples WHERE version = $1 GROUP BY kpi, role, t ORDER BY kpi, t LIMIT 50000`, version)
	if err != nil {
		return fmt.Errorf("status: KPI samples of %d: %w", version, err)
	}
	defer rows.Close()
	for rows.Next() {
		var kpi, role string
		var p change.StatusPoint
		if err := rows.Scan(&kpi, &role, &p.At, &p.Value); err != nil {
			return fmt.Errorf("status: KPI samples of %d: %w", version, err)
		}
		i, ok := idx[kpi]
		if !ok {
			i = len(d.KPIs)
			idx[kpi] = i
			d.KPIs = append(d.KPIs, change.StatusKPI{KPI: kpi, Unit: kpiUnit(kpi)})
		}
		switch role {
		case "control":
			d.KPIs[i].Control = append(d.KPIs[i].Control, p)
		case "canary", "baseline":
			d.KPIs[i].Canary = append(d.KPIs[i].Canary, p)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("status: KPI samples of %d: %w", version, err)
	}
	// Failed KPIs first, then latency, then the rest by name.
	rank := func(k change.StatusKPI) int {
		switch {
		case k.Verdict != nil && k.Verdict.Outcome == judge.Fail:
			return 0
		case strings.HasPrefix(k.KPI, judge.KPILatencyPrefix):
			return 1
		}
		return 2
	}
	sort.SliceStable(d.KPIs, func(i, j int) bool {
		if ri, rj := rank(d.KPIs[i]), rank(d.KPIs[j]); ri != rj {
			return ri < rj
		}
		return d.KPIs[i].KPI < d.KPIs[j].KPI
	})
	return nil
}

// kpiUnit labels a KPI's values (rollout/kpi.go documents them).
func kpiUnit(kpi string) string {
	switch {
	case strings.HasPrefix(kpi, judge.KPILatencyPrefix):
		return "ms"
	case judge.KindOf(kpi) == judge.KindProportion:
		return "ratio"
	case kpi == judge.KPICPU:
		return "cores"
	case kpi == judge.KPIMemory:
		return "bytes"
	case kpi == judge.KPILockWaits:
		return "sessions"
	}
	return ""
}

// catchUpSummary names the instances a catch-up is bringing up to the
// change and those whose catch-up failed, sorted ("" when none).
func catchUpSummary(inst map[string]int64) string {
	var running, failed []string
	for name, v := range inst {
		switch v {
		case change.HoldingCatchingUp:
			running = append(running, name)
		case change.HoldingCatchUpFailed:
			failed = append(failed, name)
		}
	}
	sort.Strings(running)
	sort.Strings(failed)
	var parts []string
	if len(failed) > 0 {
		parts = append(parts, fmt.Sprintf("catch-up failed on %s: not counted as holding the change; the timeline says why, and every reconcile pass checks again", strings.Join(failed, ", ")))
	}
	if len(running) > 0 {
		parts = append(parts, "being caught up: "+strings.Join(running, ", "))
	}
	return strings.Join(parts, "; ")
}
