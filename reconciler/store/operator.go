package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/schemacanary/schemacanary/reconciler/change"
)

// RecordAction stores an operator's command and returns it with its ID and
// time. Commands are kept in the order given; change.Fold reads their
// effect.
func (s *Store) RecordAction(ctx context.Context, a change.OperatorAction) (change.OperatorAction, error) {
	err := s.pool.QueryRow(ctx, `INSERT INTO operator_actions (version, command, target, wave, state, by_name, why, source)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id, at`, a.Version, string(a.Command), a.Target, a.Wave, string(a.State), a.By, a.Why, a.Source).Scan(&a.ID, &a.At)
	if err != nil {
		return a, fmt.Errorf("record %s of %d: %w", a.Command, a.Version, err)
	}
	return a, nil
}

// Actions returns the operator commands given for version, oldest first.
func (s *Store) Actions(ctx context.Context, version int64) ([]change.OperatorAction, error) {
	return s.actions(ctx, fmt.Sprintf("operator actions of %d", version), `WHERE version = $1 ORDER BY id`, version)
}

// PendingReverts returns the revert commands of changes that are still
// done, oldest first.
func (s *Store) PendingReverts(ctx context.Context) ([]change.OperatorAction, error) {
	return s.actions(ctx, "pending reverts", `WHERE command = $1 AND version IN (SELECT version FROM change_requests WHERE state = $2) ORDER BY id`,
		change.CommandRevert, change.StateDone)
}

// UnauditedActions returns up to limit operator commands not yet on the
// audit branch, oldest first.
func (s *Store) UnauditedActions(ctx context.Context, limit int) ([]change.OperatorAction, error) {
	return s.actions(ctx, "unaudited operator actions", `WHERE NOT audited ORDER BY id LIMIT $1`, limit)
}

// MarkActionAudited records that operator action id is on the audit branch.
func (s *Store) MarkActionAudited(ctx context.Context, id int64) error {
	if _, err := s.pool.Exec(ctx, `UPDATE operator_actions SET audited = true WHERE id = $1`, id); err != nil {
		return fmt.Errorf("mark operator action %d audited: %w", id, err)
	}
	return nil
}

func (s *Store) actions(ctx context.Context, what, where string, args ...any) ([]change.OperatorAction, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, version, command, target, wave, state, by_name, why, source, at, audited FROM operator_actions `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (change.OperatorAction, error) {
		var a change.OperatorAction
		var cmd, state string
		err := row.Scan(&a.ID, &a.Version, &cmd, &a.Target, &a.Wave, &state, &a.By, &a.Why, &a.Source, &a.At, &a.Audited)
		a.Command, a.State = change.Command(cmd), change.State(state)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
