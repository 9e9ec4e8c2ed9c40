package rollout

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// WaveProgress is how far the apply of one wave has got: the log's
// progress lines and the status page show it.
type WaveProgress struct {
	Wave  int    `json:"wave"`
	Name  string `json:"name"`
	Done  int    `json:"done"`
	Total int    `json:"total"`
	// Failed counts the instances whose apply failed.
	Failed int `json:"failed,omitempty"`
	// ETA estimates the rest of the apply from the pace so far (0 when
	// done or not yet known).
	ETA time.Duration `json:"eta,omitempty"`
	At  time.Time     `json:"at"`
}

// String renders the progress as "120/500 applied, 0 failed, ETA 35s".
func (p WaveProgress) String() string {
	s := fmt.Sprintf("%d/%d applied, %d failed", p.Done, p.Total, p.Failed)
	if p.ETA > 0 && p.Done < p.Total {
		s += ", ETA " + p.ETA.Round(time.Second).String()
	}
	return s
}

// progressEvery is how often a wave's apply reports its progress (and on
// its last instance).
const progressEvery = 2 * time.Second

// progress tracks one wave's apply and reports it, at most every
// progressEvery and once at the end, as a StepProgress event and in the
// checkpoint (through report).
type progress struct {
	mu     sync.Mutex
	p      WaveProgress
	start  time.Time
	last   time.Time
	report func(WaveProgress)
}

func newProgress(wi int, name string, total int, report func(WaveProgress)) *progress {
	now := time.Now()
	return &progress{p: WaveProgress{Wave: wi, Name: name, Total: total, At: now}, start: now, last: now, report: report}
}

// done counts one instance's apply (err: it failed).
func (g *progress) done(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.p.Done++
	if err != nil {
		g.p.Failed++
	}
	now := time.Now()
	if now.Sub(g.last) < progressEvery && g.p.Done < g.p.Total {
		return
	}
	g.last = now
	g.p.At = now
	g.p.ETA = 0
	if g.p.Done < g.p.Total {
		g.p.ETA = time.Duration(float64(now.Sub(g.start)) / float64(g.p.Done) * float64(g.p.Total-g.p.Done))
	}
	g.report(g.p)
}

// reportProgress emits a wave's progress line and keeps it in the
// checkpoint (baseline included, so a resumed run loses nothing).
func (r *run) reportProgress(ctx context.Context, baseline func() Checkpoint) func(WaveProgress) {
	return func(p WaveProgress) {
		r.c.em.emit(ctx, Event{Version: r.ch.Version, Step: StepProgress, Message: fmt.Sprintf("wave %d (%s): %s", p.Wave, p.Name, p)})
		cp := baseline()
		cp.Progress = &p
		r.save(cp)
	}
}
