package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/reconciler/change"
)

// TestEndToEndInventoryFleetChanges runs the daemon over a fleet read from
// an inventory database, resolved at every rollout run and Holdings read:
// a first change reaches done on c1 and m1; then m1 leaves the inventory
// and m2 (brought to the fleet's version by hand) joins it, and the next
// change reaches m2 and leaves m1 alone. A broken inventory keeps the
// fleet that was resolved last.
func TestEndToEndInventoryFleetChanges(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w := newE2EWorldWith(t, "", "[canary, 100%]",
		[]e2eInstance{{Name: "c1", Group: "canary"}, {Name: "m1", Group: "main"}, {Name: "m2", Group: "main"}})
	inv, invFile := w.useInventory([3]string{"c1", "canary", "true"}, [3]string{"m1", "main", "true"}, [3]string{"m2", "main", "false"})

	w.merge("00001_add_tag.sql", migrationtest.Source(2, "ALTER TABLE items ADD COLUMN tag text;", "ALTER TABLE items DROP COLUMN tag;"))
	d := w.build(ctx)
	settle(t, ctx, d)
	get := func(v int64) *change.Request {
		c, err := d.Store.Get(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := get(1); c.State != change.StateDone {
		t.Fatalf("change 1: %s (%s)", c.State, c.Reason)
	}
	hasColumn := func(in, col string) bool {
		return pgtest.QueryInt(t, w.fleet[in], "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = $1", col) == 1
	}
	if !hasColumn("c1", "tag") || !hasColumn("m1", "tag") || hasColumn("m2", "tag") {
		t.Fatal("change 1 did not reach exactly the inventory's targets")
	}

	// m1 leaves, m2 joins already at the fleet's version (provisioned so:
	// nothing to catch up; TestEndToEndLateTargetsCaughtUp joins behind).
	pgtest.Exec(t, w.fleet["m2"],
		"CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp DEFAULT now())",
		"INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true)",
		"ALTER TABLE items ADD COLUMN tag text")
	pgtest.Exec(t, inv, "UPDATE targets SET active = NOT active WHERE name IN ('m1', 'm2')")
	w.merge("00002_add_flag.sql", migrationtest.Source(2, "ALTER TABLE items ADD COLUMN flag boolean;", "ALTER TABLE items DROP COLUMN flag;"))
	settle(t, ctx, d)
	c := get(2)
	if c.State != change.StateDone {
		t.Fatalf("change 2: %s (%s)", c.State, c.Reason)
	}
	if !hasColumn("c1", "flag") || !hasColumn("m2", "flag") || hasColumn("m1", "flag") {
		t.Error("change 2 did not follow the inventory (c1 and m2, not m1)")
	}
	if _, ok := c.Instances["m1"]; ok {
		t.Errorf("the departed m1 is still reported: %v", c.Instances)
	}

	// A broken inventory keeps the last fleet: the next change still runs
	// on c1 and m2.
	if err := os.WriteFile(invFile, []byte("postgres://nobody@127.0.0.1:1/none\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.merge("00003_add_kind.sql", migrationtest.Source(2, "ALTER TABLE items ADD COLUMN kind text;", "ALTER TABLE items DROP COLUMN kind;"))
	settle(t, ctx, d)
	if c := get(3); c.State != change.StateDone || !hasColumn("m2", "kind") || hasColumn("m1", "kind") {
		t.Fatalf("change 3 with the inventory down: %s (%s)", c.State, c.Reason)
	}
}

// useInventory makes the world's fleet an inventory database's table
// targets(name, dsn, grp, active), one row per {name, group, active} of
// rows (the DSN is the world's instance of that name), read through
// fleet.inventory with a dsn_file. It returns the inventory's DSN and that
// file.
func (w *e2eWorld) useInventory(rows ...[3]string) (inv, invFile string) {
	w.t.Helper()
	inv = pgtest.NewDatabase(w.t)
	pgtest.Exec(w.t, inv, "CREATE TABLE targets (name text PRIMARY KEY, dsn text NOT NULL, grp text, active boolean NOT NULL DEFAULT true)")
	for _, r := range rows {
		pgtest.Exec(w.t, inv, fmt.Sprintf("INSERT INTO targets VALUES ('%s', '%s', '%s', %s)", r[0], w.fleet[r[0]], r[1], r[2]))
	}
	invFile = filepath.Join(w.dir, "inventory.dsn")
	writeTestFile(w.t, invFile, inv+"\n")
	fleetYAML := fmt.Sprintf("fleet:\n  inventory:\n    dsn_file: %s\n    query: SELECT name, dsn, grp FROM targets WHERE active\n  waves:", invFile)
	w.cfg = regexp.MustCompile(`(?s)fleet:\n  instances:\n.*?  waves:`).ReplaceAllLiteralString(w.cfg, fleetYAML)
	return inv, invFile
}
