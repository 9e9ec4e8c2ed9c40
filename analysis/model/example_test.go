package model_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/schemacanary/schemacanary/analysis/model"
)

// Train a sign-constrained model on outcomes, then predict and explain a
// new change.
func Example() {
	rng := rand.New(rand.NewPCG(1, 2))
	var ds model.Dataset
	for i := 0; i < 2000; i++ {
		queued := math.Log1p(math.Pow(10, 5*rng.Float64()) - 1) // 0..100k writes queued
		risk := float64(1 + rng.IntN(10))
		unsafe := queued - 7 + 0.5*rng.NormFloat64()
		ds = append(ds, model.Example{
			Features: model.Features{"queued_writes_log1p": queued, "risk": risk},
			Safe:     unsafe < 0, Group: fmt.Sprint(i % 40),
		})
	}
	m, err := model.Train(context.Background(), ds, model.WithHazards("queued_writes_log1p", "risk"))
	if err != nil {
		panic(err)
	}
	p, err := m.Predict(model.Features{"queued_writes_log1p": math.Log1p(20000), "risk": 2})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Decision)
	fmt.Println(p.Reasons[0].Text)
	// Output:
	// needs_approval
	// about 20k writes would queue behind the lock
}
