package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/schemacanary/schemacanary/rollout/judge"
)

// statusFuncs are the template functions of the status page.
var statusFuncs = template.FuncMap{
	"stateClass":   stateClass,
	"stateLabel":   func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"confidence":   confidenceHTML,
	"clock":        func(t time.Time) string { return clockString(t) },
	"clockTime":    func(t time.Time) string { return t.UTC().Format("15:04:05.0") },
	"since":        sinceString,
	"shortSHA":     func(s string) string { return s[:min(len(s), 10)] },
	"signed":       func(f float64) string { return fmt.Sprintf("%+.2f", f) },
	"barWidth":     barWidth,
	"pvalue":       judge.FormatPValue,
	"value":        formatValue,
	"verdictClass": verdictClass,
}

// stateClass maps a change-request state to the badge's CSS class.
func stateClass(state string) string {
	switch state {
	case "done":
		return "ok"
	case "rolling_back", "rolled_back", "reverted", "failed":
		return "bad"
	case "awaiting_approval", "inconclusive":
		return "warn"
	case "approved", "canary", "baking", "promoting", "watching":
		return "run"
	}
	return ""
}

// confidenceHTML draws the confidence as a percentage and a small bar.
func confidenceHTML(c float64) template.HTML {
	if c < 0 || math.IsNaN(c) {
		return `<span class="muted">–</span>`
	}
	class := "lo"
	switch {
	case c >= 0.8:
		class = "hi"
	case c >= 0.5:
		class = "mid"
	}
	return template.HTML(fmt.Sprintf(`<span class="conf %s"><span class="bar"><i style="width:%.0f%%"></i></span>%.0f%%</span>`, class, c*100, c*100)) //nolint:gosec // numbers only
}

func clockString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// sinceString is the offset of t from t0, "+1m05s" style.
func sinceString(t0, t time.Time) string {
	d := t.Sub(t0).Round(100 * time.Millisecond)
	if d < 0 {
		return "-" + d.Abs().String()
	}
	return "+" + d.String()
}

// barWidth scales a reason's contribution to at most 200 px.
func barWidth(c, maxAbs float64) int {
	if maxAbs <= 0 {
		return 0
	}
	return int(math.Max(2, math.Round(200*math.Abs(c)/maxAbs)))
}

// verdictClass maps a judge outcome ("pass", "fail", "extend") to CSS.
func verdictClass(outcome string) string {
	switch strings.ToLower(outcome) {
	case "fail", "rollback":
		return "fail"
	case "pass", "promote":
		return "pass"
	}
	return "extend"
}
