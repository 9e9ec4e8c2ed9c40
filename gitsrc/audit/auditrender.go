package audit

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// auditFrontMatter is the YAML block at the top of changes/<version>.md.
// Transitions carries the change's whole state history, so the file alone
// tells the story and Record can check idempotency from one file.
type auditFrontMatter struct {
	ChangeRecord `yaml:",inline"`
	State        string           `yaml:"state"`
	Updated      time.Time        `yaml:"updated"`
	Transitions  []transitionYAML `yaml:"transitions"`
}

type transitionYAML struct {
	From     string    `yaml:"from"`
	To       string    `yaml:"to"`
	Instance string    `yaml:"instance,omitempty"`
	Step     string    `yaml:"step,omitempty"`
	At       time.Time `yaml:"at"`
	Reason   string    `yaml:"reason,omitempty"`
	Actor    string    `yaml:"actor,omitempty"`
}

// parseChangeFile returns the transitions recorded in an audit file (nil
// for an absent file).
func parseChangeFile(doc []byte) ([]Transition, error) {
	if len(doc) == 0 {
		return nil, nil
	}
	rest, ok := bytes.CutPrefix(doc, []byte("---\n"))
	if !ok {
		return nil, fmt.Errorf("audit file does not start with front matter")
	}
	fm, _, ok := bytes.Cut(rest, []byte("\n---\n"))
	if !ok {
		return nil, fmt.Errorf("audit file front matter is not terminated")
	}
	var h auditFrontMatter
	if err := yaml.Unmarshal(fm, &h); err != nil {
		return nil, fmt.Errorf("audit file front matter: %w", err)
	}
	out := make([]Transition, 0, len(h.Transitions))
	for _, t := range h.Transitions {
		out = append(out, Transition{
			Version: h.Version, From: t.From, To: t.To, Instance: t.Instance,
			Step: t.Step, At: t.At, Reason: t.Reason, Actor: t.Actor,
		})
	}
	return out, nil
}

// renderChange renders the audit file of a change after the transitions
// trs (the last one is the current state).
func renderChange(rec ChangeRecord, trs []Transition) ([]byte, error) {
	last := trs[len(trs)-1]
	h := auditFrontMatter{ChangeRecord: rec, State: last.To, Updated: last.At}
	for _, t := range trs {
		h.Transitions = append(h.Transitions, transitionYAML{
			From: t.From, To: t.To, Instance: t.Instance, Step: t.Step,
			At: t.At.UTC(), Reason: t.Reason, Actor: t.Actor,
		})
	}
	fm, err := yaml.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("render front matter: %w", err)
	}
	var b strings.Builder
	b.WriteString("---\n")
	b.Write(fm)
	b.WriteString("---\n\n")
	title := rec.Name
	if title == "" {
		title = rec.Path
	}
	fmt.Fprintf(&b, "# Change %d %s\n\n", rec.Version, title)
	fmt.Fprintf(&b, "**State:** `%s`", last.To)
	if rec.PR > 0 {
		fmt.Fprintf(&b, " · PR #%d", rec.PR)
	}
	if rec.MergeCommit != "" {
		fmt.Fprintf(&b, " · merge `%s`", shortSHA(rec.MergeCommit))
	}
	if rec.Risk > 0 {
		fmt.Fprintf(&b, " · risk %d", rec.Risk)
	}
	b.WriteString("\n\n")
	renderPrediction(&b, rec.Prediction)
	renderDecision(&b, rec.Decision)
	renderStates(&b, trs)
	renderTimeline(&b, rec.Timeline)
	renderKPIs(&b, rec.KPIs)
	renderRollback(&b, rec.Rollback)
	if len(rec.Notes) > 0 {
		b.WriteString("## Notes\n\n")
		for _, n := range rec.Notes {
			fmt.Fprintf(&b, "- %s\n", SingleLine(n))
		}
		b.WriteString("\n")
	}
	return []byte(b.String()), nil
}

