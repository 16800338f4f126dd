#!/usr/bin/env bash
# A local PostgreSQL 15 cluster for pgml: `cluster.sh start|stop|psql|status [DATADIR PORT]`.
# The demo cluster lives in .pgml-data/ (ignored by git) on 127.0.0.1:5433, database and
# superuser role `pgml`, trusted from loopback without a password: for demos only.
source "$(dirname "$0")/common.sh"
cmd=${1:-status}
PORT=${2:-${PGML_PORT:-5433}}
DATA=${3:-${PGML_DATA:-}}
if [ -z "$DATA" ]; then
  DATA="$ROOT/.pgml-data"
  # The server runs as `postgres`, which must reach the data dir through every parent.
  if [ "$PGUSER_OS" = postgres ] && ! sudo -u postgres test -x "$ROOT"; then
    DATA=/var/tmp/pgml-demo-data
  fi
fi
PSQL=("$PGBIN/psql" -X -h 127.0.0.1 -p "$PORT")

start() {
  if [ ! -f "$DATA/PG_VERSION" ]; then
    log "initdb $DATA"
    mkdir -p "$DATA"
    [ "$PGUSER_OS" = postgres ] && chown postgres: "$DATA"
    chmod 700 "$DATA"
    as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=trust -E UTF8 >/dev/null
    cat >> "$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATA'
shared_preload_libraries = 'pgml'
# Two-phase commit available (the reliability suite's cache.sh deploys inside PREPARE TRANSACTION).
max_prepared_transactions = 10
CONF
  fi
  if ! as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    log "starting PostgreSQL on 127.0.0.1:$PORT ($DATA)"
    # No LD_LIBRARY_PATH: pgml.so must find libxgboost through its rpath.
    as_pg env -u LD_LIBRARY_PATH "$PGBIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w start >/dev/null
  fi
  "${PSQL[@]}" -U postgres -d postgres -qtA -c "SELECT 1 FROM pg_roles WHERE rolname = 'pgml'" | grep -q 1 ||
    "${PSQL[@]}" -U postgres -d postgres -q -c "CREATE ROLE pgml SUPERUSER LOGIN"
  "${PSQL[@]}" -U postgres -d postgres -qtA -c "SELECT 1 FROM pg_database WHERE datname = 'pgml'" | grep -q 1 ||
    "${PSQL[@]}" -U postgres -d postgres -q -c "CREATE DATABASE pgml OWNER pgml"
}

case "$cmd" in
  start) start ;;
  stop) as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast stop 2>/dev/null || echo "not running ($DATA)" ;;
  psql) shift $(( $# > 0 ? 1 : 0 )); exec "${PSQL[@]}" -U pgml -d pgml ;;
  status) as_pg "$PGBIN/pg_ctl" -D "$DATA" status ;;
  *) echo "usage: $0 start|stop|psql|status" >&2; exit 2 ;;
esac
