package reconciler

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/rollout"
)

// A change is parsed once (at ingest) and planned once (when assessed):
// the control store keeps the parsed file and the plan, and the rollout
// takes the stored plan, not a new one. Editing the stored plan so that
// the fake roller sees a harmful change proves the plan is what runs.
func TestRolloutTakesTheStoredPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFakeWorld(t)
	w.src.merge(t, "migrations/00004_risky.sql", migrationtest.Source(9, "ALTER TABLE t ADD COLUMN c int;", "ALTER TABLE t DROP COLUMN c;"))
	w.reconcile(t)
	if got := w.state(t, 4); got != change.StateAwaitingApproval {
		t.Fatalf("risky change: %s, want awaiting_approval", got)
	}
	c, err := w.store.Get(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if c.Migration == nil || c.Migration.FrontMatter.Risk != 9 || len(c.Migration.Up) != 1 || string(c.Migration.Source) != string(c.Source) {
		t.Fatalf("stored parsed migration %+v", c.Migration)
	}
	b, err := w.store.Plan(ctx, 4, c.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var plan rollout.Plan
	if err := json.Unmarshal(b, &plan); err != nil {
		t.Fatalf("stored plan %s: %v", b, err)
	}
	if plan.Version != 4 || plan.Name != "risky" || len(plan.Tables) != 1 || plan.Tables[0] != "public.t" {
		t.Fatalf("stored plan %+v", plan)
	}

	if _, err := w.store.Pool().Exec(ctx, `UPDATE predictions SET plan = jsonb_set(plan, '{Name}', '"harmful_in_the_plan"') WHERE version = 4`); err != nil {
		t.Fatal(err)
	}
	if _, err := Approve(ctx, w.store, 4, "bob"); err != nil {
		t.Fatal(err)
	}
	w.reconcile(t)
	if got := w.state(t, 4); got != change.StateRolledBack {
		t.Errorf("after the stored plan was edited to a harmful one: %s, want rolled_back (the rollout planned again?)", got)
	}
}
