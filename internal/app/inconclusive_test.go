package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/audit"
	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/internal/pgtest"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store"
)

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
			w.merge("00001_add_tag.sql", migrationtest.Source(2, "ALTER TABLE items ADD COLUMN tag text;", "ALTER TABLE items DROP COLUMN tag;"))
			d := w.build(ctx)
			settle(t, ctx, d)
			c, err := d.Store.Get(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			applied := func(in string) int {
				return pgtest.QueryInt(t, w.fleet[in], "SELECT count(*) FROM goose_db_version WHERE version_id = 1")
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
			if applied("c1") != 1 || pgtest.QueryInt(t, w.fleet["m1"], "SELECT count(*) FROM pg_tables WHERE tablename = 'goose_db_version'") != 0 {
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
			if _, err := reconciler.Promote(ctx, d.Store, 1, "dana"); err != nil {
				t.Fatal(err)
			}
			settle(t, ctx, d)
			if s, n := stateOf(t, ctx, d.Store, 1), applied("m1"); s != change.StateDone || n != 1 {
				t.Fatalf("after promote: %s, main holds %d; want done", s, n)
			}
			// An idle fleet has no pre-change baseline to watch against: no watch.
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
