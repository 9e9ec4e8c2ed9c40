package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/change"
)

// TestEndToEndLateTargetsCaughtUp runs the daemon over a fleet read from an
// inventory database: two changes reach done on c1 and m1; then two
// targets join at version 0 of both. The next reconcile pass brings late
// up through both changes, in order, with their pre-flight; drifted, whose
// items table has a column the canary did not have before the changes, is
// not touched and its failure is recorded on the first change.
func TestEndToEndLateTargetsCaughtUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w := newE2EWorldWith(t, "", "[canary, 100%]",
		[]e2eInstance{{Name: "c1", Group: "canary"}, {Name: "m1", Group: "main"}, {Name: "late", Group: "main"}, {Name: "drifted", Group: "main"}})
	pgtest.Exec(t, w.fleet["drifted"], "ALTER TABLE items ADD COLUMN extra int")
	inv, _ := w.useInventory([3]string{"c1", "canary", "true"}, [3]string{"m1", "main", "true"},
		[3]string{"late", "main", "false"}, [3]string{"drifted", "main", "false"})

	w.merge("00001_add_tag.sql", migrationtest.Source(2, "ALTER TABLE items ADD COLUMN tag text;", "ALTER TABLE items DROP COLUMN tag;"))
	w.merge("00002_add_flag.sql", migrationtest.Source(2, "ALTER TABLE items ADD COLUMN flag boolean;", "ALTER TABLE items DROP COLUMN flag;"))
	d := w.build(ctx)
	settle(t, ctx, d)
	get := func(v int64) *change.Request {
		t.Helper()
		c, err := d.Store.Get(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, v := range []int64{1, 2} {
		if c := get(v); c.State != change.StateDone {
			t.Fatalf("change %d: %s (%s)", v, c.State, c.Reason)
		}
	}
	applied := func(in string) string {
		if pgtest.QueryInt(t, w.fleet[in], "SELECT count(*) FROM pg_tables WHERE tablename = 'goose_db_version'") == 0 {
			return "[]"
		}
		var vs []int
		for i := 0; i < pgtest.QueryInt(t, w.fleet[in], "SELECT count(*) FROM goose_db_version WHERE version_id > 0"); i++ {
			vs = append(vs, pgtest.QueryInt(t, w.fleet[in], "SELECT version_id FROM goose_db_version WHERE version_id > 0 ORDER BY id OFFSET $1 LIMIT 1", i))
		}
		return fmt.Sprint(vs)
	}
	if applied("late") != "[]" || applied("drifted") != "[]" {
		t.Fatal("a target outside the inventory was changed")
	}

	pgtest.Exec(t, inv, "UPDATE targets SET active = true")
	settle(t, ctx, d)
	if got := applied("late"); got != "[1 2]" {
		t.Errorf("late's goose table holds %s, want [1 2] in that order", got)
	}
	for _, col := range []string{"tag", "flag"} {
		if pgtest.QueryInt(t, w.fleet["late"], "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = $1", col) != 1 {
			t.Errorf("late lacks column %s", col)
		}
	}
	if got := applied("drifted"); got != "[]" || pgtest.QueryInt(t, w.fleet["drifted"], "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'tag'") != 0 {
		t.Errorf("the drifted target was touched: goose table %s", got)
	}
	c1, c2 := get(1), get(2)
	if c1.Instances["late"] != 1 || c2.Instances["late"] != 2 || c1.Instances["drifted"] != reconciler.CatchUpFailed || c2.Instances["drifted"] != 0 {
		t.Errorf("holdings: change 1 %v, change 2 %v", c1.Instances, c2.Instances)
	}
	evs, err := d.Store.Events(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var caught, failed bool
	for _, e := range evs {
		caught = caught || e.Instance == "late" && e.Step == "catch-up" && e.Outcome == "ok"
		failed = failed || e.Instance == "drifted" && e.Step == "catch-up failed: drift" && strings.Contains(e.Detail.Error, "column extra integer on drifted")
	}
	if !caught || !failed {
		t.Errorf("events of change 1 (late caught up %v, drifted's drift reported %v): %+v", caught, failed, evs)
	}
}
