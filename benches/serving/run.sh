#!/usr/bin/env bash
# Serving cost of a warm pgml.predict against the query that carries it (issue 5, item 2).
#   benches/serving/run.sh [SECONDS]     (after `make demo`; default 30; writes REPORT.md)
#   QUICK=1 benches/serving/run.sh       (5 s per run: a smoke run, not for quoting)
#   ONLY=REGEX, ROUNDS=N, REPORT=FILE     (a subset of the queries, rounds, another report file)
# pgbench -M prepared at 1 and 2 clients runs, for each client count: the empty query;
# pgml.predict on XGBoost and LightGBM models of 25 trees (the issue's reference model) and
# of 100 (the libraries' default), served by the native tree evaluator; the 100-tree ones
# through the libraries' C APIs (pgml.native_trees = off). Each query runs in ROUNDS slices
# of SECONDS/ROUNDS, and every slice sits between two slices of the empty query, its
# baseline: this machine's speed swings by up to 2x within 30 s of one unchanged pgbench run
# (tps per second from -P 1, 2026-11-23: 33k to 66k), and successive seconds track each
# other, so a baseline taken beside a slice cancels most of the swing, where one taken
# 8 slices away (the reports before) did not.
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
# ONLY=REGEX keeps the queries whose name matches (the empty query always runs), e.g. for an
# A/B of two builds (benches/serving/ab.sh); REPORT=FILE writes the report elsewhere.
if [ -n "${ONLY:-}" ]; then
  keep=("${RUNS[0]}")
  for r in "${RUNS[@]:1}"; do [[ ${r%%|*} =~ $ONLY ]] && keep+=("$r"); done
  RUNS=("${keep[@]}")
