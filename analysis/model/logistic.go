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
	off  []float64 // per-row offset added to the logit; nil means 0
	idx  []int     // rows in this view; nil means all
	n, d int       // n rows in this view
}

// offset is the fixed part of row i's logit.
func (m *design) offset(i int) float64 {
	if m.off == nil {
		return 0
	}
	return m.off[m.at(i)]
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
	out := &design{x: m.x, y: m.y, w: m.w, off: m.off, d: m.d}
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
	return fitSigned(ctx, m, lambda, maxIter, init, nil)
}

// fitSigned is fitLogistic with sign constraints: signs (length d+1,
// intercept last; nil = none) holds +1 for a parameter that must be >= 0,
// -1 for one that must be <= 0, and 0 for a free one. A constrained
// parameter is searched as sign·softplus(u) over an unconstrained u, so
// L-BFGS needs no bounds; it can come as close to 0 as the data wants.
func fitSigned(ctx context.Context, m *design, lambda float64, maxIter int, init []float64, signs []float64) (fit, error) {
	d := m.d
	// toParam maps the search point u to the parameters (coefs, intercept)
	// and dParam to d(param)/d(u).
	toParam := func(u, param, dParam []float64) {
		for j, v := range u {
			if signs == nil || signs[j] == 0 {
				param[j], dParam[j] = v, 1
				continue
			}
			param[j], dParam[j] = signs[j]*softplus(v), signs[j]*sigmoid(v)
		}
	}
	param := make([]float64, d+1)
	dParam := make([]float64, d+1)
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
		toParam(x, param, dParam)
		coef, b := param[:d], param[d]
		var loss float64
		for i := range lastG {
			lastG[i] = 0
		}
		for i := 0; i < m.n; i++ {
			r := m.row(i)
			zi := b + m.offset(i)
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
		for j := range lastG {
			lastG[j] *= dParam[j] // chain rule through the sign map
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
	for j := range x0 {
		if signs != nil && signs[j] != 0 {
			x0[j] = invSoftplus(math.Max(signs[j]*x0[j], 1e-3))
		}
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
	toParam(res.X, param, dParam)
	out := fit{coef: append([]float64(nil), param[:d]...), intercept: param[d], iters: res.Stats.MajorIterations, loss: res.F}
	for _, v := range param {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fit{}, fmt.Errorf("model: L-BFGS diverged (status %v)", res.Status)
		}
	}
	return out, nil
}

// invSoftplus is the u with softplus(u) = y, for y > 0.
func invSoftplus(y float64) float64 {
	if y > 30 {
		return y
	}
	return math.Log(math.Expm1(y))
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
