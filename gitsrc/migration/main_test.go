package migration_test

import (
	"testing"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// TestMain starts one real PostgreSQL cluster for the package's tests (the
// goose equivalence tests); each test takes a fresh database from it.
func TestMain(m *testing.M) { pgtest.Main(m) }
