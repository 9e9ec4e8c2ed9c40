package lab

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestPlanIsDeterministicAndBalanced(t *testing.T) {
	t.Parallel()
	cfg := Config{Examples: 600, Seed: 42}
	a, err := Plan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Plan(cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different plans")
	}
	c, _ := Plan(Config{Examples: 600, Seed: 43})
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same plan")
	}
	per := map[string]int{}
	sizes := map[int64]int{}
	long := 0
	held := map[string]bool{}
	for i, tr := range a {
		if tr.Index != i {
			t.Fatalf("trial %d has index %d", i, tr.Index)
		}
		per[tr.Template.ID]++
		sizes[tr.Rows]++
		if tr.LongTxn {
			long++
		}
		if tr.Risk < 1 || tr.Risk > 10 {
			t.Fatalf("risk %d out of 1..10", tr.Risk)
		}
		if prev, ok := held[tr.Template.ID]; ok && prev != tr.HeldOut {
			t.Fatalf("template %s both held out and not", tr.Template.ID)
		}
		held[tr.Template.ID] = tr.HeldOut
	}
	n := len(Templates())
	if len(per) != n {
		t.Errorf("%d templates used, want all %d", len(per), n)
	}
	for id, k := range per {
		if k < 600/n || k > 600/n+1 {
			t.Errorf("template %s drawn %d times, want %d or %d", id, k, 600/n, 600/n+1)
		}
	}
	if len(sizes) != 5 || sizes[2_000_000] >= sizes[1_000] {
		t.Errorf("size draw %v: want all five, the largest less often", sizes)
	}
	if long < 100 || long > 200 {
		t.Errorf("%d long transactions, want about 150", long)
	}
	// Every family keeps templates on both sides of the split.
	famHeld, famTrain := map[string]bool{}, map[string]bool{}
	for _, tp := range Templates() {
		if held[tp.ID] {
			famHeld[tp.Family] = true
		} else {
			famTrain[tp.Family] = true
		}
	}
	for f := range famTrain {
		if !famHeld[f] {
			t.Errorf("family %s has no held-out template", f)
		}
	}
	for f := range famHeld {
		if !famTrain[f] {
			t.Errorf("family %s has no training template", f)
		}
	}
}

func TestConfigRejectsNonsense(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"tiny table":      {Sizes: []int64{10}},
		"zero rate":       {Rates: []float64{0}},
		"lanes":           {Lanes: 50},
		"weights":         {Sizes: []int64{1000, 2000}, SizeWeights: []float64{1}},
		"short baseline":  {Baseline: 1},
		"duplicate ids":   {Templates: []Template{{ID: "a", Up: []string{"x"}}, {ID: "a", Up: []string{"y"}}}},
		"held-out share":  {HeldOutShare: 1},
		"long txn share":  {LongTxnShare: 2},
		"negative weight": {Sizes: []int64{1000}, SizeWeights: []float64{-1}},
	} {
		if err := cfg.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: err = %v, want ErrBadConfig", name, err)
		}
	}
}

// Authors raise the label for big tables only a little, and not all of them:
// the lab's labels underrate size on average, as real ones do.
func TestRiskLabelUnderratesTableSize(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	tp := Template{ID: "x", AuthorRisk: 3}
	mean := func(rows int64) float64 {
		var s float64
		for i := 0; i < 4000; i++ {
			s += float64(RiskLabel(rng, tp, rows))
		}
		return s / 4000
	}
	small, big := mean(1_000), mean(2_000_000)
	if d := big - small; d < 0.2 || d > 1.2 {
		t.Errorf("mean label 1k rows %.2f, 2M rows %.2f: size should add a little (0.2..1.2), got %.2f", small, big, d)
	}
}
