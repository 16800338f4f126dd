#!/usr/bin/env bash
# The training reader against a plain scan (issue 36): how long pgml.train('linear') takes on
# a table compared with a SQL scan that reads every column of every row
# (SELECT sum(a + b + ... + y)), on the demo cluster's settings, side by side in one run.
# Linear's fit is a d x d normal-equations sum, so its training time is mostly the read.
#   benches/read/run.sh [ROWS...]     (after `make demo`; default 3000000 10000000; writes REPORT.md)
# Tables: ROWS x 10 random() real columns and a real label (the issue's setup), and a mixed
# one of the first size (text, date, boolean, integer, numeric with 10% NULLs, one-hot and
# imputed). Each query runs REPS times (default 3) after a warm-up read; the fastest is kept.
source "$(dirname "$0")/../../scripts/common.sh"
HERE="$ROOT/benches/read"
PORT=${PGML_PORT:-5433}
REPS=${REPS:-3}
[ "$REPS" -ge 1 ] || { echo "benches/read: REPS must be at least 1" >&2; exit 1; }
SIZES=("${@:-3000000 10000000}")
read -r -a SIZES <<< "${SIZES[*]}"
"$ROOT/scripts/cluster.sh" start >/dev/null
PSQL=("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U pgml -d pgml -v ON_ERROR_STOP=1)
"${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS pgml"
# row LABEL ROWS SCAN_MS TRAIN_MS: a report line, ratios from the unrounded times.
row() {
  awk -v l="$1" -v n="$2" -v s="$3" -v t="$4" 'BEGIN {
    printf "| %s | %.3f | %.2f | %.1f | %.2f |\n", l, s / 1000, t / 1000, t / s, n / (t / 1000) / 1e6 }'
}
# best SQL: the fastest of REPS runs of SQL, in ms (psql's \timing, one session each).
best() {
  local sql=$1 t fastest=""
  for _ in $(seq "$REPS"); do
    t=$("${PSQL[@]}" -c "SET pgml.training_progress = off" -c '\timing on' -c "$sql" |
      sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1)
    [ -n "$t" ] || { echo "benches/read: failed: $sql" >&2; exit 1; }
    if [ -z "$fastest" ] || awk "BEGIN {exit !($t < $fastest)}"; then fastest=$t; fi
  done
  echo "$fastest"
}
ROWS_OUT=()
for n in "${SIZES[@]}"; do
  log "read: $n rows x 10 real columns"
  "${PSQL[@]}" <<SQL
DROP TABLE IF EXISTS read_numeric;
SELECT setseed(0.36);
CREATE TABLE read_numeric AS
SELECT random()::real a, random()::real b, random()::real c, random()::real d, random()::real e,
       random()::real f, random()::real g, random()::real h, random()::real i, random()::real j,
       random()::real y
  FROM generate_series(1, $n);
VACUUM ANALYZE read_numeric;
SQL
  "${PSQL[@]}" -c "SELECT count(*) FROM read_numeric" >/dev/null
  scan=$(best "SELECT sum(a + b + c + d + e + f + g + h + i + j + y) FROM read_numeric")
  train=$(best "SELECT count(*) FROM pgml.train('read numeric', 'regression', 'read_numeric', 'y', 'linear', test_size => 0.1)")
  ROWS_OUT+=("$(row "$n x 10 real" "$n" "$scan" "$train")")
  echo "  scan $scan ms, train $train ms"
done
n=${SIZES[0]}
log "read: $n rows, mixed types"
"${PSQL[@]}" <<SQL
DROP TABLE IF EXISTS read_mixed;
SELECT setseed(0.36);
CREATE TABLE read_mixed AS
SELECT (ARRAY['north', 'south', 'east', 'west'])[1 + (k % 4)] AS region,
       DATE '2020-01-01' + (k % 1500) AS day,
       (k % 7 = 0) AS flag,
       (k % 1000)::int AS count,
       CASE WHEN k % 10 = 0 THEN NULL ELSE (random() * 100)::numeric(10, 2) END AS amount,
       random()::real AS x,
       random()::real AS y
  FROM generate_series(1, $n) k;
VACUUM ANALYZE read_mixed;
SQL
"${PSQL[@]}" -c "SELECT count(*) FROM read_mixed" >/dev/null
# Every column read and deformed, no conversion past it (count of a column deforms it).
scan=$(best "SELECT count(region) + count(day) + count(flag) + count(count) + count(amount) + sum(x + y) FROM read_mixed")
train=$(best "SELECT count(*) FROM pgml.train('read mixed', 'regression', 'read_mixed', 'y', 'linear', test_size => 0.1, preprocess => '{\"region\": {\"encode\": \"one_hot\"}, \"amount\": {\"impute\": \"mean\"}}')")
ROWS_OUT+=("$(row "$n mixed (text, date, boolean, integer, numeric 10% NULL, real)" "$n" "$scan" "$train")")
echo "  scan $scan ms, train $train ms"
"${PSQL[@]}" -c "DROP TABLE read_numeric, read_mixed" -c "SELECT pgml.drop_project('read numeric')" -c "SELECT pgml.drop_project('read mixed')" >/dev/null

{
  echo "# The training reader against a scan"
  echo
  echo "Rerun: \`benches/read/run.sh ${SIZES[*]}\` (after \`make demo\`). Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(date +%Y-%m-%d), pgml $("${PSQL[@]}" -c "SELECT pgml.version()"), the demo cluster's settings."
  echo "Fastest of $REPS runs each, side by side in one run. \"scan\": \`SELECT sum(a + b + ... + y)\` over every column;"
  echo "\"train\": \`pgml.train(..., 'linear', test_size => 0.1)\`, whose fit is a d x d sum, so mostly the read;"
  echo "rows/s: the table's rows over the training's seconds. Issue 36's target: train at most 3x the scan at 3M rows."
  echo
  echo "| table | scan s | train s | train / scan | M rows/s trained |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${ROWS_OUT[@]}"
} > "$HERE/REPORT.md"
cat "$HERE/REPORT.md"