fi
ROUNDS=${ROUNDS:-15}
tps() {  # clients options sqlfile seconds
  PGOPTIONS="$2" "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -U pgml -M prepared -c "$1" -j "$1" -T "$4" -f "$3" pgml 2>/dev/null |
    awk '/^tps/ {printf "%.0f", $3}'
}
declare -A TPS BASE ROUND MEDIAN RATIO APART
SLICE=$(( SECS / ROUNDS > 0 ? SECS / ROUNDS : 1 ))
slice() {  # clients index: one slice of RUNS[index]; prints its tps
  IFS='|' read -r name opts query <<< "${RUNS[$2]}"
  echo "$query" > "$tmp/q.sql"
  tps "$1" "$opts" "$tmp/q.sql" "${3:-$SLICE}"
}
for clients in 1 2; do
  for i in "${!RUNS[@]}"; do slice "$clients" "$i" 1 >/dev/null; done   # warm the caches
  for round in $(seq "$ROUNDS"); do
    # The empty query (RUNS[0]) runs before the first query and after every one, so each
    # slice has a baseline taken next to it: the mean of the empty slices on either side.
    before=$(slice "$clients" 0)
    TPS["$clients/empty"]=$(( ${TPS["$clients/empty"]:-0} + before ))
    for i in "${!RUNS[@]}"; do
      [ "$i" = 0 ] && continue
      IFS='|' read -r name _ _ <<< "${RUNS[$i]}"
      t=$(slice "$clients" "$i")
      after=$(slice "$clients" 0)
      TPS["$clients/empty"]=$(( TPS["$clients/empty"] + after ))
      TPS["$clients/$name"]=$(( ${TPS["$clients/$name"]:-0} + t ))
      BASE["$clients/$name"]=$(( ${BASE["$clients/$name"]:-0} + (before + after) / 2 ))
      ROUND["$clients/$name"]="${ROUND["$clients/$name"]:-} $(awk -v t="$t" -v b="$before" -v a="$after" 'BEGIN {print 2 * t / (b + a)}')"
      before=$after
    done
  done
  empty_slices=$(( ROUNDS * ${#RUNS[@]} ))
  for i in "${!RUNS[@]}"; do
    IFS='|' read -r name opts query <<< "${RUNS[$i]}"
    if [ "$i" = 0 ]; then
      TPS["$clients/$name"]=$(( TPS["$clients/$name"] / empty_slices ))
      RATIO["$clients/$name"]=1.000 APART["$clients/$name"]=1.00 MEDIAN["$clients/$name"]="1.00 (1.00-1.00)"
    else
      # The ratio of the summed tps to the summed adjacent baselines; and, for comparison
      # with reports before this one, to the mean of all empty slices of the client count.
      RATIO["$clients/$name"]=$(awk -v t="${TPS["$clients/$name"]}" -v b="${BASE["$clients/$name"]}" 'BEGIN {printf "%.3f", t / b}')
      TPS["$clients/$name"]=$(( TPS["$clients/$name"] / ROUNDS ))
      MEDIAN["$clients/$name"]=$(tr ' ' '\n' <<< "${ROUND["$clients/$name"]}" | sed '/^$/d' | sort -g |
        awk '{r[NR] = $1} END {printf "%.2f (%.2f-%.2f)", r[int((NR + 1) / 2)], r[int((NR + 3) / 4)], r[int((3 * NR + 3) / 4)]}')
    fi
  done
  for i in "${!RUNS[@]}"; do
    IFS='|' read -r name _ _ <<< "${RUNS[$i]}"
    [ "$i" = 0 ] || APART["$clients/$name"]=$(awk -v t="${TPS["$clients/$name"]}" -v b="${TPS["$clients/empty"]}" 'BEGIN {printf "%.2f", t / b}')
    log "$clients client(s), $name: ${TPS[$clients/$name]} tps, ratio ${RATIO[$clients/$name]} to adjacent empty slices, ${APART[$clients/$name]} to their mean, round ratios ${MEDIAN[$clients/$name]}"
  done
done
report=${REPORT:-$ROOT/benches/serving/REPORT.md}
{
  echo "# Serving: a warm pgml.predict against the query that carries it"
  echo
  echo "Rerun: \`benches/serving/run.sh $SECS\` (after \`make demo\`). Machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}'), $(date -u +%F)."
  echo "pgbench -M prepared -j = -c, one statement per transaction, $ROUNDS rounds of $SLICE s slices: in each round"
  echo "every query in turn with a slice of the empty query before it and after it. tps is the mean over"
  echo "the rounds. **Ratio** (the issue's, target >= 0.9) = the query's summed tps / the summed mean of the"
  echo "two empty slices beside each of its slices; \"to mean empty\" divides by the mean of all the empty"
  echo "slices instead (how reports before 2026-11-23 counted); the slice ratios are each slice's tps / its"
  echo "two neighbours' mean, median and quartiles. The features are"
  echo "\`ARRAY[$ROW]::real[]\`. Models: 20,000 rows x 10 features, 25 or 100 rounds, otherwise the"
  echo "libraries' defaults (XGBoost depth 6, LightGBM 31 leaves). Evaluators: $evaluators."
  echo
  echo "| clients | query | tps | ratio | to mean empty | slice ratios: median (quartiles) | µs per call per client |"
  echo "|---|---|---|---|---|---|---|"
  for clients in 1 2; do
    for i in "${!RUNS[@]}"; do
      IFS='|' read -r name opts query <<< "${RUNS[$i]}"
      t=${TPS["$clients/$name"]}
      echo "| $clients | $name: \`$query\`${opts:+ ($opts)} | $t | ${RATIO["$clients/$name"]} | ${APART["$clients/$name"]} | ${MEDIAN["$clients/$name"]} | $(awk -v t="$t" -v c="$clients" 'BEGIN {printf "%.1f", 1e6 * c / t}') |"
    done
  done
  # This run's verdict, written from its own numbers so that the text cannot contradict the
  # table: which models served natively meet the 0.9 target by the ratio.
  echo
  echo "This run, by the ratio to the empty slices beside each slice (target >= 0.9):"
  for clients in 1 2; do
    met="" short=""
    for i in "${!RUNS[@]}"; do
      IFS='|' read -r name _ _ <<< "${RUNS[$i]}"
      case $name in *native | linear*) ;; *) continue ;; esac
      r=${RATIO["$clients/$name"]}
      if awk -v r="$r" 'BEGIN {exit !(r >= 0.9)}'; then met+="${met:+, }${name% native} $r"; else short+="${short:+, }${name% native} $r"; fi
    done
    echo "- $clients client(s), empty query at ${TPS["$clients/empty"]} tps: met by ${met:-none}${short:+; not by $short}."
  done
  # Item 2 names one model, the 25-tree one of the issue's "Why"; the 100-tree rows are a
  # harder case this harness adds, so the verdict on the item is stated apart from them.
  item2=met
  for clients in 1 2; do
    for name in "xgboost 25 native" "lightgbm 25 native"; do
      awk -v r="${RATIO["$clients/$name"]}" 'BEGIN {exit !(r >= 0.9)}' || item2="not met"
    done
  done
  echo
  echo "Item 2 on the issue's reference model (25 trees, XGBoost and LightGBM, 1 and 2 clients): **$item2** in this run."
  echo
  cat <<'NOTES'
Reading it. Since 2026-11-23 each slice's baseline is the two empty-query slices beside it.
The machine's speed swings by up to 2x within half a minute (pgbench -P 1 of the empty query
alone at 2 clients: 33k to 66k tps), and neighbouring seconds track each other; with one
empty slice per round, 8 slices from most queries, single-slice ratios at 2 clients ranged
over 0.73-1.06 and the means moved by about +-0.04 between reports. With the baseline beside
each slice the quartiles of the slice ratios are 0.02-0.05 apart. Runs of this harness
(ratio, 1 client / 2 clients; XGBoost 25, LightGBM 25, XGBoost 100, LightGBM 100, linear):
- A (empty 27.8k / 67.7k tps): 0.95 / 0.92, 0.94 / 0.91, 0.92 / 0.87, 0.87 / 0.85, 0.96 / 0.96
- B (empty 29.2k / 61.4k tps, ratio then printed to 2 places): 0.93 / 0.91, 0.94 / 0.90,
  0.93 / 0.88, 0.89 / 0.87, 0.97 / 0.95
- C (empty 27.9k / 64.9k tps): 0.932 / 0.914, 0.926 / 0.923, 0.927 / 0.869, 0.862 / 0.876,
  0.990 / 0.949
- D, after predict_one (empty 29.5k / 62.3k tps): 0.919 / 0.904, 0.930 / 0.942,
  0.912 / 0.874, 0.911 / 0.846, 0.959 / 0.932 (at 2 clients a slow run: the C function with
  no pgml at 0.963, usually 0.98-0.99)
- E, after the warm lane (below; empty 28.2k / 64.4k tps): 0.949 / 0.941, 0.971 / 0.947,
  0.916 / 0.889, 0.931 / 0.889, 0.989 / 0.950
- F, this report, same code as E, run again to confirm the verdict (empty 26.6k / 60.8k
  tps): 0.959 / 0.935, 0.963 / 0.945, 0.912 / 0.890, 0.945 / 0.895, 0.996 / 0.967
Reports before it, at 2 clients against the mean of all empty slices (XGBoost 25 / LightGBM
25 / XGBoost 100 / LightGBM 100): 0.91 / 0.92 / 0.89 / 0.87, 0.90 / 0.88 / 0.88 / 0.86,
0.92 / 0.94 / 0.88 / 0.83, 0.90 / 0.88 / 0.85 / 0.87, 0.92 / 0.89 / 0.86 / 0.88.
So the 25-tree models (the issue's reference: item 2 measures one model, and the one its
"Why" names has 25 trees) sit at 0.92-0.97 at 1 client and 0.90-0.95 at 2, above 0.9 in
every run since C: item 2 is met. The 100-tree ones, a harder case this harness adds, sit at
0.86-0.95 at 1 client (both above 0.9 in D, E and F) and 0.85-0.895 at 2, short of 0.9 by
0.005-0.011 in E and F (~0.2-0.4 us a call): a known limit, not the item's target.
- What a call's memory, code and arithmetic cost under this load, with no pgml in it
  (benches/serving/probes.sh, PROBES.md, 2026-11-23; µs per call alone -> under 2-client
  pgbench): 1,000 dependent multiply-adds 1.25 -> 1.26; 600 loads over 64 lines 0.63 -> 1.70,
  over 750 lines (48 KB) 0.78 -> 2.87; 48 small functions packed in 6 KB 0.18 -> 1.54, the
  same 48 one per page 0.26 -> 2.45. Arithmetic costs what it costs alone; memory is cold on
  every call (~2-3 ns a data line); code is colder still, ~14 ns a line and ~19 more a page,
  as the front end waits on each instruction miss in turn. So a path's fixed cost is mostly
  the code lines it runs: the linear model's ~70 lines of pgml.so (perf, distinct lines hit
  in a loop of predicts) make its ~1 us over the C function, and the tree path's ~140 made a
  fixed ~1.3 us that a loop of predicts does not show (XGBoost 25 against linear: +0.19 us
  alone, +1.7 us under load; each further tree +7 ns alone, +16 ns under load).
