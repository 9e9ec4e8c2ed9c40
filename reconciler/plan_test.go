package reconciler

import (
	"context"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/rollout"
)

func TestPlanChange(t *testing.T) {
	t.Parallel()
	src := []byte(`-- ---
-- risk: 3
-- bake: 90s
-- ---
-- +goose Up
ALTER TABLE orders ADD COLUMN note text;
CREATE TABLE order_notes (id bigint PRIMARY KEY, body text);
-- +goose Down
DROP TABLE order_notes;
ALTER TABLE orders DROP COLUMN note;
`)
	m, err := migration.ParseMigration("migrations/0042_add_note.sql", src)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := analysis.Analyze(context.Background(), *m)
	if err != nil {
		t.Fatal(err)
	}
	ch := PlanChange(m, rep)
	if err := ch.Validate(); err != nil {
		t.Fatal(err)
	}
	if ch.Version != 42 || ch.Name != "add_note" || ch.Filename() != "42_add_note.sql" || ch.Bake != 90*time.Second {
		t.Fatalf("identity: %+v", ch)
	}
	if ch.Lock != "AccessExclusiveLock" || ch.DownLock != "AccessExclusiveLock" {
		t.Fatalf("locks: up %q down %q", ch.Lock, ch.DownLock)
	}
	want := map[rollout.ArchiveTarget]bool{
		{Schema: "public", Table: "order_notes"}:            true,
		{Schema: "public", Table: "orders", Column: "note"}: true,
	}
	if len(ch.Archive) != len(want) {
		t.Fatalf("archive %v", ch.Archive)
	}
	for _, a := range ch.Archive {
		if !want[a] {
			t.Fatalf("unexpected archive target %v in %v", a, ch.Archive)
		}
	}
	hasOrders := false
	for _, tb := range ch.Tables {
		hasOrders = hasOrders || tb == "public.orders"
	}
	if !hasOrders {
		t.Fatalf("tables %v lack public.orders", ch.Tables)
	}
	if string(ch.Source) != string(src) {
		t.Fatal("source not passed through byte for byte")
	}
	if nilRep := PlanChange(m, nil); nilRep.Lock != "" || len(nilRep.Archive) != 0 || nilRep.Validate() != nil {
		t.Fatalf("nil report: %+v", nilRep)
	}
}
