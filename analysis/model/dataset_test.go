package model

import (
	"bytes"
	"compress/gzip"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestFoldsKeepGroupsApart(t *testing.T) {
	t.Parallel()
	ds := synthetic(1000, []float64{1}, 0, 3, 17)
	fold := ds.Folds(5, 1)
	of := map[string]int{}
	sizes := make([]int, 5)
	for i, e := range ds {
		if f, ok := of[e.Group]; ok && f != fold[i] {
			t.Fatalf("group %s in folds %d and %d", e.Group, f, fold[i])
		}
		of[e.Group] = fold[i]
		sizes[fold[i]]++
	}
	for k, s := range sizes {
		if s < 150 || s > 250 {
			t.Errorf("fold %d has %d examples, want about 200", k, s)
		}
	}
}

func TestJSONLRoundTripPlainAndGzip(t *testing.T) {
	t.Parallel()
	ds := synthetic(20, []float64{1, 2}, 0, 1, 5)
	ds[3].Weight = 2.5
	ds[4].Family = "f1"
	var plain bytes.Buffer
	if err := ds.WriteJSONL(&plain); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain.Bytes())
	zw.Close()
	for name, r := range map[string]*bytes.Buffer{"plain": bytes.NewBuffer(plain.Bytes()), "gzip": &gz} {
		back, err := ReadJSONL(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(ds, back) {
			t.Errorf("%s: round trip differs", name)
		}
	}
	if _, err := ReadJSONL(bytes.NewBufferString("{\"features\":\n")); err == nil {
		t.Error("broken line accepted")
	}
}

func TestAUCMatchesPairCount(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 20; trial++ {
		n := 50 + rng.IntN(50)
		s := make([]float64, n)
		y := make([]bool, n)
		for i := range s {
			s[i] = float64(rng.IntN(10)) // many ties
			y[i] = rng.Float64() < 0.4+s[i]/30
		}
		var num, den float64
		for i := range s {
			for j := range s {
				if y[i] && !y[j] {
					den++
					switch {
					case s[i] > s[j]:
						num++
					case s[i] == s[j]:
						num += 0.5
					}
				}
			}
		}
		if got, want := AUC(s, y), num/den; math.Abs(got-want) > 1e-12 {
			t.Fatalf("AUC %v, pair count %v", got, want)
		}
	}
	if !math.IsNaN(AUC([]float64{1, 2}, []bool{true, true})) {
		t.Error("AUC with one class should be NaN")
	}
}

func TestScoreBrierAndCalibrationTable(t *testing.T) {
	t.Parallel()
	p := []float64{0.9, 0.9, 0.1, 0.1}
	y := []bool{true, false, false, false}
	s := Score(p, y)
	if want := (0.01 + 0.81 + 0.01 + 0.01) / 4; math.Abs(s.Brier-want) > 1e-12 {
		t.Errorf("Brier %v, want %v", s.Brier, want)
	}
	bins := Calibration(p, y, 10)
	if len(bins) != 2 || bins[0].N != 2 || bins[0].Observed != 0 || bins[1].Observed != 0.5 {
		t.Errorf("calibration table %+v", bins)
	}
}
