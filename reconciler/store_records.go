package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PredictionRecord is a stored prediction.
type PredictionRecord struct {
	Version      int64              `json:"version"`
	PR           int                `json:"pr,omitempty"`
	SHA256       string             `json:"sha256"`
	Confidence   float64            `json:"confidence"`
	ModelVersion string             `json:"model_version"`
	Reasons      []Reason           `json:"reasons,omitempty"`
	Features     map[string]float64 `json:"features,omitempty"`
	CreatedAt    time.Time          `json:"created_at"`
}

// SavePrediction stores a prediction; it reports false when the same
// (version, pr, sha256) was already predicted.
func (s *Store) SavePrediction(ctx context.Context, p PredictionRecord) (bool, error) {
	reasons, _ := json.Marshal(p.Reasons)
	feats, _ := json.Marshal(p.Features)
	tag, err := s.pool.Exec(ctx, `INSERT INTO predictions (version, pr, sha256, confidence, model_version, reasons, features)
		VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (version, pr, sha256) DO NOTHING`,
		p.Version, p.PR, p.SHA256, p.Confidence, p.ModelVersion, reasons, feats)
	if err != nil {
		return false, fmt.Errorf("save prediction of %d: %w", p.Version, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Prediction returns the newest prediction for a merged change (pr = 0 rows
// and PR rows alike, the newest first), or ErrNotFound.
func (s *Store) Prediction(ctx context.Context, version int64, sha string) (*PredictionRecord, error) {
	var p PredictionRecord
	var reasons, feats []byte
	err := s.pool.QueryRow(ctx, `SELECT version, pr, sha256, confidence, model_version, reasons, features, created_at
		FROM predictions WHERE version=$1 AND sha256=$2 ORDER BY pr = 0 DESC, id DESC LIMIT 1`, version, sha).
		Scan(&p.Version, &p.PR, &p.SHA256, &p.Confidence, &p.ModelVersion, &reasons, &feats, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("prediction of %d: %w", version, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("prediction of %d: %w", version, err)
	}
	_ = json.Unmarshal(reasons, &p.Reasons)
	_ = json.Unmarshal(feats, &p.Features)
	return &p, nil
}

// Event is one side effect on one instance, keyed (version, instance, step).
type Event struct {
	Version  int64          `json:"version"`
	Instance string         `json:"instance"`
	Step     string         `json:"step"`
	Outcome  string         `json:"outcome"`
	Detail   map[string]any `json:"detail,omitempty"`
	At       time.Time      `json:"at"`
}

// RecordEvent stores an event once; a second event with the same key is
// ignored and reported false.
func (s *Store) RecordEvent(ctx context.Context, e Event) (bool, error) {
	d, _ := json.Marshal(e.Detail)
	if e.Detail == nil {
		d = []byte("{}")
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO rollout_events (version, instance, step, outcome, detail)
		VALUES ($1,$2,$3,$4,$5) ON CONFLICT (version, instance, step) DO NOTHING`, e.Version, e.Instance, e.Step, e.Outcome, d)
	if err != nil {
		return false, fmt.Errorf("record event %d/%s/%s: %w", e.Version, e.Instance, e.Step, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Events returns the events of one change in order.
func (s *Store) Events(ctx context.Context, version int64) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT version, instance, step, outcome, detail, at FROM rollout_events WHERE version=$1 ORDER BY id`, version)
	if err != nil {
		return nil, fmt.Errorf("events of %d: %w", version, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		var d []byte
		err := r.Scan(&e.Version, &e.Instance, &e.Step, &e.Outcome, &d, &e.At)
		_ = json.Unmarshal(d, &e.Detail)
		return e, err
	})
}

// KPISample is one historical KPI measurement.
type KPISample struct {
	Version  int64
	Instance string
	KPI      string
	Role     string // canary, control, baseline
	Value    float64
	At       time.Time
}

// AddKPISamples stores samples with COPY.
func (s *Store) AddKPISamples(ctx context.Context, samples []KPISample) error {
	if len(samples) == 0 {
		return nil
	}
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"kpi_samples"}, []string{"version", "instance", "kpi", "role", "value", "at"},
		pgx.CopyFromSlice(len(samples), func(i int) ([]any, error) {
			k := samples[i]
			at := k.At
			if at.IsZero() {
				at = time.Now()
			}
			return []any{k.Version, k.Instance, k.KPI, k.Role, k.Value, at}, nil
		}))
	if err != nil {
		return fmt.Errorf("store %d KPI samples: %w", len(samples), err)
	}
	return nil
}

// PruneKPISamples deletes samples older than maxAge and, beyond that, the
// oldest ones above maxRows. It returns the number deleted.
func (s *Store) PruneKPISamples(ctx context.Context, maxAge time.Duration, maxRows int64) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM kpi_samples WHERE at < now() - $1::interval`, fmt.Sprintf("%d microseconds", maxAge.Microseconds()))
	if err != nil {
		return 0, fmt.Errorf("prune KPI samples: %w", err)
	}
	n := tag.RowsAffected()
	if _, err := s.pool.Exec(ctx, `DELETE FROM kpi_windows WHERE at < now() - $1::interval`, fmt.Sprintf("%d microseconds", maxAge.Microseconds())); err != nil {
		return n, fmt.Errorf("prune KPI windows: %w", err)
	}
	if maxRows > 0 {
		tag, err = s.pool.Exec(ctx, `DELETE FROM kpi_samples WHERE id <= (SELECT id FROM kpi_samples ORDER BY id DESC OFFSET $1 LIMIT 1)`, maxRows)
		if err != nil {
			return n, fmt.Errorf("prune KPI samples: %w", err)
		}
		n += tag.RowsAffected()
	}
	return n, nil
}

// RecordRollback stores the start (finished=false) or end of a rollback.
func (s *Store) RecordRollback(ctx context.Context, version int64, reason string, inst map[string]int64, finished bool) error {
	b, _ := json.Marshal(inst)
	var err error
	if finished {
		_, err = s.pool.Exec(ctx, `INSERT INTO rollbacks (version, reason, instances, finished_at) VALUES ($1,$2,$3,now())
			ON CONFLICT (version) DO UPDATE SET instances=$3, finished_at=now()`, version, reason, b)
	} else {
		_, err = s.pool.Exec(ctx, `INSERT INTO rollbacks (version, reason, instances) VALUES ($1,$2,$3) ON CONFLICT (version) DO NOTHING`, version, reason, b)
	}
	if err != nil {
		return fmt.Errorf("record rollback of %d: %w", version, err)
	}
	return nil
}

// Approve records an approval; a repeated approval by the same name is kept once.
func (s *Store) Approve(ctx context.Context, version int64, by, source string) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO approvals (version, by_name, source) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING`, version, by, source); err != nil {
		return fmt.Errorf("approve %d: %w", version, err)
	}
	return nil
}

// Approver returns the first recorded approver of version, "" if none.
func (s *Store) Approver(ctx context.Context, version int64) (string, error) {
	var by string
	err := s.pool.QueryRow(ctx, `SELECT by_name FROM approvals WHERE version=$1 ORDER BY at LIMIT 1`, version).Scan(&by)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("approvals of %d: %w", version, err)
	}
	return by, nil
}

