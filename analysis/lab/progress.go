package lab

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws "[#####.....] 123/640 19% unsafe 37% 4m02s eta 16m10s" on
// one terminal line.
type progress struct {
	w     io.Writer
	total int
	start time.Time
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, total: total, start: time.Now()}
}

func (p *progress) update(n, unsafe int) {
	if p.w == nil || p.total == 0 {
		return
	}
	const width = 30
	filled := n * width / p.total
	el := time.Since(p.start)
	eta := time.Duration(0)
	if n > 0 {
		eta = time.Duration(float64(el) / float64(n) * float64(p.total-n))
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d %3d%% unsafe %2d%% %s eta %s ", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		n, p.total, 100*n/p.total, 100*unsafe/max(n, 1), el.Round(time.Second), eta.Round(time.Second))
}

func (p *progress) done() {
	if p.w != nil {
		fmt.Fprintln(p.w)
	}
}
