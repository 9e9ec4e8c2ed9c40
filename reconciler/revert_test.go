package reconciler

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/reconciler/change"
)

// TestRevertADoneChange: `schemacanary revert` is refused outside the
// revert window, once a later change has started, and a second time; a
// revert within the window rolls the done change back everywhere through
// the rollout's rollback, opens the revert PR, and leaves it on the audit
// branch as done → rolling_back → rolled_back with who and why.
func TestRevertADoneChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFakeWorld(t)
	w.src.merge(t, "migrations/00001_safe.sql", migrationtest.Source(2, "CREATE TABLE t (id int);", "DROP TABLE t;"))
	w.reconcile(t)
	if got := w.state(t, 1); got != change.StateDone {
		t.Fatalf("change 1 is %s, want done", got)
	}
	revert := func(p CommandPolicy) error {
		_, _, err := Command(ctx, w.store, change.OperatorAction{Version: 1, Command: change.CommandRevert, By: "alice", Why: "checkout errors since 1", Source: "cli"}, p)
		return err
	}
	if err := revert(CommandPolicy{RevertWindow: time.Nanosecond}); !errors.Is(err, change.ErrRefused) {
		t.Errorf("a revert past the window: %v, want refused", err)
	}
	moveTo(t, w, 2, change.StatePredicted, change.StateApproved, change.StateCanary)
	if err := revert(CommandPolicy{}); !errors.Is(err, change.ErrRefused) {
		t.Errorf("a revert under a later change on its canary: %v, want refused", err)
	}
	c2, err := w.store.Get(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.Transition(ctx, c2, change.Move{To: change.StateFailed, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := w.store.Skip(ctx, 2, "bob"); err != nil {
		t.Fatal(err)
	}
	w.reconcile(t) // 2 is skipped
	if got := w.state(t, 2); got != change.StateSkipped {
		t.Fatalf("change 2 is %s, want skipped", got)
	}
	if acts, _ := w.store.Actions(ctx, 1); len(acts) != 0 {
		t.Fatalf("refused reverts were recorded: %+v", acts)
	}
	if err := revert(CommandPolicy{}); err != nil {
		t.Fatalf("a revert within the window: %v", err)
	}
	if err := revert(CommandPolicy{}); !errors.Is(err, change.ErrRefused) {
		t.Errorf("a second revert: %v, want refused", err)
	}
	w.reconcile(t)
	c, err := w.store.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != change.StateRolledBack || c.Reason != "reverted by alice: checkout errors since 1" {
		t.Fatalf("after the revert: %s (%s), want rolled_back by alice", c.State, c.Reason)
	}
	if !w.roll.rolled[1] || w.roll.versions["c1"] != 0 || w.roll.versions["m2"] != 0 {
		t.Errorf("fleet %v (rolled %v): want 1 rolled back everywhere", w.roll.versions, w.roll.rolled)
	}
	if !w.forge.reverts[1] {
		t.Error("no revert PR opened")
	}
	got := w.audit.states(1)
	if !slices.Equal(got[len(got)-3:], []string{"done", "rolling_back", "rolled_back"}) {
		t.Errorf("audit of 1: %v", got)
	}
}
