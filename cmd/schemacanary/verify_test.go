package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

// TestVerifyCommand proves a good and a bad Down section on a scratch copy
// of a real database's schema.
func TestVerifyCommand(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t, `CREATE TABLE orders (id bigint PRIMARY KEY, note text)`)
	bin := pgtest.Shared(t).BinDir()
	dir := t.TempDir()
	good := filepath.Join(dir, "0002_idx.sql")
	bad := filepath.Join(dir, "0003_leaky.sql")
	for path, body := range map[string]string{
		good: "-- +goose Up\nCREATE INDEX orders_note_idx ON orders (note);\n-- +goose Down\nDROP INDEX orders_note_idx;\n",
		bad:  "-- +goose Up\nCREATE TABLE shipments (id bigint);\nALTER TABLE orders ADD COLUMN shipped boolean;\n-- +goose Down\nDROP TABLE shipments;\n",
	} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, code := runCLI(t, "verify", good, "--dsn", dsn, "--pg-bin", bin)
	if code != 0 || !strings.Contains(out, "verified") {
		t.Errorf("good: exit %d:\n%s", code, out)
	}
	out, code = runCLI(t, "verify", bad, "--dsn", dsn, "--pg-bin", bin)
	if code != 1 || !strings.Contains(out, "verify-schema-drift") || !strings.Contains(out, "shipped boolean") {
		t.Errorf("bad: exit %d:\n%s", code, out)
	}
	if _, code := runCLI(t, "verify", good); code != 2 {
		t.Errorf("without --dsn: exit %d, want 2", code)
	}
}
