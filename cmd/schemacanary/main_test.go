package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newTestDB creates a fresh database on the package's shared cluster, runs
// setup in it, and returns its DSN and an open connection (closed at the
// end of the test).
func newTestDB(t *testing.T, setup ...string) (string, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	for _, s := range setup {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return dsn, conn
}
