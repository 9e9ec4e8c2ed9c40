package model_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/schemacanary/schemacanary/analysis/model"
)

// Train a model on outcomes, then predict and explain a new change.
func Example() {
	rng := rand.New(rand.NewPCG(1, 2))
	var ds model.Dataset
	for i := 0; i < 2000; i++ {
		rewrite := float64(rng.IntN(2))
		rows := 3 + 3.5*rng.Float64() // log10 of 1k..3M rows
		risk := float64(1 + rng.IntN(10))
		unsafe := rewrite*(rows-4.5) + 0.3*rng.NormFloat64()
		ds = append(ds, model.Example{
			Features: model.Features{"rewrite": rewrite, "rows_touched_log10": rows, "risk": risk},
			Safe:     unsafe < 0, Group: fmt.Sprint(i % 40),
		})
	}
	m, err := model.Train(context.Background(), ds, model.WithInteractions(model.Interaction{A: "rewrite", B: "rows_touched_log10"}))
	if err != nil {
		panic(err)
	}
	p, err := m.Predict(model.Features{"rewrite": 1, "rows_touched_log10": 6.3, "risk": 2})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Decision)
	fmt.Println(p.Reasons[0].Text)
	// Output:
	// needs_approval
	// rewrites a 2M-row table, and touches tables of 2M rows in total
}
