package judge

import (
	"math"
	"math/rand/v2"
	"testing"
)

func statNear(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// Known values, each from a published source:
//   - SciPy's mannwhitneyu docs: males vs females, U=17, two-sided exact
//     p=0.1111 (so one-sided 7/126), asymptotic two-sided p=0.11134688653314041.
//   - R's ?wilcox.test (Hollander & Wolfe's permeability constants):
//     wilcox.test(x, y, alternative="g") gives W=35, p-value=0.1272, and
//     conf.int=TRUE estimates the difference in location as 0.305 (the
//     Hodges-Lehmann estimator).
func TestMannWhitneyKnownValues(t *testing.T) {
	t.Parallel()
	males := []float64{19, 22, 16, 29, 24}
	females := []float64{20, 11, 17, 12}
	hwX := []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46}
	hwY := []float64{1.15, 0.88, 0.90, 0.74, 1.21}
	for _, tc := range []struct {
		name  string
		x, y  []float64
		u, p  float64
		exact bool
	}{
		{"scipy males>females exact", males, females, 17, 7.0 / 126, true},
		// P(U >= 3) = 1 - P(U <= 2) = 1 - P(U >= 18) = 1 - (1+1+2)/126 by symmetry.
		{"scipy females>males exact", females, males, 3, 1 - 4.0/126, true},
		{"R wilcox.test permeability", hwX, hwY, 35, 0.1272, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := MannWhitneyGreater(tc.x, tc.y)
			if r.U != tc.u || r.Exact != tc.exact || !statNear(r.P, tc.p, 5e-5) {
				t.Errorf("got U=%g p=%.6f exact=%v, want U=%g p=%.6f exact=%v", r.U, r.P, r.Exact, tc.u, tc.p, tc.exact)
			}
		})
	}
	// SciPy method="asymptotic": two-sided 0.11134688653314041.
	if p := mwNormalUpper(17, 5, 4, 0); !statNear(2*p, 0.11134688653314041, 1e-12) {
		t.Errorf("asymptotic two-sided p = %.15f, want 0.11134688653314041", 2*p)
	}
}

// TestMannWhitneyTies works an example with ties by hand:
// x = 1 2 2 3 4 4, y = 1 1 2 3 3. Pairs x>y plus half the ties: U = 20.
// Tie groups: value 1 (3 times), 2 (3), 3 (3), 4 (2): sum(t^3-t) = 24+24+24+6 = 78.
// var = 6*5/12 * (12 - 78/(11*10)) = 2.5 * 11.290909 = 28.227273;
// z = (20 - 15 - 0.5)/sqrt(28.227273) = 0.846990; P(Z >= z) = 0.198500.
func TestMannWhitneyTies(t *testing.T) {
	t.Parallel()
	r := MannWhitneyGreater([]float64{1, 2, 2, 3, 4, 4}, []float64{1, 1, 2, 3, 3})
	if r.U != 20 || r.Exact || !statNear(r.P, 0.198500, 5e-6) {
		t.Errorf("got U=%g p=%.6f exact=%v, want U=20 p=0.198500 normal", r.U, r.P, r.Exact)
	}
	// All values tied: no evidence either way.
	if r := MannWhitneyGreater([]float64{0, 0, 0}, []float64{0, 0}); r.P != 1 {
		t.Errorf("all tied: p=%g, want 1", r.P)
	}
}

// TestExactMatchesEnumeration checks the generating function against brute force:
// every way of splitting n+m distinct values into groups of n and m.
func TestExactMatchesEnumeration(t *testing.T) {
	t.Parallel()
	for _, nm := range [][2]int{{1, 1}, {2, 3}, {4, 4}, {5, 3}, {3, 7}, {6, 6}, {9, 4}} {
		n, m := nm[0], nm[1]
		counts := map[int]int{}
		total := 0
		for mask := 0; mask < 1<<(n+m); mask++ {
			if bitCount(mask) != n {
				continue
			}
			u := 0
			for i := 0; i < n+m; i++ {
				for j := 0; j < n+m; j++ {
					if mask&(1<<i) != 0 && mask&(1<<j) == 0 && i > j {
						u++
					}
				}
			}
			counts[u]++
			total++
		}
		for u := 0; u <= n*m+1; u++ {
			tail := 0
			for k, c := range counts {
				if k >= u {
					tail += c
				}
			}
			want := float64(tail) / float64(total)
			if got := exactUpperTail(n, m, u); !statNear(got, want, 1e-12) {
				t.Errorf("n=%d m=%d P(U>=%d) = %g, want %g", n, m, u, got, want)
			}
		}
	}
}

func bitCount(x int) int {
	c := 0
	for ; x > 0; x &= x - 1 {
		c++
	}
	return c
}

// TestMannWhitneyCalibrated: under the null the one-sided p-value is (about)
// uniform, so p < 0.05 in about 5% of draws; under a real shift it is small.
func TestMannWhitneyCalibrated(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	draw := func(n int, shift float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Exp(r.NormFloat64()*0.3) + shift
		}
		return v
	}
	const runs = 2000
	hits := 0
	for i := 0; i < runs; i++ {
		if MannWhitneyGreater(draw(60, 0), draw(60, 0)).P < 0.05 {
			hits++
		}
	}
	if rate := float64(hits) / runs; rate < 0.035 || rate > 0.065 {
		t.Errorf("null rejection rate %.3f at alpha 0.05, want ~0.05", rate)
	}
	if p := MannWhitneyGreater(draw(60, 0.5), draw(60, 0)).P; p > 1e-6 {
		t.Errorf("shifted: p=%g, want tiny", p)
	}
}

