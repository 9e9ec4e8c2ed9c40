package demo

import (
	"errors"
	"math"
	"testing"
)

func TestPickThreshold(t *testing.T) {
	for _, c := range []struct {
		safe, risky, want float64
		ranking           bool
	}{
		{safe: 0.95, risky: 0.40, want: 0.80},                // the default separates them
		{safe: 0.70, risky: 0.40, want: 0.55},                // the default would hold the safe one
		{safe: 0.97, risky: 0.90, want: 0.935},               // the default would let the risky one through
		{safe: 0.58, risky: 0.54, want: 0.80, ranking: true}, // too close: the default, authors approve
		{safe: 0.50, risky: 0.85, want: 0.87, ranking: true}, // inverted: the risky one still waits
	} {
		got, err := pickThreshold(c.safe, c.risky)
		if errors.Is(err, errRanking) != c.ranking || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("pickThreshold(safe %.2f, risky %.2f) = %.3f, %v; want %.3f (errRanking %v)", c.safe, c.risky, got, err, c.want, c.ranking)
		}
		if got <= c.risky {
			t.Errorf("pickThreshold(safe %.2f, risky %.2f) = %.3f lets the risky change through", c.safe, c.risky, got)
		}
	}
}
