// Package reconciler is the schemacanary daemon: it keeps a PostgreSQL fleet
// in step with a Git repository of goose migrations, one change request (CR)
// at a time.
//
// A CR moves through the states of DESIGN.md (discovered, predicted,
// awaiting_approval, approved, canary, baking, promoting, done, or
// rolling_back, rolled_back, reverted, failed; or inconclusive, a canary
// held for a human because its bake found no data to judge by). Every
// transition is written
// to the control store (PostgreSQL, schema migrated by goose from embedded
// SQL) before its side effect, every side effect is idempotent and keyed by
// (CR, instance, step), and the goose version table on each instance is the
// truth about what is applied, so the daemon can be killed at any moment and
// resumes exactly.
//
// The package wires gitsrc (the repository and the forge), analysis (DDL
// analysis and the prediction model) and rollout (apply, judge, roll back)
// through small interfaces it owns (Source, Analyzer, Predictor, Roller,
// Forge, Audit), so each step is tested against a fake and the whole loop
// against real PostgreSQL and real Git.
package reconciler