func TestHodgesLehmann(t *testing.T) {
	t.Parallel()
	hwX := []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46}
	hwY := []float64{1.15, 0.88, 0.90, 0.74, 1.21}
	for _, tc := range []struct {
		name string
		x, y []float64
		want float64
	}{
		{"R wilcox.test conf.int estimate", hwX, hwY, 0.305},
		{"hand: diffs 1,1,2,2,3,3,4,4", []float64{1, 2, 3, 4}, []float64{0, 0}, 2.5},
		{"pure shift", []float64{10, 11, 12, 13}, []float64{0, 1, 2, 3}, 10},
		{"negative", []float64{0}, []float64{5, 7}, -6},
		{"empty", nil, []float64{1}, 0},
	} {
		if got := HodgesLehmann(tc.x, tc.y); !statNear(got, tc.want, 1e-9) {
			t.Errorf("%s: HL=%g, want %g", tc.name, got, tc.want)
		}
	}
	// Thinning large groups keeps a pure shift exact.
	big := make([]float64, 5000)
	for i := range big {
		big[i] = float64(i % 977)
	}
	shifted := make([]float64, len(big))
	for i := range big {
		shifted[i] = big[i] + 3
	}
	if got := HodgesLehmann(shifted, big); !statNear(got, 3, 1.5) {
		t.Errorf("thinned HL=%g, want ~3", got)
	}
}

// Known values from R:
//   - prop.test(c(15, 25), c(50, 50), correct=FALSE): X-squared = 4.1667,
//     two-sided p = 0.04123, so z = 2.0412 and one-sided p = 0.020613 for
//     25/50 > 15/50.
//   - fisher.test(matrix(c(3, 1, 1, 3), 2), alternative="greater") (Fisher's
//     tea tasting): p = 0.2429 = 17/70.
func TestProportionTests(t *testing.T) {
	t.Parallel()
	z, p := TwoProportionGreater(25, 50, 15, 50)
	if !statNear(z*z, 4.1667, 5e-4) || !statNear(2*p, 0.04123, 5e-5) {
		t.Errorf("two-proportion: z^2=%.4f two-sided p=%.5f, want 4.1667 and 0.04123", z*z, 2*p)
	}
	if _, p := TwoProportionGreater(15, 50, 25, 50); p < 0.97 {
		t.Errorf("lower rate: p=%g, want ~0.979", p)
	}
	if _, p := TwoProportionGreater(0, 100, 0, 100); p != 1 {
		t.Errorf("no events: p=%g, want 1", p)
	}
	if p := FisherExactGreater(3, 4, 1, 4); !statNear(p, 17.0/70, 1e-12) {
		t.Errorf("tea tasting: p=%g, want 0.242857", p)
	}
	// 3 errors in 1000 vs none in 1000: P(all 3 land in the canary) = C(1000,3)/C(2000,3) ~ 1/8.
	if p := FisherExactGreater(3, 1000, 0, 1000); !statNear(p, 0.124812, 1e-5) {
		t.Errorf("sparse: p=%g, want 0.124812", p)
	}
	if p := FisherExactGreater(0, 10, 5, 10); !statNear(p, 1, 1e-12) {
		t.Errorf("no canary errors: p=%g, want 1", p)
	}
}

func TestQuantileMedian(t *testing.T) {
	t.Parallel()
	v := []float64{5, 1, 4, 2, 3}
	if Median(v) != 3 || Median([]float64{1, 2, 3, 4}) != 2.5 || Median(nil) != 0 {
		t.Error("median")
	}
	// R: quantile(1:5, 0.9) = 4.6 (type 7).
	if q := Quantile(v, 0.9); !statNear(q, 4.6, 1e-12) {
		t.Errorf("quantile 0.9 = %g, want 4.6", q)
	}
}

// TestMedianInPlace checks the quickselect median against sorting on
// random, tied and sorted input.
func TestMedianInPlace(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 5))
	for n := 1; n < 200; n++ {
		for _, gen := range []func(i int) float64{
			func(int) float64 { return r.NormFloat64() },
			func(int) float64 { return float64(r.IntN(4)) },
			func(i int) float64 { return float64(i) },
			func(i int) float64 { return float64(-i) },
		} {
			v := make([]float64, n)
			for i := range v {
				v[i] = gen(i)
			}
			want := Median(v)
			if got := medianInPlace(append([]float64(nil), v...)); got != want {
				t.Fatalf("n=%d: medianInPlace=%g, Median=%g (%v)", n, got, want, v)
			}
		}
	}
}

func BenchmarkHodgesLehmann2000(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x, y := make([]float64, 2000), make([]float64, 2000)
	for i := range x {
		x[i], y[i] = r.ExpFloat64(), r.ExpFloat64()
	}
	for b.Loop() {
		HodgesLehmann(x, y)
	}
}

func BenchmarkMannWhitney2000(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x, y := make([]float64, 2000), make([]float64, 2000)
	for i := range x {
		x[i], y[i] = r.ExpFloat64(), r.ExpFloat64()
	}
	for b.Loop() {
		MannWhitneyGreater(x, y)
	}
}

// TestExactAgreesWithNormalForLargeGroups: at n = m = 50 the exact tail and
// the normal approximation agree to a few thousandths.
func TestExactAgreesWithNormalForLargeGroups(t *testing.T) {
	t.Parallel()
	for _, u := range []int{1250, 1400, 1500, 1600, 1700} {
		exact := exactUpperTail(50, 50, u)
		normal := mwNormalUpper(float64(u), 50, 50, 0)
		if !statNear(exact, normal, 0.003) {
			t.Errorf("U>=%d: exact %.5f, normal %.5f", u, exact, normal)
		}
	}
	if p := exactUpperTail(50, 50, 1251); p >= 0.5 || p < 0.45 {
		t.Errorf("P(U >= nm/2 + 1) = %g, want just under 0.5", p)
	}
}
