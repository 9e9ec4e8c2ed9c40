package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/schemacanary/schemacanary/analysis/assess"
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
func InitialModel(ctx context.Context, store *Store, path string) (m *model.Model, from string, err error) {
	if rec, err := store.LatestModel(ctx); err != nil {
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

// Retrainer trains a model from the control store's history (finished
// changes: features at prediction time, rolled back or not) and swaps it
// into Models. Until MinHistory changes have finished, with both
// outcomes among them, the current (bootstrap) model stays.
type Retrainer struct {
	store      *Store
	models     *Models
	minHistory int
	log        *slog.Logger
	metrics    *Metrics
}

// NewRetrainer returns a retrainer; minHistory ≥ 1.
func NewRetrainer(store *Store, models *Models, minHistory int, log *slog.Logger, m *Metrics) *Retrainer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Retrainer{store: store, models: models, minHistory: max(minHistory, 1), log: log, metrics: m}
}

// maxTrainingRows bounds the history read for training, keeping memory flat.
const maxTrainingRows = 20000

// Retrain trains from history when there is enough; it reports whether the
// model changed.
func (t *Retrainer) Retrain(ctx context.Context) (bool, error) {
	rows, err := t.store.History(ctx, maxTrainingRows)
	if err != nil {
		return false, t.count("failed", err)
	}
	if len(rows) < t.minHistory {
		t.log.Debug("retrain skipped: not enough history", "finished", len(rows), "min_history", t.minHistory)
		return false, t.count("kept_bootstrap", nil)
	}
	ds := make(model.Dataset, 0, len(rows))
	for _, r := range rows {
		if len(r.Features) == 0 {
			continue
		}
		ds = append(ds, model.Example{Features: r.Features, Safe: !r.RolledBack, Group: strconv.FormatInt(r.Version, 10)})
	}
	// The current model's recipe: its features and hazards, and its live
	// stage (fitted on lab trials, which history does not replace).
	recipe := append(t.models.Model().Recipe(), model.WithSource("history"))
	m, err := model.Train(ctx, ds, recipe...)
	if errors.Is(err, model.ErrEmptyDataset) {
		t.log.Info("retrain skipped: history has a single outcome", "finished", len(rows))
		return false, t.count("kept_bootstrap", nil)
	}
	if err != nil {
		return false, t.count("failed", fmt.Errorf("train: %w", err))
	}
	blob, err := m.Marshal()
	if err != nil {
		return false, t.count("failed", err)
	}
	if err := t.store.SaveModel(ctx, ModelRecord{Version: m.Version, Examples: len(ds), Blob: blob,
		Metrics: map[string]float64{"auc_cv": m.Metrics.CrossValidated.AUC}}); err != nil {
		return false, t.count("failed", err)
	}
	t.models.Set(m)
	t.log.Info("model retrained", "model", m.Version, "examples", len(ds))
	return true, t.count("trained", nil)
}

func (t *Retrainer) count(result string, err error) error {
	if t.metrics != nil {
		t.metrics.retrains.WithLabelValues(result).Inc()
	}
	return err
}
