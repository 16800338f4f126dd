#!/usr/bin/env bash
# The serving topology without Docker (the same one docker-compose.yml describes): a
# primary with pgml, a streaming replica made by pg_basebackup, and PgBouncer in transaction
# pooling mode in front of the primary, all on loopback.
#   scripts/topology.sh start    primary 5435, replica 5436, PgBouncer 6435 (fresh each time)
#   scripts/topology.sh stop
#   scripts/topology.sh sync     waits until the replica has replayed all the primary wrote
# Ports and directories come from PGML_PRIMARY_PORT, PGML_REPLICA_PORT, PGML_BOUNCER_PORT
# and PGML_TOPOLOGY_DIR. The tests (tests/replica.sh, tests/pgbouncer.sh) and the serving
# bench start it through this script.
source "$(dirname "$0")/common.sh"
P_PORT=${PGML_PRIMARY_PORT:-5435}
R_PORT=${PGML_REPLICA_PORT:-5436}
B_PORT=${PGML_BOUNCER_PORT:-6435}
DIR=${PGML_TOPOLOGY_DIR:-/var/tmp/pgml-topology}
P_DATA=$DIR/primary
R_DATA=$DIR/replica
B_DIR=$DIR/pgbouncer
# PgBouncer's pool: enough server connections to keep 2 cores busy, few enough that 100
# clients share them (the point of a pooler); overridable for the curve in benches/serving.
POOL_SIZE=${PGML_BOUNCER_POOL:-8}
PGBOUNCER=${PGBOUNCER:-/usr/sbin/pgbouncer}

psql_at() { "$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$1" -U pgml -d pgml -v ON_ERROR_STOP=1 "${@:2}"; }

stop() {
  if [ -f "$B_DIR/pgbouncer.pid" ]; then
    as_pg kill "$(cat "$B_DIR/pgbouncer.pid")" 2>/dev/null || true
    for _ in $(seq 50); do [ -f "$B_DIR/pgbouncer.pid" ] || break; sleep 0.1; done
  fi
  for d in "$R_DATA" "$P_DATA"; do
    [ -f "$d/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true
  done
}

sync_replica() {
  local lsn
  lsn=$(psql_at "$P_PORT" -c "SELECT pg_current_wal_lsn()")
  for _ in $(seq 300); do
    [ "$(psql_at "$R_PORT" -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] && return 0
    sleep 0.1
  done
  echo "replica on $R_PORT did not catch up with the primary" >&2
  return 1
}

start() {
  stop
  rm -rf "$DIR"
  mkdir -p "$DIR" "$B_DIR"
  [ "$PGUSER_OS" = postgres ] && chown postgres: "$DIR" "$B_DIR"

  log "primary on 127.0.0.1:$P_PORT"
  "$ROOT/scripts/cluster.sh" start "$P_PORT" "$P_DATA" >/dev/null
  psql_at "$P_PORT" -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pgml"

  log "replica on 127.0.0.1:$R_PORT (pg_basebackup, streaming)"
  as_pg "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$P_PORT" -U postgres -D "$R_DATA" -R -X stream -c fast
  printf "port = %s\nunix_socket_directories = '%s'\n" "$R_PORT" "$R_DATA" | as_pg tee -a "$R_DATA/postgresql.conf" >/dev/null
  as_pg env -u LD_LIBRARY_PATH "$PGBIN/pg_ctl" -D "$R_DATA" -l "$R_DATA/server.log" -w start >/dev/null

  log "PgBouncer on 127.0.0.1:$B_PORT (transaction pooling, $POOL_SIZE server connections)"
  start_pgbouncer "$B_DIR" "$B_PORT" "$POOL_SIZE" \
    "pgml = host=127.0.0.1 port=$P_PORT dbname=pgml" \
    "pgml_replica = host=127.0.0.1 port=$R_PORT dbname=pgml"
  sync_replica
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  sync) sync_replica ;;
  *) echo "usage: $0 start|stop|sync" >&2; exit 2 ;;
esac
