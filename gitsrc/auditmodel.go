package gitsrc

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
)

// ModelAuditRecord is one retraining of the prediction model, as the audit
// branch keeps it (models/<time>-<version>.md): what was tried, on what,
// the figures it was judged by, and whether it replaced the model in use.
type ModelAuditRecord struct {
	// At is when the retraining ran.
	At time.Time
	// Champion is the model in use before; Challenger the candidate ("" when
	// none could be built).
	Champion, Challenger string
	// Mode is "calibration" (only the calibration refitted) or "refit".
	Mode string
	// Accepted says whether the challenger replaced the champion; Reason
	// says why in words.
	Accepted bool
	Reason   string
	// Figures are named numbers (history size, rollbacks, holdout Brier of
	// both models, ...), rendered sorted by name.
	Figures map[string]float64
	// NamedCaseFailures are the challenger's failed named cases.
	NamedCaseFailures []string
}

// RecordModel writes a retraining record as its own file and commit,
// message "model <challenger>: accepted|rejected (<mode>)". Recording the
// same retraining twice (same time and challenger) commits nothing.
func (a *Audit) RecordModel(ctx context.Context, rec ModelAuditRecord) (bool, error) {
	if rec.At.IsZero() {
		rec.At = a.now()
	}
	rec.At = rec.At.UTC().Truncate(time.Second)
	name := rec.Challenger
	if name == "" {
		name = "none"
	}
	path := fmt.Sprintf("models/%s-%s.md", rec.At.Format("20060102T150405Z"), name)
	verdict := "rejected"
	if rec.Accepted {
		verdict = "accepted"
	}
	msg := fmt.Sprintf("model %s: %s (%s)\n\n%s\n", name, verdict, rec.Mode, singleLine(rec.Reason))
	committed, err := a.update(ctx, func(tip *object.Tree) (map[string][]byte, string, error) {
		if _, ok, err := treeFileBytes(tip, path); err != nil || ok {
			return nil, "", err
		}
		return map[string][]byte{path: renderModelRecord(rec, verdict)}, msg, nil
	})
	if err != nil {
		return false, fmt.Errorf("audit model %s: %w", name, err)
	}
	return committed, nil
}

func renderModelRecord(rec ModelAuditRecord, verdict string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Model retraining %s\n\n", rec.At.Format(time.RFC3339))
	fmt.Fprintf(&b, "- champion: `%s`\n- challenger: `%s`\n- mode: %s\n- decision: **%s**: %s\n\n", singleLine(rec.Champion),
		singleLine(rec.Challenger), singleLine(rec.Mode), verdict, singleLine(rec.Reason))
	if len(rec.Figures) > 0 {
		names := make([]string, 0, len(rec.Figures))
		for n := range rec.Figures {
			names = append(names, n)
		}
		sort.Strings(names)
		b.WriteString("| figure | value |\n| --- | ---: |\n")
		for _, n := range names {
			fmt.Fprintf(&b, "| %s | %.4g |\n", mdCell(n), rec.Figures[n])
		}
		b.WriteString("\n")
	}
	for _, f := range rec.NamedCaseFailures {
		fmt.Fprintf(&b, "- failed named case: %s\n", singleLine(f))
	}
	return []byte(b.String())
}
