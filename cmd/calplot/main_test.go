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

func TestPlotsTheChosenEvaluation(t *testing.T) {
	t.Parallel()
	bins := model.Calibration([]float64{0.1, 0.2, 0.8, 0.9, 0.95}, []bool{false, false, true, true, false}, 10)
	cmp := model.Comparison{Variants: []string{"model"}, Evaluations: []*model.Evaluation{{
		HeldOutExamples: 5, HeldOutGroups: []string{"a"},
		Results: []model.Result{{Name: "model", Calibration: bins}},
	}}}
	b, err := json.Marshal(cmp)
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
	// From standard input, too; and a comparison with no evaluation is refused.
	if err := run([]string{"-out", filepath.Join(dir, "cal.svg")}, bytes.NewReader(b), io.Discard); err != nil {
		t.Fatal(err)
	}
	err = run([]string{"-out", filepath.Join(dir, "x.png")}, strings.NewReader(`{"best":0}`), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no chosen evaluation") {
		t.Fatalf("error %v, want no chosen evaluation", err)
	}
	if err := run(nil, nil, io.Discard); err == nil {
		t.Fatal("missing -out accepted")
	}
}
