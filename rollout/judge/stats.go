package judge

import (
	"math"
	"math/bits"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// exactMaxN is the largest group size for which MannWhitneyGreater uses the
// exact null distribution of U (when there are no ties), like R's
// wilcox.test (< 50).
const exactMaxN = 50

// MWResult is the result of a one-sided Mann-Whitney U test.
type MWResult struct {
	// U is the statistic of the first sample: the number of pairs (x, y)
	// with x > y, ties counting one half.
	U float64
	// P is the one-sided p-value of "x tends to be greater than y".
	P float64
	// Exact says whether P comes from the exact null distribution (no
	// ties, both groups <= 50) rather than the normal approximation with
	// tie and continuity corrections.
	Exact bool
}

// MannWhitneyGreater tests whether x is stochastically greater than y with
// the one-sided Mann-Whitney U test (SciPy's mannwhitneyu(x, y,
// alternative="greater"), R's wilcox.test(x, y, alternative="greater")).
// Without ties and with both groups of at most 50 the p-value is exact;
// otherwise it uses the normal approximation with the tie correction of
// the variance and a continuity correction of 0.5. Empty input gives P=1.
func MannWhitneyGreater(x, y []float64) MWResult {
	n, m := len(x), len(y)
	if n == 0 || m == 0 {
		return MWResult{P: 1}
	}
	all := make([]float64, 0, n+m)
	all = append(all, x...)
	all = append(all, y...)
	ranks, tieTerm := midRanks(all)
	var rx float64
	for i := 0; i < n; i++ {
		rx += ranks[i]
	}
	u := rx - float64(n*(n+1))/2
	if tieTerm == 0 && n <= exactMaxN && m <= exactMaxN {
		return MWResult{U: u, P: exactUpperTail(n, m, int(math.Round(u))), Exact: true}
	}
	return MWResult{U: u, P: mwNormalUpper(u, n, m, tieTerm)}
}

// mwNormalUpper is P(U >= u) under the normal approximation, with the tie
// correction of the variance and a continuity correction of 0.5.
func mwNormalUpper(u float64, n, m int, tieTerm float64) float64 {
	nf, mf := float64(n), float64(m)
	N := nf + mf
	mu := nf * mf / 2
	variance := nf * mf / 12 * ((N + 1) - tieTerm/(N*(N-1)))
	if variance <= 0 {
		return 1
	}
	z := (u - mu - 0.5) / math.Sqrt(variance)
	return distuv.UnitNormal.Survival(z)
}

// midRanks returns the 1-based ranks of v, ties sharing their mean rank, and
// the tie term sum(t^3 - t) over groups of t tied values.
func midRanks(v []float64) ([]float64, float64) {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	ranks := make([]float64, len(v))
	var tie float64
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		r := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			ranks[idx[k]] = r
		}
		if t := float64(j - i + 1); t > 1 {
			tie += t*t*t - t
		}
		i = j + 1
	}
	return ranks, tie
}

// exactUpperTail returns P(U >= u) for groups of n and m without ties, in
// [0, 1] by construction: the exact count of arrangements with U >= u over
// the exact count of all arrangements, each rounded once to float64.
//
// The number of arrangements with U = k is the coefficient of q^k in the
// Gaussian binomial [n+m choose n]_q = prod_{i=1..n} (1 - q^(m+i)) / (1 - q^i),
// built one factor at a time: O(n * n*m) operations. Multiplying by
// (1 - q^(m+i)) makes intermediate coefficients negative, and in floating
// point the later running sums then cancel catastrophically (the tail came
// out as -5e-18 at n=23, m=48). The coefficients are therefore computed in
// integers modulo 2^128: subtraction and addition wrap, but every final
// coefficient (and the total C(n+m, n) <= C(100, 50) < 2^97) is a
// non-negative integer below 2^128, so the wrapped arithmetic gives it
// exactly. The tail is then the exact sum of the coefficients k >= u.
func exactUpperTail(n, m, u int) float64 {
	maxU := n * m
	if u <= 0 {
		return 1
	}
	if u > maxU {
		return 0
	}
	if n > m {
		n, m = m, n // the distribution of U is the same
	}
	c := make([]uint128, maxU+1)
	c[0] = uint128{lo: 1}
	for i := 1; i <= n; i++ {
		// Multiply by (1 - q^(m+i)), from the top down.
		for k := maxU; k >= m+i; k-- {
			c[k] = c[k].sub(c[k-m-i])
		}
		// Divide by (1 - q^i): a running sum with stride i, bottom up.
		for k := i; k <= maxU; k++ {
			c[k] = c[k].add(c[k-i])
		}
	}
	var total, tail uint128
	for k, x := range c {
		total = total.add(x)
		if k >= u {
			tail = tail.add(x)
		}
	}
	return tail.float64() / total.float64()
}

