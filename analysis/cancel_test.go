package analysis

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// cancelAfter is a context whose Err turns to context.Canceled after its
// first n calls: it cancels Analyze part way, deterministically.
type cancelAfter struct {
	context.Context
	n atomic.Int64
}

func (c *cancelAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestAnalyzeHonoursCancellation: a context cancelled while a large file is
// parsed stops Analyze part way, with an error that says so and wraps the
// context's error; a deadline already past stops it before any work.
func TestAnalyzeHonoursCancellation(t *testing.T) {
	t.Parallel()
	m := largeMigration(5000)
	ctx := &cancelAfter{Context: context.Background()}
	ctx.n.Store(2) // the entry check and the first periodic check pass
	rep, err := Analyze(ctx, m)
	if !errors.Is(err, context.Canceled) || rep != nil {
		t.Fatalf("Analyze after cancel = %v, %v; want nil, context.Canceled", rep, err)
	}
	if !strings.Contains(err.Error(), "stopped after 511 of 5005 statements") || !strings.Contains(err.Error(), m.Path) {
		t.Errorf("error %q should name the file and how far it got", err)
	}

	dl, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := Analyze(dl, m); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Analyze past its deadline = %v; want context.DeadlineExceeded", err)
	}
}

// TestAnalyzeStatementIndexes: statement indexes count within each section
// (Up from 0, Down from 0 again), whatever the size of the file.
func TestAnalyzeStatementIndexes(t *testing.T) {
	t.Parallel()
	m := largeMigration(3000)
	rep, err := Analyze(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	next := map[Section]int{}
	for i, s := range rep.Statements {
		if s.Index != next[s.Section] {
			t.Fatalf("statement %d (%s, line %d): index %d, want %d", i, s.Section, s.Line, s.Index, next[s.Section])
		}
		next[s.Section]++
	}
	if next[SectionUp] != 3000 || next[SectionDown] != len(m.Down) {
		t.Errorf("counted %d Up and %d Down statements, want 3000 and %d", next[SectionUp], next[SectionDown], len(m.Down))
	}
}
