package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/schemacanary/schemacanary/gitsrc/migration"
	"github.com/schemacanary/schemacanary/reconciler/change"
)

const crColumns = `version, name, path, sha256, merge_commit, author, message, pr, merged_at, risk, source,
	state, wave, reason, confidence, approved_by, skipped_by, revert_branch, revert_pr, instances, attempts,
	checkpoint, created_at, updated_at, migration`

func scanCR(row pgx.Row) (*change.Request, error) {
	var c change.Request
	var merged *time.Time
	var inst, mig []byte
	err := row.Scan(&c.Version, &c.Name, &c.Path, &c.SHA256, &c.Commit, &c.Author, &c.Message, &c.PR, &merged,
		&c.Risk, &c.Source, &c.State, &c.Wave, &c.Reason, &c.Confidence, &c.ApprovedBy, &c.SkippedBy,
		&c.RevertBranch, &c.RevertPR, &inst, &c.Attempts, &c.Checkpoint, &c.CreatedAt, &c.UpdatedAt, &mig)
	if err != nil {
		return nil, err
	}
	if len(mig) > 0 {
		var m migration.Migration
		if err := json.Unmarshal(mig, &m); err != nil {
			return nil, fmt.Errorf("parsed migration of %d: %w", c.Version, err)
		}
		m.Source = c.Source
		c.Migration = &m
	}

	if merged != nil {
		c.MergedAt = *merged
	}
	if len(inst) > 0 {
		if err := json.Unmarshal(inst, &c.Instances); err != nil {
			return nil, fmt.Errorf("instances of %d: %w", c.Version, err)
		}
	}
	return &c, nil
}

// Discover inserts a new change request in state discovered together with its
// first transition. It reports false when the version already exists.
func (s *Store) Discover(ctx context.Context, c *change.Request) (bool, error) {
	created := false
	var mig []byte
	if c.Migration != nil {
		var err error
		if mig, err = json.Marshal(c.Migration); err != nil {
			return false, fmt.Errorf("discover %d: parsed migration: %w", c.Version, err)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var merged *time.Time
		if !c.MergedAt.IsZero() {
			merged = &c.MergedAt
		}
		tag, err := tx.Exec(ctx, `INSERT INTO change_requests (version, name, path, sha256, merge_commit, author, message, pr, merged_at, risk, source, state, migration)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (version) DO NOTHING`,
			c.Version, c.Name, c.Path, c.SHA256, c.Commit, c.Author, c.Message, c.PR, merged, c.Risk, c.Source, change.StateDiscovered, mig)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		created = true
		_, err = tx.Exec(ctx, `INSERT INTO transitions (version, from_state, to_state, reason) VALUES ($1, '', $2, $3)`,
			c.Version, change.StateDiscovered, "merged in "+change.ShortCommit(c.Commit))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("discover %d: %w", c.Version, err)
	}
	return created, nil
}

// Get returns one change request.
func (s *Store) Get(ctx context.Context, version int64) (*change.Request, error) {
	c, err := scanCR(s.pool.QueryRow(ctx, `SELECT `+crColumns+` FROM change_requests WHERE version = $1`, version))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("change %d: %w", version, change.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get change %d: %w", version, err)
	}
	return c, nil
}

// List returns up to limit change requests, newest version first.
func (s *Store) List(ctx context.Context, limit int) ([]*change.Request, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+crColumns+` FROM change_requests ORDER BY version DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list changes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*change.Request, error) { return scanCR(r) })
	if err != nil {
		return nil, fmt.Errorf("list changes: %w", err)
	}
	return out, nil
}

// Following returns the change requests after version, in version order.
func (s *Store) Following(ctx context.Context, version int64) ([]*change.Request, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+crColumns+` FROM change_requests WHERE version > $1 ORDER BY version`, version)
	if err != nil {
		return nil, fmt.Errorf("changes after %d: %w", version, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*change.Request, error) { return scanCR(r) })
	if err != nil {
		return nil, fmt.Errorf("changes after %d: %w", version, err)
	}
	return out, nil
}

// DoneSince returns the done change requests from the newest one at or
// below version (when there is one) on, in version order: what an
// instance at version should hold and what it lacks, the catch-up's list.
// DoneSince(ctx, math.MaxInt64) returns the newest done change alone.
func (s *Store) DoneSince(ctx context.Context, version int64) ([]*change.Request, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+crColumns+` FROM change_requests WHERE state = $2 AND version >=
		coalesce((SELECT max(version) FROM change_requests WHERE state = $2 AND version <= $1), 0) ORDER BY version`, version, change.StateDone)
	if err != nil {
		return nil, fmt.Errorf("done changes since %d: %w", version, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*change.Request, error) { return scanCR(r) })
	if err != nil {
		return nil, fmt.Errorf("done changes since %d: %w", version, err)
	}
	return out, nil
}

// Head returns the change request at the head of the queue: the lowest
// version not in a terminal state, or nil when the queue is empty.
func (s *Store) Head(ctx context.Context) (*change.Request, error) {
	c, err := scanCR(s.pool.QueryRow(ctx, `SELECT `+crColumns+` FROM change_requests
		WHERE state NOT IN ($1, $2, $3) ORDER BY version LIMIT 1`, change.StateDone, change.StateReverted, change.StateSkipped))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue head: %w", err)
	}
	return c, nil
}

// Transition moves c from its current state (and wave) to m.To, recording
// the transition, in one transaction. It fails with ErrStale when the row is
// no longer in c's state and wave (compare-and-set), and with
// ErrBadTransition when the state machine forbids the move. On success c is
// updated in place.
func (s *Store) Transition(ctx context.Context, c *change.Request, m change.Move) (*change.Transition, error) {
	if err := change.CanMove(c.State, m.To); err != nil {
		return nil, fmt.Errorf("change %d: %w", c.Version, err)
	}
	inst := c.Instances
	if m.Instances != nil {
		inst = m.Instances
	}
	instJSON, err := json.Marshal(inst)
	if err != nil {
		return nil, err
	}
	conf := c.Confidence
	if m.Confidence != nil {
		conf = m.Confidence
	}
	pick := func(new, old string) string {
		if new != "" {
			return new
		}
		return old
	}
	approved, skipped, branch := pick(m.ApprovedBy, c.ApprovedBy), pick(m.SkippedBy, c.SkippedBy), pick(m.RevertBranch, c.RevertBranch)
	revertPR := c.RevertPR
	if m.RevertPR != 0 {
		revertPR = m.RevertPR
	}
	cp := c.Checkpoint
	if m.Checkpoint != nil {
		cp = m.Checkpoint
	}
	t := &change.Transition{Version: c.Version, From: c.State, To: m.To, Wave: m.Wave, Reason: m.Reason}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE change_requests SET state=$3, wave=$4, reason=$5, confidence=$6, approved_by=$7,
			skipped_by=$8, revert_branch=$9, revert_pr=$10, instances=$11, checkpoint=$13, attempts=0, updated_at=now()
			WHERE version=$1 AND state=$2 AND wave=$12`,
			c.Version, c.State, m.To, m.Wave, m.Reason, conf, approved, skipped, branch, revertPR, instJSON, c.Wave, cp)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return change.ErrStale
		}
		return tx.QueryRow(ctx, `INSERT INTO transitions (version, from_state, to_state, wave, reason)
			VALUES ($1,$2,$3,$4,$5) RETURNING id, at`, c.Version, c.State, m.To, m.Wave, m.Reason).Scan(&t.ID, &t.At)
	})
	if err != nil {
		return nil, fmt.Errorf("change %d %s → %s: %w", c.Version, c.State, m.To, err)
	}
	c.State, c.Wave, c.Reason, c.Confidence = m.To, m.Wave, m.Reason, conf
	c.ApprovedBy, c.SkippedBy, c.RevertBranch, c.RevertPR, c.Instances, c.Attempts, c.Checkpoint = approved, skipped, branch, revertPR, inst, 0, cp
	return t, nil
}

