#!/usr/bin/env bash
# One image, three parts (docker-compose.yml); scripts/topology.sh starts the same three on
# loopback without Docker, and the tests use that.
#   primary    PostgreSQL with pgml preloaded, database and role `pgml`, extension created
#   replica    pg_basebackup from $PRIMARY_HOST, then a streaming standby
#   pgbouncer  PgBouncer in transaction pooling mode: database pgml -> primary,
#              pgml_replica -> replica
# Over the network every connection authenticates with scram-sha-256: the role pgml (owner
# of the database pgml, no superuser) with $PGML_PASSWORD, the role replicator (REPLICATION
# only) with $PGML_REPLICATION_PASSWORD; both are required. The superuser postgres has no
# password and is reached only over the container's local socket.
set -euo pipefail
need() { [ -n "${!1:-}" ] || { echo "pgml-entrypoint: set $1" >&2; exit 1; }; }
PRIMARY_HOST=${PRIMARY_HOST:-primary}
REPLICA_HOST=${REPLICA_HOST:-replica}
POOL_SIZE=${PGML_BOUNCER_POOL:-8}

server_conf() {
  cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
shared_preload_libraries = 'pgml'
password_encryption = 'scram-sha-256'
CONF
  # initdb's own lines come first: local socket trust for the container's postgres user,
  # host lines replaced by these (no trust over any network).
  sed -i '/^host/d' "$PGDATA/pg_hba.conf"
  cat >> "$PGDATA/pg_hba.conf" <<HBA
host replication replicator all scram-sha-256
host all postgres all reject
host all all all scram-sha-256
HBA
}

case "${1:-primary}" in
  primary)
    need PGML_PASSWORD
    need PGML_REPLICATION_PASSWORD
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
      initdb -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >/dev/null
      server_conf
      pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
      # Passwords as psql variables (:'name' quotes them as literals), never in a command line.
      psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres \
        -v pgml_password="$PGML_PASSWORD" -v replication_password="$PGML_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE pgml LOGIN PASSWORD :'pgml_password';
CREATE ROLE replicator REPLICATION LOGIN PASSWORD :'replication_password';
CREATE DATABASE pgml OWNER pgml;
\connect pgml
CREATE EXTENSION pgml;
-- The training grants README.md documents (section Privileges); as the owner of the
-- database, pgml creates its tables (and load_dataset's) in schema public.
GRANT USAGE ON SCHEMA pgml TO pgml;
GRANT EXECUTE ON FUNCTION pgml.train, pgml.train_joint, pgml.snapshot, pgml.load_dataset TO pgml;
SQL
      pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
    exec postgres -D "$PGDATA"
    ;;
  replica)
    need PGML_REPLICATION_PASSWORD
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
      until pg_isready -q -h "$PRIMARY_HOST" -U replicator; do sleep 1; done
      # The primary's first start creates the extension before it listens on the network.
      # -R writes the password into postgresql.auto.conf's primary_conninfo (mode 600).
      PGPASSWORD="$PGML_REPLICATION_PASSWORD" \
        pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -R -X stream -c fast
      chmod 700 "$PGDATA"
    fi
    exec postgres -D "$PGDATA"
    ;;
  pgbouncer)
    need PGML_PASSWORD
    dir=/var/lib/pgml/pgbouncer
    mkdir -p "$dir"
    # The password in clear (mode 600): PgBouncer needs it to log in to the servers with SCRAM.
    umask 077
    printf '"pgml" "%s"\n' "${PGML_PASSWORD//\"/\"\"}" > "$dir/userlist.txt"
    cat > "$dir/pgbouncer.ini" <<INI
[databases]
pgml = host=$PRIMARY_HOST port=5432 dbname=pgml
pgml_replica = host=$REPLICA_HOST port=5432 dbname=pgml

[pgbouncer]
listen_addr = *
listen_port = 6432
auth_type = scram-sha-256
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
