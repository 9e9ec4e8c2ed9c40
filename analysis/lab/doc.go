// Package lab builds the labeled dataset the bootstrap prediction model is
// trained on, by really applying migrations to a scratch PostgreSQL under
// concurrent open-loop load and letting a judge decide, from the latencies
// and errors the load saw, whether each change would have been rolled back.
//
// A run crosses a catalog of migration templates (Templates: safe and
// hazardous DDL, data changes, triggers, ...) with table sizes, load levels
// and concurrent long transactions. For every configuration it analyzes the
// migration (package analysis, with live catalog context), draws the risk
// label an author would have written (with authors' typical errors), applies
// the migration, measures, asks the Judge, and reverts the migration so the
// tables can be reused. The choice of configurations and labels is
// deterministic for a seed; the measured outcomes are whatever the server
// did.
//
// The package knows nothing of the rollout engine: the caller passes a Judge
// (cmd/schemacanary wires rollout's statistical judge into it).
package lab
