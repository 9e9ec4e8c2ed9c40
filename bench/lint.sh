#!/bin/sh
# Lint throughput over the whole Squawk corpus (../shared/corpus/squawk, 280
# files): schemacanary lint vs squawk-cli 2.66.0, one process invocation over
# all files per run, runs interleaved so both see the same machine load.
# Prints each tool's median wall time, files/s, and the ratio; the results
# are in docs/BENCHMARKS.md, section "analysis: lint".
#   RUNS=21 bench/lint.sh
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-21}
CORPUS=${CORPUS:-../shared/corpus/squawk}
[ -d "$CORPUS" ] || { echo "corpus $CORPUS absent" >&2; exit 2; }
work=${TMPDIR:-/tmp}/schemacanary-bench-lint
mkdir -p "$work"
# squawk-cli from npm, installed once into $work (delete it to reinstall).
if [ ! -x "$work/node_modules/@squawk-cli/linux-x64/bin/squawk" ]; then
	(cd "$work" && npm install --silent --no-audit --no-fund squawk-cli@2.66.0 >/dev/null)
fi
squawk="$work/node_modules/@squawk-cli/linux-x64/bin/squawk"
go build -o "$work/schemacanary" ./cmd/schemacanary
files=$(find "$CORPUS" -name '*.sql' | sort)
n=$(echo "$files" | wc -l)
echo "files: $n; squawk $("$squawk" --version 2>&1 | head -1); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
ms() { s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(( (e - s) / 1000 )); }
: > "$work/sc.txt"; : > "$work/sq.txt"
# One warm-up each (page cache), then interleaved timed runs.
ms "$work/schemacanary" lint $files >/dev/null; ms "$squawk" $files >/dev/null
i=0
while [ $i -lt "$RUNS" ]; do
	ms "$work/schemacanary" lint $files >> "$work/sc.txt"
	ms "$squawk" $files >> "$work/sq.txt"
	i=$((i + 1))
done
median() { sort -n "$1" | awk '{ a[NR]=$1 } END { print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2 }'; }
sc=$(median "$work/sc.txt"); sq=$(median "$work/sq.txt")
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v sc="$sc" -v sq="$sq" -v n="$n" -v runs="$RUNS" 'BEGIN {
	printf "runs: %d (interleaved)\n", runs
	printf "schemacanary lint: median %.1f ms  %.0f files/s\n", sc/1000, n/(sc/1e6)
	printf "squawk 2.66.0:     median %.1f ms  %.0f files/s\n", sq/1000, n/(sq/1e6)
	printf "ratio (schemacanary files/s / squawk files/s): %.2fx\n", sq/sc }'
