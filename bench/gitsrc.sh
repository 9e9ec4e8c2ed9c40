#!/bin/sh
# gitsrc listing and polling benchmarks on a generated repository with 5,000
# migrations and 10,000 commits (built once by `git fast-import` into
# $TMPDIR/schemacanary-bench-gitsrc-*; delete it to rebuild).
# Prints each benchmark's runs and the median in ms; the results are in
# docs/BENCHMARKS.md, section "gitsrc: listing and polling".
#   COUNT=5 bench/gitsrc.sh      (SLOW_COUNT, CLONE_COUNT: runs of the whole-repository ones)
set -eu
cd "$(dirname "$0")/.."
COUNT=${COUNT:-5}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Polls: ten iterations per run.
go test -run '^$' -bench '^BenchmarkGitsrc(IncrementalPoll|IncrementalPollMirror|IncrementalPollGitCLI|ChangesAfterOneCommit|PollNoChange)$' \
	-benchtime 10x -count "$COUNT" -timeout 60m ./gitsrc | tee "$out"
# Whole-repository operations: one iteration per run.
go test -run '^$' -bench '^BenchmarkGitsrc(OpenList|ChangesFullHistory)$' -benchtime 1x -count "${SLOW_COUNT:-$COUNT}" -timeout 60m ./gitsrc | tee -a "$out"
# Cloning 10,000 commits (go-git vs git): slow, CLONE_COUNT runs (default 1).
go test -run '^$' -bench '^BenchmarkGitsrcClone(List|GitCLI)$' -benchtime 1x -count "${CLONE_COUNT:-1}" -timeout 60m ./gitsrc | tee -a "$out"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "median ms/op:"
grep '^BenchmarkGitsrc' "$out" | awk '{ name=$1; sub(/-[0-9]+$/, "", name); v[name]=v[name] " " $3/1e6 }
END { for (n in v) { c=split(v[n], a, " "); for (i=1;i<=c;i++) for (j=i+1;j<=c;j++) if (a[j]+0<a[i]+0) { t=a[i]; a[i]=a[j]; a[j]=t }
      m=(c%2) ? a[(c+1)/2] : (a[c/2]+a[c/2+1])/2; printf "  %-45s %10.1f  (n=%d)\n", n, m, c } }' | sort