- predict_one (500331c): one row of one output no longer runs inside predict_rows, a 38 KB
  function for blocks of rows whose one-row path ran ~70 lines and a 10 KB stack frame probed
  page by page; it is one short function, same sums bit for bit. Loop of 1M predicts,
  XGBoost 25: 530 -> 478 ms. Same pgbench run, 2 clients, with and without it: XGBoost 25
  0.884 -> 0.903, XGBoost 100 0.849 -> 0.852, LightGBM 100 0.870 -> 0.891.
- The warm lane (bd7b2d3): a warm pgml.predict(text, real[]) compares the project name in
  place with the last one looked up (no UTF-8 check, no memcmp call), reads the array's
  header directly (pgrx's RawArray multiplies every dimension with overflow checks), checks
  generation and privileges, and makes one virtual call, Model::predict_one, into one
  function holding the whole walk or sum (before: ~14 functions, a thread-local read for
  pgml.native_trees, memset and memcpy calls). Anything else declines to the general path,
  which serves or names the error. pgml.so code lines hit in a loop of predicts (perf): the
  linear model's path ~70 -> ~20, XGBoost 25's ~140 -> ~45. Loop of 1M predicts, best of 3,
  same run, before -> after: linear 222 -> 168 ms, XGBoost 25 487 -> 410, LightGBM 25 462 ->
  415, XGBoost 100 1,052 -> 860, LightGBM 100 1,218 -> 1,131. Under 2-client pgbench, the two
  builds alternated 3 times (3 paired rounds each), before / after: linear 0.972 / 0.974,
  XGBoost 25 0.913 / 0.939, LightGBM 25 0.938 / 0.944, XGBoost 100 0.877 / 0.890, LightGBM
  100 0.873 / 0.862: within the noise for all but XGBoost. Cutting ~50 code lines from the
  linear path bought no tps this harness can see, so the probes' ~14 ns a code line does not
  add up over pgml's path. Run E against D (other days): every model up, 0.00-0.04 at 1
  client and 0.01-0.04 at 2.
- "C function, no pgml" is contrib intarray's icount declared STABLE: what Postgres itself
  charges for calling a function from a loadable module on every execution (fmgr lookup,
  EXECUTE check; the empty query's array_length is folded into a constant at plan time).
  0.94-1.07 across reports, about 1 us per call.
- The linear model (ten multiply-adds) over that is pgml's own fixed cost: reading the
  arguments, one hash lookup, the validity and privilege checks, the model call, and the
  text output of a real result (float4out, ~0.2 us; icount returns an integer). 0.93-1.00.
- Where a 2-client transaction's CPU goes (perf record -a over 10 s of pgbench, samples per
  transaction): ~65% kernel (loopback TCP, wakeups), ~20% postgres, ~6% libc, ~4% libpq and
  pgbench; pgml.so 1.5% for the linear model and 7% for LightGBM 100. A transaction is
  33-48 us of CPU, so each microsecond pgml spends is 2-3% of tps. Measured again on
  2026-11-23 (3 s slices of the two queries alternated under perf, 6 each): pgml.so 0.44-0.64
  us per transaction for the linear model, 1.0-1.3 us for XGBoost 25, 1.7-2.0 us for
  XGBoost 100 (0.27 us and 0.79 us for the two in a hot loop), while the kernel's own share
  of the same query moved by +-2 us between slices.
- The one-row layout (`crates/pgml-core/src/bindings/trees/one_row.rs`): the row is quantized first (each
  value becomes its position among the distinct thresholds the forest compares that feature
  with: two vectorized counts over 16-cut blocks per feature), so a split is 4 bytes
  (column, bin, offset to its two adjacent children), trees breadth first one after another:
  24 KB of splits for LightGBM 100, 47 KB for XGBoost 100 (the batch layout was 850 KB for
  LightGBM 100). XGBoost's trees walk in groups of 8, each group all its levels before the
  next; LightGBM's take the quick form (below).
- The quick form (9ccadda): LightGBM's forests find their leaves without a walk (QuickScorer,
  Lucchese et al., SIGIR 2015; `crates/pgml-core/src/bindings/trees/quick.rs`). Each tree keeps a bit per
  leaf; with the row quantized, the splits the row goes right at are a prefix of each
  column's splits sorted by bin (one table lookup gives its length), and ANDing their left
  subtrees' masks leaves the row's leaf as each tree's lowest set bit: a sequential stream
  of (tree, mask) pairs, no comparison, no load that waits on another. The layout takes it
  where a forest has at most 4 splits per walk step: LightGBM 100 has 3,000 splits for 1,176
  steps (leaf-wise trees 8-12 levels deep); XGBoost 100 has 5,885 for 624 and keeps the walk
  (the quick form was twice as slow there). In a loop of 200,000 one-row predicts in one
  backend (min of 7 interleaved rounds, per call, the ~0.26 us fixed cost included):
  LightGBM 25 0.69 -> 0.57-0.61 us, LightGBM 100 1.48 -> 1.36. Under 2-client pgbench,
  pgml.so's perf samples over Postgres's, 4 interleaved rounds: LightGBM 25 median 0.160 ->
  0.148, LightGBM 100 0.31 -> 0.28. A LightGBM one-row predict also no longer zeroes the
  512-byte f64 row buffer only the batch walk uses.
