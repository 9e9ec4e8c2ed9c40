#!/bin/bash
# Lint throughput over the whole Squawk corpus (../shared/corpus/squawk, 280
# files): schemacanary lint vs squawk-cli 2.66.0, one process invocation over
# all files per run. Timed by hyperfine without a shell in between (-N), in
# ROUNDS rounds of RUNS runs per tool, the tools' order alternating; each
# round gives both tools' medians a fraction of a second apart, so the ratio
# is taken under the same machine load. Prints every round and the medians;
# the results are in docs/BENCHMARKS.md, section "analysis: lint".
#   ROUNDS=10 RUNS=10 bench/lint.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-10}
RUNS=${RUNS:-10}
CORPUS=${CORPUS:-../shared/corpus/squawk}
[ -d "$CORPUS" ] || { echo "corpus $CORPUS absent" >&2; exit 2; }
if ! command -v hyperfine >/dev/null; then
	[ "$(id -u)" = 0 ] || { echo "hyperfine missing: apt-get install hyperfine" >&2; exit 2; }
	apt-get install -y -qq hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
fi
work=${TMPDIR:-/tmp}/schemacanary-bench-lint
mkdir -p "$work"
# squawk-cli from npm, installed once into $work (delete it to reinstall).
if [ ! -x "$work/node_modules/@squawk-cli/linux-x64/bin/squawk" ]; then
	(cd "$work" && npm install --silent --no-audit --no-fund squawk-cli@2.66.0 >/dev/null)
fi
squawk="$work/node_modules/@squawk-cli/linux-x64/bin/squawk"
go build -o "$work/schemacanary" ./cmd/schemacanary
files=$(find "$CORPUS" -name '*.sql' | sort | tr '\n' ' ')
n=$(echo $files | wc -w)
echo "files: $n; $("$squawk" --version 2>&1 | head -1); $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
sc=(-n schemacanary "$work/schemacanary lint $files")
sq=(-n squawk "$squawk $files")
: > "$work/rounds.txt"
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then order=("${sc[@]}" "${sq[@]}"); else order=("${sq[@]}" "${sc[@]}"); fi
	# Both tools exit 1 when a file has an error-severity finding (-i).
	hyperfine -N -i -w 2 -r "$RUNS" --style none --export-csv "$work/round.csv" "${order[@]}" >/dev/null
	awk -F, -v r="$r" '$1=="schemacanary" {sc=$4} $1=="squawk" {sq=$4}
		END { printf "%d %.2f %.2f %.3f\n", r, sc*1000, sq*1000, sq/sc }' "$work/round.csv" | tee -a "$work/rounds.txt" |
		awk '{ printf "round %2d: schemacanary %6.1f ms  squawk %6.1f ms  ratio %.2fx\n", $1, $2, $3, $4 }'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { sort -n | awk '{ a[NR]=$1 } END { print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2 }'; }
scm=$(awk '{print $2}' "$work/rounds.txt" | median)
sqm=$(awk '{print $3}' "$work/rounds.txt" | median)
ratio=$(awk '{print $4}' "$work/rounds.txt" | median)
awk -v sc="$scm" -v sq="$sqm" -v n="$n" -v ratio="$ratio" -v rounds="$ROUNDS" -v runs="$RUNS" 'BEGIN {
	printf "%d rounds x %d runs per tool; medians over rounds:\n", rounds, runs
	printf "schemacanary lint: %.1f ms  %.0f files/s\n", sc, n/(sc/1000)
	printf "squawk 2.66.0:     %.1f ms  %.0f files/s\n", sq, n/(sq/1000)
	printf "ratio (schemacanary files/s / squawk files/s, median of rounds): %.2fx\n", ratio }'
