#!/usr/bin/env bash
# Batch prediction (issue 5, item 6): 1,000,000 rows scored by pgml against Python
# xgboost's inplace_predict on the same rows held in a numpy array, with the same model
# (the bytes pgml stored in pgml.files, loaded into Python's xgboost).
#   benches/serving/batch.sh [ROWS]     (after `make demo`; default 1000000; writes BATCH.md)
# pgml, with Postgres's default parallel query (2 workers per gather; Python uses every
# core too), each the best of PGML_BATCH_ROUNDS (3) rounds that alternate with Python, timed by
# psql's \timing (best of 3 runs after a warm-up per round):
#   scan floors   SELECT count(*) FROM rows t (the scan the PgmlPredict node reads) and
#                 SELECT count(t) FROM rows t (the scan and whole-row composite of the
#                 row-by-row form)
#   row form      SELECT count(pgml.predict('p', t)) FROM rows t, with the PgmlPredict
#                 node (src/serve/scan/) and row by row (SET pgml.predict_scan = off)
#   array form    SELECT count(pgml.predict('p', ARRAY[f1, ..., f10])) FROM rows
#   predict_batch SELECT cardinality(pgml.predict_batch('p', <the rows as one real[]>))
#                 (the array read from a table, as numpy holds its array in memory)
# Python: xgboost's inplace_predict (its default threads: all cores) on a float32 array,
# best of 3.
source "$(dirname "$0")/../../scripts/common.sh"
ROWS=${1:-1000000}
PORT=${PGML_PORT:-5433}
VENV="$PGML_CACHE/bench-venv"
"$ROOT/scripts/cluster.sh" start >/dev/null
PSQL=("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U pgml -d pgml -v ON_ERROR_STOP=1)
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import xgboost, numpy" 2>/dev/null; then
  log "Python venv with xgboost and numpy in $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/benches/algorithms/requirements.txt"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "training the serving models; $ROWS rows to score"
"${PSQL[@]}" -f "$ROOT/benches/serving/models.sql" >/dev/null
"${PSQL[@]}" >/dev/null <<SQL
DROP TABLE IF EXISTS batch_rows, batch_array;
CREATE TABLE batch_rows AS
SELECT (random() * 10)::real f1, (random() * 10)::real f2, (random() * 10)::real f3,
       (random() * 10)::real f4, (random() * 10)::real f5, (random() * 10)::real f6,
       (random() * 10)::real f7, (random() * 10)::real f8, (random() * 10)::real f9,
       (random() * 10)::real f10
  FROM generate_series(1, $ROWS);
CREATE TABLE batch_array AS
SELECT array_agg(v) AS a FROM (SELECT unnest(ARRAY[f1, f2, f3, f4, f5, f6, f7, f8, f9, f10]) v FROM batch_rows) s;
VACUUM ANALYZE batch_rows;
SQL
"${PSQL[@]}" -c "\copy batch_rows TO '$tmp/rows.csv' CSV"
declare -A PGML PY
time_best() {
  # psql's \timing (a DO block's EXECUTE would not run the query in parallel); the first
  # run warms the cache, the best of the next 3 counts. $2: a SET for the session.
  "${PSQL[@]}" -c "${2:-SELECT}" -c '\timing on' -c "$1" -c "$1" -c "$1" -c "$1" \
    | awk '/^Time:/ {n++; if (n > 1 && (best == "" || $2 < best)) best = $2} END {print best / 1000}'
}
# Keeps the smaller of the stored time and a new one.
keep_best() {
  local -n table=$1
  if [ -z "${table[$2]:-}" ] || awk -v a="$3" -v b="${table[$2]}" 'BEGIN {exit !(a < b)}'; then
    table[$2]=$3
  fi
}
"$VENV/bin/python" - "$tmp" <<'PY'
import sys, numpy as np
d = sys.argv[1]
np.save(f"{d}/rows.npy", np.loadtxt(f"{d}/rows.csv", delimiter=",", dtype=np.float32))
PY
# This machine is shared and its speed drifts by tens of percent within minutes: Python and
# pgml are measured in alternating rounds, and each keeps its best time over the rounds.
ROUNDS=${PGML_BATCH_ROUNDS:-3}
for m in "xgboost 25" "xgboost 100"; do
  model_id=$("${PSQL[@]}" -c "SELECT model_id FROM pgml.deployed_models WHERE name = 'serving $m'")
  "${PSQL[@]}" -c "SELECT encode(data, 'hex') FROM pgml.files WHERE model_id = $model_id ORDER BY part" > "$tmp/model.hex"
  for round in $(seq "$ROUNDS"); do
    keep_best PY "$m" "$("$VENV/bin/python" - "$tmp" <<'PY'
import sys, time
import numpy as np, xgboost as xgb
d = sys.argv[1]
raw = b"".join(bytes.fromhex(l) for l in open(f"{d}/model.hex").read().split())
booster = xgb.Booster()
booster.load_model(bytearray(raw))
x = np.load(f"{d}/rows.npy")
booster.inplace_predict(x[:1000])
best = min((lambda t: (booster.inplace_predict(x), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(3))
print(best)
PY
)"
    for form in row row_one row_fn array batch; do
      set_off=
      case $form in
        row) q="SELECT count(pgml.predict('serving $m', t)) FROM batch_rows t" ;;
        row_one) q="SELECT count(pgml.predict('serving $m', t)) FROM batch_rows t"; set_off="SET max_parallel_workers_per_gather = $(( $(nproc) - 1 ))" ;;
        row_fn) q="SELECT count(pgml.predict('serving $m', t)) FROM batch_rows t"; set_off="SET pgml.predict_scan = off" ;;
        array) q="SELECT count(pgml.predict('serving $m', ARRAY[f1, f2, f3, f4, f5, f6, f7, f8, f9, f10])) FROM batch_rows" ;;
        batch) q="SELECT cardinality(pgml.predict_batch('serving $m', a)) FROM batch_array" ;;
      esac
      keep_best PGML "$m/$form" "$(time_best "$q" "$set_off")"
    done
  done
  log "$m: pgml row ${PGML[$m/row]} s (row by row ${PGML[$m/row_fn]} s), array ${PGML[$m/array]} s, predict_batch ${PGML[$m/batch]} s; Python ${PY[$m]} s"
