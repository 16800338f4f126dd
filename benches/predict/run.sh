#!/usr/bin/env bash
# Per-call cost of a warm pgml.predict, measured with pgbench against the demo cluster.
#   benches/predict/run.sh [SECONDS]      (after `make demo`; writes benches/predict/REPORT.md)
# Each query runs in its own transaction over one connection (-c 1, -M prepared), side by
# side with an empty query, so the difference is what pgml adds per prediction.
source "$(dirname "$0")/../../scripts/common.sh"
SECS=${1:-15}
PORT=${PGML_PORT:-5433}
"$ROOT/scripts/cluster.sh" start >/dev/null
PSQL=("$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U pgml -d pgml -v ON_ERROR_STOP=1)
"${PSQL[@]}" -f "$ROOT/examples/demo.sql" >/dev/null
tmp=$(mktemp -d)
declare -A Q=(
  [1_empty]="SELECT array_length(ARRAY[5.1, 3.5, 1.4, 0.2]::real[], 1);"
  [2_xgboost_real]="SELECT pgml.predict('Iris Flowers', ARRAY[5.1, 3.5, 1.4, 0.2]::real[]);"
  [3_xgboost_numeric]="SELECT pgml.predict('Iris Flowers', ARRAY[5.1, 3.5, 1.4, 0.2]);"
  [4_linear_real]="SELECT pgml.predict('Diabetes Progression', ARRAY[59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]::real[]);"
)
report="$ROOT/benches/predict/REPORT.md"
{
  echo "# Warm pgml.predict per call (pgbench)"
  echo
  echo "Rerun: \`benches/predict/run.sh $SECS\` (after \`make demo\`). Machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(date -u +%F)."
  echo "pgbench -M prepared -c 1 -j 1 -T $SECS, one statement per transaction, same connection warm."
  echo
  echo "| query | tps | latency per call (µs) | added over empty query (µs) |"
  echo "|---|---|---|---|"
} > "$report"
base=""
for k in $(printf '%s\n' "${!Q[@]}" | sort); do
  echo "${Q[$k]}" > "$tmp/$k.sql"
  "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -U pgml -M prepared -c 1 -j 1 -T 2 -f "$tmp/$k.sql" pgml >/dev/null 2>&1
  tps=$("$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -U pgml -M prepared -c 1 -j 1 -T "$SECS" -f "$tmp/$k.sql" pgml 2>/dev/null |
    awk '/^tps/ {print $3}')
  us=$(awk -v t="$tps" 'BEGIN {printf "%.1f", 1e6 / t}')
  [ -z "$base" ] && base=$us
  added=$(awk -v a="$us" -v b="$base" 'BEGIN {printf "%.1f", a - b}')
  echo "| \`${Q[$k]}\` | $(printf '%.0f' "$tps") | $us | $added |" >> "$report"
done
rm -rf "$tmp"
cat "$report"
