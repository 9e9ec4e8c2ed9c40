package reconciler

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/forge"
	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store"
	"github.com/schemacanary/schemacanary/reconciler/store/storetest"

	"github.com/schemacanary/schemacanary/gitsrc/migration"

	"github.com/schemacanary/schemacanary/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type fakeWorld struct {
	store *store.Store
	src   *fakeSource
	roll  *fakeRoller
	forge *fakeForge
	audit *fakeAudit
	rec   *Reconciler
}

func newFakeWorld(t testing.TB, opts ...Option) *fakeWorld {
	t.Helper()
	w := &fakeWorld{store: storetest.Open(t), src: newFakeSource(), roll: newFakeRoller([]string{"c1"}, []string{"m1", "m2"}),
		forge: newFakeForge(), audit: newFakeAudit()}
	rec, err := New(w.store, w.src, fakeAssessor{}, w.roll, w.forge, w.audit, opts...)
	if err != nil {
		t.Fatal(err)
	}
	w.rec = rec
	return w
}

// reconcile runs a pass and fails the test on an error.
func (w *fakeWorld) reconcile(t testing.TB) Result {
	t.Helper()
	res, err := w.rec.Reconcile(context.Background())
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return res
}

func (w *fakeWorld) state(t *testing.T, v int64) change.State {
	t.Helper()
	c, err := w.store.Get(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	return c.State
}

// TestReconcileThreeStories takes a safe, a harmful and a risky change
// through the loop against fakes of the boundaries and real Postgres.
func TestReconcileThreeStories(t *testing.T) {
	t.Parallel()
	w := newFakeWorld(t)
	w.src.merge(t, "migrations/00001_safe.sql", migrationtest.Source(2, "CREATE TABLE t (id int);", "DROP TABLE t;"))
	w.src.merge(t, "migrations/00002_harmful.sql", migrationtest.Source(3, "DROP INDEX t_idx;", "CREATE INDEX t_idx ON t (id);"))
	w.src.merge(t, "migrations/00003_risky.sql", migrationtest.Source(9, "ALTER TABLE t ADD COLUMN x int;", "ALTER TABLE t DROP COLUMN x;"))

	res := w.reconcile(t)
	if res.Discovered != 3 {
		t.Fatalf("discovered %d, want 3", res.Discovered)
	}
	if got := w.state(t, 1); got != change.StateDone {
		t.Errorf("safe: %s, want done", got)
	}
	if got := w.state(t, 2); got != change.StateRolledBack {
		t.Errorf("harmful: %s, want rolled_back", got)
	}
	// The rolled back change holds the queue: the risky one is assessed
	// only when it reaches the head, against the schema it will meet.
	if got := w.state(t, 3); got != change.StateDiscovered {
		t.Errorf("risky behind a held change: %s, want discovered", got)
	}
	if !strings.Contains(res.Waiting, "revert") {
		t.Errorf("waiting = %q, want the revert", res.Waiting)
	}
	if !w.forge.reverts[2] || !w.roll.rolled[2] {
		t.Errorf("harmful: revert opened %v, rolled back %v", w.forge.reverts[2], w.roll.rolled[2])
	}
	for in, v := range w.roll.versions {
		if v != 1 {
			t.Errorf("instance %s at version %d after the rollback, want 1", in, v)
		}
	}
	// The revert merges: the queue moves on; the risky change waits for approval.
	w.forge.mu.Lock()
	w.forge.merged[2] = true
	w.forge.mu.Unlock()
	w.reconcile(t)
	if got := w.state(t, 2); got != change.StateReverted {
		t.Errorf("harmful after revert merge: %s", got)
	}
	if got := w.state(t, 3); got != change.StateAwaitingApproval {
		t.Errorf("risky: %s, want awaiting_approval", got)
	}
	if _, ok := w.forge.comments["3/decision"]; !ok {
		t.Errorf("no decision comment for the risky change: %v", w.forge.comments)
	}
	// An approval by a user without permission is ignored; one with it counts.
	w.forge.mu.Lock()
	w.forge.approvals[3] = []forge.Approval{{By: "mallory", Allowed: false}}
	w.forge.mu.Unlock()
	w.reconcile(t)
	if got := w.state(t, 3); got != change.StateAwaitingApproval {
		t.Errorf("risky after a refused approval: %s", got)
	}
	if _, err := Approve(context.Background(), w.store, 3, "bob"); err != nil {
		t.Fatal(err)
	}
	w.reconcile(t)
	if got := w.state(t, 3); got != change.StateDone {
		t.Errorf("risky after approval: %s, want done", got)
	}

	want := map[int64][]string{
		1: {"discovered", "predicted", "approved", "canary", "baking", "promoting", "watching", "done"},
		2: {"discovered", "predicted", "approved", "canary", "baking", "rolling_back", "rolled_back", "reverted"},
		3: {"discovered", "predicted", "awaiting_approval", "approved", "canary", "baking", "promoting", "watching", "done"},
	}
	for v, states := range want {
		if got := w.audit.states(v); !slices.Equal(got, states) {
			t.Errorf("audit of %d: %v, want %v", v, got, states)
		}
	}
	// Each instance got each version applied once.
	for k, n := range w.roll.applies {
		if n != 1 {
			t.Errorf("%s applied %d times", k, n)
		}
	}
	if rec := w.audit.rec[2]; rec.Rollback == nil || rec.Rollback.RevertBranch != "schemacanary/revert-2" || len(rec.KPIs) == 0 {
		t.Errorf("audit record of the harmful change lacks rollback or KPIs: %+v", rec)
	}
	if !strings.Contains(w.forge.comments["2/outcome"], "rolled back") {
		t.Errorf("outcome comment: %q", w.forge.comments["2/outcome"])
	}
}

// TestReconcileSkipReleasesQueue: a failed change holds the queue until it
// is skipped.
func TestReconcileSkipReleasesQueue(t *testing.T) {
	t.Parallel()
	w := newFakeWorld(t)
	w.src.merge(t, "migrations/00001_broken.sql", migrationtest.Source(2, "CREATE TABLE t (id int);", "DROP TABLE t;"))
	w.src.merge(t, "migrations/00002_next.sql", migrationtest.Source(2, "CREATE TABLE u (id int);", "DROP TABLE u;"))
	w.reconcile(t)
	if got := w.state(t, 1); got != change.StateRolledBack {
		t.Fatalf("broken: %s, want rolled_back", got)
	}
	if got := w.state(t, 2); got != change.StateDiscovered {
		t.Fatalf("next: %s, want discovered (held, not assessed yet)", got)
	}
	if err := w.store.Skip(context.Background(), 1, "ops"); err != nil {
		t.Fatal(err)
	}
	w.reconcile(t)
	if got := w.state(t, 1); got != change.StateSkipped {
		t.Errorf("broken after skip: %s", got)
	}
	if got := w.state(t, 2); got != change.StateDone {
		t.Errorf("next after skip: %s, want done", got)
	}
}

// TestReconcileInstanceDown: an instance that is down when its wave's
// pre-flight runs stops the change before the wave is applied; with the
// hold policy every instance stays as it is and the exact versions are
// recorded; with rollback the reachable ones are rolled back; with pause
// (the default) the change keeps its state, the versions and the pause are
// recorded, and it goes on once the instance is back.
func TestReconcileInstanceDown(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{OnDownHold, OnDownRollback, OnDownPause} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			w := newFakeWorld(t, WithOnInstanceDown(policy))
			w.roll.down["m2"] = true
			w.src.merge(t, "migrations/00001_safe.sql", migrationtest.Source(2, "CREATE TABLE t (id int);", "DROP TABLE t;"))
			_, err := w.rec.Reconcile(ctx)
			c, gerr := w.store.Get(ctx, 1)
			if gerr != nil {
				t.Fatal(gerr)
			}
			wantInst := map[string]int64{"c1": 1, "m1": 0, "m2": Unreachable}
			if policy == OnDownRollback {
				wantInst["c1"] = 0
			}
			for in, v := range wantInst {
				if c.Instances[in] != v {
					t.Errorf("%s: recorded version %d, want %d (all %v)", in, c.Instances[in], v, c.Instances)
				}
			}
			if policy == OnDownPause {
				if c.State != change.StatePromoting {
					t.Fatalf("state %s (%s, err %v), want promoting (paused)", c.State, c.Reason, err)
				}
				evs, err := w.store.Events(ctx, 1)
				if err != nil {
					t.Fatal(err)
				}
				paused := false
				for _, e := range evs {
					paused = paused || e.Step == "preflight paused" && e.Instance == "m2" && strings.Contains(e.Detail.Error, "m2 unreachable")
				}
				if !paused {
					t.Errorf("no pause event for m2 in %+v", evs)
				}
				w.roll.down["m2"] = false
				w.reconcile(t)
				if got := w.state(t, 1); got != change.StateDone {
					t.Errorf("after m2 came back: %s, want done", got)
				}
				return
			}
			if c.State != change.StateFailed {
				t.Fatalf("state %s (err %v), want failed", c.State, err)
			}
			if !strings.Contains(c.Reason, "unknown on m2") {
				t.Errorf("reason does not report versions: %q", c.Reason)
			}
		})
	}
}

// TestReconcileRejectsBadInputs: each bad input is audited with file and
// line and nothing is applied.
func TestReconcileRejectsBadInputs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, path, src, want string
	}{
		{"unknown front-matter key", "migrations/00001_a.sql", "-- ---\n-- risk: 2\n-- colour: red\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n", "00001_a.sql:3"},
		{"missing risk", "migrations/00001_a.sql", "-- ---\n-- owner: x\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n", "00001_a.sql:1"},
		{"risk out of range", "migrations/00001_a.sql", "-- ---\n-- risk: 11\n-- ---\n-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n", "00001_a.sql:2"},
		{"missing down", "migrations/00001_a.sql", "-- ---\n-- risk: 2\n-- ---\n-- +goose Up\nSELECT 1;\n", "00001_a.sql:4"},
		{"go migration", "migrations/00001_a.go", "package migrations\n", "00001_a.go"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newFakeWorld(t)
			w.src.merge(t, tc.path, tc.src)
			res := w.reconcile(t)
			if res.Rejected != 1 || res.Discovered != 0 {
				t.Fatalf("rejected %d discovered %d", res.Rejected, res.Discovered)
			}
			if len(w.roll.applies) != 0 {
				t.Errorf("something was applied: %v", w.roll.applies)
			}
			rejs, err := w.store.Rejections(context.Background(), 10)
			if err != nil || len(rejs) != 1 || !rejs[0].Reported || !strings.Contains(rejs[0].Message, tc.want) {
				t.Fatalf("rejections %+v (%v), want one reported naming %s", rejs, err, tc.want)
			}
			if v := rejs[0].Version; v > 0 {
				rec := w.audit.rec[v]
				if len(rec.Notes) == 0 || !strings.Contains(rec.Notes[0], tc.want) {
					t.Errorf("audit notes %v, want %s", rec.Notes, tc.want)
				}
			}
			// Reported once: a second pass adds nothing.
			if res := w.reconcile(t); res.Rejected != 0 {
				t.Errorf("rejected again: %d", res.Rejected)
			}
		})
	}
}

// TestReconcileProposalComment: an open PR gets one sticky comment with the
// prediction and the rejected files.
func TestReconcileProposalComment(t *testing.T) {
	t.Parallel()
	w := newFakeWorld(t)
	good, err := migration.ParseMigration("migrations/00005_add.sql", []byte(migrationtest.Source(8, "ALTER TABLE t ADD COLUMN y int;", "ALTER TABLE t DROP COLUMN y;")))
	if err != nil {
		t.Fatal(err)
	}
	_, bad := migration.ParseMigration("migrations/00006_bad.sql", []byte("-- +goose Up\nSELECT 1;\n"))
	w.src.props = []Proposal{{PR: 7, Author: "carol", Migrations: []*migration.Migration{good}, Rejected: []*migration.MigrationError{bad.(*migration.MigrationError)}}}
	w.reconcile(t)
	body := w.forge.sticky[7]
	for _, want := range []string{forge.PredictionMarker, "00005_add.sql", "40%", "needs approval", "/schemacanary approve", "00006_bad.sql:1"} {
		if !strings.Contains(body, want) {
			t.Errorf("sticky comment lacks %q:\n%s", want, body)
		}
	}
	if _, err := w.store.Prediction(context.Background(), 5, good.SHA256); err != nil {
		t.Errorf("prediction not stored: %v", err)
	}
}
