package lab

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws "[#####.....] 123/640 19% unsafe 37% 4m02s eta 16m10s" on
// one terminal line; runs resumed from an earlier run count as done but
// not in the rate. rate names the share shown ("unsafe", "gate fails").
type progress struct {
	w       io.Writer
	total   int
	resumed int
	rate    string
	start   time.Time
}

func newProgress(w io.Writer, total, resumed int, done, rate string) *progress {
	p := &progress{w: w, total: total, resumed: resumed, rate: rate, start: time.Now()}
	if resumed > 0 && w != nil {
		fmt.Fprintf(w, "resuming: %d of %d runs already %s\n", resumed, total, done)
	}
	return p
}

func (p *progress) update(n, examples, unsafe int) {
	if p.w == nil || p.total == 0 {
		return
	}
	const width = 30
	filled := n * width / p.total
	el := time.Since(p.start)
	eta := time.Duration(0)
	if made := n - p.resumed; made > 0 {
		eta = time.Duration(float64(el) / float64(made) * float64(p.total-n))
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d %3d%% %s %2d%% %s eta %s ", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		n, p.total, 100*n/p.total, p.rate, 100*unsafe/max(examples, 1), el.Round(time.Second), eta.Round(time.Second))
}

func (p *progress) done() {
	if p.w != nil {
		fmt.Fprintln(p.w)
	}
}