func shortSHA(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// cell escapes a value for a Markdown table cell.
func MDCell(s string) string {
	return strings.ReplaceAll(SingleLine(s), "|", "\\|")
}

func MDTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func renderPrediction(b *strings.Builder, p *PredictionRecord) {
	if p == nil {
		return
	}
	b.WriteString("## Prediction\n\n")
	fmt.Fprintf(b, "Confidence **%.1f%%** (threshold %.1f%%, model `%s`).\n\n", 100*p.Confidence, 100*p.Threshold, p.Model)
	if p.Live {
		b.WriteString("Assessed against the live canary before it was touched.\n\n")
	} else {
		b.WriteString("Assessed without a live database: nothing was measured live.\n\n")
	}
	for _, g := range p.Gate {
		fmt.Fprintf(b, "- %s\n", SingleLine(g))
	}
	if len(p.Gate) > 0 {
		b.WriteString("\n")
	}
	if len(p.Reasons) > 0 {
		b.WriteString("| feature | value | contribution | why |\n| --- | ---: | ---: | --- |\n")
		for _, r := range p.Reasons {
			fmt.Fprintf(b, "| %s | %g | %+.3f | %s |\n", MDCell(r.Feature), r.Value, r.Contribution, MDCell(r.Text))
		}
		b.WriteString("\n")
	}
}

func renderDecision(b *strings.Builder, d *DecisionRecord) {
	if d == nil {
		return
	}
	b.WriteString("## Decision\n\n")
	fmt.Fprintf(b, "`%s`", d.Outcome)
	if d.By != "" {
		fmt.Fprintf(b, " by %s", SingleLine(d.By))
	}
	if !d.At.IsZero() {
		fmt.Fprintf(b, " at %s", MDTime(d.At))
	}
	if d.Reason != "" {
		fmt.Fprintf(b, ": %s", SingleLine(d.Reason))
	}
	b.WriteString("\n\n")
}

func renderStates(b *strings.Builder, trs []Transition) {
	b.WriteString("## States\n\n| at | from | to | instance | step | reason |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, t := range trs {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", MDTime(t.At), MDCell(t.From), MDCell(t.To), MDCell(t.Instance), MDCell(t.Step), MDCell(t.Reason))
	}
	b.WriteString("\n")
}

func renderTimeline(b *strings.Builder, ev []InstanceEvent) {
	if len(ev) == 0 {
		return
	}
	b.WriteString("## Timeline\n\n| at | instance | wave | step | result | detail |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, e := range ev {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", MDTime(e.At), MDCell(e.Instance), MDCell(e.Wave), MDCell(e.Step), MDCell(e.Result), MDCell(e.Detail))
	}
	b.WriteString("\n")
}

func renderKPIs(b *strings.Builder, ks []KPIVerdict) {
	if len(ks) == 0 {
		return
	}
	b.WriteString("## KPI verdicts\n\n| KPI | instance | canary | control | baseline | p-value | effect | verdict |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, k := range ks {
		verdict := "pass"
		if k.Failed {
			verdict = "**FAIL**"
		}
		if k.Reason != "" {
			verdict += ": " + MDCell(k.Reason)
		}
		fmt.Fprintf(b, "| %s | %s | %g%s | %g%s | %g%s | %.4f | %+.1f%% | %s |\n",
			MDCell(k.KPI), MDCell(k.Instance), k.Canary, k.Unit, k.Control, k.Unit, k.Baseline, k.Unit, k.PValue, 100*k.Effect, verdict)
	}
	b.WriteString("\n")
	for _, k := range ks {
		if len(k.Series) < 2 {
			continue
		}
		renderChart(b, k)
	}
}

// renderChart draws canary vs control as a mermaid xychart (GitHub renders
// it); line 1 is the canary, line 2 the control.
func renderChart(b *strings.Builder, k KPIVerdict) {
	start := k.Series[0].At
	xs := make([]string, len(k.Series))
	can := make([]string, len(k.Series))
	ctl := make([]string, len(k.Series))
	for i, p := range k.Series {
		xs[i] = fmt.Sprintf("%q", fmt.Sprintf("+%ds", int(p.At.Sub(start).Seconds())))
		can[i] = fmt.Sprintf("%g", p.Canary)
		ctl[i] = fmt.Sprintf("%g", p.Control)
	}
	title := strings.ReplaceAll(k.KPI, "\"", "'")
	if k.Instance != "" {
		title += " on " + strings.ReplaceAll(k.Instance, "\"", "'")
	}
	fmt.Fprintf(b, "```mermaid\nxychart-beta\n    title \"%s: canary (1st line) vs control (2nd)\"\n", title)
	fmt.Fprintf(b, "    x-axis [%s]\n", strings.Join(xs, ", "))
	if k.Unit != "" {
		fmt.Fprintf(b, "    y-axis \"%s\"\n", strings.ReplaceAll(k.Unit, "\"", "'"))
	}
	fmt.Fprintf(b, "    line [%s]\n    line [%s]\n```\n\n", strings.Join(can, ", "), strings.Join(ctl, ", "))
}

func renderRollback(b *strings.Builder, r *RollbackRecord) {
	if r == nil {
		return
	}
	b.WriteString("## Rollback\n\n")
	fmt.Fprintf(b, "- at: %s\n- reason: %s\n", MDTime(r.At), SingleLine(r.Reason))
	if len(r.Instances) > 0 {
		fmt.Fprintf(b, "- instances: %s\n", strings.Join(r.Instances, ", "))
	}
	if len(r.Archived) > 0 {
		fmt.Fprintf(b, "- archived: %s\n", strings.Join(r.Archived, ", "))
	}
	if r.Duration > 0 {
		fmt.Fprintf(b, "- duration: %s\n", r.Duration)
	}
	if r.RevertBranch != "" {
		fmt.Fprintf(b, "- revert branch: `%s`\n", r.RevertBranch)
	}
	if r.RevertURL != "" {
		fmt.Fprintf(b, "- revert: %s\n", r.RevertURL)
	}
	b.WriteString("\n")
}
