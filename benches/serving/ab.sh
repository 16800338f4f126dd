#!/usr/bin/env bash
# Two builds of pgml side by side on the serving benchmark: is a change free on the predict
# path? (issue 31: the layout change must cost the ratios nothing, within 0.02).
#   benches/serving/ab.sh OLD.so NEW.so [PAIRS] [SECONDS]   (after `make demo`; writes AB.md)
# OLD.so and NEW.so are two builds' pgml.so (e.g. copied from `pg_config --pkglibdir` after
# `cargo pgrx install --release` at each revision). Each pair installs OLD, runs
# benches/serving/run.sh on the native-tree and linear models, then NEW, the same; the order
# alternates from pair to pair so that a drift of the machine's speed falls on both. Both
# builds must serve the installed SQL (same C symbols): a layout change does.
source "$(dirname "$0")/../../scripts/common.sh"
OLD=$(realpath "$1") NEW=$(realpath "$2")
PAIRS=${3:-3}
SECS=${4:-12}
LIBDIR=$("$PG_CONFIG" --pkglibdir)
ONLY=${ONLY:-'^(linear|(xgboost|lightgbm) (25|100) native)'}
out=$(mktemp -d)
trap 'rm -rf "$out"; "$ROOT/scripts/cluster.sh" stop >/dev/null 2>&1; cp "$NEW" "$LIBDIR/pgml.so"; "$ROOT/scripts/cluster.sh" start >/dev/null' EXIT
declare -A SUM COUNT ALL
names=()
run_build() {  # label file pair
  "$ROOT/scripts/cluster.sh" stop >/dev/null 2>&1 || true
  cp "$2" "$LIBDIR/pgml.so"
  "$ROOT/scripts/cluster.sh" start >/dev/null
  log "pair $3: $1 ($(sha256sum "$2" | cut -c1-12))"
  ONLY="$ONLY" ROUNDS=${ROUNDS:-6} REPORT="$out/$1-$3.md" "$ROOT/benches/serving/run.sh" "$SECS" >/dev/null
  # The report's rows: | clients | name: `query` | tps | ratio | ...
  while IFS='|' read -r _ clients query _ ratio _; do
    clients=$(xargs <<< "$clients")
    name=$(sed 's/:.*//' <<< "$query" | xargs)
    ratio=$(xargs <<< "$ratio")
    [[ $clients =~ ^[12]$ && $name != empty ]] || continue
    key="$clients|$name"
    [[ " ${names[*]} " == *" $key "* ]] || names+=("$key")
    SUM["$1|$key"]=$(awk -v a="${SUM["$1|$key"]:-0}" -v b="$ratio" 'BEGIN {print a + b}')
    COUNT["$1|$key"]=$(( ${COUNT["$1|$key"]:-0} + 1 ))
    ALL["$1|$key"]="${ALL["$1|$key"]:-}${ALL["$1|$key"]:+ }$ratio"
  done < <(grep '^| [12] |' "$out/$1-$3.md")
}
for pair in $(seq "$PAIRS"); do
  if (( pair % 2 )); then run_build old "$OLD" "$pair"; run_build new "$NEW" "$pair"
  else run_build new "$NEW" "$pair"; run_build old "$OLD" "$pair"; fi
done
report="${AB_REPORT:-$ROOT/benches/serving/AB.md}"
{
  echo "# Serving A/B: two builds of pgml.so, alternating"
  echo
  echo "Rerun: \`benches/serving/ab.sh OLD.so NEW.so $PAIRS $SECS\` (after \`make demo\`). Machine: $(nproc) cores, PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}'), $(date -u +%F)."
  echo "Builds: old $(sha256sum "$OLD" | cut -c1-12) (${AB_OLD_LABEL:-$1}), new $(sha256sum "$NEW" | cut -c1-12) (${AB_NEW_LABEL:-$2})."
  echo "$PAIRS pairs; in each, both builds run \`benches/serving/run.sh $SECS\` (ROUNDS=${ROUNDS:-6}) on the queries"
  echo "matching \`$ONLY\`, old first in odd pairs and new first in even ones. A ratio is the query's tps over"
  echo "the empty query's in the slices beside it (run.sh); the table gives each build's mean over the pairs"
  echo "and every pair's value."
  echo
  echo "| clients | query | old: mean | new: mean | new - old | old per pair | new per pair |"
  echo "|---|---|---|---|---|---|---|"
  worst=0
  for key in "${names[@]}"; do
    IFS='|' read -r clients name <<< "$key"
    o=$(awk -v s="${SUM["old|$key"]}" -v n="${COUNT["old|$key"]}" 'BEGIN {printf "%.3f", s / n}')
    n=$(awk -v s="${SUM["new|$key"]}" -v n="${COUNT["new|$key"]}" 'BEGIN {printf "%.3f", s / n}')
    d=$(awk -v o="$o" -v n="$n" 'BEGIN {printf "%+.3f", n - o}')
    worst=$(awk -v w="$worst" -v d="$d" 'BEGIN {print (d < w) ? d : w}')
    echo "| $clients | $name | $o | $n | $d | ${ALL["old|$key"]} | ${ALL["new|$key"]} |"
  done
  echo
  if awk -v w="$worst" 'BEGIN {exit !(w >= -0.02)}'; then
    echo "Verdict: the new build is within 0.02 of the old on every row (largest loss $worst)."
  else
    echo "Verdict: the new build loses more than 0.02 on at least one row (largest loss $worst)."
  fi
} > "$report"
cat "$report"
