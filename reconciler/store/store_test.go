package store_test

import (
	"testing"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// TestMain shares one throwaway cluster among the package's tests.
func TestMain(m *testing.M) { pgtest.Main(m) }
