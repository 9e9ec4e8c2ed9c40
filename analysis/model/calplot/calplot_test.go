package calplot

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/schemacanary/schemacanary/analysis/model"
)

func TestSaveWritesPNGAndSVG(t *testing.T) {
	t.Parallel()
	bins := model.Calibration([]float64{0.1, 0.2, 0.8, 0.9, 0.95}, []bool{false, false, true, true, false}, 10)
	dir := t.TempDir()
	for name, magic := range map[string][]byte{"cal.png": []byte("\x89PNG"), "cal.svg": []byte("<?xml")} {
		path := filepath.Join(dir, name)
		if err := Save(path, "test", []Curve{{Name: "model", Bins: bins}}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, magic) {
			t.Errorf("%s starts with %q", name, b[:min(8, len(b))])
		}
	}
	if err := Save(filepath.Join(dir, "x.gif"), "t", []Curve{{Name: "m", Bins: bins}}); err == nil {
		t.Error("gif accepted")
	}
}
