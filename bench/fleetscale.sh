#!/bin/sh
# The daemon on a schema-per-tenant fleet (bench/fleetscale): TENANTS
# tenants (comma-separated sizes, one run each) over CLUSTERS local
# clusters, waves [canary, 5%, 25%, 100%] with bakes, the real binary.
# Wall time beside the bakes, the daemon's peak RSS, control-store rows
# per table; RATES compares rows across probe rates at the first size.
# Prints Markdown; results go to docs/BENCHMARKS.md, section "rollout".
#   TENANTS=500,2000 RATES=10,40 CLUSTERS=3 bench/fleetscale.sh
set -eu
cd "$(dirname "$0")/.."
make build >/dev/null
go run ./bench/fleetscale -bin bin/schemacanary -clusters "${CLUSTERS:-3}" -tenants "${TENANTS:-500,2000}" \
  -probe-rate "${RATES:-10,40}" -concurrency "${CONCURRENCY:-50}"
