package store

import (
	"context"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/internal/secret"
)

// TestMain shares one throwaway cluster among the package's tests.
func TestMain(m *testing.M) { pgtest.Main(m) }

// newTestStore opens a control store on a fresh database of a throwaway cluster.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, secret.NewSecret(pgtest.NewDatabase(t)), &secret.Redactor{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}
