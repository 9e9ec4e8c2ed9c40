package model

import (
	"context"
	"testing"
)

// BenchmarkTrain100k trains on 100,000 examples of 40 features, the size of
// years of history of a busy fleet; BenchmarkTrain10k is its peer for the
// scaling ratio.
func BenchmarkTrain100k(b *testing.B) { benchTrain(b, 100000) }

// BenchmarkTrain10k trains on 10,000 examples of 40 features.
func BenchmarkTrain10k(b *testing.B) { benchTrain(b, 10000) }

func benchTrain(b *testing.B, n int) {
	beta := make([]float64, 40)
	for j := range beta {
		beta[j] = float64(j%7-3) / 4
	}
	ds := synthetic(n, beta, 0.5, 1, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Train(context.Background(), ds); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPredict is one explained prediction.
func BenchmarkPredict(b *testing.B) {
	ds := synthetic(2000, []float64{1, -1, 0.5, 0.3, 0.2, 0.1}, 0, 1, 20)
	m, err := Train(context.Background(), ds)
	if err != nil {
		b.Fatal(err)
	}
	f := ds[0].Features
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Predict(f); err != nil {
			b.Fatal(err)
		}
	}
}
