#!/usr/bin/env bash
# What a function call's memory, code and arithmetic cost under pgbench load on this
# machine, with no pgml in it: the cost model benches/serving/REPORT.md reasons with.
#   benches/serving/probes.sh [ROUNDS]    (after `make demo`; default 10; writes PROBES.md)
# Builds probes.c (needs the server headers, as pgrx does) into the server's library
# directory, then for each probe: its cost alone (a loop of 1M calls in one backend) and
# under 2-client pgbench (-M prepared, 2 s slices, each between two slices of the empty
# query, as run.sh pairs them), both over the probe that does nothing.
source "$(dirname "$0")/../../scripts/common.sh"
ROUNDS=${1:-10}
SLICE=2
PORT=${PGML_PORT:-5433}
"$ROOT/scripts/cluster.sh" start >/dev/null
PSQL=("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U pgml -d pgml -v ON_ERROR_STOP=1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "building the probes"
gcc -O2 -fPIC -shared -I"$("$PG_CONFIG" --includedir-server)" -o "$tmp/pgml_probes.so" \
  "$ROOT/benches/serving/probes.c"
install -m 755 "$tmp/pgml_probes.so" "$("$PG_CONFIG" --pkglibdir)/pgml_probes.so"
"${PSQL[@]}" -c "CREATE OR REPLACE FUNCTION public.pgml_probe(real[], integer, integer)
  RETURNS integer STABLE STRICT PARALLEL SAFE LANGUAGE c AS '\$libdir/pgml_probes', 'pgml_probe'"
ROW="1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 0.5"
# name|kind|n
PROBES=(
  "the call only|0|0"
  "data: 600 loads, 64 lines (4 KB)|1|64"
  "data: 600 loads, 750 lines (48 KB, an XGBoost 100 walk's splits)|1|750"
  "code: 48 small functions, packed (6 KB)|2|0"
  "code: the same 48, one per 4 KB page|3|0"
  "arithmetic: 1,000 dependent multiply-adds|4|1000"
)
query() { echo "SELECT public.pgml_probe(ARRAY[$ROW]::real[], $1, $2);"; }
tps() {  # sqlfile
  "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -U pgml -M prepared -c 2 -j 2 -T "$SLICE" -f "$1" pgml 2>/dev/null |
    awk '/^tps/ {printf "%.0f", $3}'
}
echo "SELECT array_length(ARRAY[$ROW]::real[], 1);" > "$tmp/empty.sql"
declare -A ALONE T B
log "alone: 1M calls in one backend, best of 3"
for i in "${!PROBES[@]}"; do
  IFS='|' read -r name kind n <<< "${PROBES[$i]}"
  best=""
  for _ in 1 2 3; do
    ms=$("${PSQL[@]}" -c "SELECT count(public.pgml_probe(ARRAY[$ROW]::real[], $kind, $n)) FROM generate_series(1, 10)" \
      -c '\timing on' -c "SELECT count(public.pgml_probe(ARRAY[$ROW]::real[], $kind, $n)) FROM generate_series(1, 1000000)" |
      awk '/^Time/ {print $2}')
    best=$(awk -v a="$ms" -v b="$best" 'BEGIN {print (b == "" || a < b) ? a : b}')
  done
  ALONE[$i]=$best
done
log "under 2-client pgbench: $ROUNDS rounds of $SLICE s slices"
before=$(tps "$tmp/empty.sql")
for _ in $(seq "$ROUNDS"); do
  for i in "${!PROBES[@]}"; do
    IFS='|' read -r _ kind n <<< "${PROBES[$i]}"
    query "$kind" "$n" > "$tmp/q.sql"
    t=$(tps "$tmp/q.sql")
    after=$(tps "$tmp/empty.sql")
    T[$i]=$(( ${T[$i]:-0} + t ))
    B[$i]=$(( ${B[$i]:-0} + (before + after) / 2 ))
    before=$after
  done
done
{
  echo "# Probes: what memory, code and arithmetic cost a call under load"
  echo
  echo "Rerun: \`benches/serving/probes.sh $ROUNDS\` (after \`make demo\`). Machine: $(nproc) cores, PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}'), $(date -u +%F)."
  echo "Each probe is \`$(query KIND N)\` (benches/serving/probes.c). **Alone**: µs per call in a"
  echo "loop of 1M calls in one backend, best of 3, less the call-only probe's. **Under load**: 2-client"
  echo "pgbench -M prepared, $ROUNDS rounds of $SLICE s slices, each slice between two slices of the empty query;"
  echo "µs of the machine's two cores per transaction (2 / tps) over its neighbours', less the"
  echo "call-only probe's; ratio as in REPORT.md."
  echo
  echo "| probe | alone, µs | under load, µs | ratio | tps |"
  echo "|---|---|---|---|---|"
  for i in "${!PROBES[@]}"; do
    IFS='|' read -r name _ _ <<< "${PROBES[$i]}"
    awk -v name="$name" -v ms="${ALONE[$i]}" -v ms0="${ALONE[0]}" -v t="${T[$i]}" -v b="${B[$i]}" \
      -v t0="${T[0]}" -v b0="${B[0]}" -v r="$ROUNDS" 'BEGIN {
        load = 2e6 * r * (1 / t - 1 / b); load0 = 2e6 * r * (1 / t0 - 1 / b0)
        if (name == "the call only") printf "| %s | %.3f (the loop) | %.2f (over the empty query) | %.3f | %.0f |\n", name, ms / 1000, load, t / b, t / r
        else printf "| %s | %.3f | %.2f | %.3f | %.0f |\n", name, (ms - ms0) / 1000, load - load0, t / b, t / r
      }'
  done
} > "$ROOT/benches/serving/PROBES.md"
cat "$ROOT/benches/serving/PROBES.md"
