// Package storetest opens real control stores for tests: each on a fresh
// database of the shared throwaway cluster (internal/pgtest; the test
// package's TestMain calls pgtest.Main).
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler/store"
)

// Open opens a control store, its schema migrated, on a fresh database; the
// test's cleanup closes it.
func Open(t testing.TB) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, secret.NewSecret(pgtest.NewDatabase(t)), &secret.Redactor{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}
