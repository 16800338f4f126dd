#!/usr/bin/env bash
# Every test: formatting and lints, unit tests (#[test], no Postgres), #[pg_test]s in a
# throwaway cluster, and the golden SQL files (examples/*.sql against tests/expected/)
# on a real server started without LD_LIBRARY_PATH.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
XGB_LIB="$PGML_CACHE/xgboost-3.4.0/lib"

log "cargo fmt --check"
cargo fmt --check

log "cargo clippy -D warnings"
cargo clippy --locked --features pg_test --tests -- -D warnings

"$ROOT/scripts/install-libxgboost.sh"

log "cargo pgrx test (unit tests and #[pg_test]s)"
# The test binary links libxgboost itself (outside Postgres): point the loader at it.
PGRX_DATA=/var/tmp/pgml-pgrx-test
if [ "$PGUSER_OS" = postgres ]; then
  mkdir -p "$PGRX_DATA" && chown postgres: "$PGRX_DATA"
  LD_LIBRARY_PATH="$XGB_LIB" cargo pgrx test pg15 --release --runas postgres --pgdata "$PGRX_DATA"
else
  LD_LIBRARY_PATH="$XGB_LIB" cargo pgrx test pg15 --release
fi

log "golden SQL tests (examples/ against tests/expected/)"
REG=/var/tmp/pgml-regress
REG_DATA=/var/tmp/pgml-regress-data
REG_PORT=${PGML_REGRESS_PORT:-5434}
as_pg "$PGBIN/pg_ctl" -D "$REG_DATA" -m immediate stop >/dev/null 2>&1 || true
rm -rf "$REG" "$REG_DATA"
mkdir -p "$REG/sql" "$REG/expected"
cp examples/*.sql "$REG/sql/"
cp tests/expected/*.out "$REG/expected/" 2>/dev/null || true
[ "$PGUSER_OS" = postgres ] && chown -R postgres: "$REG"
"$ROOT/scripts/cluster.sh" start "$REG_PORT" "$REG_DATA" >/dev/null
trap 'as_pg "$PGBIN/pg_ctl" -D "$REG_DATA" -m fast stop >/dev/null 2>&1 || true' EXIT
tests=$(cd examples && ls *.sql | sed 's/\.sql$//' | grep -v '^demo$' | sort)
PG_REGRESS="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress"
set +e
as_pg "$PG_REGRESS" --inputdir="$REG" --outputdir="$REG" --bindir="$PGBIN" \
  --host=127.0.0.1 --port="$REG_PORT" --user=pgml --dbname=pgml_regress $tests
status=$?
set -e
total=$(echo $tests | wc -w)
if [ $status -ne 0 ]; then
  cat "$REG/regression.diffs" 2>/dev/null | head -200
  failed=$(grep -c '^not ok\|FAILED' "$REG/regression.out" 2>/dev/null || echo 1)
  echo "golden: $((total - failed)) passed, $failed failed"
  exit 1
fi
echo "golden: $total passed, 0 failed"
