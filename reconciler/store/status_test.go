package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store"
	"github.com/schemacanary/schemacanary/reconciler/store/storetest"
	"github.com/schemacanary/schemacanary/rollout/judge"
)

// TestStoreStatusReadsARolledBackChange stores a change the way the
// reconciler does (discover, predict, move through the states, record the
// bake's samples and decision) and reads it back through StoreStatus.
func TestStoreStatusReadsARolledBackChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.Open(t)
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "demo", "00016_drop_orders_customer_index.sql"))
	if err != nil {
		t.Fatal(err)
	}
	const path = "migrations/00016_drop_orders_customer_index.sql"
	mig, err := migration.ParseMigration(path, src) // as ingest does
	if err != nil {
		t.Fatal(err)
	}
	c := &change.Request{Version: 16, Name: "drop_orders_customer_index", Path: path,
		SHA256: "abc", Commit: "0123456789abcdef", Author: "Sam", PR: 116, Risk: 2, Source: src, Migration: mig}
	if _, err := st.Discover(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SavePrediction(ctx, change.PredictionRecord{Version: 16, SHA256: "abc", Confidence: 0.87, ModelVersion: "m1",
		Reasons: []change.Reason{{Feature: "risk", Text: "rated 2/10", Contribution: 0.3}, {Feature: "destructive_up", Text: "drops an index", Contribution: -0.9}}}); err != nil {
		t.Fatal(err)
	}
	conf := 0.87
	var applied, rolled time.Time
	for _, m := range []change.Move{{To: change.StatePredicted, Confidence: &conf}, {To: change.StateApproved, Reason: "confidence above 0.80"},
		{To: change.StateCanary}, {To: change.StateBaking, Reason: "applied on the canary wave"},
		{To: change.StateRollingBack, Reason: "judge: fail: latency:orders_by_customer"}, {To: change.StateRolledBack, Reason: "rolled back"}} {
		cur, err := st.Get(ctx, 16)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := st.Transition(ctx, cur, m)
		if err != nil {
			t.Fatalf("move to %s: %v", m.To, err)
		}
		switch m.To {
		case change.StateBaking:
			applied = tr.At
		case change.StateRollingBack:
			rolled = tr.At
		}
	}
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	var samples []change.KPISample
	for i := 0; i < 10; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		samples = append(samples,
			change.KPISample{Version: 16, Instance: "canary-1", KPI: "latency:orders_by_customer", Role: "canary", Value: 300 + float64(i), At: at},
			change.KPISample{Version: 16, Instance: "prod-1", KPI: "latency:orders_by_customer", Role: "control", Value: 1, At: at},
			change.KPISample{Version: 16, Instance: "prod-2", KPI: "latency:orders_by_customer", Role: "control", Value: 3, At: at.Add(200 * time.Millisecond)},
			change.KPISample{Version: 16, Instance: "canary-1", KPI: judge.KPIErrorRate, Role: "canary", Value: 0.01, At: at})
	}
	if err := st.AddKPISamples(ctx, samples); err != nil {
		t.Fatal(err)
	}
	dec := judge.Decision{Outcome: judge.Fail, Reason: "latency 150× the control", Verdicts: []judge.Verdict{
		{KPI: "latency:orders_by_customer", Reference: judge.RefControl, Outcome: judge.Fail, Test: judge.TestMannWhitney, PValue: 1e-5},
		{KPI: judge.KPIErrorRate, Reference: judge.RefControl, Outcome: judge.Pass, Test: judge.TestTwoProp, PValue: 0.4},
		{KPI: "latency:orders_by_customer", Reference: judge.RefBaseline, Outcome: judge.Fail, Test: judge.TestMannWhitney, PValue: 1e-4},
	}}
	if _, err := st.RecordEvent(ctx, change.Event{Version: 16, Instance: "*", Step: "judge", Outcome: "fail", Detail: change.EventDetail{Decision: change.NewJudgeRecord(dec)}}); err != nil {
		t.Fatal(err)
	}

	ss := store.NewStatus(st)
	list, err := ss.ListChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].State != "rolled_back" || list[0].Confidence != 0.87 || list[0].Owner != "checkout" {
		t.Fatalf("list = %+v", list)
	}
	d, err := ss.GetChange(ctx, 16)
	if err != nil || d == nil {
		t.Fatalf("get: %v %v", d, err)
	}
	if d.Ticket != "SHOP-171" || d.ModelVersion != "m1" {
		t.Errorf("ticket %q, model %q", d.Ticket, d.ModelVersion)
	}
	if len(d.Reasons) != 2 || d.Reasons[0].Feature != "destructive_up" {
		t.Errorf("reasons not sorted by effect: %+v", d.Reasons)
	}
	if !d.AppliedAt.Equal(applied) || !d.RolledBackAt.Equal(rolled) || !strings.Contains(d.RollbackReason, "judge: fail") {
		t.Errorf("applied %v (want %v), rolled back %v (want %v), reason %q", d.AppliedAt, applied, d.RolledBackAt, rolled, d.RollbackReason)
	}
	if len(d.KPIs) != 2 || d.KPIs[0].KPI != "latency:orders_by_customer" {
		t.Fatalf("KPIs = %+v", d.KPIs)
	}
	lat := d.KPIs[0]
	if len(lat.Canary) != 10 || len(lat.Control) != 10 || lat.Control[0].Value != 2 || lat.Unit != "ms" {
		t.Errorf("latency series: canary %d points, control %d points (first %v), unit %q; want 10, 10 averaged to 2, ms",
			len(lat.Canary), len(lat.Control), lat.Control, lat.Unit)
	}
	if lat.Verdict == nil || lat.Verdict.Reference != judge.RefControl || lat.Verdict.PValue != 1e-5 {
		t.Errorf("latency verdict = %+v, want the one against the control", lat.Verdict)
	}
	var sawJudge bool
	for i, e := range d.Timeline {
		if i > 0 && e.At.Before(d.Timeline[i-1].At) {
			t.Error("timeline out of order")
		}
		sawJudge = sawJudge || (e.Step == "judge" && strings.Contains(e.Message, "150×"))
	}
	if !sawJudge || len(d.Timeline) < 7 {
		t.Errorf("timeline %+v lacks the judge's decision", d.Timeline)
	}
	if d, err := ss.GetChange(ctx, 99); d != nil || err != nil {
		t.Errorf("unknown version: %v, %v; want nil, nil", d, err)
	}

	// A later decision that keeps each KPI's outcome: the latency KPI
	// passed (no worse than the canary's own baseline, although slower than
	// the control, and its tail no worse), so its line is the pass against
	// the baseline, not the last verdict against the control (the tail
	// test's share of slow samples).
	dec = judge.Decision{Outcome: judge.Pass, Reason: "no KPI worse", KPIs: map[string]judge.Outcome{"latency:orders_by_customer": judge.Pass}, Verdicts: []judge.Verdict{
		{KPI: "latency:orders_by_customer", Reference: judge.RefControl, Outcome: judge.Fail, Test: judge.TestMannWhitney, PValue: 2e-5},
		{KPI: "latency:orders_by_customer", Reference: judge.RefBaseline, Outcome: judge.Pass, Test: judge.TestMannWhitney, PValue: 0.3},
		{KPI: "latency:orders_by_customer", Reference: judge.RefControl, Outcome: judge.Pass, Test: judge.TestTail, PValue: 0.6, CanaryValue: 0.01},
	}}
	if ok, err := st.RecordEvent(ctx, change.Event{Version: 16, Instance: "*", Step: "judge pass", Outcome: "pass", Detail: change.EventDetail{Decision: change.NewJudgeRecord(dec)}}); err != nil || !ok {
		t.Fatalf("record a second decision: %v, %v", ok, err)
	}
	d, err = ss.GetChange(ctx, 16)
	if err != nil || d == nil {
		t.Fatalf("get: %v %v", d, err)
	}
	if v := d.KPIs[0].Verdict; v == nil || v.Reference != judge.RefBaseline || v.Outcome != judge.Pass || v.PValue != 0.3 {
		t.Errorf("latency line after a passing decision = %+v, want the pass against the baseline", v)
	}
}

