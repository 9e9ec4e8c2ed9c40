package store_test

import (
	"context"
	"testing"

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
