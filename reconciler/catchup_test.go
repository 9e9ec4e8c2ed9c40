package reconciler

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/schemacanary/schemacanary/gitsrc/migration/migrationtest"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store"
)

// TestCatchUpStepBringsLateTargetsUp: after two changes are done, targets
// join the fleet at version 0. On the next pass one is brought up through
// both, in order, and each change records it (holdings, event, audit
// commit, metric); one whose pre-flight fails is not touched, and its
// change says so (holdings catch-up-failed, the event with the reason, the
// status page); an unreachable one (its version cannot be read) is left
// for a later pass; one an
// operator excluded from the second change gets only the first. Once the
// cause is fixed a later pass catches the failed one up.
func TestCatchUpStepBringsLateTargetsUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := NewMetrics()
	w := newFakeWorld(t, WithMetrics(m))
	w.src.merge(t, "migrations/00001_one.sql", migrationtest.Source(2, "CREATE TABLE t (id int);", "DROP TABLE t;"))
	w.src.merge(t, "migrations/00002_two.sql", migrationtest.Source(2, "ALTER TABLE t ADD COLUMN x int;", "ALTER TABLE t DROP COLUMN x;"))
	w.reconcile(t)
	for _, v := range []int64{1, 2} {
		if got := w.state(t, v); got != change.StateDone {
			t.Fatalf("change %d: %s, want done", v, got)
		}
	}
	for _, in := range []string{"late", "drifted", "away", "kept"} {
		w.roll.join(in, 0)
	}
	w.roll.mu.Lock()
	w.roll.drift["drifted"], w.roll.down["away"] = true, true
	w.roll.mu.Unlock()
	if _, err := w.store.RecordAction(ctx, change.OperatorAction{Version: 2, Command: change.CommandExclude, Target: "kept",
		By: "ops", Why: "tenant frozen", State: change.StateDone, Source: "cli"}); err != nil {
		t.Fatal(err)
	}

	w.reconcile(t)
	w.roll.mu.Lock()
	caught := fmt.Sprint(w.roll.caught)
	w.roll.mu.Unlock()
	if caught != "[kept/1 late/1 late/2]" {
		t.Fatalf("catch-ups applied %s, want [kept/1 late/1 late/2]", caught)
	}
	get := func(v int64) *change.Request {
		t.Helper()
		c, err := w.store.Get(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	want := map[int64]string{
		1: "c1=1 drifted=catch-up-failed kept=1 late=1 m1=1 m2=1",
		2: "c1=2 drifted=0 late=2 m1=2 m2=2",
	}
	for v, h := range want {
		if got := Holdings(get(v).Instances).String(); got != h {
			t.Errorf("change %d holdings %s, want %s", v, got, h)
		}
	}
	events := func(v int64) map[string]change.Event {
		t.Helper()
		evs, err := w.store.Events(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]change.Event{}
		for _, e := range evs {
			if strings.HasPrefix(e.Step, "catch-up") {
				out[e.Instance+" "+e.Step] = e
			}
		}
		return out
	}
	ev1, ev2 := events(1), events(2)
	if _, ok := ev1["late catch-up"]; !ok {
		t.Errorf("no catch-up event of late on change 1: %v", ev1)
	}
	if _, ok := ev2["late catch-up"]; !ok {
		t.Errorf("no catch-up event of late on change 2: %v", ev2)
	}
	if e, ok := ev1["drifted catch-up failed: drift"]; !ok || e.Outcome != "failed" || !strings.Contains(e.Detail.Error, "schema drift") {
		t.Errorf("drifted's failure on change 1: %+v (%v)", e, ok)
	}
	if e, ok := ev2["kept catch-up held"]; !ok || !strings.Contains(e.Detail.Error, "ops") {
		t.Errorf("kept's exclusion from change 2: %+v (%v)", e, ok)
	}
	if len(ev1)+len(ev2) != 5 {
		t.Errorf("catch-up events %v / %v, want 5", ev1, ev2)
	}
	st, err := store.NewStatus(w.store).GetChange(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.CatchUp, "catch-up failed on drifted") {
		t.Errorf("status page of change 1 says %q, want the failed catch-up", st.CatchUp)
	}
	w.audit.mu.Lock()
	var audited []string
	for _, v := range []int64{1, 2} {
		for _, tr := range w.audit.trs[v] {
			if tr.Instance != "" {
				audited = append(audited, tr.Reason)
			}
		}
	}
	w.audit.mu.Unlock()
	if got := strings.Join(audited, " | "); !strings.Contains(got, "caught up late to 1") || !strings.Contains(got, "caught up late to 2") ||
		!strings.Contains(got, "catch up drifted to 1: drift") {
		t.Errorf("audit entries %q", got)
	}
	for o, n := range map[string]float64{"caught_up": 3, "failed": 1} {
		if got := testutil.ToFloat64(m.catchUps.WithLabelValues(o)); got != n {
			t.Errorf("schemacanary_catchups_total{outcome=%q} = %v, want %v", o, got, n)
		}
	}

	// The drift is fixed and the unreachable target answers: the next
	// pass catches both up; nothing is applied twice.
	w.roll.mu.Lock()
	w.roll.drift["drifted"], w.roll.down["away"] = false, false
	w.roll.mu.Unlock()
	w.reconcile(t)
	w.reconcile(t)
	w.roll.mu.Lock()
	caught = fmt.Sprint(w.roll.caught)
	w.roll.mu.Unlock()
	if caught != "[kept/1 late/1 late/2 away/1 away/2 drifted/1 drifted/2]" {
		t.Errorf("catch-ups applied %s", caught)
	}
	if got := Holdings(get(2).Instances).String(); got != "away=2 c1=2 drifted=2 late=2 m1=2 m2=2" {
		t.Errorf("change 2 holdings after the fix %s", got)
	}
	if st, err := store.NewStatus(w.store).GetChange(ctx, 1); err != nil || st.CatchUp != "" {
		t.Errorf("status page of change 1 after the fix: %q, %v", st.CatchUp, err)
	}

	// Targets found at the newest done change are not read again on every
	// pass (a session each, on a fleet of thousands): c1 has been read once
	// since change 2 was done, however many passes ran; kept, excluded
	// from change 2, stays behind and is read every pass.
	w.roll.mu.Lock()
	before, keptBefore := w.roll.read["c1"], w.roll.read["kept"]
	w.roll.mu.Unlock()
	w.reconcile(t)
	w.reconcile(t)
	w.roll.mu.Lock()
	defer w.roll.mu.Unlock()
	if w.roll.read["c1"] != before || w.roll.read["c1"] > 2 {
		t.Errorf("c1, at the newest change, read %d times (%d before the last two passes)", w.roll.read["c1"], before)
	}
	if w.roll.read["kept"] < keptBefore+2 {
		t.Errorf("kept, behind, read %d times over two passes", w.roll.read["kept"]-keptBefore)
	}
}
