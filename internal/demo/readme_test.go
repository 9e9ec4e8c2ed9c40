package demo

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// readmeExcerpt returns the lines of the demo excerpt in the README: the
// code block after "An excerpt of a real run".
func readmeExcerpt(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "An excerpt of a")
	if i < 0 {
		t.Fatal(`README.md has no "An excerpt of a" (real run)`)
	}
	s = s[i:]
	start := strings.Index(s, "```\n")
	if start < 0 {
		t.Fatal("README.md: no code block after the excerpt's introduction")
	}
	s = s[start+4:]
	end := strings.Index(s, "```")
	if end < 0 {
		t.Fatal("README.md: the excerpt's code block is not closed")
	}
	var lines []string
	for _, l := range strings.Split(s[:end], "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

var (
	shapeElapsed = regexp.MustCompile(`\[\s*[0-9.]+s\]`)
	shapeHex     = regexp.MustCompile(`\b[0-9a-f]{7,40}\b`)
	shapeNumber  = regexp.MustCompile(`[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?`)
	shapeSpace   = regexp.MustCompile(`[ ─]+`)
	// anyVerdict is any judge verdict row; failedVerdict one that failed.
	anyVerdict    = regexp.MustCompile(`^(\s*\S+\s+)(pass|extend|fail)(\s+vs )`)
	failedVerdict = regexp.MustCompile(`^\s*\S+\s+fail\s+vs `)
)

// shape reduces a line of demo output to what does not vary between runs:
// elapsed times, commit hashes and numbers become placeholders, runs of
// spaces (and the section rule) one space.
func shape(line string) string {
	line = shapeElapsed.ReplaceAllString(line, "[T]")
	line = shapeHex.ReplaceAllString(line, "H")
	line = shapeNumber.ReplaceAllString(line, "N")
	return strings.TrimSpace(shapeSpace.ReplaceAllString(line, " "))
}

// shapeAnyVerdict is shape with a verdict row's outcome left open.
func shapeAnyVerdict(line string) string {
	return shape(anyVerdict.ReplaceAllString(line, "${1}any${3}"))
}

// excerptItems splits lines into items: a line, or a run of judge
// verdict rows (one judgment's table).
func excerptItems(lines []string) [][]string {
	var items [][]string
	for i, l := range lines {
		if i > 0 && anyVerdict.MatchString(l) && anyVerdict.MatchString(lines[i-1]) {
			items[len(items)-1] = append(items[len(items)-1], l)
			continue
		}
		items = append(items, []string{l})
	}
	return items
}

// itemMatches reports whether a run's item has an excerpt item's shape.
// A verdict table matches in any order (the failed rows come first) and
// may have more rows. A row that fails in the excerpt must fail in the run,
// with the same shape. One that did not fail matches any row of the same
// KPI: each row is the verdict that decided its KPI's outcome
// (judge.Decision.KPIVerdict), so a KPI that passed may be shown against
// the control or its own baseline, say pass or extend (depending on how
// many samples it had when the decision came), or even fail against the
// control alone while the judgment passes with it.
func itemMatches(want, got []string) bool {
	if !anyVerdict.MatchString(want[0]) {
		return len(got) == 1 && shape(want[0]) == shape(got[0])
	}
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if used[i] {
				continue
			}
			var same bool
			if failedVerdict.MatchString(w) {
				same = failedVerdict.MatchString(g) && shapeAnyVerdict(w) == shapeAnyVerdict(g)
			} else {
				same = verdictKPI(w) == verdictKPI(g)
			}
			if same {
				used[i], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// verdictKPI returns the KPI a verdict row is about (its first field).
func verdictKPI(row string) string {
	f := strings.Fields(row)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// checkExcerptShape reports the README excerpt lines whose shape the demo
// output does not have, in order: the excerpt must be a contiguous-in-order
// subsequence of a real run, up to varying numbers and the order of a
// verdict table's rows (itemMatches).
func checkExcerptShape(t *testing.T, excerpt []string, output string) {
	t.Helper()
	out := excerptItems(strings.Split(output, "\n"))
	j := 0
	for _, it := range excerptItems(excerpt) {
		k := j
		for k < len(out) && !itemMatches(it, out[k]) {
			k++
		}
		if k == len(out) {
			t.Errorf("README excerpt lines not in the demo's output (in order, up to numbers):\n  %s\n  shape: %s",
				strings.Join(it, "\n  "), shape(it[0]))
			continue
		}
		j = k + 1
	}
}

// TestReadmeExcerptShape checks the checker on the README itself: the
// excerpt is there, has the timeline's shape, and shows all three changes'
// decisive lines.
func TestReadmeExcerptShape(t *testing.T) {
	ex := readmeExcerpt(t)
	if len(ex) < 10 {
		t.Fatalf("the README excerpt has %d lines", len(ex))
	}
	joined := strings.Join(ex, "\n")
	for _, s := range []string{"predicted", "confidence", "rolled_back", "judge fail"} {
		if !strings.Contains(joined, s) {
			t.Errorf("the README excerpt lacks %q", s)
		}
	}
	checkExcerptShape(t, ex, joined) // a run is its own excerpt
	if shape("[  83.5s] #16   predicted   confidence 0.70 (model lr-lab-a107a4628a)") !=
		shape("[ 9.1s] #16 predicted confidence 0.23 (model lr-lab-0000000000)") {
		t.Error("shape does not ignore times, numbers and hashes")
	}
	if shape("#16 ✗ rolled_back") == shape("#16   done") {
		t.Error("shape ignores the states")
	}
	pass := "           latency:new_order            pass   vs control  p = 0.7106    canary 0.251 ms vs 0.255 ms"
	extend := "           latency:new_order            extend vs control  p = 1.0000    canary 0.344 ms vs 0.403 ms"
	fail := "           latency:new_order            fail   vs control  p = 5.4e-06   canary 7.54 ms vs 0.115 ms"
	other := "           latency:my_orders            pass   vs control  p = 0.4313    canary 0.115 ms vs 0.113 ms"
	if !itemMatches([]string{other, pass}, []string{other, extend}) {
		t.Error("a row that passed does not match one that extended")
	}
	if !itemMatches([]string{other, pass}, []string{fail, other}) {
		t.Error("a table whose failed row comes first, failed against the control only, does not match")
	}
	if itemMatches([]string{fail, other}, []string{pass, other}) || itemMatches([]string{fail}, []string{extend}) {
		t.Error("an excerpt row that failed matches a run where it did not fail")
	}
	if itemMatches([]string{pass}, []string{other}) {
		t.Error("rows of different KPIs match")
	}
	baseline := "           latency:new_order            pass   vs baseline p = 0.9685    canary 0.2 ms vs 0.21 ms"
	if !itemMatches([]string{other, pass}, []string{other, baseline}) {
		t.Error("a row that passed against the control does not match one that passed against the baseline")
	}
	failBaseline := "           latency:new_order            fail   vs baseline p = 5.4e-06   canary 7.54 ms vs 0.115 ms"
	if itemMatches([]string{fail}, []string{failBaseline}) {
		t.Error("an excerpt row that failed against the control matches one that failed against the baseline")
	}
}
