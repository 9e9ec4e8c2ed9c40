package store_test

import (
	"context"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/internal/secret"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store"
	"github.com/schemacanary/schemacanary/reconciler/store/storetest"
)

const goodFile = "-- ---\n-- risk: 4\n-- owner: payments\n-- ---\n-- +goose Up\nCREATE TABLE t (id int);\n-- +goose Down\nDROP TABLE t;\n"

// The parsed migration stored at discovery reads back whole (its bytes
// from the source column); a change stored before parsed files were kept
// (migration NULL) gets its parsed file stored when the store next opens;
// a file that no longer parses reads with no migration rather than failing
// the read or the open.
func TestParsedMigrationStored(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	m, err := migration.ParseMigration("migrations/00001_t.sql", []byte(goodFile))
	if err != nil {
		t.Fatal(err)
	}
	for v, mig := range map[int64]*migration.Migration{1: m, 2: nil, 3: nil} {
		src := goodFile
		if v == 3 {
			src = "-- +goose Up\nCREATE TABLE u (id int);\n" // no front matter, no Down
		}
		c := &change.Request{Version: v, Name: "t", Path: "migrations/00001_t.sql", SHA256: "x", Commit: "c", Source: []byte(src), Migration: mig}
		if _, err := st.Discover(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := st.Get(ctx, 2); err != nil || c.Migration != nil {
		t.Fatalf("stored without a parsed file: %+v, %v; want none until the store opens again", c, err)
	}
	st, err = store.Open(ctx, secret.NewSecret(st.Pool().Config().ConnString()), &secret.Redactor{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, v := range []int64{1, 2} {
		c, err := st.Get(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if c.Migration == nil || c.Migration.FrontMatter.Owner != "payments" || c.Migration.FrontMatter.Risk != 4 ||
			len(c.Migration.Down) != 1 || c.Migration.Down[0].SQL != "DROP TABLE t;" || string(c.Migration.Source) != goodFile {
			t.Errorf("version %d: migration %+v", v, c.Migration)
		}
	}
	if c, err := st.Get(ctx, 3); err != nil || c.Migration != nil {
		t.Errorf("unparsable stored file: %+v, %v; want no migration and no error", c, err)
	}
}
