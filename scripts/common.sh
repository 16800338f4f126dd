# Shared settings for the scripts (sourced). Everything slow to build lives in PGML_CACHE,
# outside the checkout, so a second run on the same machine reuses it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${PGML_CACHE:=$HOME/.cache/pgml}"
: "${CARGO_TARGET_DIR:=$PGML_CACHE/target}"
: "${PG_CONFIG:=/usr/lib/postgresql/15/bin/pg_config}"
PGRX_VERSION=0.18.1
PGRX_BIN="$PGML_CACHE/cargo-pgrx-$PGRX_VERSION/bin"
PGBIN=$("$PG_CONFIG" --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
# LightGBM's build needs cmake >= 3.28 (Debian 12 has 3.25): setup.sh puts one from PyPI
# here, and the cmake crate that builds LightGBM runs whatever $CMAKE names.
CMAKE_PIP="$PGML_CACHE/cmake-pip"
[ -x "$CMAKE_PIP/cmake/data/bin/cmake" ] && export CMAKE="$CMAKE_PIP/cmake/data/bin/cmake"
export PGML_CACHE CARGO_TARGET_DIR PG_CONFIG
export PATH="$PGRX_BIN:$HOME/.cargo/bin:$PATH"

# Postgres refuses to run as root: as root, run the server and its tools as `postgres`.
if [ "$(id -u)" = 0 ]; then
  PGUSER_OS=postgres
  as_pg() { sudo -u postgres -H -- "$@"; }
else
  PGUSER_OS=$(id -un)
  as_pg() { "$@"; }
fi

log() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# cargo-pgrx copies pgml.so over the installed file in place; a running server that has it
# mapped (shared_preload_libraries) then crashes. Stop the demo cluster around installs.
DEMO_WAS_RUNNING=""
stop_demo_for_install() {
  if "$ROOT/scripts/cluster.sh" status >/dev/null 2>&1; then
    DEMO_WAS_RUNNING=1
    "$ROOT/scripts/cluster.sh" stop >/dev/null
  fi
}
restart_demo_if_stopped() {
  if [ -n "$DEMO_WAS_RUNNING" ]; then "$ROOT/scripts/cluster.sh" start >/dev/null; fi
}

# PgBouncer on loopback in transaction pooling, trusting the roles pgml and postgres without
# a password, as the clusters do: for the demo topology and the benchmarks, not production.
# Writes DIR/userlist.txt and DIR/pgbouncer.ini (as the server's OS user), starts it, and
# waits until it answers. start_pgbouncer DIR PORT POOL "db = host=... port=... dbname=..."...
start_pgbouncer() {
  local dir=$1 port=$2 pool=$3
  shift 3
  printf '"pgml" ""\n"postgres" ""\n' | as_pg tee "$dir/userlist.txt" >/dev/null
  { echo "[databases]"; printf '%s\n' "$@"; cat <<INI

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = $pool
max_client_conn = 1000
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
admin_users = pgml
INI
  } | as_pg tee "$dir/pgbouncer.ini" >/dev/null
  as_pg "${PGBOUNCER:-/usr/sbin/pgbouncer}" -d -q "$dir/pgbouncer.ini"
  for _ in $(seq 50); do
    "$PGBIN/psql" -X -h 127.0.0.1 -p "$port" -U pgml -d pgml -c "SELECT 1" >/dev/null 2>&1 && return
    sleep 0.1
  done
  "$PGBIN/psql" -X -h 127.0.0.1 -p "$port" -U pgml -d pgml -c "SELECT 1" >/dev/null
}

# The version in Cargo.toml (the release being built), and the one the installed control file
# makes CREATE EXTENSION install.
crate_version() { awk -F'"' '/^version = /{print $2; exit}' "$ROOT/Cargo.toml"; }
installed_version() {
  sed -n "s/^default_version = '\(.*\)'/\1/p" "$("$PG_CONFIG" --sharedir)/extension/pgml.control"
}

# check NAME GOT WANT, for the release tests (tests/upgrade.sh, tests/package.sh): counts a
# failure when GOT is not WANT, and says ok or FAIL.
failed=0 checks=0
check() {
  checks=$((checks + 1))
  if [ "$2" != "$3" ]; then
    failed=$((failed + 1))
    echo "FAIL: $1: got '$2', want '$3'" >&2
  else
    echo "  ok: $1"
  fi
}

# The frozen SQL of earlier releases (sql/releases/): cargo pgrx installs only the current
# version's script and the upgrade scripts (sql/pgml--A--B.sql), and CREATE EXTENSION pgml
# VERSION 'A' (tests/upgrade.sh) needs A's full script.
install_release_sql() {
  local dir
  dir="$("$PG_CONFIG" --sharedir)/extension"
  if [ "$(id -u)" = 0 ]; then install -m 644 "$ROOT"/sql/releases/pgml--*.sql "$dir/"
  else sudo install -m 644 "$ROOT"/sql/releases/pgml--*.sql "$dir/"; fi
}

# cargo keeps one target/release/libpgml.so for every feature set, and a build whose inputs did
# not change leaves there what another set's build wrote (cargo pgrx test builds with pg_test).
# A pg_test library exports pgml_pg_test_build (src/tests/mod.rs).
is_test_build() {
  local syms
  syms=$(nm -D --defined-only "$1" 2>/dev/null || true)
  grep -q ' pgml_pg_test_build$' <<< "$syms"
}
# Before a release build: a test library in the target directory makes cargo rebuild pgml.
before_release_build() {
  if is_test_build "$CARGO_TARGET_DIR/release/libpgml.so"; then touch "$ROOT/src/lib.rs"; fi
}
