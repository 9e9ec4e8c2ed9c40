package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/schemacanary/schemacanary/gitsrc/audit"
	"github.com/schemacanary/schemacanary/reconciler"
	"github.com/schemacanary/schemacanary/reconciler/change"
	"github.com/schemacanary/schemacanary/reconciler/store"

	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/lab"
	"github.com/schemacanary/schemacanary/analysis/model"
)

// Models holds the model the daemon predicts with; the Retrainer may
// replace it while the daemon runs. It is the assess.ModelSource of the
// daemon's Assessor. Safe for concurrent use.
type Models struct {
	mu sync.RWMutex
	m  *model.Model
}

var _ assess.ModelSource = (*Models)(nil)

// NewModels starts with m.
func NewModels(m *model.Model) *Models { return &Models{m: m} }

// Model returns the model in use.
func (p *Models) Model() *model.Model {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.m
}

// Set replaces the model.
func (p *Models) Set(m *model.Model) {
	p.mu.Lock()
	p.m = m
	p.mu.Unlock()
}

// InitialModel picks the model to start with: the newest model in the
// control store, else the file at path (when set), else the embedded
// bootstrap model trained on lab data. A stored model of an older format
// (trained on features this version no longer computes) is passed over for
// the next candidate; from says so.
func InitialModel(ctx context.Context, st *store.Store, path string) (m *model.Model, from string, err error) {
	if rec, err := st.LatestModel(ctx); err != nil {
		return nil, "", err
	} else if rec != nil {
		m, err := model.Unmarshal(rec.Blob)
		switch {
		case err == nil:
			return m, "control store", nil
		case !errors.Is(err, model.ErrFormat):
			return nil, "", fmt.Errorf("stored model %s: %w", rec.Version, err)
		}
		defer func() {
			if err == nil {
				from += fmt.Sprintf(" (stored model %s is of an older format: %v)", rec.Version, model.ErrFormat)
			}
		}()
	}
	if path != "" {
		m, err := model.LoadFile(path)
		if err != nil {
			return nil, "", fmt.Errorf("prediction.model: %w", err)
		}
		return m, path, nil
	}
	if m, err = model.Bootstrap(); err != nil {
		return nil, "", fmt.Errorf("bootstrap model: %w", err)
	}
	return m, "bootstrap", nil
}

// Retrainer retrains the model from the control store's history
// (finished changes: features at prediction time, rolled back or not) and
// the lab data, guarded (model.Retrain): a challenger replaces the
// champion only when it scores at least as well on the most recent
// history and passes the named-case suite; until history holds enough
// rollbacks only the calibration is refitted. Every attempt that gets as
// far as a comparison is recorded in the control store, the audit branch
// and /metrics.
type Retrainer struct {
	store      *store.Store
	models     *Models
	lab        model.Dataset
	audit      ModelAudit
	policy     model.RetrainPolicy
	minHistory int
	log        *slog.Logger
	metrics    *reconciler.Metrics
}

// ModelAudit records retrainings on the audit branch (gitsrc.Audit).
type ModelAudit interface {
	RecordModel(ctx context.Context, rec audit.ModelAuditRecord) (bool, error)
}

var _ ModelAudit = (*audit.Audit)(nil)

// NewRetrainer returns a retrainer; minHistory ≥ 1 finished changes are
// needed before it tries anything. lab is the lab dataset refits train on
// besides history (LabDataset); audit may be nil.
func NewRetrainer(st *store.Store, models *Models, lab model.Dataset, audit ModelAudit, minHistory int, log *slog.Logger, m *reconciler.Metrics) *Retrainer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Retrainer{store: st, models: models, lab: lab, audit: audit, minHistory: max(minHistory, 1), log: log, metrics: m}
}

// LabDataset is the embedded lab dataset, re-featured with the current
// analysis: what refits train on beside the fleet's history.
func LabDataset(ctx context.Context) (model.Dataset, error) {
	recs, err := lab.ReadRecordsFrom(bytes.NewReader(model.LabData()))
	if err != nil {
		return nil, fmt.Errorf("lab dataset: %w", err)
	}
	if err := lab.Refeature(ctx, recs); err != nil {
		return nil, fmt.Errorf("lab dataset: %w", err)
	}
	return lab.Dataset(recs), nil
}

// maxTrainingRows bounds the history read for training, keeping memory flat.
const maxTrainingRows = 20000

// Retrain tries a challenger when there is enough history; it reports
// whether the model in use changed.
func (t *Retrainer) Retrain(ctx context.Context) (bool, error) {
	rows, err := t.store.History(ctx, maxTrainingRows)
	if err != nil {
		return false, t.count("failed", err)
	}
	if len(rows) < t.minHistory {
		t.log.Debug("retrain skipped: not enough history", "finished", len(rows), "min_history", t.minHistory)
		return false, t.count("skipped", nil)
	}
	hist := make([]model.TimedExample, 0, len(rows))
	for _, r := range rows {
		if len(r.Features) == 0 {
			continue
		}
		group := "table:" + strings.Join(r.Tables, ",")
		hist = append(hist, model.TimedExample{At: r.MergedAt,
			Example: model.Example{Features: r.Features, Safe: !r.RolledBack, Group: group, Family: "history", Gate: assess.ExampleGate(r.Gate)}})
	}
	champion := t.models.Model()
	d, err := model.Retrain(ctx, champion, t.lab, hist, t.policy, assess.CheckNamedCases)
	if err != nil {
		return false, t.count("failed", fmt.Errorf("retrain: %w", err))
	}
	if d.Challenger == nil {
		t.log.Info("retrain skipped", "reason", d.Reason, "history", d.History)
		return false, t.count("skipped", nil)
	}
	figures := map[string]float64{"history": float64(d.History), "history_rollbacks": float64(d.HistoryRollbacks),
		"holdout": float64(d.Holdout), "holdout_brier_champion": d.ChampionScores.Brier, "holdout_brier_challenger": d.ChallengerScores.Brier,
		"holdout_auc_champion": d.ChampionScores.AUC, "holdout_auc_challenger": d.ChallengerScores.AUC}
	if t.metrics != nil {
		t.metrics.HoldoutBrier(d.ChampionScores.Brier, d.ChallengerScores.Brier)
	}
	if t.audit != nil {
		rec := audit.ModelAuditRecord{Champion: champion.Version, Challenger: d.Challenger.Version, Mode: d.Mode,
			Accepted: d.Accepted, Reason: d.Reason, Figures: figures, NamedCaseFailures: d.NamedCaseFailures}
		if _, err := t.audit.RecordModel(ctx, rec); err != nil {
			t.log.Warn("audit retraining", "challenger", d.Challenger.Version, "err", err)
		}
	}
	if !d.Accepted {
		t.log.Info("challenger rejected", "champion", champion.Version, "challenger", d.Challenger.Version, "mode", d.Mode, "reason", d.Reason)
		return false, t.count("rejected", nil)
	}
	blob, err := d.Challenger.Marshal()
	if err != nil {
		return false, t.count("failed", err)
	}
	if err := t.store.SaveModel(ctx, change.ModelRecord{Version: d.Challenger.Version, Examples: d.History, Blob: blob, Metrics: figures}); err != nil {
		return false, t.count("failed", err)
	}
	t.models.Set(d.Challenger)
	t.log.Info("model replaced", "champion", champion.Version, "challenger", d.Challenger.Version, "mode", d.Mode, "reason", d.Reason)
	return true, t.count("accepted", nil)
}

func (t *Retrainer) count(result string, err error) error {
	if t.metrics != nil {
		t.metrics.Retrained(result)
	}
	return err
}
