#!/bin/sh
# Rollout engine benchmarks on local clusters (internal/pgtest):
#   time from a harmful change's apply to rollback complete (RUNS runs),
#   a safe change rolled out to CLUSTERS × DBS databases in waves (wall time, peak RSS)
#   while pgbench puts LOAD transactions/s on every 10th database and the canaries.
# Prints Markdown; results go to docs/BENCHMARKS.md, section "rollout".
#   RUNS=5 CLUSTERS=4 DBS=50 bench/rollout.sh
set -eu
cd "$(dirname "$0")/.."
go build -o /tmp/schemacanary-bench-rollout ./bench/rollout
/tmp/schemacanary-bench-rollout -mode rollback -runs "${RUNS:-5}"
echo
/tmp/schemacanary-bench-rollout -mode scale -clusters "${CLUSTERS:-4}" -dbs "${DBS:-50}" -concurrency "${CONCURRENCY:-20}" -load "${LOAD:-400}"
rm -f /tmp/schemacanary-bench-rollout
