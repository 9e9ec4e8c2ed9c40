package model

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// synthetic draws n examples from a known logistic model: the logit is
// intercept + Σ beta[j]·x_j with x_j ~ N(mu_j, sd_j), features named f0..fd-1,
// in groups of groupSize consecutive examples.
func synthetic(n int, beta []float64, intercept float64, seed uint64, groupSize int) Dataset {
	rng := rand.New(rand.NewPCG(seed, 7))
	ds := make(Dataset, n)
	for i := range ds {
		f := make(Features, len(beta))
		z := intercept
		for j, b := range beta {
			mu, sd := float64(j), 1+float64(j%3)
			v := mu + sd*rng.NormFloat64()
			f[fmt.Sprintf("f%d", j)] = v
			z += b * v
		}
		ds[i] = Example{Features: f, Safe: rng.Float64() < 1/(1+math.Exp(-z)), Group: fmt.Sprintf("g%d", i/groupSize)}
	}
	return ds
}
