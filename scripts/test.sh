#!/usr/bin/env bash
# Every test (CONTRIBUTING.md names the layers): formatting and lints of the whole workspace,
# the core crate's unit tests (crates/pgml-core: `cargo test`, no Postgres), the extension's
# #[test]s and #[pg_test]s in a throwaway cluster, and the golden SQL files (examples/*.sql
# against tests/expected/) on a real server started without LD_LIBRARY_PATH.
# Then the serving topology's tests (scripts/topology.sh: a primary, a streaming replica and
# PgBouncer): tests/replica.sh and tests/pgbouncer.sh; and tests/compose.sh validates
# docker-compose.yml, the same topology for Docker.
# tests/reliability/run.sh runs the bad-input corpus against a server of its own.
# The release stages (issue 35): scripts/install.sh puts a non-test build in place, then
# tests/upgrade.sh checks the release policy and ALTER EXTENSION pgml UPDATE from every frozen
# release, and tests/package.sh builds the Debian package and installs it into a Debian root
# of its own.
# PGML_TEST_STAGES picks stages for development
# (default: all of "lint core pgrx topology reliability upgrade package golden").
source "$(dirname "$0")/common.sh"
cd "$ROOT"
XGB_LIB="$PGML_CACHE/xgboost-3.4.0/lib"
STAGES=${PGML_TEST_STAGES:-lint core pgrx topology reliability upgrade package golden}
stage() { [[ " $STAGES " == *" $1 "* ]]; }

if stage lint; then
log "cargo fmt --check (workspace)"
cargo fmt --all --check

log "cargo clippy -D warnings (workspace)"
# --release: share the release build's C++ libraries (build scripts run once per profile).
cargo clippy --workspace --release --locked --features pgml/pg_test --tests --benches -- -D warnings

log "documented commands are executable"
tests/documented_commands.sh

log "layers: no upward or sideways import in src/ (api -> train/serve -> catalog/pg -> core)"
tests/layers.sh

log "benchmark scripts parse (they run outside the tests: a syntax error would rot unseen)"
for f in benches/*/*.sh; do bash -n "$f"; done
python3 - benches/*/*.py <<'PY'
import ast, sys
for path in sys.argv[1:]:
    ast.parse(open(path).read(), path)
