#!/usr/bin/env bash
# Serving cost of a warm pgml.predict against the query that carries it (issue 5, item 2).
#   benches/serving/run.sh [SECONDS]     (after `make demo`; default 30; writes REPORT.md)
#   QUICK=1 benches/serving/run.sh       (5 s per run: a smoke run, not for quoting)
# pgbench -M prepared at 1 and 2 clients runs, for each client count, in this order:
# the empty query; pgml.predict on XGBoost and LightGBM models of 25 trees (the issue's
# reference model) and of 100 (the libraries' default), served by the native tree
# evaluator; the 100-tree ones through the libraries' C APIs (pgml.native_trees = off);
# and again, in ROUNDS rounds of SECONDS/ROUNDS each (the machine's speed drifts by 20% over
# minutes: interleaving puts every query in every stretch of it). tps sums over the rounds.
source "$(dirname "$0")/../../scripts/common.sh"
SECS=${1:-30}
[ -n "${QUICK:-}" ] && SECS=5
PORT=${PGML_PORT:-5433}
"$ROOT/scripts/cluster.sh" start >/dev/null
PSQL=("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U pgml -d pgml -v ON_ERROR_STOP=1)
log "training the serving models (10 features, 20,000 rows)"
"${PSQL[@]}" -f "$ROOT/benches/serving/models.sql" >/dev/null
# Postgres's own cost of calling a C function from a loadable module, with no pgml in it:
# contrib intarray's icount (the element count of an array) declared STABLE, so that, like
# pgml.predict and unlike array_length, it is called on every execution, not folded.
"${PSQL[@]}" -c "CREATE OR REPLACE FUNCTION public.bench_c_function(real[]) RETURNS integer
  STABLE STRICT PARALLEL SAFE LANGUAGE c AS '\$libdir/_int', 'icount'" >/dev/null
evaluators=$("${PSQL[@]}" -c "SELECT string_agg(format('%s: %s', name, evaluator), '; ' ORDER BY name)
  FROM pgml.deployed_models WHERE name LIKE 'serving %'")
ROW="1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 0.5"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# name|options|query
RUNS=(
  "empty||SELECT array_length(ARRAY[$ROW]::real[], 1);"
  "C function, no pgml||SELECT public.bench_c_function(ARRAY[$ROW]::real[]);"
  "linear (fixed cost)||SELECT pgml.predict('serving linear', ARRAY[$ROW]::real[]);"
  "xgboost 25 native||SELECT pgml.predict('serving xgboost 25', ARRAY[$ROW]::real[]);"
  "lightgbm 25 native||SELECT pgml.predict('serving lightgbm 25', ARRAY[$ROW]::real[]);"
  "xgboost 100 native||SELECT pgml.predict('serving xgboost 100', ARRAY[$ROW]::real[]);"
  "lightgbm 100 native||SELECT pgml.predict('serving lightgbm 100', ARRAY[$ROW]::real[]);"
  "xgboost 100 library|-c pgml.native_trees=off|SELECT pgml.predict('serving xgboost 100', ARRAY[$ROW]::real[]);"
  "lightgbm 100 library|-c pgml.native_trees=off|SELECT pgml.predict('serving lightgbm 100', ARRAY[$ROW]::real[]);"
)
ROUNDS=${ROUNDS:-6}
tps() {  # clients options sqlfile seconds
  PGOPTIONS="$2" "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -U pgml -M prepared -c "$1" -j "$1" -T "$4" -f "$3" pgml 2>/dev/null |
    awk '/^tps/ {printf "%.0f", $3}'
}
declare -A TPS
SLICE=$(( SECS / ROUNDS > 0 ? SECS / ROUNDS : 1 ))
for clients in 1 2; do
  for round in $(seq "$ROUNDS"); do
    for i in "${!RUNS[@]}"; do
      IFS='|' read -r name opts query <<< "${RUNS[$i]}"
      echo "$query" > "$tmp/q.sql"
      [ "$round" = 1 ] && tps "$clients" "$opts" "$tmp/q.sql" 1 >/dev/null   # warm the caches
      t=$(tps "$clients" "$opts" "$tmp/q.sql" "$SLICE")
      TPS["$clients/$name"]=$(( ${TPS["$clients/$name"]:-0} + t ))
    done
  done
  for i in "${!RUNS[@]}"; do
    IFS='|' read -r name opts query <<< "${RUNS[$i]}"
    TPS["$clients/$name"]=$(( TPS["$clients/$name"] / ROUNDS ))
    log "$clients client(s), $name: ${TPS[$clients/$name]} tps"
  done
done
report="$ROOT/benches/serving/REPORT.md"
{
  echo "# Serving: a warm pgml.predict against the query that carries it"
  echo
  echo "Rerun: \`benches/serving/run.sh $SECS\` (after \`make demo\`). Machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}'), $(date -u +%F)."
  echo "pgbench -M prepared -j = -c, one statement per transaction, $ROUNDS interleaved rounds of $SLICE s per query"
  echo "(tps is their mean); the features are"
  echo "\`ARRAY[$ROW]::real[]\`. Models: 20,000 rows x 10 features, 25 or 100 rounds, otherwise the"
  echo "libraries' defaults (XGBoost depth 6, LightGBM 31 leaves). Evaluators: $evaluators."
  echo "Ratio = tps / tps of the empty query at the same client count (target >= 0.9)."
  echo
  echo "| clients | query | tps | ratio to empty | µs per call per client |"
  echo "|---|---|---|---|---|"
  for clients in 1 2; do
    base=${TPS["$clients/empty"]}
    for i in "${!RUNS[@]}"; do
      IFS='|' read -r name opts query <<< "${RUNS[$i]}"
      t=${TPS["$clients/$name"]}
      echo "| $clients | $name: \`$query\`${opts:+ ($opts)} | $t | $(awk -v t="$t" -v b="$base" 'BEGIN {printf "%.2f", t / b}') | $(awk -v t="$t" -v c="$clients" 'BEGIN {printf "%.1f", 1e6 * c / t}') |"
    done
  done
  cat <<'NOTES'
Reading it (say plainly: the 0.9 target is met at 1 client by every native model but
LightGBM at 100 trees: XGBoost 25 0.97, LightGBM 25 0.93, XGBoost 100 0.93, LightGBM 100
0.84; at 2 clients by the linear model, 0.92, and XGBoost at 25 trees, 0.91, not by LightGBM
at 25, 0.87, nor by the 100-tree models, 0.85 / 0.82; runs differ by about 0.03 on this
shared machine):
- "C function, no pgml" is contrib intarray's icount declared STABLE: what Postgres itself
  charges for calling a function from a loadable module on every execution (fmgr lookup,
  EXECUTE check; the empty query's array_length is folded into a constant at plan time).
  0.97 at 1 and 2 clients, about 1 us per call.
- The linear model (ten multiply-adds) over that is pgml's own fixed cost: reading the
  arguments, one hash lookup, the validity and privilege checks, the model call, and the
  text output of a real result (float4out, ~0.2 us; icount returns an integer). 0.96 at 1
  client, 0.92 at 2, about 1.7 us per call at 2 clients, with code and data cold after the
  network path between calls.
- What moved it this time (perf on the 2-client XGBoost 25 run: pgml's code ~1.6 -> ~1.05
  us per call): no heap allocation per call (a malloc/free was ~0.3 us), GetUserId called
  without pgrx's setjmp guard (it cannot raise an ERROR), inline text read in place, and a
  one-row walk that prefetches the top 3 levels of every tree at once (the walk waited for
  one memory round trip per level; 0.62 -> 0.46 us; 4 levels was no better). XGBoost 25 at
  2 clients: 0.89 -> 0.91; at 1 client 0.94 -> 0.97.
- Earlier: the trees compiled into a complete layout of their top levels (children by index
  arithmetic, a fixed number of branch-free steps), 8 trees walked in lockstep for one row,
  groups of 8 trees interleaved so one base register addresses them; predict(text, real[])
  a hand-written fmgr function; the model cache a plain static; the last project looked up
  compared by name instead of hashed.
- LightGBM's compiled splits hold f64 thresholds (16 bytes, twice XGBoost's) and its
  leaf-wise trees go deeper than the laid-out top levels, so a cold walk touches about twice
  the cache lines. Not done: comparing in f32 (for an f32 feature x, x <= t in f64 exactly
  when x <= t rounded down to f32), which would halve them.
- At 2 clients both cores are busy with 2 backends and 2 pgbench threads, so every
  microsecond counts in full; at 1 client part of it overlaps the client's own work.
- LightGBM's library path (SingleRowFast) is itself fast (0.77 at 100 trees against 0.84
  native); XGBoost's C API costs ~100 us per call (0.27 / 0.25).
NOTES
} > "$report"
"${PSQL[@]}" -c "DELETE FROM pgml.projects WHERE name LIKE 'serving %'" -c "DROP TABLE serving_rows" \
  -c "DROP FUNCTION public.bench_c_function(real[])" >/dev/null
cat "$report"
