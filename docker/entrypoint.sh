#!/usr/bin/env bash
# One image, three parts (docker-compose.yml); scripts/topology.sh starts the same three on
# loopback without Docker, and the tests use that.
#   primary    PostgreSQL with pgml preloaded, database and role `pgml`, extension created
#   replica    pg_basebackup from $PRIMARY_HOST, then a streaming standby
#   pgbouncer  PgBouncer in transaction pooling mode: database pgml -> primary,
#              pgml_replica -> replica
# Authentication is trust inside the compose network: a demo topology, not a production one.
set -euo pipefail
PRIMARY_HOST=${PRIMARY_HOST:-primary}
REPLICA_HOST=${REPLICA_HOST:-replica}
POOL_SIZE=${PGML_BOUNCER_POOL:-8}

server_conf() {
  cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
shared_preload_libraries = 'pgml'
CONF
  cat >> "$PGDATA/pg_hba.conf" <<HBA
host all all 0.0.0.0/0 trust
host replication all 0.0.0.0/0 trust
HBA
}

case "${1:-primary}" in
  primary)
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
      initdb -D "$PGDATA" -U postgres --auth-local=trust --auth-host=trust -E UTF8 >/dev/null
      server_conf
      pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
      psql -X -q -U postgres -d postgres -c "CREATE ROLE pgml SUPERUSER LOGIN" -c "CREATE DATABASE pgml OWNER pgml"
      psql -X -q -U pgml -d pgml -c "CREATE EXTENSION pgml"
      pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
    exec postgres -D "$PGDATA"
    ;;
  replica)
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
      until pg_isready -q -h "$PRIMARY_HOST" -U postgres; do sleep 1; done
      # The primary's first start creates the extension before it listens on the network.
      pg_basebackup -h "$PRIMARY_HOST" -U postgres -D "$PGDATA" -R -X stream -c fast
      chmod 700 "$PGDATA"
    fi
    exec postgres -D "$PGDATA"
    ;;
  pgbouncer)
    dir=/var/lib/pgml/pgbouncer
    mkdir -p "$dir"
    printf '"pgml" ""\n"postgres" ""\n' > "$dir/userlist.txt"
    cat > "$dir/pgbouncer.ini" <<INI
[databases]
pgml = host=$PRIMARY_HOST port=5432 dbname=pgml
pgml_replica = host=$REPLICA_HOST port=5432 dbname=pgml

[pgbouncer]
listen_addr = *
listen_port = 6432
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = $POOL_SIZE
max_client_conn = 1000
admin_users = pgml
INI
    exec pgbouncer "$dir/pgbouncer.ini"
    ;;
  *)
    exec "$@"
    ;;
esac
