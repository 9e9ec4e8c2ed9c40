package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/schemacanary/schemacanary/analysis/assess"
	"github.com/schemacanary/schemacanary/analysis/model"
	"github.com/schemacanary/schemacanary/reconciler/change"
)

// SavePrediction stores a prediction; it reports false when the same
// (version, pr, sha256) was already predicted.
func (s *Store) SavePrediction(ctx context.Context, p change.PredictionRecord) (bool, error) {
	reasons, err := json.Marshal(p.Reasons)
	if err != nil {
		return false, fmt.Errorf("save prediction of %d: reasons: %w", p.Version, err)
	}
	feats, err := json.Marshal(p.Features)
	if err != nil {
		return false, fmt.Errorf("save prediction of %d: features: %w", p.Version, err)
	}
	var as []byte
	if p.Assessment != nil {
		if as, err = json.Marshal(p.Assessment); err != nil {
			return false, fmt.Errorf("save prediction of %d: assessment: %w", p.Version, err)
		}
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO predictions (version, pr, sha256, confidence, model_version, reasons, features, assessment, plan)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (version, pr, sha256) DO NOTHING`,
		p.Version, p.PR, p.SHA256, p.Confidence, p.ModelVersion, reasons, feats, as, p.Plan)
	if err != nil {
		return false, fmt.Errorf("save prediction of %d: %w", p.Version, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Prediction returns the newest prediction for a merged change (pr = 0 rows
// and PR rows alike, the newest first), or ErrNotFound.
func (s *Store) Prediction(ctx context.Context, version int64, sha string) (*change.PredictionRecord, error) {
	var p change.PredictionRecord
	var reasons, feats, as []byte
	err := s.pool.QueryRow(ctx, `SELECT version, pr, sha256, confidence, model_version, reasons, features, assessment, created_at
		FROM predictions WHERE version=$1 AND sha256=$2 ORDER BY pr = 0 DESC, id DESC LIMIT 1`, version, sha).
		Scan(&p.Version, &p.PR, &p.SHA256, &p.Confidence, &p.ModelVersion, &reasons, &feats, &as, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("prediction of %d: %w", version, change.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("prediction of %d: %w", version, err)
	}
	if err := json.Unmarshal(reasons, &p.Reasons); err != nil {
		return nil, fmt.Errorf("prediction of %d: reasons: %w", version, err)
	}
	if err := json.Unmarshal(feats, &p.Features); err != nil {
		return nil, fmt.Errorf("prediction of %d: features: %w", version, err)
	}
	if as != nil {
		if err := json.Unmarshal(as, &p.Assessment); err != nil {
			return nil, fmt.Errorf("prediction of %d: assessment: %w", version, err)
		}
	}
	return &p, nil
}

// Assessment returns the stored assessment of a merged change (the
// prediction made after the merge, for this content), or ErrNotFound.
func (s *Store) Assessment(ctx context.Context, version int64, sha string) (*assess.Assessment, error) {
	var b []byte
	err := s.pool.QueryRow(ctx, `SELECT assessment FROM predictions WHERE version=$1 AND sha256=$2 AND pr = 0 AND assessment IS NOT NULL
		ORDER BY id DESC LIMIT 1`, version, sha).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("assessment of %d: %w", version, change.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("assessment of %d: %w", version, err)
	}
	var a assess.Assessment
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("assessment of %d: %w", version, err)
	}
	return &a, nil
}

// Plan returns the stored rollout plan of a merged change at sha (nil
// when its prediction was stored before plans were kept), or
// change.ErrNotFound when it was never predicted.
func (s *Store) Plan(ctx context.Context, version int64, sha string) ([]byte, error) {
	var b []byte
	err := s.pool.QueryRow(ctx, `SELECT plan FROM predictions WHERE version=$1 AND sha256=$2 AND pr = 0 AND assessment IS NOT NULL
		ORDER BY id DESC LIMIT 1`, version, sha).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("plan of %d: %w", version, change.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("plan of %d: %w", version, err)
	}
	return b, nil
}

// RecordEvent stores an event once; a second event with the same key is
// ignored and reported false.
func (s *Store) RecordEvent(ctx context.Context, e change.Event) (bool, error) {
	d, err := json.Marshal(e.Detail)
	if err != nil {
		return false, fmt.Errorf("record event %d/%s/%s: detail: %w", e.Version, e.Instance, e.Step, err)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO rollout_events (version, instance, step, outcome, detail)
		VALUES ($1,$2,$3,$4,$5) ON CONFLICT (version, instance, step) DO NOTHING`, e.Version, e.Instance, e.Step, e.Outcome, d)
	if err != nil {
		return false, fmt.Errorf("record event %d/%s/%s: %w", e.Version, e.Instance, e.Step, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Events returns the events of one change in order.
func (s *Store) Events(ctx context.Context, version int64) ([]change.Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT version, instance, step, outcome, detail, at FROM rollout_events WHERE version=$1 ORDER BY id`, version)
	if err != nil {
		return nil, fmt.Errorf("events of %d: %w", version, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (change.Event, error) {
		var e change.Event
		var d []byte
		if err := r.Scan(&e.Version, &e.Instance, &e.Step, &e.Outcome, &d, &e.At); err != nil {
			return e, err
		}
		if err := json.Unmarshal(d, &e.Detail); err != nil {
			return e, fmt.Errorf("event %d/%s/%s: detail: %w", e.Version, e.Instance, e.Step, err)
		}
		return e, nil
	})
}

// AddKPISamples stores samples with COPY, one row per instance, KPI,
// role and second (change.PerSecond).
func (s *Store) AddKPISamples(ctx context.Context, samples []change.KPISample) error {
	if len(samples) == 0 {
		return nil
	}
	now := time.Now()
	for i := range samples {
		if samples[i].At.IsZero() {
			samples[i].At = now
		}
	}
	rows := change.PerSecond(samples)
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"kpi_samples"}, []string{"version", "instance", "kpi", "role", "value", "at", "n"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			k := rows[i]
			return []any{k.Version, k.Instance, k.KPI, k.Role, k.Value, k.At, int32(k.N)}, nil
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
	b, err := json.Marshal(inst)
	if err != nil {
		return fmt.Errorf("rollback of %d: instances: %w", version, err)
	}
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

// Approve records an approval (idempotent).
func (s *Store) Approve(ctx context.Context, a change.ApprovalRecord) error {
	if a.SHA256 == "" {
		return fmt.Errorf("approve %d: the file's SHA-256 is required", a.Version)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO approvals (version, sha256, merge_commit, by_name, source, os_user, host)
		VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING`, a.Version, a.SHA256, a.MergeCommit, a.By, a.Source, a.OSUser, a.Host); err != nil {
		return fmt.Errorf("approve %d: %w", a.Version, err)
	}
	return nil
}

// Approver returns the first approver of version for exactly this content
// and merge commit, "" if none: an approval of other content (the file was
// edited since) or of another merge approves nothing.
func (s *Store) Approver(ctx context.Context, version int64, sha, mergeCommit string) (string, error) {
	return s.who(ctx, fmt.Sprintf("approvals of %d", version),
		`SELECT by_name FROM approvals WHERE version=$1 AND sha256=$2 AND merge_commit=$3 ORDER BY at LIMIT 1`, version, sha, mergeCommit)
}

// who returns the by_name that query q finds, "" when it finds no row.
func (s *Store) who(ctx context.Context, what, q string, args ...any) (string, error) {
	var by string
	err := s.pool.QueryRow(ctx, q, args...).Scan(&by)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return by, nil
}

// Skip records an operator's skip of version (it may not be discovered yet).
func (s *Store) Skip(ctx context.Context, version int64, by string) error {
	return s.recordBy(ctx, fmt.Sprintf("skip %d", version), `INSERT INTO skips (version, by_name) VALUES ($1,$2) ON CONFLICT DO NOTHING`, version, by)
}

// recordBy runs the insert q of a human's decision on version; the first
// decision counts.
func (s *Store) recordBy(ctx context.Context, what, q string, version int64, by string) error {
	if _, err := s.pool.Exec(ctx, q, version, by); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Skipper returns who skipped version, "" if nobody.
func (s *Store) Skipper(ctx context.Context, version int64) (string, error) {
	return s.who(ctx, fmt.Sprintf("skips of %d", version), `SELECT by_name FROM skips WHERE version=$1`, version)
}

// Release records an operator's promotion of a change held inconclusive
// (the first one counts).
func (s *Store) Release(ctx context.Context, version int64, by string) error {
	return s.recordBy(ctx, fmt.Sprintf("release %d", version), `INSERT INTO releases (version, by_name) VALUES ($1,$2) ON CONFLICT DO NOTHING`, version, by)
}

// Releaser returns who promoted version out of its inconclusive hold, ""
// if nobody.
func (s *Store) Releaser(ctx context.Context, version int64) (string, error) {
	return s.who(ctx, fmt.Sprintf("releases of %d", version), `SELECT by_name FROM releases WHERE version=$1`, version)
}

// Reject stores a rejection once per (path, sha256, kind); it reports
// whether it is new.
func (s *Store) Reject(ctx context.Context, r change.Rejection) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO rejections (path, sha256, kind, version, line, message, commit) VALUES ($1,$2,$3,$4,$5,$6,$7)
		ON CONFLICT DO NOTHING`, r.Path, r.SHA256, r.Kind, r.Version, r.Line, r.Message, r.Commit)
	if err != nil {
		return false, fmt.Errorf("reject %s: %w", r.Path, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Unreported returns rejections whose audit entry / comment is not done yet.
func (s *Store) Unreported(ctx context.Context) ([]change.Rejection, error) {
	rows, err := s.pool.Query(ctx, `SELECT path, sha256, kind, version, line, message, commit, reported, at FROM rejections WHERE NOT reported ORDER BY at`)
	if err != nil {
		return nil, fmt.Errorf("rejections: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (change.Rejection, error) {
		var x change.Rejection
		err := r.Scan(&x.Path, &x.SHA256, &x.Kind, &x.Version, &x.Line, &x.Message, &x.Commit, &x.Reported, &x.At)
		return x, err
	})
}

// Rejections returns every rejection, newest first, up to limit.
func (s *Store) Rejections(ctx context.Context, limit int) ([]change.Rejection, error) {
	rows, err := s.pool.Query(ctx, `SELECT path, sha256, kind, version, line, message, commit, reported, at FROM rejections ORDER BY at DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("rejections: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (change.Rejection, error) {
		var x change.Rejection
		err := r.Scan(&x.Path, &x.SHA256, &x.Kind, &x.Version, &x.Line, &x.Message, &x.Commit, &x.Reported, &x.At)
		return x, err
	})
}

// MarkReported records that a rejection was reported.
func (s *Store) MarkReported(ctx context.Context, r change.Rejection) error {
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

// SaveModel stores a trained model.
func (s *Store) SaveModel(ctx context.Context, m change.ModelRecord) error {
	mt, err := json.Marshal(m.Metrics)
	if err != nil {
		return fmt.Errorf("save model %s: metrics: %w", m.Version, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO models (version, examples, metrics, blob) VALUES ($1,$2,$3,$4) ON CONFLICT (version) DO NOTHING`,
		m.Version, m.Examples, mt, m.Blob)
	if err != nil {
		return fmt.Errorf("save model %s: %w", m.Version, err)
	}
	return nil
}

// LatestModel returns the newest stored model, or nil.
func (s *Store) LatestModel(ctx context.Context) (*change.ModelRecord, error) {
	var m change.ModelRecord
	var mt []byte
	err := s.pool.QueryRow(ctx, `SELECT version, examples, metrics, blob, trained_at FROM models ORDER BY id DESC LIMIT 1`).
		Scan(&m.Version, &m.Examples, &mt, &m.Blob, &m.TrainedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("latest model: %w", err)
	}
	if err := json.Unmarshal(mt, &m.Metrics); err != nil {
		return nil, fmt.Errorf("latest model %s: metrics: %w", m.Version, err)
	}
	return &m, nil
}

// History returns the newest finished changes (done, rolled back,
// reverted) with their prediction features, up to limit.
func (s *Store) History(ctx context.Context, limit int) ([]change.HistoryRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.version, c.author, c.state, coalesce(c.merged_at, c.created_at), coalesce(c.tables, '{}'),
			EXISTS (SELECT 1 FROM rollbacks r WHERE r.version = c.version),
			coalesce(p.features, '{}'), coalesce(p.assessment->'gate', '{}')
		FROM change_requests c
		LEFT JOIN LATERAL (SELECT p.features, p.assessment FROM predictions p WHERE p.version = c.version AND p.sha256 = c.sha256
			ORDER BY p.pr = 0 DESC, p.id DESC LIMIT 1) p ON true
		WHERE c.state IN ($1,$2,$3) ORDER BY c.version DESC LIMIT $4`,
		change.StateDone, change.StateRolledBack, change.StateReverted, limit)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (change.HistoryRow, error) {
		var h change.HistoryRow
		var f, g []byte
		if err := r.Scan(&h.Version, &h.Author, &h.State, &h.MergedAt, &h.Tables, &h.RolledBack, &f, &g); err != nil {
			return h, err
		}
		if err := json.Unmarshal(f, &h.Features); err != nil {
			return h, fmt.Errorf("features of %d: %w", h.Version, err)
		}
		if err := json.Unmarshal(g, &h.Gate); err != nil {
			return h, fmt.Errorf("gate of %d: %w", h.Version, err)
		}
		return h, nil
	})
}

// PastOutcomes counts the finished and rolled-back changes of the fleet, of
// those touching any of tables, and of those sharing any of kinds (hazard
// rule IDs): the history features of a new change (assess.History).
func (s *Store) PastOutcomes(ctx context.Context, tables, kinds []string) (model.History, error) {
	var h model.History
	err := s.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE state IN ('done','rolled_back','reverted')),
			count(*) FILTER (WHERE EXISTS (SELECT 1 FROM rollbacks r WHERE r.version = c.version)),
			count(*) FILTER (WHERE tables && $1 AND state IN ('done','rolled_back','reverted')),
			count(*) FILTER (WHERE tables && $1 AND EXISTS (SELECT 1 FROM rollbacks r WHERE r.version = c.version)),
			count(*) FILTER (WHERE kinds && $2 AND state IN ('done','rolled_back','reverted')),
			count(*) FILTER (WHERE kinds && $2 AND EXISTS (SELECT 1 FROM rollbacks r WHERE r.version = c.version))
		FROM change_requests c`, nonNil(tables), nonNil(kinds)).Scan(&h.Finished, &h.RolledBack,
		&h.TableFinished, &h.TableRolledBack, &h.KindFinished, &h.KindRolledBack)
	if err != nil {
		return h, fmt.Errorf("history: %w", err)
	}
	return h, nil
}

// SetScope records the tables a change touches and its kinds of hazard
// (from its analysis), for the history of later changes.
func (s *Store) SetScope(ctx context.Context, version int64, tables, kinds []string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE change_requests SET tables=$2, kinds=$3 WHERE version=$1`,
		version, nonNil(tables), nonNil(kinds)); err != nil {
		return fmt.Errorf("change %d: record tables and kinds: %w", version, err)
	}
	return nil
}

// nonNil is s, or an empty slice for nil (a text[] column is NOT NULL).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
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