done
SCAN=$(time_best "SELECT count(*) FROM batch_rows t")
SCAN_ROW=$(time_best "SELECT count(t) FROM batch_rows t")
rate() { awk -v r="$ROWS" -v s="$1" 'BEGIN {printf "%.0f", r / s}'; }
report="$ROOT/benches/serving/BATCH.md"
{
  echo "# Batch prediction: pgml against Python xgboost's inplace_predict, $ROWS rows"
  echo
  echo "Rerun: \`benches/serving/batch.sh $ROWS\` (after \`make demo\`). Machine: $(nproc) cores, PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}'), Python xgboost $("$VENV/bin/python" -c 'import xgboost; print(xgboost.__version__)'), $(date -u +%F)."
  echo "Same model on both sides (pgml's stored bytes loaded into Python), same rows (10 real features,"
  echo "uniform 0-10). Seconds are the best of $ROUNDS rounds of 3 runs, the rounds alternating Python and"
  echo "pgml (this machine's speed drifts within minutes); pgml's include the scan, Python's only"
  echo "the call. pgml runs with Postgres's default parallel query (up to 2 workers per Gather)"
  echo "unless a row says otherwise, and predict_batch with pgml.predict_threads = 0 (all cores);"
  echo "Python's xgboost uses all $(nproc) cores."
  echo
  echo "| model | path | seconds | rows/s | ratio to Python |"
  echo "|---|---|---|---|---|"
  for m in "xgboost 25" "xgboost 100"; do
    py=${PY[$m]}
    echo "| $m | Python inplace_predict (numpy float32) | $(printf '%.3f' "$py") | $(rate "$py") | 1.00 |"
    for form in batch array row_fn row row_one; do
      s=${PGML[$m/$form]}
      case $form in
        row) what="\`SELECT pgml.predict('p', t) FROM t\` (PgmlPredict scan node)" ;;
        row_fn) what="the same, row by row (\`pgml.predict_scan = off\`)" ;;
        row_one) what="the same with the node, one worker per core besides the leader (\`max_parallel_workers_per_gather = $(( $(nproc) - 1 ))\`)" ;;
        array) what="\`SELECT pgml.predict('p', ARRAY[f1, ..., f10]) FROM t\`" ;;
        batch) what="\`pgml.predict_batch('p', one real[] of all rows)\`" ;;
      esac
      echo "| $m | $what | $(printf '%.3f' "$s") | $(rate "$s") | $(awk -v a="$py" -v b="$s" 'BEGIN {printf "%.2f", a / b}') |"
    done
    echo "| $m | floor: \`SELECT count(*) FROM t\` (the scan the node reads, no prediction) | $(printf '%.3f' "$SCAN") | $(rate "$SCAN") | $(awk -v a="$py" -v b="$SCAN" 'BEGIN {printf "%.2f", a / b}') |"
    echo "| $m | floor: \`SELECT count(t) FROM t\` (the row-by-row form's scan and composite) | $(printf '%.3f' "$SCAN_ROW") | $(rate "$SCAN_ROW") | $(awk -v a="$py" -v b="$SCAN_ROW" 'BEGIN {printf "%.2f", a / b}') |"
  done
  cat <<'NOTES'

