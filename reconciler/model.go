package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/schemacanary/schemacanary/analysis/model"
)

// ModelPredictor is the Predictor over an analysis/model.Model that the
// Retrainer can replace while the daemon runs. Safe for concurrent use.
type ModelPredictor struct {
	mu sync.RWMutex
	m  *model.Model
}

var _ Predictor = (*ModelPredictor)(nil)

// NewModelPredictor predicts with m.
func NewModelPredictor(m *model.Model) *ModelPredictor { return &ModelPredictor{m: m} }

// Model returns the model in use.
func (p *ModelPredictor) Model() *model.Model {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.m
}

// Set replaces the model.
func (p *ModelPredictor) Set(m *model.Model) {
	p.mu.Lock()
	p.m = m
	p.mu.Unlock()
}

// Predict implements Predictor.
func (p *ModelPredictor) Predict(_ context.Context, f map[string]float64) (Prediction, error) {
	m := p.Model()
	if m == nil {
		return Prediction{}, errors.New("no model loaded")
	}
	mp, err := m.Predict(model.Features(f))
	if err != nil {
		return Prediction{}, err
	}
	out := Prediction{Confidence: mp.Confidence, ModelVersion: mp.ModelVersion}
	for _, r := range mp.Reasons {
		out.Reasons = append(out.Reasons, Reason{Feature: r.Feature, Value: r.Value, Contribution: r.Contribution, Text: r.Text})
	}
	return out, nil
}

// InitialModel picks the model to start with: the newest model in the
// control store, else the file at path (when set), else the embedded
// bootstrap model trained on lab data.
func InitialModel(ctx context.Context, store *Store, path string) (*model.Model, string, error) {
	if rec, err := store.LatestModel(ctx); err != nil {
		return nil, "", err
	} else if rec != nil {
		m, err := model.Unmarshal(rec.Blob)
		if err != nil {
			return nil, "", fmt.Errorf("stored model %s: %w", rec.Version, err)
		}
		return m, "control store", nil
	}
	if path != "" {
		m, err := model.LoadFile(path)
		if err != nil {
			return nil, "", fmt.Errorf("prediction.model: %w", err)
		}
		return m, path, nil
	}
	m, err := model.Bootstrap()
	if err != nil {
		return nil, "", fmt.Errorf("bootstrap model: %w", err)
	}
	return m, "bootstrap", nil
}

// Retrainer trains a model from the control store's history (finished
// changes: features at prediction time, rolled back or not) and swaps it
// into the predictor. Until MinHistory changes have finished, with both
// outcomes among them, the current (bootstrap) model stays.
type Retrainer struct {
	store      *Store
	pred       *ModelPredictor
	minHistory int
	log        *slog.Logger
	metrics    *Metrics
}

// NewRetrainer returns a retrainer; minHistory ≥ 1.
func NewRetrainer(store *Store, pred *ModelPredictor, minHistory int, log *slog.Logger, m *Metrics) *Retrainer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Retrainer{store: store, pred: pred, minHistory: max(minHistory, 1), log: log, metrics: m}
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
	m, err := model.Train(ctx, ds, model.WithSource("history"))
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
	t.pred.Set(m)
	t.log.Info("model retrained", "model", m.Version, "examples", len(ds))
	return true, t.count("trained", nil)
}

func (t *Retrainer) count(result string, err error) error {
	if t.metrics != nil {
		t.metrics.retrains.WithLabelValues(result).Inc()
	}
	return err
}
