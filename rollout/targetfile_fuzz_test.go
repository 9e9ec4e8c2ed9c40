package rollout

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzTargetFile holds the target-file parser to its contract on any
// input: no panic; every target returned has a name, a DSN, a group and a
// source; every failure is a *TargetFileError or names the DSN reference.
func FuzzTargetFile(f *testing.F) {
	for _, s := range []string{
		"name: a\ndsn: postgres://a\n",
		"- {name: a, dsn: postgres://a, group: canary, labels: {r: eu}}\n- {name: b, dsn_env: B_DSN}\n",
		"name: a\nhost: x\n",
		"[unclosed",
		"",
		"- 1\n- [2]\n",
		"name: a\ndsn_file: /nonexistent\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "t.yaml")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		ins, errs := readTargetFile(p, func(string) {})
		for _, in := range ins {
			if in.Name == "" || in.DSN == "" || in.Group == "" || in.Source == "" {
				t.Fatalf("incomplete target %+v from %q", in, b)
			}
		}
		for _, err := range errs {
			var tfe *TargetFileError
			if !errors.As(err, &tfe) && !errors.Is(err, ErrDSN) {
				t.Fatalf("error %v is neither a TargetFileError nor ErrDSN", err)
			}
		}
	})
}