Reading it:
- predict_batch takes the rows as one real[] and returns one real[] (it returned SETOF real:
  a million-row set cost ~160 ms, as much as Python's whole prediction). The trees are
  compiled into a complete layout of their top levels (children found by index arithmetic,
  a fixed number of branch-free steps, groups of 8 trees interleaved) and walked 8 rows in
  lockstep per tree, on pgml.predict_threads threads. What remains besides the walk: reading
  the 40 MB array from its TOAST table (~40 ms) and starting the threads.
- The row form runs through the PgmlPredict custom scan node (src/serve/scan/): a planner hook
  puts it over the sequential scan; it reads blocks of up to 1,024 rows as plain columns
  (one guarded call per block), scores each block with the same batch walk as
  predict_batch, returns only the columns read above it (no projection per row), and runs
  in each parallel worker. Row by row (pgml.predict_scan = off) every row costs a
  whole-row composite (the count(t) floor), one function call and a one-row walk.
- What brought the node from 0.87 to 1.12 of Python at 25 trees (earlier report, same day):
  XGBoost's missing-value rule folded into the block (each feature twice, NaN as +-inf, so a
  split is one comparison: the walk 0.23 -> 0.14 s per 1M rows); one guard per block and no
  per-row projection; reals read without a per-value type match (serially 0.40 -> 0.27 s);
  and parallel workers that no longer load each model into XGBoost (the stored UBJSON is
  compiled directly; a worker's first row came 30 ms late, now 6-9 ms).
- Serially, 1M rows at 25 trees take ~0.27 s: the walk ~0.14 s, the scan (count(*)) ~0.06
  s, the rest the node and the aggregate above. Postgres's default of 2 workers plus the
  leader on 2 cores gives a speed-up of ~1.75 (one worker plus the leader, matching the
  cores, a little more); Python's 2 threads give ~1.95.
- The array form still calls the function per row (its ARRAY[...] is built per row before
  any function sees it); the node only batches the row form.
NOTES
} > "$report"
"${PSQL[@]}" -c "DROP TABLE batch_rows, batch_array" -c "DELETE FROM pgml.projects WHERE name LIKE 'serving %'" -c "DROP TABLE serving_rows" >/dev/null
cat "$report"
