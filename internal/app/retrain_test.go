package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schemacanary/schemacanary/gitsrc/audit"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store/storetest"

	"github.com/schemacanary/schemacanary/analysis/model"
)

type fakeModelAudit struct {
	mu   sync.Mutex
	recs []audit.ModelAuditRecord
}

func (f *fakeModelAudit) RecordModel(_ context.Context, rec audit.ModelAuditRecord) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs = append(f.recs, rec)
	return true, nil
}

// TestRetrainerRecordsEveryAttempt fills the control store with 30
// finished changes, 2 of them rolled back, from lab examples, and retrains:
// with so few rollbacks only the calibration is refitted, the challenger
// is judged, and the attempt is in the audit record and /metrics whatever
// the outcome; a rejected challenger leaves the model in use as it was.
func TestRetrainerRecordsEveryAttempt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.Open(t)
	labDS, err := LabDataset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var safe, unsafe []model.Example
	for _, e := range labDS {
		if e.Safe {
			safe = append(safe, e)
		} else {
			unsafe = append(unsafe, e)
		}
	}
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for v := int64(1); v <= 30; v++ {
		e, state := safe[int(v)*7%len(safe)], change.StateDone
		if v == 9 || v == 21 {
			e, state = unsafe[int(v)%len(unsafe)], change.StateRolledBack
		}
		feats, _ := json.Marshal(e.Features)
		if _, err := st.Pool().Exec(ctx, `INSERT INTO change_requests (version, name, path, sha256, source, state, merged_at, tables)
			VALUES ($1, $2, $3, $4, '', $5, $6, '{public.orders}')`, v, fmt.Sprint("c", v), fmt.Sprint("m/", v, ".sql"), fmt.Sprint("sha", v), string(state), t0.Add(time.Duration(v)*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Pool().Exec(ctx, `INSERT INTO predictions (version, sha256, confidence, model_version, features) VALUES ($1, $2, 0.5, 'm', $3)`,
			v, fmt.Sprint("sha", v), feats); err != nil {
			t.Fatal(err)
		}
		if state == change.StateRolledBack {
			if _, err := st.Pool().Exec(ctx, `INSERT INTO rollbacks (version, reason) VALUES ($1, 'judge')`, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	m, err := model.Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	models := NewModels(m)
	audit := &fakeModelAudit{}
	metrics := reconciler.NewMetrics()
	rt := NewRetrainer(st, models, labDS, audit, 30, nil, metrics)
	changed, err := rt.Retrain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(audit.recs) != 1 {
		t.Fatalf("%d audit records, want 1", len(audit.recs))
	}
	rec := audit.recs[0]
	if rec.Mode != model.ModeCalibration || rec.Champion != m.Version || rec.Challenger == "" || rec.Figures["history_rollbacks"] != 2 || rec.Reason == "" {
		t.Errorf("audit record %+v", rec)
	}
	result := "rejected"
	if rec.Accepted {
		result = "accepted"
	}
	if n := counterValue(t, metrics, "schemacanary_retrains_total", map[string]string{"result": result}); n != 1 {
		t.Errorf("retrains{result=%s} = %v", result, n)
	}
	if changed != rec.Accepted || (models.Model().Version == m.Version) == rec.Accepted {
		t.Errorf("changed %v, accepted %v, model %s (was %s)", changed, rec.Accepted, models.Model().Version, m.Version)
	}
	if !rec.Accepted && !strings.Contains(rec.Reason, "challenger") {
		t.Errorf("rejection without a reason naming the challenger: %q", rec.Reason)
	}
}
