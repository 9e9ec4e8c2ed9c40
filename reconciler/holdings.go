package reconciler

import (
	"fmt"
	"sort"
	"strings"
)

// String renders "a=5 b=4 c=unreachable", sorted by instance.
func (h Holdings) String() string {
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch h[n] {
		case Unreachable:
			fmt.Fprintf(&b, "%s=unreachable", n)
		case CatchingUp:
			fmt.Fprintf(&b, "%s=catching-up", n)
		case CatchUpFailed:
			fmt.Fprintf(&b, "%s=catch-up-failed", n)
		default:
			fmt.Fprintf(&b, "%s=%d", n, h[n])
		}
	}
	return b.String()
}

// Holding returns the instances whose version is at least v, sorted.
func (h Holdings) Holding(v int64) []string {
	var out []string
	for n, x := range h {
		if x >= v {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Down returns the unreachable instances, sorted.
func (h Holdings) Down() []string {
	var out []string
	for n, x := range h {
		if x == Unreachable {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
