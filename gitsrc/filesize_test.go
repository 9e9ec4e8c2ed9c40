package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
)

// bigMigration is a valid strict migration of at least size bytes (INSERT
// rows into table).
func bigMigration(table string, size int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nCREATE TABLE %s (id int, note text);\n", table)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "INSERT INTO %s (id, note) VALUES (%d, 'generated row %d');\n", table, i, i)
	}
	fmt.Fprintf(&b, "-- +goose Down\nDROP TABLE %s;\n", table)
	return b.String()
}

// TestOversizedFileRejected: a merged file above the size limit (1 MiB by
// default) is a MigrationError naming the file, its size and the limit, in
// Changes, List and Proposals alike, while the files around it go on;
// WithMaxFileBytes(0) lifts the limit.
func TestOversizedFileRejected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	f.write("migrations/0001_orders.sql", validMigration(3, "orders"))
	base := f.commit("baseline")
	big := bigMigration("seed", int(migration.DefaultMaxFileBytes)+10)
	f.write("migrations/0002_seed.sql", big)
	f.write("migrations/0003_items.sql", validMigration(3, "items"))
	f.commit("seed data (#2)")
	f.checkout("pr", true)
	f.write("migrations/0004_more.sql", bigMigration("more", int(migration.DefaultMaxFileBytes)+1))
	f.commit("more seed data")
	f.checkout("main", false)

	msg := fmt.Sprintf("(%d bytes) is above the limit of 1.00 MiB (1048576 bytes)", len(big))
	r := openFixture(t, f)
	cs, err := r.Changes(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Errors) != 1 {
		t.Fatalf("errors = %v, want one ErrTooLarge", cs.Err())
	}
	migrationtest.AssertError(t, cs.Errors[0], "migrations/0002_seed.sql", 0, migration.ErrTooLarge, msg)
	if migration.KindName(cs.Errors[0]) != "too_large" {
		t.Errorf("KindName = %q, want too_large", migration.KindName(cs.Errors[0]))
	}
	if len(cs.Changes) != 1 || cs.Changes[0].Migration.Version != 3 {
		t.Errorf("changes = %d, want only 0003", len(cs.Changes))
	}

	l, err := r.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Errors) != 1 || !errors.Is(l.Errors[0], migration.ErrTooLarge) || len(l.Migrations) != 2 {
		t.Errorf("List: %d migrations, errors %v; want 2 and one ErrTooLarge", len(l.Migrations), l.Errors)
	}

	ps, err := r.Proposals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, p := range ps {
		for _, e := range p.Errors {
			found = found || (errors.Is(e, migration.ErrTooLarge) && e.File == "migrations/0004_more.sql")
		}
	}
	if !found {
		t.Errorf("proposals %+v: want an ErrTooLarge for migrations/0004_more.sql", ps)
	}

	unlimited := openFixture(t, f, WithMaxFileBytes(0))
	cs, err = unlimited.Changes(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Errors) != 0 || len(cs.Changes) != 2 {
		t.Errorf("without a limit: %d changes, errors %v; want 2 and none", len(cs.Changes), cs.Err())
	}
}

func TestWithMaxFileBytesRefusesNegative(t *testing.T) {
	t.Parallel()
	if _, err := Open(context.Background(), t.TempDir(), WithMaxFileBytes(-1)); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("WithMaxFileBytes(-1): %v, want a negative-limit error", err)
	}
}