// Skip records an operator's skip of version (it may not be discovered yet).
func (s *Store) Skip(ctx context.Context, version int64, by string) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO skips (version, by_name) VALUES ($1,$2) ON CONFLICT DO NOTHING`, version, by); err != nil {
		return fmt.Errorf("skip %d: %w", version, err)
	}
	return nil
}

// Skipper returns who skipped version, "" if nobody.
func (s *Store) Skipper(ctx context.Context, version int64) (string, error) {
	var by string
	err := s.pool.QueryRow(ctx, `SELECT by_name FROM skips WHERE version=$1`, version).Scan(&by)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("skips of %d: %w", version, err)
	}
	return by, nil
}

// Release records an operator's promotion of a change held inconclusive
// (the first one counts).
func (s *Store) Release(ctx context.Context, version int64, by string) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO releases (version, by_name) VALUES ($1,$2) ON CONFLICT DO NOTHING`, version, by); err != nil {
		return fmt.Errorf("release %d: %w", version, err)
	}
	return nil
}

// Releaser returns who promoted version out of its inconclusive hold, ""
// if nobody.
func (s *Store) Releaser(ctx context.Context, version int64) (string, error) {
	var by string
	err := s.pool.QueryRow(ctx, `SELECT by_name FROM releases WHERE version=$1`, version).Scan(&by)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("releases of %d: %w", version, err)
	}
	return by, nil
}

