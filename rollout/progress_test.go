package rollout

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A wave's progress counts applies and failures, estimates the rest from
// the pace so far, reports at most every progressEvery, and always on the
// last instance.
func TestWaveProgress(t *testing.T) {
	t.Parallel()
	var got []WaveProgress
	g := newProgress(2, "25%", 3, func(p WaveProgress) { got = append(got, p) })
	g.start = time.Now().Add(-10 * time.Second) // 10 s per instance so far
	g.last = g.start
	g.done(nil)
	if len(got) != 1 || got[0].Done != 1 || got[0].ETA < 19*time.Second || got[0].ETA > 21*time.Second {
		t.Fatalf("first report %+v, want 1/3 with an ETA of about 20 s", got)
	}
	g.done(errors.New("boom")) // within progressEvery of the last report: not reported
	if len(got) != 1 {
		t.Fatalf("reported %d times, want once within %s", len(got), progressEvery)
	}
	g.done(nil)
	last := got[len(got)-1]
	if last.Done != 3 || last.Failed != 1 || last.ETA != 0 {
		t.Fatalf("last report %+v, want 3/3 with 1 failure", last)
	}
	if s := last.String(); s != "3/3 applied, 1 failed" {
		t.Errorf("String() = %q", s)
	}
	if s := got[0].String(); !strings.HasPrefix(s, "1/3 applied, 0 failed, ETA 2") {
		t.Errorf("String() = %q", s)
	}
}
