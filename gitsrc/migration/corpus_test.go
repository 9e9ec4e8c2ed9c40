package migration_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
)

// TestCorpusParseLenient reads every real-world goose file in the shared
// corpus with ParseLenient. All parse except the one chainlink file goose
// itself refuses, which is reported with its reason and line.
func TestCorpusParseLenient(t *testing.T) {
	t.Parallel()
	corpus := corpusDir(t)
	if corpus == "" {
		return
	}
	files, err := filepath.Glob(filepath.Join(corpus, "*", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 280 {
		t.Fatalf("corpus has %d files, want the 286 of SOURCES.tsv", len(files))
	}
	var failed []error
	statements := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(corpus, f)
		m, err := migration.ParseLenient(rel, src)
		if err != nil {
			failed = append(failed, err)
			continue
		}
		statements += len(m.Up) + len(m.Down)
	}
	if len(failed) != 1 {
		t.Fatalf("failures %v, want only %s", failed, chainlinkBroken)
	}
	migrationtest.AssertError(t, failed[0], filepath.Join("smartcontractkit__chainlink", chainlinkBroken), 13, migration.ErrGooseSyntax, "missing semicolon")
	t.Logf("%d files, %d statements, rejected: %v", len(files), statements, failed[0])
}
