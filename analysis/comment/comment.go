// Package comment renders a migration's prediction and analysis as the
// Markdown body of a pull-request comment: the confidence and the decision,
// the reasons in plain words, and a table of the locks and hazards of every
// statement. The reconciler posts it as the sticky PR comment; `schemacanary
// predict --format markdown` prints the same text.
package comment

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/model"
)

// Options tune the rendering. The zero value renders a full comment.
type Options struct {
	// ApproveHint is the instruction shown when a change needs approval
	// (default "comment `/schemacanary approve` to roll it out anyway").
	ApproveHint string
	// MaxSQL truncates statements in the lock table (default 80 runes).
	MaxSQL int
}

// Write renders the assessments as one Markdown comment.
func Write(w io.Writer, items []*assess.Assessment, opt Options) error {
	if opt.ApproveHint == "" {
		opt.ApproveHint = "comment `/schemacanary approve` to roll it out anyway"
	}
	if opt.MaxSQL <= 0 {
		opt.MaxSQL = 80
	}
	var b strings.Builder
	versions := map[string]bool{}
	for i, it := range items {
		if i > 0 {
			b.WriteString("\n---\n\n")
		}
		writeItem(&b, it, opt)
		versions[it.Prediction.ModelVersion] = true
	}
	var vs []string
	for v := range versions {
		vs = append(vs, "`"+v+"`")
	}
	fmt.Fprintf(&b, "\n<sub>schemacanary · model %s · confidence is the calibrated probability that the change deploys without a rollback</sub>\n", strings.Join(vs, ", "))
	_, err := io.WriteString(w, b.String())
	return err
}

// String renders the assessments as one Markdown comment.
func String(items []*assess.Assessment, opt Options) string {
	var b strings.Builder
	_ = Write(&b, items, opt) // strings.Builder does not fail
	return b.String()
}

func writeItem(b *strings.Builder, it *assess.Assessment, opt Options) {
	r, p := it.Report, it.Prediction
	fmt.Fprintf(b, "### %s `%s`\n\n", decisionIcon(p.Decision), filepath.Base(r.Path))
	switch p.Decision {
	case model.DecisionProceed:
		fmt.Fprintf(b, "**Confidence %.0f%%** that this change deploys without a rollback: **proceeds** to the canary (threshold %.0f%%).\n\n",
			100*p.Confidence, 100*p.Threshold)
	default:
		fmt.Fprintf(b, "**Confidence %.0f%%** that this change deploys without a rollback: **needs approval** (threshold %.0f%%); %s.\n\n",
			100*p.Confidence, 100*p.Threshold, opt.ApproveHint)
	}
	writeMeasured(b, it)
	if len(p.Reasons) > 0 {
		b.WriteString("| | reason | effect |\n| --- | --- | ---: |\n")
		for _, rs := range p.Reasons {
			fmt.Fprintf(b, "| %s | %s | %s |\n", arrow(rs.Contribution), escape(rs.Text), signed(rs.Contribution))
		}
		fmt.Fprintf(b, "\n<sub>effect: the reason's term of the log-odds, from %.0f%% for a change with no hazard; negative pushes toward a rollback.</sub>\n\n",
			100/(1+math.Exp(-p.Base)))
	}
	writeWorkload(b, r, opt)
	writeIgnored(b, r)
	writeLocks(b, r, opt)
	writeFindings(b, r)
}

// writeWorkload shows what the change does to the statements the database
// runs: those it breaks, and those whose plan it changes.
func writeWorkload(b *strings.Builder, r *analysis.Report, opt Options) {
	live := r.Live
	if live == nil {
		return
	}
	if len(live.Broken) > 0 {
		fmt.Fprintf(b, "**Breaks %d statement%s of the workload** (pg_stat_statements):\n\n", len(live.Broken), plural(len(live.Broken)))
		for _, x := range live.Broken {
			fmt.Fprintf(b, "- %.2g calls/s: %s: `%s`\n", x.CallsPerSec, escape(x.Why), escape(truncate(oneLine(x.Query), opt.MaxSQL*2)))
		}
		b.WriteString("\n")
	}
	if len(live.PlanChanges) > 0 {
		b.WriteString("**Plan changes** (the planner's estimates with the index change made hypothetically; no table touched):\n\n")
		b.WriteString("| statement | calls/s | cost before → after | | plan before → after |\n| --- | ---: | --- | ---: | --- |\n")
		for _, pc := range live.PlanChanges {
			fmt.Fprintf(b, "| `%s` | %.2g | %.1f → %.1f | %s | %s → %s |\n", escape(truncate(oneLine(pc.Query), opt.MaxSQL)), pc.CallsPerSec,
				pc.CostBefore, pc.CostAfter, ratioWords(pc.Ratio), escape(pc.NodesBefore), escape(pc.NodesAfter))
		}
		b.WriteString("\n")
	} else if live.PlanCheck == analysis.CheckNotRun && live.PlanNote != "" {
		fmt.Fprintf(b, "Plans not compared: %s\n\n", escape(live.PlanNote))
	}
}

