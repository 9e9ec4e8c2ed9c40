package model

import (
	"fmt"
	"math"
	"strings"
)

// Describe says in plain words what feature name with value v means for a
// change whose full vector is f, e.g. "rewrites a 2M-row table". Unknown
// features are described generically from their name.
func Describe(name string, v float64, f Features) string {
	if p, ok := phrases[name]; ok {
		return p(v, f)
	}
	return generic(name, v)
}

func generic(name string, v float64) string {
	words := strings.ReplaceAll(name, "_", " ")
	switch {
	case v == 1 && isFlagName(name):
		return words
	case v == 0 && isFlagName(name):
		return "no " + words
	case v == math.Trunc(v):
		return fmt.Sprintf("%s: %d", words, int64(v))
	default:
		return fmt.Sprintf("%s: %.2g", words, v)
	}
}

func isFlagName(name string) bool {
	for _, s := range []string{"_rate", "_log10", "_count", "_seconds", "_sin", "_cos", "statements", "risk"} {
		if strings.Contains(name, s) {
			return false
		}
	}
	return true
}

// HumanCount writes n as 950, 12k, 2M.
func HumanCount(n float64) string {
	switch {
	case n >= 1e9:
		return trimZero(fmt.Sprintf("%.1f", n/1e9)) + "G"
	case n >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", n/1e6)) + "M"
	case n >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", n/1e3)) + "k"
	default:
		return fmt.Sprintf("%.0f", n)
	}
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }
