package reconciler

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store"
	"github.com/schemacanary/schemacanary/reconciler/web"
)

// TestIdleCanaryHeldInconclusive: a canary whose bake ends without enough
// data (an idle fleet) is held inconclusive, not rolled back: the canary
// keeps the change, the queue waits for a human, the status page, the API,
// the PR and the audit branch say why and how to release it. Promote
// releases it to the rest of the fleet; a promotion before the hold is
// refused.
func TestIdleCanaryHeldInconclusive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFakeWorld(t)
	if _, err := Promote(ctx, w.store, 1, "dana"); !errors.Is(err, change.ErrNotFound) {
		t.Errorf("promote before the change exists: %v, want not found", err)
	}
	w.src.merge(t, "migrations/00001_idle_note.sql", migrationtest.Source(2, "ALTER TABLE t ADD COLUMN note text;", "ALTER TABLE t DROP COLUMN note;"))
	w.src.merge(t, "migrations/00002_next.sql", migrationtest.Source(2, "CREATE TABLE u (id int);", "DROP TABLE u;"))
	res := w.reconcile(t)
	c, err := w.store.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != change.StateInconclusive || w.roll.rolled[1] {
		t.Fatalf("idle canary: %s (rolled back %v), want inconclusive and not rolled back", c.State, w.roll.rolled[1])
	}
	for _, want := range []string{"not enough data after max_bake", "schemacanary promote 1 --by NAME", "schemacanary skip 1"} {
		if !strings.Contains(c.Reason, want) {
			t.Errorf("reason %q lacks %q", c.Reason, want)
		}
	}
	if w.roll.versions["c1"] != 1 || w.roll.versions["m1"] != 0 {
		t.Errorf("versions %v: want the canary holding the change and the rest not", w.roll.versions)
	}
	if c.Instances["c1"] != 1 || c.Instances["m1"] != 0 {
		t.Errorf("recorded instances %v", c.Instances)
	}
	if got := w.state(t, 2); got != change.StateDiscovered {
		t.Errorf("next change: %s, want discovered (the queue is held; it is assessed at the head)", got)
	}
	if !strings.Contains(res.Waiting, "inconclusive") {
		t.Errorf("waiting %q, want the inconclusive hold", res.Waiting)
	}
	if got := w.audit.states(1); !slices.Equal(got, []string{"discovered", "predicted", "approved", "canary", "baking", "inconclusive"}) {
		t.Errorf("audit: %v", got)
	}
	if !strings.Contains(w.forge.comments["1/inconclusive"], "held") {
		t.Errorf("no PR comment on the hold: %v", w.forge.comments)
	}
	// The status page and the API say why.
	status, err := web.NewStatusHandler(store.NewStatus(w.store))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.NewServer(w.store, nil, web.WithStatusPage(status))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for path, want := range map[string]string{"/changes/1": "Held for a human", "/api/changes/1": `"state": "inconclusive"`} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), want) || !strings.Contains(string(b), "not enough data") {
			t.Errorf("%s does not say why it is held (want %q)", path, want)
		}
	}

	// Still held on the next pass; then a human promotes it.
	w.reconcile(t)
	if got := w.state(t, 1); got != change.StateInconclusive {
		t.Fatalf("without a human: %s", got)
	}
	if _, err := Promote(ctx, w.store, 2, "dana"); !errors.Is(err, ErrNotInconclusive) {
		t.Errorf("promote of a change that is not held: %v, want ErrNotInconclusive", err)
	}
	if _, err := Promote(ctx, w.store, 1, "dana"); err != nil {
		t.Fatal(err)
	}
	w.reconcile(t)
	if got := w.state(t, 1); got != change.StateDone {
		t.Fatalf("after the promotion: %s, want done", got)
	}
	if got := w.state(t, 2); got != change.StateDone {
		t.Errorf("next change after the release: %s, want done", got)
	}
	if w.roll.versions["m2"] < 1 || w.roll.applies["m1/1"] != 1 || w.roll.applies["c1/1"] != 1 {
		t.Errorf("after the promotion: versions %v, applies %v", w.roll.versions, w.roll.applies)
	}
	if got := w.audit.states(1); !slices.Equal(got, []string{"discovered", "predicted", "approved", "canary", "baking", "inconclusive", "promoting", "watching", "done"}) {
		t.Errorf("audit: %v", got)
	}
}

// TestSkipRollsBackInconclusive: skipping a change held inconclusive rolls
// its canary back, then skips it; the queue goes on.
func TestSkipRollsBackInconclusive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFakeWorld(t)
	w.src.merge(t, "migrations/00001_idle_note.sql", migrationtest.Source(2, "ALTER TABLE t ADD COLUMN note text;", "ALTER TABLE t DROP COLUMN note;"))
	w.src.merge(t, "migrations/00002_next.sql", migrationtest.Source(2, "CREATE TABLE u (id int);", "DROP TABLE u;"))
	w.reconcile(t)
	if got := w.state(t, 1); got != change.StateInconclusive {
		t.Fatalf("idle canary: %s", got)
	}
	if _, err := Skip(ctx, w.store, 1, "dana"); err != nil {
		t.Fatal(err)
	}
	w.reconcile(t)
	if got := w.state(t, 1); got != change.StateSkipped {
		t.Fatalf("after skip: %s, want skipped", got)
	}
	if !w.roll.rolled[1] || w.roll.versions["c1"] != 2 {
		t.Errorf("canary not rolled back before the skip: rolled %v, versions %v", w.roll.rolled[1], w.roll.versions)
	}
	if got := w.state(t, 2); got != change.StateDone {
		t.Errorf("next change: %s, want done", got)
	}
	if got := w.audit.states(1); !slices.Equal(got, []string{"discovered", "predicted", "approved", "canary", "baking", "inconclusive", "rolling_back", "rolled_back", "skipped"}) {
		t.Errorf("audit: %v", got)
	}
}
