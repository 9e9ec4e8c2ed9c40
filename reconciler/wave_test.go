package reconciler

import (
	"context"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/reconciler/change"
)

// A wave after the canary that fails its judgement and pauses the rollout
// leaves the change failed, holding the queue, with every instance's
// version recorded and the wave's judgement kept as its own event.
func TestWaveFailureHoldsTheChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFakeWorld(t)
	w.src.merge(t, "migrations/00005_tenantharm.sql", migrationtest.Source(2, "CREATE INDEX t_x ON t (x);", "DROP INDEX t_x;"))
	w.reconcile(t)
	c, err := w.store.Get(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != change.StateFailed || !strings.Contains(c.Reason, "wave 1") {
		t.Fatalf("after a failed wave: %s (%s), want failed naming wave 1", c.State, c.Reason)
	}
	if c.Instances["c1"] != 5 || c.Instances["m1"] != 5 {
		t.Errorf("instances %v, want c1 and m1 holding 5", c.Instances)
	}
	evs, err := w.store.Events(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	var wave bool
	for _, e := range evs {
		if e.Step == "judge wave1 fail" && e.Detail.Decision != nil && len(e.Detail.Decision.Failed()) == 1 {
			wave = true
		}
	}
	if !wave {
		t.Errorf("no judge wave1 fail event with its verdict in %+v", evs)
	}
}