// Rejection is a bad input: a migration file that cannot be applied.
type Rejection struct {
	Path, SHA256, Kind string
	Version            int64
	Line               int
	Message, Commit    string
	Reported           bool
	At                 time.Time
}

// Reject stores a rejection once per (path, sha256, kind); it reports
// whether it is new.
func (s *Store) Reject(ctx context.Context, r Rejection) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO rejections (path, sha256, kind, version, line, message, commit) VALUES ($1,$2,$3,$4,$5,$6,$7)
		ON CONFLICT DO NOTHING`, r.Path, r.SHA256, r.Kind, r.Version, r.Line, r.Message, r.Commit)
	if err != nil {
		return false, fmt.Errorf("reject %s: %w", r.Path, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Unreported returns rejections whose audit entry / comment is not done yet.
func (s *Store) Unreported(ctx context.Context) ([]Rejection, error) {
	rows, err := s.pool.Query(ctx, `SELECT path, sha256, kind, version, line, message, commit, reported, at FROM rejections WHERE NOT reported ORDER BY at`)
	if err != nil {
		return nil, fmt.Errorf("rejections: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Rejection, error) {
		var x Rejection
		err := r.Scan(&x.Path, &x.SHA256, &x.Kind, &x.Version, &x.Line, &x.Message, &x.Commit, &x.Reported, &x.At)
		return x, err
	})
}

// Rejections returns every rejection, newest first, up to limit.
func (s *Store) Rejections(ctx context.Context, limit int) ([]Rejection, error) {
	rows, err := s.pool.Query(ctx, `SELECT path, sha256, kind, version, line, message, commit, reported, at FROM rejections ORDER BY at DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("rejections: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Rejection, error) {
		var x Rejection
		err := r.Scan(&x.Path, &x.SHA256, &x.Kind, &x.Version, &x.Line, &x.Message, &x.Commit, &x.Reported, &x.At)
		return x, err
	})
}

// MarkReported records that a rejection was reported.
func (s *Store) MarkReported(ctx context.Context, r Rejection) error {
	_, err := s.pool.Exec(ctx, `UPDATE rejections SET reported=true WHERE path=$1 AND sha256=$2 AND kind=$3`, r.Path, r.SHA256, r.Kind)
	if err != nil {
		return fmt.Errorf("mark rejection reported: %w", err)
	}
	return nil
}

// Cursor returns the last fully ingested commit ("" before the first poll).
func (s *Store) Cursor(ctx context.Context) (string, error) {
	var c string
	err := s.pool.QueryRow(ctx, `SELECT commit FROM cursor WHERE id = 1`).Scan(&c)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cursor: %w", err)
	}
	return c, nil
}

// SetCursor records the last fully ingested commit.
func (s *Store) SetCursor(ctx context.Context, commit string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO cursor (id, commit) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET commit=$1, at=now()`, commit)
	if err != nil {
		return fmt.Errorf("set cursor: %w", err)
	}
	return nil
}

// ModelRecord is a trained model stored in the control store.
type ModelRecord struct {
	Version   string
	Examples  int
	Metrics   map[string]float64
	Blob      []byte
	TrainedAt time.Time
}

// SaveModel stores a trained model.
func (s *Store) SaveModel(ctx context.Context, m ModelRecord) error {
	mt, _ := json.Marshal(m.Metrics)
	_, err := s.pool.Exec(ctx, `INSERT INTO models (version, examples, metrics, blob) VALUES ($1,$2,$3,$4) ON CONFLICT (version) DO NOTHING`,
		m.Version, m.Examples, mt, m.Blob)
	if err != nil {
		return fmt.Errorf("save model %s: %w", m.Version, err)
	}
	return nil
}

// LatestModel returns the newest stored model, or nil.
func (s *Store) LatestModel(ctx context.Context) (*ModelRecord, error) {
	var m ModelRecord
	var mt []byte
	err := s.pool.QueryRow(ctx, `SELECT version, examples, metrics, blob, trained_at FROM models ORDER BY id DESC LIMIT 1`).
		Scan(&m.Version, &m.Examples, &mt, &m.Blob, &m.TrainedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("latest model: %w", err)
	}
	_ = json.Unmarshal(mt, &m.Metrics)
	return &m, nil
}

// HistoryRow is one finished change with the features it was predicted on.
type HistoryRow struct {
	Version    int64
	Author     string
	State      State
	RolledBack bool
	Features   map[string]float64
	MergedAt   time.Time
}

// History returns the newest finished changes (done, rolled back,
// reverted) with their prediction features, up to limit.
func (s *Store) History(ctx context.Context, limit int) ([]HistoryRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.version, c.author, c.state, coalesce(c.merged_at, c.created_at),
			EXISTS (SELECT 1 FROM rollbacks r WHERE r.version = c.version),
			coalesce((SELECT p.features FROM predictions p WHERE p.version = c.version AND p.sha256 = c.sha256 ORDER BY p.pr = 0 DESC, p.id DESC LIMIT 1), '{}')
		FROM change_requests c WHERE c.state IN ($1,$2,$3) ORDER BY c.version DESC LIMIT $4`,
		StateDone, StateRolledBack, StateReverted, limit)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (HistoryRow, error) {
		var h HistoryRow
		var f []byte
		err := r.Scan(&h.Version, &h.Author, &h.State, &h.MergedAt, &h.RolledBack, &f)
		_ = json.Unmarshal(f, &h.Features)
		return h, err
	})
}

