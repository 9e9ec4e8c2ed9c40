// Package lab builds the labeled dataset the bootstrap prediction model is
// trained on, by really applying migrations to a scratch PostgreSQL under
// concurrent open-loop load, through the product's own applier, and
// letting the product's judge decide, from the latencies and errors the
// load saw, whether each change would have been rolled back.
//
// A run crosses a catalog of migration templates (Catalog: hand-written
// DDL, data changes and triggers in twelve families, plus multi-statement
// files composed from safe and hazardous parts, transactional and NO
// TRANSACTION) and replays of third-party goose files (LoadCorpus,
// CheckCorpus: each on a schema built from its project's own history) with
// table sizes from empty to 10M rows (cloned from one template database per
// size), read and write rates, and transactions held open in front of the
// DDL. For every configuration it analyzes the migration (package analysis,
// with live catalog context), measures the live context (oldest
// transaction, the workload's use of what the change removes), draws the
// risk label an author would have written, applies the migration through
// an Applier, measures, asks the Judge, and reverts through the same
// Applier so the tables can be reused. Records keep the raw inputs, so
// Refeature recomputes the features whenever the feature set changes.
//
// The package knows nothing of the rollout engine: the caller passes a
// Judge and the product arm's Applier (cmd/schemacanary wires rollout's
// judge and lock-safe applier into them); GooseApplier, plain goose, is
// the comparison arm. Runs are resumable (Resumable) and deterministic for
// a seed; the measured outcomes are whatever the server did.
// docs/lab-datasheet.md describes the dataset.
package lab