PY
# The serving probes' C (benches/serving/probes.c) against this server's headers.
gcc -fsyntax-only -Wall -Werror -I"$("$PG_CONFIG" --includedir-server)" benches/serving/*.c

fi

"$ROOT/scripts/install-libxgboost.sh"
stop_demo_for_install
trap restart_demo_if_stopped EXIT

if stage core; then
log "cargo test -p pgml-core (the pgrx-free core: no Postgres, no cargo pgrx)"
# The test binary links libxgboost (outside Postgres): point the loader at it.
LD_LIBRARY_PATH="$XGB_LIB" cargo test -p pgml-core --release --locked
fi

if stage pgrx; then
log "cargo pgrx test (unit tests and #[pg_test]s)"
# The test binary links libxgboost itself (outside Postgres): point the loader at it.
PGRX_DATA=/var/tmp/pgml-pgrx-test
if [ "$PGUSER_OS" = postgres ]; then
  mkdir -p "$PGRX_DATA" && chown postgres: "$PGRX_DATA"
  LD_LIBRARY_PATH="$XGB_LIB" cargo pgrx test pg15 --release --runas postgres --pgdata "$PGRX_DATA"
else
  LD_LIBRARY_PATH="$XGB_LIB" cargo pgrx test pg15 --release
fi
fi

if stage topology; then
log "read replica: train on a primary, serve and redeploy on a streaming replica"
"$ROOT/tests/replica.sh"
log "PgBouncer: pooled clients predict while deployments change"
"$ROOT/tests/pgbouncer.sh"
log "docker-compose.yml: the same topology for Docker, validated"
"$ROOT/tests/compose.sh"
fi

if stage reliability; then
log "reliability: the bad-input corpus (tests/reliability/)"
"$ROOT/tests/reliability/run.sh"
fi

if stage upgrade; then
log "upgrade: the release policy and ALTER EXTENSION pgml UPDATE from every frozen release"
# cargo pgrx test installed a pg_test build (its SQL has a tests schema): the upgrade is
# compared against what users install.
"$ROOT/scripts/install.sh"
"$ROOT/tests/upgrade.sh"
fi

if stage package; then
log "package: make package, installed into a Debian root of its own"
deb=$("$ROOT/scripts/package.sh" | tail -n 1 | cut -d' ' -f1)
if [ "$(id -u)" = 0 ]; then
  PGML_DEB="$deb" "$ROOT/tests/package.sh"
else
  sudo env PGML_DEB="$deb" PGML_CACHE="$PGML_CACHE" CARGO_TARGET_DIR="$CARGO_TARGET_DIR" "$ROOT/tests/package.sh"
fi
fi

stage golden || exit 0

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
trap 'as_pg "$PGBIN/pg_ctl" -D "$REG_DATA" -m fast stop >/dev/null 2>&1 || true; restart_demo_if_stopped' EXIT
# demo first (it loads the datasets the README shows), then the rest in name order.
tests="demo $(cd examples && ls *.sql | sed 's/\.sql$//' | grep -v '^demo$' | sort | tr '\n' ' ')"
for t in $tests; do
  if [ ! -f "tests/expected/$t.out" ]; then
    echo "missing tests/expected/$t.out: review /var/tmp/pgml-regress/results/$t.out after a run, then make golden-update" >&2
    touch "$REG/expected/$t.out"
    missing=1
  fi
done
PG_REGRESS="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress"
set +e
# Progress INFO messages depend on timing: keep them out of the compared output.
as_pg env PGOPTIONS="-c pgml.training_progress=off" "$PG_REGRESS" --inputdir="$REG" --outputdir="$REG" --bindir="$PGBIN" \
  --host=127.0.0.1 --port="$REG_PORT" --user=pgml --dbname=pgml_regress $tests
status=$?
set -e
[ -n "${missing:-}" ] && status=1
# Every backend must have exited cleanly (a crash at exit would not show in any output).
if grep -E 'terminated by signal|was terminated' "$REG_DATA/server.log"; then
  echo "a backend crashed: see $REG_DATA/server.log" >&2
  status=1
fi
total=$(echo $tests | wc -w)
if [ $status -ne 0 ]; then
  cat "$REG/regression.diffs" 2>/dev/null | head -200
  failed=$(grep -c '^not ok\|FAILED' "$REG/regression.out" 2>/dev/null || echo 1)
  echo "golden: $((total - failed)) passed, $failed failed"
  exit 1
fi
echo "golden: $total passed, 0 failed"

# Concurrent writes that read pgml.predict, with the prediction scan on and off
# (tests/isolation/specs; pg_isolation_regress ships with postgresql-server-dev-15).
log "isolation tests (tests/isolation/specs against tests/isolation/expected/)"
ISO="$REG/isolation"
mkdir -p "$ISO"
cp -r tests/isolation/specs tests/isolation/expected "$ISO/"
[ "$PGUSER_OS" = postgres ] && chown -R postgres: "$ISO"
specs=$(cd tests/isolation/specs && ls *.spec | sed 's/\.spec$//' | tr '\n' ' ')
set +e
as_pg env PGOPTIONS="-c pgml.training_progress=off" "$(dirname "$PG_REGRESS")/../isolation/pg_isolation_regress" \
  --inputdir="$ISO" --outputdir="$ISO" --bindir="$PGBIN" \
  --host=127.0.0.1 --port="$REG_PORT" --user=pgml --dbname=pgml_isolation $specs
status=$?
set -e
if [ $status -ne 0 ]; then
  cat "$ISO/regression.diffs" 2>/dev/null | head -200
  echo "isolation: failed (results in $ISO/output_iso/)"
  exit 1
fi
echo "isolation: $(echo $specs | wc -w) passed"
