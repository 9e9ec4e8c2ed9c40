package rollout

import (
	"errors"
	"fmt"
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

// TestJudgedSpreadsOverTheWave: a wave larger than wave_sample is judged
// on that many of its instances, spread over it, the same ones each time.
func TestJudgedSpreadsOverTheWave(t *testing.T) {
	var members []Instance
	for i := range 1500 {
		members = append(members, Instance{Name: fmt.Sprintf("t%04d", i)})
	}
	cfg := CanaryConfig{}
	cfg.SetDefaults()
	r := &run{c: &Canary{cfg: cfg}}
	got := r.judged(members)
	if len(got) != DefaultWaveSample || got[0].Name != "t0000" || got[1].Name != "t0075" || got[19].Name != "t1425" {
		t.Fatalf("judged %d: %v … %v", len(got), got[0], got[len(got)-1])
	}
	if again := r.judged(members); again[7].Name != got[7].Name {
		t.Error("not the same instances twice")
	}
	if small := r.judged(members[:5]); len(small) != 5 {
		t.Errorf("a wave of 5 judged on %d", len(small))
	}
}