- The report before: the walk's groups of 8 trees walk all their levels one group after
  another, their positions in registers (before, 128 positions in a stack array, a load
  and a store per step): in the loop XGBoost 25 0.35 -> 0.27 us, LightGBM 25 0.42 -> 0.36,
  XGBoost 100 0.93 -> 0.79, LightGBM 100 1.39 -> 1.18 (walk time over the linear model's).
- Tried and dropped (measured as the walk's samples over Postgres's own in the same run,
  which holds steady where tps does not: during the 2-client pgbench, and in a loop of
  one-row predicts in one backend):
  - a heap layout for depth-wise trees (two-byte splits; the bottom split on one line with
    its two leaves; a 100-tree XGBoost walk reads 2 lines per tree instead of ~5): no
    change under pgbench (0.16-0.20 of Postgres's samples either way), and more arithmetic
    in the loop (1.32-1.37 against 1.14-1.18);
  - splits only, with one-byte links and a separate leaf array (3 lines instead of ~5 for a
    31-leaf tree): slower in the loop (the walk must test for a leaf at every step);
  - an AVX2 walk, eight trees a step by gathers: 1.73-1.89 for XGBoost 100 and 2.1-2.4 for
    LightGBM 100, against 1.41 and 1.75 for the same build's scalar walk (a target_feature
    function is not inlined into the walk, and Zen 3's gathers are slow);
  - with the group walk: LightGBM's trees sorted by depth within a pack (16% fewer steps,
    the leaves summed in tree order from a buffer): nothing measurable; groups of 16 in
    registers: slower (spills); every group walking the deepest group's depth (no
    data-dependent loop exits): no change; prefetching the whole layout before the walk:
    no change for the splits, worse with the leaf values too;
  - the splits and leaf values in one /dev/shm mapping shared by both backends (so the two
    backends taking turns on a core read the same lines): no change under pgbench;
  - (2026-11-23) depth-wise trees grown into perfect trees of 2-byte splits, children by
    arithmetic, leaves apart, LANES trees interleaved (XGBoost 100: 40 KB instead of 95, ~3
    lines a tree instead of 5-6): same pgbench run, 2 clients, walk against it: XGBoost 100
    0.863 / 0.862, XGBoost 25 0.916 / 0.914; alone, best of 5 loops of 1M, slower (XGBoost
    100 1,065 / 1,088 ms, XGBoost 25 532 / 562);
  - (2026-11-23, after the warm lane) every tree walked level by level together (up to 256
    positions in a stack array: 100 independent loads a level where a group gives 8): alone
    slower (XGBoost 100, best of 3 loops of 1M: 921 ms in groups, 1,043 all together, 1,152
    in chunks of 32); under 2-client pgbench two paired runs gave +0.023 and +0.003 for
    XGBoost 100, +0.030 and -0.001 for XGBoost 25: no consistent gain;
  - (2026-11-23) the per-call functions in one `.text.hot` section (fewer code pages): the
    attribute did not group them in pgml.so's link (it does in a small test crate); not
    pursued.
  So neither the lines a cold walk reads nor a second backend's copy of them is its cost.
  Removing the dependent loads altogether (the quick form above) takes 8-10% off LightGBM's
  share and makes XGBoost's worse: the chains are part of the cost, not most of it. What is
  left is the code lines each call runs (the probes above), instructions per split, and
  Postgres's own ~1 us for calling a function (below). Fewer, contiguous code lines on the
  common path were the next lever; the warm lane (above) took them, and a 100-tree model
  still lacks ~0.2-0.4 us a call at 2 clients (0.889 in E, 0.890-0.895 in F).
- Earlier: no heap allocation per call, GetUserId called without pgrx's setjmp guard, inline
  text read in place; predict(text, real[]) a hand-written fmgr function; the model cache a
  plain static; the last project looked up compared by name instead of hashed.
- At 2 clients both cores are busy with 2 backends and 2 pgbench threads, so every
  microsecond counts in full; at 1 client part of it overlaps the client's own work.
- LightGBM's library path (SingleRowFast) is itself fast (the library rows: 0.73-0.80 at
  100 trees); XGBoost's C API costs ~110 us per call (0.24-0.29).
NOTES
} > "$report"
"${PSQL[@]}" -c "DELETE FROM pgml.projects WHERE name LIKE 'serving %'" -c "DROP TABLE serving_rows" \
  -c "DROP FUNCTION public.bench_c_function(real[])" >/dev/null
cat "$report"
