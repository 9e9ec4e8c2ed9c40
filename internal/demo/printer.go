package demo

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// printer writes the demo's timeline: every line is stamped with the time
// since the demo started.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func newPrinter(w io.Writer) *printer { return &printer{w: w, start: time.Now()} }

// elapsed is the time since the demo started.
func (p *printer) elapsed() time.Duration { return time.Since(p.start) }

// line prints one stamped line.
func (p *printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", p.elapsed().Seconds(), fmt.Sprintf(format, args...))
}

// detail prints an indented continuation line without a stamp.
func (p *printer) detail(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "           %s\n", fmt.Sprintf(format, args...))
}

// section prints a heading.
func (p *printer) section(title string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\n── %s %s\n", title, strings.Repeat("─", max(0, 74-len([]rune(title)))))
}

// plain prints text as is.
func (p *printer) plain(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}