func ratioWords(r float64) string {
	if r >= 1 {
		return fmt.Sprintf("%.1fx costlier", r)
	}
	return fmt.Sprintf("%.1fx cheaper", 1/r)
}

// writeIgnored lists the findings the author silenced, with their reasons:
// a reviewer must see what was waved through and why.
func writeIgnored(b *strings.Builder, r *analysis.Report) {
	if len(r.Ignored) == 0 {
		return
	}
	b.WriteString("Silenced by the author:\n\n")
	for _, ig := range r.Ignored {
		fmt.Fprintf(b, "- `%s` at line %d: %s\n", ig.RuleID, ig.Line, escape(ig.Reason))
	}
	b.WriteString("\n")
}

// writeMeasured says what was checked on a live target, or that nothing
// was.
func writeMeasured(b *strings.Builder, a *assess.Assessment) {
	live := a.Report.Live
	if live == nil {
		b.WriteString("Not checked against a live database: table sizes, traffic, the workload, the dry run and the data checks were not measured; every touched table is assumed large and busy, and the reasons say where.\n\n")
		return
	}
	counts := map[string]int{}
	for _, d := range live.DataChecks {
		counts[d.Outcome]++
	}
	checks := "no data check applies"
	if n := len(live.DataChecks); n > 0 {
		var parts []string
		for _, o := range []string{analysis.CheckPassed, analysis.CheckFailed, analysis.CheckNotRun, analysis.CheckDisabled} {
			if counts[o] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[o], o))
			}
		}
		checks = fmt.Sprintf("%d data check%s (%s)", n, plural(n), strings.Join(parts, ", "))
	}
	fmt.Fprintf(b, "Checked against the live database: dry run on a schema-only copy %s; %s; oldest open transaction %.0f s.\n\n",
		live.DryRun, checks, live.OldestXactSeconds)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func writeLocks(b *strings.Builder, r *analysis.Report, opt Options) {
	var rows []string
	for _, s := range r.Statements {
		if s.Section != analysis.SectionUp {
			continue
		}
		lock := "—"
		if s.Lock != "" {
			lock = analysis.ParseLockMode(s.Lock).SQLName()
		}
		rows = append(rows, fmt.Sprintf("| %d | `%s` | %s | %s |", s.Line, escape(truncate(oneLine(s.SQL), opt.MaxSQL)), lock, escape(hazards(s, r))))
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("<details><summary>Locks and hazards</summary>\n\n")
	b.WriteString("| line | statement | lock | hazards |\n| ---: | --- | --- | --- |\n")
	b.WriteString(strings.Join(rows, "\n"))
	b.WriteString("\n")
	if r.EstLockSeconds > 0 {
		fmt.Fprintf(b, "\nEstimated time under the strongest lock: %.1f s.\n", r.EstLockSeconds)
	}
	b.WriteString("\n</details>\n\n")
}

func hazards(s analysis.StatementReport, r *analysis.Report) string {
	var hs []string
	add := func(on bool, h string) {
		if on {
			hs = append(hs, h)
		}
	}
	add(s.Rewrite, "rewrites the table")
	add(s.ScanUnderLock, "scans under lock")
	add(s.IndexWithoutConcurrently, "index without CONCURRENTLY")
	add(s.ConstraintWithoutNotValid, "constraint without NOT VALID")
	add(s.Destructive, "destroys data")
	add(s.BreaksApp, "may break the application")
	add(s.ParseError != "", "does not parse")
	for _, rel := range s.Relations {
		if st, ok := r.Context[rel]; ok && st.Exists && st.Rows > 0 {
			hs = append(hs, fmt.Sprintf("%s: %s rows", rel, model.HumanCount(st.Rows)))
		}
	}
	if len(hs) == 0 {
		return "—"
	}
	return strings.Join(hs, "; ")
}

func writeFindings(b *strings.Builder, r *analysis.Report) {
	if len(r.Findings) == 0 {
		return
	}
	b.WriteString("<details><summary>Lint findings</summary>\n\n")
	for _, f := range r.Findings {
		fmt.Fprintf(b, "- **%s** `%s` line %d: %s", f.Severity, f.RuleID, f.Line, escape(f.Message))
		if f.Fix != "" {
			fmt.Fprintf(b, " Fix: %s", escape(f.Fix))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n</details>\n")
}

func decisionIcon(d model.Decision) string {
	if d == model.DecisionProceed {
		return "✅"
	}
	return "⚠️"
}

func arrow(c float64) string {
	if c < 0 {
		return "🔻"
	}
	return "🔹"
}

func signed(c float64) string {
	if math.Abs(c) < 0.005 {
		return "0.00"
	}
	if c < 0 {
		return fmt.Sprintf("−%.2f", -c)
	}
	return fmt.Sprintf("+%.2f", c)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// escape keeps table cells intact.
func escape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
