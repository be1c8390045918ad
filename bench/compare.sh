#!/usr/bin/env bash
# Before/after: run the benchmarks of this checkout on REV's survtrack package and on the
# working tree's, one after the other, and print their RATIO lines (the figure over a bare
# baseline run beside it, bench/baseline.py) side by side. Sizes are each script's defaults,
# or given as name:args.
#   bash bench/compare.sh REV [name[:args] ...]
#   bash bench/compare.sh 2f2b765 eis_ingest:5000 "ted_ingest:--notices 200" money:200000
set -euo pipefail
rev=$1; shift
top=$(git rev-parse --show-toplevel)
py="$top/.venv/bin/python"
old=$(mktemp -d); trap 'rm -rf "$old"' EXIT
git -C "$top" archive "$rev" survtrack | tar -x -C "$old"
[ $# -gt 0 ] || set -- eis_ingest ted_ingest ocds_ingest usaspending_bulk money classify entities jsonsafe
for spec in "$@"; do
  name=${spec%%:*}; args=""; [ "$spec" = "$name" ] || args=${spec#*:}
  # shellcheck disable=SC2086
  before=$(cd "$old" && PYTHONPATH="$old" "$py" "$top/bench/bench_$name.py" $args 2>&1 | grep '^RATIO' || echo "RATIO (failed on $rev)")
  # shellcheck disable=SC2086
  after=$("$py" "$top/bench/bench_$name.py" $args 2>&1 | grep '^RATIO' || echo "RATIO (failed)")
  echo "== $name $args"
  paste -d'\n' <(sed "s/^RATIO/  $rev:/" <<<"$before") <(sed "s/^RATIO/  now:/" <<<"$after")
done
