package reconciler

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/notify"
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

// A change that passes every wave and then fails the production watch is
// rolled back from watching (with rollback_all, everywhere), its watch
// judgement kept as an event, and the move out of the watch raises the
// watch_regression alert.
func TestWatchRegressionRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := &recordingNotifier{}
	w := newFakeWorld(t, WithNotifier(n))
	w.src.merge(t, "migrations/00006_lateharm.sql", migrationtest.Source(2, "CREATE INDEX t_y ON t (y);", "DROP INDEX t_y;"))
	w.reconcile(t)
	c, err := w.store.Get(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != change.StateRolledBack || !strings.Contains(c.Reason, "production watch") {
		t.Fatalf("after a failed watch: %s (%s), want rolled_back naming the watch", c.State, c.Reason)
	}
	if got := w.audit.states(6); !slices.Equal(got, []string{"discovered", "predicted", "approved", "canary", "baking", "promoting", "watching", "rolling_back", "rolled_back"}) {
		t.Errorf("audit: %v", got)
	}
	evs, err := w.store.Events(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	judged := false
	for _, e := range evs {
		judged = judged || e.Step == "judge watch fail"
	}
	if !judged {
		t.Errorf("no judge watch fail event in %+v", evs)
	}
	kinds := map[notify.Kind]int{}
	for _, e := range n.of(6) {
		kinds[e.Kind]++
	}
	if kinds[notify.KindWatchRegression] != 1 || kinds[notify.KindRolledBack] != 1 {
		t.Errorf("alerts %v, want one watch_regression and one rolled_back", kinds)
	}
}
