package analysis

import (
	"flag"
	"testing"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// update regenerates golden files and generated docs.
var update = flag.Bool("update", false, "rewrite golden files and docs/rules pages")

func TestMain(m *testing.M) { pgtest.Main(m) }
