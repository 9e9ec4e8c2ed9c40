package reconciler

import (
	"fmt"
	"strings"

	"github.com/schemacanary/schemacanary/gitsrc/forge"
	"github.com/schemacanary/schemacanary/reconciler/change"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/comment"
)

type proposalItem struct {
	Migration  *migration.Migration
	Assessment *assess.Assessment
}

// renderProposal is the sticky comment of an open proposal: the marker
// that finds it again, then analysis/comment's rendering of every
// migration (confidence, what happens on merge, the reasons, the locks and
// hazards, the lint findings), then every rejected file with file:line.
func renderProposal(items []proposalItem, rejected []*migration.MigrationError) string {
	var b strings.Builder
	b.WriteString(forge.PredictionMarker + "\n")
	if len(items) > 0 {
		cs := make([]*assess.Assessment, 0, len(items))
		for _, it := range items {
			cs = append(cs, it.Assessment)
		}
		_ = comment.Write(&b, cs, // a strings.Builder never fails a write
			comment.Options{ApproveHint: fmt.Sprintf("after the merge comment `%s` to roll it out anyway", forge.ApproveCommand)})
		b.WriteString("\n")
	}
	if len(rejected) > 0 {
		b.WriteString("#### Rejected files (nothing will be applied)\n\n")
		for _, e := range rejected {
			fmt.Fprintf(&b, "- `%s`\n", e.Error())
		}
		b.WriteString("\n")
	}
	if len(items) == 0 && len(rejected) == 0 {
		b.WriteString("No migration changes.\n")
	}
	return b.String()
}

// renderDecision is the comment posted after merge with the decision.
func renderDecision(c *change.Request, threshold float64) string {
	conf := 0.0
	if c.Confidence != nil {
		conf = *c.Confidence
	}
	if c.State == change.StateAwaitingApproval {
		return fmt.Sprintf("schemacanary: migration %d (`%s`) has confidence %.0f%%, below the threshold %.0f%%. It waits for an approval: comment `%s` (write or admin permission), or run `schemacanary approve %d --by NAME`.",
			c.Version, c.Path, 100*conf, 100*threshold, forge.ApproveCommand, c.Version)
	}
	by := "automatically"
	if c.ApprovedBy != "" {
		by = "approved by " + c.ApprovedBy
	}
	return fmt.Sprintf("schemacanary: migration %d (`%s`) proceeds to the canary (%s; confidence %.0f%%, threshold %.0f%%).",
		c.Version, c.Path, by, 100*conf, 100*threshold)
}

// renderOutcome is the comment posted when a change finishes.
func renderOutcome(c *change.Request) string {
	switch c.State {
	case change.StateDone:
		return fmt.Sprintf("schemacanary: migration %d is applied on the whole fleet (%s).", c.Version, Holdings(c.Instances))
	case change.StateRolledBack:
		s := fmt.Sprintf("schemacanary: migration %d was **rolled back**: %s\n\nVersions now: %s.", c.Version, c.Reason, Holdings(c.Instances))
		if c.RevertBranch != "" {
			s += fmt.Sprintf("\n\nRevert: branch `%s`", c.RevertBranch)
			if c.RevertPR != 0 {
				s += fmt.Sprintf(" (#%d)", c.RevertPR)
			}
			s += ". The queue is held until it merges or `schemacanary skip` is run."
		}
		return s
	default:
		return fmt.Sprintf("schemacanary: migration %d **failed** and needs a human: %s\n\nVersions now: %s. The queue is held until its revert merges or `schemacanary skip %d` is run.",
			c.Version, c.Reason, Holdings(c.Instances), c.Version)
	}
}

// renderRevertBody explains a revert PR: the reason and the failed KPIs.
func renderRevertBody(c *change.Request, d *change.JudgeRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "schemacanary rolled back migration %d (`%s`, merged in %s).\n\n**Reason:** %s\n\n", c.Version, c.Path, change.ShortCommit(c.Commit), c.Reason)
	if d != nil {
		if failed := d.Failed(); len(failed) > 0 {
			b.WriteString("| KPI | vs | canary | reference | p-value | effect |\n| --- | --- | --- | --- | --- | --- |\n")
			for _, v := range failed {
				fmt.Fprintf(&b, "| %s | %s | %.4g | %.4g | %.3g | %+.1f%% |\n", v.KPI, v.Reference, v.CanaryValue, v.ReferenceValue, v.PValue, 100*v.RelEffect)
			}
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(&b, "Versions after the rollback: %s.\n\nMerging this PR removes the migration from the branch and releases the queue.\n", Holdings(c.Instances))
	return b.String()
}
