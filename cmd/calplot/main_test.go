package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/analysis/model"
)

func TestPlotsTheEvaluation(t *testing.T) {
	t.Parallel()
	var pts []model.CalibrationPoint
	for _, b := range model.Calibration([]float64{0.1, 0.2, 0.8, 0.9, 0.95}, []bool{false, false, true, true, false}, 10) {
		pts = append(pts, model.CalibrationPoint{CalibrationBin: b, ObservedLo: b.Observed / 2, ObservedHi: (1 + b.Observed) / 2})
	}
	ev := model.Evaluation{Examples: 5, Templates: 2, Results: []model.Result{{Name: "model", By: "template", Calibration: pts}}}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "eval.json")
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "cal.png")
	if err := run([]string{"-in", in, "-out", out}, nil, io.Discard); err != nil {
		t.Fatal(err)
	}
	png, err := os.ReadFile(out)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("plot not written as PNG: %v", err)
	}
	// From standard input, too; and an evaluation without a model result is refused.
	if err := run([]string{"-out", filepath.Join(dir, "cal.svg")}, bytes.NewReader(b), io.Discard); err != nil {
		t.Fatal(err)
	}
	err = run([]string{"-out", filepath.Join(dir, "x.png")}, strings.NewReader(`{"examples":0}`), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no leave-one-template-out result") {
		t.Fatalf("error %v, want no leave-one-template-out result", err)
	}
	if err := run(nil, nil, io.Discard); err == nil {
		t.Fatal("missing -out accepted")
	}
}
