package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/audit"
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
	w.src.merge(t, "migrations/00001_idle_note.sql", migrationSrc(2, "ALTER TABLE t ADD COLUMN note text;", "ALTER TABLE t DROP COLUMN note;"))
	w.src.merge(t, "migrations/00002_next.sql", migrationSrc(2, "CREATE TABLE u (id int);", "DROP TABLE u;"))
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
	if got := w.audit.states(1); !slices.Equal(got, []string{"discovered", "predicted", "approved", "canary", "baking", "inconclusive", "promoting", "done"}) {
		t.Errorf("audit: %v", got)
	}
}

// TestSkipRollsBackInconclusive: skipping a change held inconclusive rolls
// its canary back, then skips it; the queue goes on.
func TestSkipRollsBackInconclusive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newFakeWorld(t)
	w.src.merge(t, "migrations/00001_idle_note.sql", migrationSrc(2, "ALTER TABLE t ADD COLUMN note text;", "ALTER TABLE t DROP COLUMN note;"))
	w.src.merge(t, "migrations/00002_next.sql", migrationSrc(2, "CREATE TABLE u (id int);", "DROP TABLE u;"))
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

// idlePrometheus answers Prometheus' range queries as for an idle fleet:
// successfully, with no data.
func idlePrometheus(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestEndToEndIdleFleet: the daemon, a real fleet, and KPIs from a
// Prometheus that has no data (no traffic). At max_bake the change is held
// inconclusive on the canary, not rolled back, and the audit branch says
// why; `promote` takes it to the rest of the fleet. With
// canary.on_inconclusive: promote it goes through without a human.
func TestEndToEndIdleFleet(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"hold", "promote"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			w := newE2EWorld(t, "")
			kpis := fmt.Sprintf("    prometheus:\n      url: %s\n      queries: {\"latency:app\": 'app_latency{instance=\"$instance\"}'}\n      step: 200ms\n      lag: 10ms\n", idlePrometheus(t))
			old := "    probes:\n      - {name: by_v, sql: \"SELECT id FROM items WHERE v = 4242\", rate: 25}\n"
			if !strings.Contains(w.cfg, old) {
				t.Fatal("e2e config changed: no probes block to replace")
			}
			w.cfg = strings.Replace(w.cfg, old, kpis, 1)
			w.cfg = strings.Replace(w.cfg, "  bake: 2s\n", "  bake: 1s\n  max_bake: 2s\n  on_inconclusive: "+policy+"\n", 1)
			w.merge("00001_add_tag.sql", migrationSrc(2, "ALTER TABLE items ADD COLUMN tag text;", "ALTER TABLE items DROP COLUMN tag;"))
			d := w.build(ctx)
			settle(t, ctx, d)
			c, err := d.Store.Get(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			applied := func(in string) int {
				return queryInt(t, w.fleet[in], "SELECT count(*) FROM goose_db_version WHERE version_id = 1")
			}
			if policy == "promote" {
				if c.State != change.StateDone || applied("m1") != 1 {
					t.Fatalf("on_inconclusive: promote: %s, main holds %d; want done everywhere", c.State, applied("m1"))
				}
				trs := stateList(t, ctx, d.Store, 1)
				if slices.Contains(trs, change.StateRollingBack) || slices.Contains(trs, change.StateInconclusive) {
					t.Errorf("states %v: want promoted straight through", trs)
				}
				return
			}
			if c.State != change.StateInconclusive || !strings.Contains(c.Reason, "not enough data after max_bake 2s") {
				t.Fatalf("idle fleet: %s %q, want inconclusive saying why", c.State, c.Reason)
			}
			if applied("c1") != 1 || queryInt(t, w.fleet["m1"], "SELECT count(*) FROM pg_tables WHERE tablename = 'goose_db_version'") != 0 {
				t.Fatalf("held change: want it on the canary only")
			}
			if got := auditStates(t, ctx, w.origin, 1); !slices.Equal(got, []string{"discovered", "predicted", "approved", "canary", "baking", "inconclusive"}) {
				t.Errorf("audit: %v", got)
			}
			a, err := audit.OpenAudit(ctx, w.origin)
			if err != nil {
				t.Fatal(err)
			}
			trs, err := a.History(ctx, 1)
			if err != nil || len(trs) == 0 || !strings.Contains(trs[len(trs)-1].Reason, "schemacanary promote 1") {
				t.Errorf("audit branch does not say how to release the hold: %+v %v", trs, err)
			}
			if _, err := Promote(ctx, d.Store, 1, "dana"); err != nil {
				t.Fatal(err)
			}
			settle(t, ctx, d)
			if s, n := stateOf(t, ctx, d.Store, 1), applied("m1"); s != change.StateDone || n != 1 {
				t.Fatalf("after promote: %s, main holds %d; want done", s, n)
			}
			if got := auditStates(t, ctx, w.origin, 1); !slices.Equal(got, []string{"discovered", "predicted", "approved", "canary", "baking", "inconclusive", "promoting", "done"}) {
				t.Errorf("audit: %v", got)
			}
		})
	}
}

func stateOf(t *testing.T, ctx context.Context, s *store.Store, v int64) change.State {
	t.Helper()
	c, err := s.Get(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	return c.State
}
