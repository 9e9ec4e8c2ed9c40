package analysis

import (
	"flag"
	"os"
	"testing"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// update regenerates golden files and generated docs.
var update = flag.Bool("update", false, "rewrite golden files and docs/rules pages")

// TestMain starts one PostgreSQL cluster for the package's database tests,
// except when fuzzing: the fuzz target needs no database, and every fuzz
// worker process would otherwise start a cluster of its own.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	pgtest.Main(m)
}
