package model

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// design is a standardized design matrix, row-major, with labels and
// weights. A subset shares the matrix and lists its rows in idx.
type design struct {
	x    []float64 // rows*d
	y    []float64 // 1 safe, 0 not
	w    []float64 // example weights
	idx  []int     // rows in this view; nil means all
	n, d int       // n rows in this view
}

// at maps the i-th row of the view to the matrix row.
func (m *design) at(i int) int {
	if m.idx == nil {
		return i
	}
	return m.idx[i]
}

func (m *design) row(i int) []float64 { r := m.at(i); return m.x[r*m.d : (r+1)*m.d] }

// subset returns a view of the rows where keep(i) is true, sharing storage.
func (m *design) subset(keep func(i int) bool) *design {
	out := &design{x: m.x, y: m.y, w: m.w, d: m.d}
	for i := 0; i < m.n; i++ {
		if keep(i) {
			out.idx = append(out.idx, m.at(i))
		}
	}
	out.n = len(out.idx)
	return out
}

// fit is a fitted logistic regression in standardized space.
type fit struct {
	coef      []float64
	intercept float64
	iters     int
	loss      float64
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// softplus is log(1+e^z), computed without overflow.
func softplus(z float64) float64 {
	if z > 30 {
		return z
	}
	if z < -30 {
		return math.Exp(z)
	}
	return math.Log1p(math.Exp(z))
}

// fitLogistic minimizes the weighted mean log-loss plus lambda/2·||coef||²
// (the intercept is not penalized) with L-BFGS and the analytic gradient.
// init, when not nil, warm-starts the search (length d+1, intercept last).
func fitLogistic(ctx context.Context, m *design, lambda float64, maxIter int, init []float64) (fit, error) {
	d := m.d
	var wsum float64
	for i := 0; i < m.n; i++ {
		wsum += m.w[m.at(i)]
	}
	if wsum <= 0 {
		return fit{}, ErrEmptyDataset
	}
	// The objective and gradient share the linear predictor; cache the last
	// point so Func then Grad at the same x costs one pass.
	var lastX []float64
	var lastF float64
	lastG := make([]float64, d+1)
	eval := func(x []float64) {
		if lastX != nil && equal(lastX, x) {
			return
		}
		lastX = append(lastX[:0], x...)
		coef, b := x[:d], x[d]
		var loss float64
		for i := range lastG {
			lastG[i] = 0
		}
		for i := 0; i < m.n; i++ {
			r := m.row(i)
			zi := b
			for j, v := range r {
				zi += coef[j] * v
			}

			k := m.at(i)
			wi := m.w[k] / wsum
			loss += wi * (softplus(zi) - m.y[k]*zi)
			g := wi * (sigmoid(zi) - m.y[k])
			for j, v := range r {
				lastG[j] += g * v
			}
			lastG[d] += g
		}
		for j := 0; j < d; j++ {
			loss += 0.5 * lambda * coef[j] * coef[j]
			lastG[j] += lambda * coef[j]
		}
		lastF = loss
	}
	p := optimize.Problem{
		Func: func(x []float64) float64 { eval(x); return lastF },
		Grad: func(g, x []float64) { eval(x); copy(g, lastG) },
		Status: func() (optimize.Status, error) {
			if err := ctx.Err(); err != nil {
				return optimize.Failure, err
			}
			return optimize.NotTerminated, nil
		},
	}
	x0 := make([]float64, d+1)
	if init != nil && len(init) == d+1 {
		copy(x0, init)
	}
	settings := &optimize.Settings{
		GradientThreshold: 1e-6,
		MajorIterations:   maxIter,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-10, Relative: 1e-9, Iterations: 10},
	}
	res, err := optimize.Minimize(p, x0, settings, &optimize.LBFGS{})
	if err != nil && res == nil {
		return fit{}, fmt.Errorf("model: L-BFGS: %w", err)
	}
	if cerr := ctx.Err(); cerr != nil {
		return fit{}, fmt.Errorf("model: training canceled: %w", cerr)
	}
	// IterationLimit and similar statuses still leave a usable optimum; a
	// failure to make any progress does not.
	if err != nil && res.Status == optimize.Failure {
		return fit{}, fmt.Errorf("model: L-BFGS: %w", err)
	}
	out := fit{coef: append([]float64(nil), res.X[:d]...), intercept: res.X[d], iters: res.Stats.MajorIterations, loss: res.F}
	for _, v := range res.X {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fit{}, fmt.Errorf("model: L-BFGS diverged (status %v)", res.Status)
		}
	}
	return out, nil
}

func (f fit) logit(row []float64) float64 {
	z := f.intercept
	for j, v := range row {
		z += f.coef[j] * v
	}
	return z
}

func (f fit) vector() []float64 { return append(append([]float64(nil), f.coef...), f.intercept) }

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
