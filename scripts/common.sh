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