// uint128 is an unsigned 128-bit integer whose arithmetic wraps modulo 2^128.
type uint128 struct{ hi, lo uint64 }

func (a uint128) add(b uint128) uint128 {
	lo, carry := bits.Add64(a.lo, b.lo, 0)
	hi, _ := bits.Add64(a.hi, b.hi, carry)
	return uint128{hi: hi, lo: lo}
}

func (a uint128) sub(b uint128) uint128 {
	lo, borrow := bits.Sub64(a.lo, b.lo, 0)
	hi, _ := bits.Sub64(a.hi, b.hi, borrow)
	return uint128{hi: hi, lo: lo}
}

// float64 rounds a to the nearest float64 (monotone: a <= b gives
// a.float64() <= b.float64()).
func (a uint128) float64() float64 {
	return float64(a.hi)*0x1p64 + float64(a.lo)
}

// hlMaxGroup bounds the group sizes HodgesLehmann pairs up (250000 differences).
const hlMaxGroup = 500

// HodgesLehmann returns the Hodges-Lehmann estimate of the shift x - y: the
// median of all pairwise differences x[i] - y[j]. Groups larger than
// hlMaxGroup are thinned to that many evenly spaced order statistics first
// (a 0.2% quantile grid), which keeps
// the estimate within a fraction of the sampling noise and the cost bounded.
// Empty input gives 0.
func HodgesLehmann(x, y []float64) float64 {
	if len(x) == 0 || len(y) == 0 {
		return 0
	}
	xs, ys := thinSorted(x, hlMaxGroup), thinSorted(y, hlMaxGroup)
	diffs := make([]float64, 0, len(xs)*len(ys))
	for _, a := range xs {
		for _, b := range ys {
			diffs = append(diffs, a-b)
		}
	}
	return medianInPlace(diffs)
}

// medianInPlace returns the median of v in linear expected time
// (quickselect), reordering v.
func medianInPlace(v []float64) float64 {
	n := len(v)
	h := n / 2
	hi := selectKth(v, h)
	if n%2 == 1 {
		return hi
	}
	// After selecting h, v[:h] holds the h smallest: the lower middle is their max.
	lo := v[0]
	for _, x := range v[1:h] {
		if x > lo {
			lo = x
		}
	}
	return (lo + hi) / 2
}

// selectKth partially orders v so that v[k] is the k-th smallest (0-based),
// everything before it <= it and everything after >= it, and returns v[k].
func selectKth(v []float64, k int) float64 {
	lo, hi := 0, len(v)-1
	for lo < hi {
		// Median of three as the pivot keeps sorted input linear.
		mid := lo + (hi-lo)/2
		if v[mid] < v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] < v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] < v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		pivot := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] < pivot {
				i++
			}
			for v[j] > pivot {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return v[k]
		}
	}
	return v[k]
}

// thinSorted returns v sorted, reduced to at most k evenly spaced order statistics.
func thinSorted(v []float64, k int) []float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) <= k {
		return s
	}
	out := make([]float64, k)
	for i := range out {
		out[i] = s[int(math.Round(float64(i)*float64(len(s)-1)/float64(k-1)))]
	}
	return out
}

// Median returns the median of v (the mean of the two middle values for an
// even count); 0 for empty input. v is not modified.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	h := len(s) / 2
	if len(s)%2 == 1 {
		return s[h]
	}
	return (s[h-1] + s[h]) / 2
}

// Quantile returns the q-quantile (0..1) of v with linear interpolation
// between order statistics (R's type 7, NumPy's default); 0 for empty input.
func Quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	h := q * float64(len(s)-1)
	lo := math.Floor(h)
	if int(lo)+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[int(lo)] + (h-lo)*(s[int(lo)+1]-s[int(lo)])
}