// TestStatusShowsWaveProgress: while a wave is applied, the list shows how
// far it has got, read from the rollout's checkpoint; a checkpoint of
// another wave shows nothing.
func TestStatusShowsWaveProgress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := storetest.Open(t)
	if _, err := s.Discover(ctx, &change.Request{Version: 4, Name: "m", Path: "m.sql", SHA256: "x", Commit: "c", Source: []byte("-- +goose Up\n")}); err != nil {
		t.Fatal(err)
	}
	for _, st := range []change.State{change.StatePredicted, change.StateApproved, change.StateCanary, change.StateBaking, change.StatePromoting} {
		c, err := s.Get(ctx, 4)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Transition(ctx, c, change.Move{To: st, Wave: 2, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	list := func() change.StatusChange {
		t.Helper()
		cs, err := store.NewStatus(s).ListChanges(ctx)
		if err != nil || len(cs) != 1 {
			t.Fatalf("list: %+v %v", cs, err)
		}
		return cs[0]
	}
	if err := s.SaveCheckpoint(ctx, 4, []byte(`{"version":4,"phase":"promote","wave":2,"progress":{"wave":2,"name":"25%","done":120,"total":500,"failed":1,"eta":35000000000}}`)); err != nil {
		t.Fatal(err)
	}
	if got := list(); got.Wave != "wave2" || got.Progress != "120/500 applied, 1 failed, ETA 35s" {
		t.Errorf("wave %q progress %q", got.Wave, got.Progress)
	}
	if err := s.SaveCheckpoint(ctx, 4, []byte(`{"version":4,"phase":"promote","wave":1,"progress":{"wave":1,"done":1,"total":2}}`)); err != nil {
		t.Fatal(err)
	}
	if got := list(); got.Progress != "" {
		t.Errorf("progress of another wave shown: %q", got.Progress)
	}
}
