#!/bin/sh
# gitsrc listing and polling benchmarks on a generated repository with 5,000
# migrations and 10,000 commits (built once by `git fast-import` into
# $TMPDIR/schemacanary-bench-gitsrc-*; delete it to rebuild).
# Prints each benchmark's runs and the median in ms. Results go to
# docs/BENCHMARKS.md, section "gitsrc: listing and polling".
#   COUNT=5 bench/gitsrc.sh
set -eu
cd "$(dirname "$0")/.."
COUNT=${COUNT:-5}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench '^BenchmarkGitsrc' -benchtime "${BENCHTIME:-10x}" -count "$COUNT" -timeout 60m ./gitsrc | tee "$out"
echo
echo "median ms/op:"
grep '^BenchmarkGitsrc' "$out" | awk '{ name=$1; sub(/-[0-9]+$/, "", name); v[name]=v[name] " " $3/1e6 }
END { for (n in v) { c=split(v[n], a, " "); for (i=1;i<=c;i++) for (j=i+1;j<=c;j++) if (a[j]+0<a[i]+0) { t=a[i]; a[i]=a[j]; a[j]=t }
      m=(c%2) ? a[(c+1)/2] : (a[c/2]+a[c/2+1])/2; printf "  %-45s %10.1f  (n=%d)\n", n, m, c } }' | sort
