package web

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/schemacanary/schemacanary/reconciler/change"
)

// chartMark is a vertical marker on a KPI chart.
type chartMark struct {
	At    time.Time
	Label string
	Class string // CSS class: "applied" or "rollback"
}

// chart geometry, in SVG user units.
const (
	chartW, chartH                       = 720, 240
	padLeft, padRight, padTop, padBottom = 64, 16, 28, 34
)

// renderKPIChart draws one KPI's canary and control series as an inline SVG
// line chart, with vertical marks (the canary apply, the rollback). It is
// self-contained: no script, no external asset.
func renderKPIChart(k change.StatusKPI, marks []chartMark) template.HTML {
	var all []change.StatusPoint
	all = append(all, k.Canary...)
	all = append(all, k.Control...)
	title := html.EscapeString(k.KPI)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-label="%s: canary vs control">`, chartW, chartH, title)
	fmt.Fprintf(&b, `<title>%s: canary vs control</title>`, title)
	if len(all) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="empty">no samples yet</text></svg>`, chartW/2-50, chartH/2)
		return template.HTML(b.String()) //nolint:gosec // built from escaped values
	}
	t0, t1 := all[0].At, all[0].At
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range all {
		if p.At.Before(t0) {
			t0 = p.At
		}
		if p.At.After(t1) {
			t1 = p.At
		}
		if !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) {
			lo, hi = math.Min(lo, p.Value), math.Max(hi, p.Value)
		}
	}
	for _, m := range marks {
		if m.At.IsZero() {
			continue
		}
		if m.At.Before(t0) {
			t0 = m.At
		}
		if m.At.After(t1) {
			t1 = m.At
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
	}
	if lo > 0 {
		lo = 0 // KPIs are non-negative; a zero baseline keeps ratios honest
	}
	ticks := niceTicks(lo, hi, 4)
	lo, hi = ticks[0], ticks[len(ticks)-1]
	span := t1.Sub(t0)
	if span <= 0 {
		span = time.Second
	}
	plotW, plotH := float64(chartW-padLeft-padRight), float64(chartH-padTop-padBottom)
	x := func(t time.Time) float64 { return padLeft + plotW*float64(t.Sub(t0))/float64(span) }
	y := func(v float64) float64 { return padTop + plotH*(1-(v-lo)/(hi-lo)) }

	// grid and y axis labels
	for _, v := range ticks {
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padLeft, chartW-padRight, y(v), y(v))
		fmt.Fprintf(&b, `<text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>`, padLeft-6, y(v)+4, html.EscapeString(formatValue(v)))
	}
	if k.Unit != "" {
		fmt.Fprintf(&b, `<text class="unit" x="%d" y="%d">%s</text>`, 4, padTop-10, html.EscapeString(k.Unit))
	}
	// x axis labels: 5 evenly spaced clock times
	for i := 0; i <= 4; i++ {
		t := t0.Add(time.Duration(float64(span) * float64(i) / 4))
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x(t), chartH-12, anchor, t.UTC().Format("15:04:05"))
	}
	// marks under the series
	for _, m := range marks {
		if m.At.IsZero() {
			continue
		}
		// The label sits inside the plot, right of the line (left of it
		// near the right edge), so it never collides with the legend.
		lx, anchor := x(m.At)+5, "start"
		if lx > chartW-padRight-120 {
			lx, anchor = x(m.At)-5, "end"
		}
		fmt.Fprintf(&b, `<g class="mark %s"><line x1="%.1f" x2="%.1f" y1="%d" y2="%d"/><text x="%.1f" y="%d" text-anchor="%s">%s</text></g>`,
			m.Class, x(m.At), x(m.At), padTop, chartH-padBottom, lx, padTop+12, anchor, html.EscapeString(m.Label))
	}
	series := func(class string, pts []change.StatusPoint) {
		if len(pts) == 0 {
			return
		}
		var d strings.Builder
		for _, p := range pts {
			if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
				continue
			}
			fmt.Fprintf(&d, "%.1f,%.1f ", x(p.At), y(p.Value))
		}
		fmt.Fprintf(&b, `<polyline class="series %s" data-series="%s" points="%s"/>`, class, class, strings.TrimSpace(d.String()))
	}
	series("control", k.Control)
	series("canary", k.Canary)
	// legend
	fmt.Fprintf(&b, `<g class="legend"><line class="series canary" x1="%d" x2="%d" y1="12" y2="12"/><text x="%d" y="16">canary</text>`, chartW-170, chartW-150, chartW-145)
	fmt.Fprintf(&b, `<line class="series control" x1="%d" x2="%d" y1="12" y2="12"/><text x="%d" y="16">control</text></g>`, chartW-90, chartW-70, chartW-65)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every interpolated string is escaped above
}

// niceTicks returns about n+1 round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	var out []float64
	for v := start; v < hi+step*0.999; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	if len(out) < 2 {
		out = append(out, start+step)
	}
	return out
}

// formatValue prints a tick or KPI value compactly.
func formatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.3gk", v/1e3)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
