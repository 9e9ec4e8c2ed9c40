#!/bin/sh
# Lock safety: ALTER TABLE ... ADD COLUMN behind a 20 s transaction holding
# ACCESS SHARE, under pgbench open-loop load (--rate, latency from the
# scheduled start): plain goose up vs goose with a 2 s lock_timeout and
# retries vs schemacanary's applier. Prints a Markdown table; results go to
# docs/BENCHMARKS.md, section "rollout".
#   RATE=1000 HOLD=20s bench/locksafety.sh
# ROUNDS=5 ONLY="no DDL,schemacanary" repeats the reference and our applier
# five times, interleaved, and adds a table of median ratios.
set -eu
cd "$(dirname "$0")/.."
go run ./bench/locksafety -rate "${RATE:-1000}" -hold "${HOLD:-20s}" -clients "${CLIENTS:-8}" -scale "${SCALE:-10}" -rounds "${ROUNDS:-1}" -only "${ONLY:-}"