// TwoProportionGreater tests whether the rate x1/n1 exceeds x2/n2 with the
// pooled one-sided two-proportion z-test (R's prop.test(c(x1, x2), c(n1,
// n2), alternative="greater", correct=FALSE)). It returns the z statistic
// and the p-value; degenerate input (no events, or all) gives z=0, p=1.
func TwoProportionGreater(x1, n1, x2, n2 int64) (z, p float64) {
	if n1 <= 0 || n2 <= 0 {
		return 0, 1
	}
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	pool := float64(x1+x2) / float64(n1+n2)
	se := math.Sqrt(pool * (1 - pool) * (1/float64(n1) + 1/float64(n2)))
	if se == 0 {
		return 0, 1
	}
	z = (p1 - p2) / se
	return z, distuv.UnitNormal.Survival(z)
}

// FisherExactGreater is the one-sided Fisher exact test that group 1 (x1
// events out of n1) has a higher rate than group 2 (x2 out of n2): the
// hypergeometric probability of x1 or more of the x1+x2 events falling in
// group 1 (R's fisher.test(matrix(c(x1, n1-x1, x2, n2-x2), 2, byrow=TRUE),
// alternative="greater"), SciPy's fisher_exact(..., alternative="greater")).
//
// The result is in [0, 1] by construction: it is a sum of positive terms
// over a larger sum of positive terms. The terms are probabilities relative
// to the mode, built by the ratio of neighbours and summed outward from it
// (no cancellation, no differences of log-gamma values); a tail above the
// mode whose first term underflows is carried as a logarithm. Counts outside
// 0 <= x <= n give 1.
func FisherExactGreater(x1, n1, x2, n2 int64) float64 {
	if n1 <= 0 || n2 <= 0 || x1 < 0 || x2 < 0 || x1 > n1 || x2 > n2 {
		return 1
	}
	h := hypergeom{N: n1 + n2, K: x1 + x2, n: n1}
	lo, hi := max(0, h.K-n2), min(h.K, n1)
	if x1 <= lo {
		return 1
	}
	mode := int64(math.Floor(float64(h.K+1) * float64(n1+1) / float64(h.N+2)))
	mode = min(max(mode, lo), hi)
	if x1 <= mode {
		// Terms relative to f(mode): upper = sum over x1..hi, below = lo..x1-1.
		upper := h.sumAway(mode, hi)
		t := 1.0
		for k := mode; k > x1; k-- {
			t *= h.down(k)
			upper += t
		}
		below := t * h.down(x1) * h.sumAway(x1-1, lo)
		return upper / (upper + below)
	}
	// x1 above the mode: rest = sum over lo..x1-1 relative to f(mode), and
	// the tail x1..hi as log f(x1)/f(mode) plus the sum relative to f(x1).
	rest := h.sumAway(mode, lo)
	var logFirst float64
	for k := mode; k < x1; k++ {
		logFirst += math.Log(h.up(k))
		if k+1 < x1 {
			rest += math.Exp(logFirst)
		}
	}
	tail := h.sumAway(x1, hi)
	if logFirst > -700 {
		t := math.Exp(logFirst) * tail
		return t / (t + rest)
	}
	// The tail is below 1e-300 of the rest (rest >= 1): rest + tail == rest.
	return math.Exp(logFirst + math.Log(tail) - math.Log(rest))
}

// hypergeom is the distribution of the number of marked items among n drawn
// without replacement from N items of which K are marked.
type hypergeom struct{ N, K, n int64 }

// up is f(k+1)/f(k).
func (h hypergeom) up(k int64) float64 {
	return float64(h.K-k) * float64(h.n-k) / (float64(k+1) * float64(h.N-h.K-h.n+k+1))
}

// down is f(k-1)/f(k).
func (h hypergeom) down(k int64) float64 {
	return float64(k) * float64(h.N-h.K-h.n+k) / (float64(h.K-k+1) * float64(h.n-k+1))
}

// tailEps is the relative size below which the terms not yet added cannot
// change a sum.
const tailEps = 1e-17

// sumAway returns the sum of f(k)/f(from) for k from from to to (inclusive),
// walking away from the mode. The distribution is log-concave, so the ratio
// of neighbours only falls along such a walk and the terms left are bounded
// by a geometric series; the walk stops once that bound is below tailEps of
// the sum.
func (h hypergeom) sumAway(from, to int64) float64 {
	ratio, dir := h.up, int64(1)
	if to < from {
		ratio, dir = h.down, -1
	}
	sum, t := 0.0, 1.0
	for k := from; ; k += dir {
		sum += t
		if k == to {
			return sum
		}
		r := ratio(k)
		t *= r
		if r < 1 && t/(1-r) < tailEps*sum {
			return sum
		}
	}
}