// SetInstances records the versions observed on instances without a
// transition (progress within a wave).
func (s *Store) SetInstances(ctx context.Context, version int64, inst map[string]int64) error {
	b, err := json.Marshal(inst)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `UPDATE change_requests SET instances=$2, updated_at=now() WHERE version=$1`, version, b)
	if err != nil {
		return fmt.Errorf("change %d: record instances: %w", version, err)
	}
	return nil
}

// SaveCheckpoint records the rollout checkpoint of a change that stays in
// its state (a judged bake interval).
func (s *Store) SaveCheckpoint(ctx context.Context, version int64, cp []byte) error {
	if _, err := s.pool.Exec(ctx, `UPDATE change_requests SET checkpoint=$2, updated_at=now() WHERE version=$1`, version, cp); err != nil {
		return fmt.Errorf("change %d: save checkpoint: %w", version, err)
	}
	return nil
}

// Attempt counts a failed attempt of the current step and returns the count.
func (s *Store) Attempt(ctx context.Context, version int64, reason string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `UPDATE change_requests SET attempts = attempts + 1, reason=$2, updated_at=now()
		WHERE version=$1 RETURNING attempts`, version, reason).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("change %d: count attempt: %w", version, err)
	}
	return n, nil
}

// Transitions returns the transitions of one change, oldest first.
func (s *Store) Transitions(ctx context.Context, version int64) ([]change.Transition, error) {
	return s.transitions(ctx, `WHERE version = $1 ORDER BY id`, version)
}

// Unaudited returns up to limit transitions whose side effects (audit entry,
// comments, revert) are not done yet, oldest first.
func (s *Store) Unaudited(ctx context.Context, limit int) ([]change.Transition, error) {
	return s.transitions(ctx, `WHERE NOT audited ORDER BY id LIMIT $1`, limit)
}

func (s *Store) transitions(ctx context.Context, where string, args ...any) ([]change.Transition, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, version, from_state, to_state, wave, reason, at, audited FROM transitions `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("transitions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (change.Transition, error) {
		var t change.Transition
		err := r.Scan(&t.ID, &t.Version, &t.From, &t.To, &t.Wave, &t.Reason, &t.At, &t.Audited)
		return t, err
	})
}

// MarkAudited records that a transition's side effects are done.
func (s *Store) MarkAudited(ctx context.Context, id int64) error {
	if _, err := s.pool.Exec(ctx, `UPDATE transitions SET audited = true WHERE id = $1`, id); err != nil {
		return fmt.Errorf("mark transition %d audited: %w", id, err)
	}
	return nil
}

// CountByState returns the number of change requests per state.
func (s *Store) CountByState(ctx context.Context) (map[change.State]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT state, count(*) FROM change_requests GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count by state: %w", err)
	}
	out := map[change.State]int{}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[change.State(st)] = n
	}
	return out, rows.Err()
}