// AuthorRollbacks counts past rollbacks of changes by author (a history
// feature for the model).
func (s *Store) AuthorRollbacks(ctx context.Context, author string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM rollbacks r JOIN change_requests c USING (version) WHERE c.author = $1`, author).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("author rollbacks: %w", err)
	}
	return n, nil
}

// HistoryFeatures computes the model's history features for a change by
// author touching tables: the author's and the tables' smoothed rollback
// rates and the fleet's rollbacks in the last 7 days.
func (s *Store) HistoryFeatures(ctx context.Context, author string, tables []string) (map[string]float64, error) {
	var total, rolled, authorN, authorRB, tableN, tableRB, recent float64
	err := s.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE state IN ('done','rolled_back','reverted')),
			count(*) FILTER (WHERE EXISTS (SELECT 1 FROM rollbacks r WHERE r.version = c.version)),
			count(*) FILTER (WHERE author = $1 AND state IN ('done','rolled_back','reverted')),
			count(*) FILTER (WHERE author = $1 AND EXISTS (SELECT 1 FROM rollbacks r WHERE r.version = c.version)),
			count(*) FILTER (WHERE tables && $2 AND state IN ('done','rolled_back','reverted')),
			count(*) FILTER (WHERE tables && $2 AND EXISTS (SELECT 1 FROM rollbacks r WHERE r.version = c.version)),
			(SELECT count(*) FROM rollbacks WHERE started_at > now() - interval '7 days')
		FROM change_requests c`, author, tables).Scan(&total, &rolled, &authorN, &authorRB, &tableN, &tableRB, &recent)
	if err != nil {
		return nil, fmt.Errorf("history features: %w", err)
	}
	// Smooth toward the fleet rate with a prior worth 5 changes.
	const prior = 5.0
	fleet := (rolled + 0.5) / (total + 1)
	return map[string]float64{
		"history_author_rollback_rate": (authorRB + prior*fleet) / (authorN + prior),
		"history_table_rollback_rate":  (tableRB + prior*fleet) / (tableN + prior),
		"history_recent_incidents":     recent,
	}, nil
}

// SetTables records the tables a change touches (from its analysis).
func (s *Store) SetTables(ctx context.Context, version int64, tables []string) error {
	if tables == nil {
		tables = []string{}
	}
	if _, err := s.pool.Exec(ctx, `UPDATE change_requests SET tables=$2 WHERE version=$1`, version, tables); err != nil {
		return fmt.Errorf("change %d: record tables: %w", version, err)
	}
	return nil
}

// SetRevert records the revert branch and pull request of a change.
func (s *Store) SetRevert(ctx context.Context, version int64, branch string, pr int) error {
	if _, err := s.pool.Exec(ctx, `UPDATE change_requests SET revert_branch=$2, revert_pr=$3, updated_at=now() WHERE version=$1`, version, branch, pr); err != nil {
		return fmt.Errorf("change %d: record revert: %w", version, err)
	}
	return nil
}

// RejectionNotes returns the messages of the rejections of one version.
func (s *Store) RejectionNotes(ctx context.Context, version int64) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT message FROM rejections WHERE version=$1 ORDER BY at`, version)
	if err != nil {
		return nil, fmt.Errorf("rejections of %d: %w", version, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
