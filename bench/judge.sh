#!/bin/sh
# Judge: cost of the statistics, and the probe's sensitivity on real
# Postgres under open-loop background load (internal/loadgen): 20 canaries
# whose hot statement became 1.5x slower and 20 no-op canaries, each judged
# after every 1 s interval for 3 intervals. Results go to docs/BENCHMARKS.md,
# section "rollout: judge".
#   bench/judge.sh
set -eu
cd "$(dirname "$0")/.."
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
go test -run='^$' -bench='HodgesLehmann|MannWhitney|JudgeBake' -benchmem -count=3 ./rollout/judge/
SCHEMACANARY_SCENARIOS=1 go test -count=1 -run='TestScenarioProbeSensitivity' -v -timeout 40m ./rollout/kpi/ |
	grep -E 'detected|missed|false fail|^(ok|FAIL|---)'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
