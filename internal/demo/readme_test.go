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
	// shapeVerdict is a judge verdict row that did not fail: whether it
	// says pass or extend depends on how many samples its KPI had when the
	// decision came (a rare query, a rollback a few seconds into the bake).
	shapeVerdict = regexp.MustCompile(`^(\s*\S+\s+)(pass|extend)(\s+vs )`)
)

// shape reduces a line of demo output to what does not vary between runs:
// elapsed times, commit hashes and numbers become placeholders, a verdict
// row that did not fail says "not-failed", runs of spaces (and the section
// rule) one space.
func shape(line string) string {
	line = shapeVerdict.ReplaceAllString(line, "${1}not-failed${3}")
	line = shapeElapsed.ReplaceAllString(line, "[T]")
	line = shapeHex.ReplaceAllString(line, "H")
	line = shapeNumber.ReplaceAllString(line, "N")
	return strings.TrimSpace(shapeSpace.ReplaceAllString(line, " "))
}

// checkExcerptShape reports the README excerpt lines whose shape the demo
// output does not have, in order: the excerpt must be a contiguous-in-order
// subsequence of a real run, up to varying numbers.
func checkExcerptShape(t *testing.T, excerpt []string, output string) {
	t.Helper()
	var out []string
	for _, l := range strings.Split(output, "\n") {
		out = append(out, shape(l))
	}
	j := 0
	for _, l := range excerpt {
		want := shape(l)
		k := j
		for k < len(out) && out[k] != want {
			k++
		}
		if k == len(out) {
			t.Errorf("README excerpt line not in the demo's output (in order, up to numbers):\n  %s\n  shape: %s", l, want)
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
	if shape(pass) != shape(extend) || shape(pass) == shape(fail) {
		t.Error("shape must take a verdict that did not fail as pass or extend, and keep a fail")
	}
}
