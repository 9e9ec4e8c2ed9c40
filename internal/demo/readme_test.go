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
}
