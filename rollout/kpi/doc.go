// Package kpi measures what a canary is judged by: KPI sources that sample
// an instance over a window (pgstat: pg_stat_database and pg_locks; probe:
// SQL the operator names, run at a fixed rate; proc: CPU and memory of the
// server's processes; prometheus: PromQL through the query API) and the
// sample stores that make a window's samples survive a restart.
//
// Sources produce judge.Sample values; package rollout/judge decides from
// them. Nothing here knows of migrations, waves or rollbacks.
// docs/judge.md describes every source and its configuration.
package kpi
