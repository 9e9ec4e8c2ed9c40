package store_test

import (
	"context"
	"testing"

	"github.com/schemacanary/schemacanary/analysis"
	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store/storetest"
)

// PastOutcomes counts the fleet's finished changes, those touching the
// same tables and those sharing a kind of hazard, as SetScope recorded
// them, on a real control store.
func TestPastOutcomesByTablesAndKinds(t *testing.T) {
	s := storetest.Open(t)
	ctx := context.Background()
	type past struct {
		v             int64
		tables, kinds []string
		state         change.State
		rolledBack    bool
	}
	for _, c := range []past{
		{1, []string{"orders"}, []string{"changing-column-type"}, change.StateRolledBack, true},
		{2, []string{"orders"}, nil, change.StateDone, false},
		{3, []string{"products"}, []string{"changing-column-type"}, change.StateReverted, true},
		{4, []string{"products"}, []string{"require-concurrent-index-creation"}, change.StateDone, false},
		{5, []string{"orders"}, []string{"changing-column-type"}, change.StateCanary, false}, // not finished
	} {
		if _, err := s.Discover(ctx, &change.Request{Version: c.v, Name: "m", Path: "m.sql", SHA256: "x", Commit: "c", Source: []byte("-- +goose Up\n")}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetScope(ctx, c.v, c.tables, c.kinds); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pool().Exec(ctx, `UPDATE change_requests SET state=$2 WHERE version=$1`, c.v, c.state); err != nil {
			t.Fatal(err)
		}
		if c.rolledBack {
			if err := s.RecordRollback(ctx, c.v, "canary worse", map[string]int64{"canary-1": c.v - 1}, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	h, err := s.PastOutcomes(ctx, []string{"orders"}, []string{"changing-column-type"})
	if err != nil {
		t.Fatal(err)
	}
	want := model.History{Finished: 4, RolledBack: 2, TableFinished: 2, TableRolledBack: 1, KindFinished: 2, KindRolledBack: 2}
	if h != want {
		t.Fatalf("history %+v, want %+v", h, want)
	}
	f := h.Features()
	if f[model.FeatureHistoryKindRollbackRate] <= f[model.FeatureHistoryTableRollbackRate] {
		t.Errorf("every change of this kind was rolled back, half of those on the table: kind rate %.2f, table rate %.2f",
			f[model.FeatureHistoryKindRollbackRate], f[model.FeatureHistoryTableRollbackRate])
	}
	if h, err = s.PastOutcomes(ctx, nil, nil); err != nil || h.TableFinished != 0 || h.KindFinished != 0 || h.Finished != 4 {
		t.Fatalf("no tables or kinds: %+v, %v", h, err)
	}
}

// History returns each finished change's features and the gate of its
// stored assessment, so a refit leaves out what the gate capped.
func TestHistoryCarriesTheStoredGate(t *testing.T) {
	s := storetest.Open(t)
	ctx := context.Background()
	fail := analysis.Finding{RuleID: "dry-run-failed", Line: 3, Message: "Up fails on a schema-only copy"}
	for _, c := range []struct {
		v    int64
		gate analysis.Gate
	}{{1, analysis.Gate{}}, {2, analysis.Gate{Fails: []analysis.Finding{fail}}}} {
		if _, err := s.Discover(ctx, &change.Request{Version: c.v, Name: "m", Path: "m.sql", SHA256: "x", Commit: "c", Source: []byte("-- +goose Up\n")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pool().Exec(ctx, `UPDATE change_requests SET state=$2 WHERE version=$1`, c.v, change.StateDone); err != nil {
			t.Fatal(err)
		}
		as := &assess.Assessment{Version: c.v, Gate: c.gate, Features: model.Features{"risk": 3}}
		if _, err := s.SavePrediction(ctx, change.PredictionRecord{Version: c.v, SHA256: "x", Confidence: 0.5, ModelVersion: "m",
			Features: as.Features, Assessment: as}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := s.History(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Version != 2 {
		t.Fatalf("history %+v", rows)
	}
	if !rows[0].Gate.Failed() || rows[0].Gate.Fails[0].RuleID != "dry-run-failed" || rows[0].Features["risk"] != 3 {
		t.Errorf("change 2: gate %+v, features %v", rows[0].Gate, rows[0].Features)
	}
	if rows[1].Gate.Failed() {
		t.Errorf("change 1: gate %+v", rows[1].Gate)
	}
	if ex := assess.ExampleGate(rows[0].Gate); len(ex) != 1 || ex[0].Cap != assess.GateCap {
		t.Errorf("example gate %+v", ex)
	}
}
