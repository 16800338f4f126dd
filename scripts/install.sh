#!/usr/bin/env bash
# Builds pgml (release) and installs it into PostgreSQL 15, with libxgboost next to pgml.so.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
stop_demo_for_install
before_release_build
log "cargo pgrx install --release"
if [ -n "$SUDO" ]; then
  cargo pgrx install --release --pg-config "$PG_CONFIG" --sudo
else
  cargo pgrx install --release --pg-config "$PG_CONFIG"
fi
"$ROOT/scripts/install-libxgboost.sh"
install_release_sql
if is_test_build "$("$PG_CONFIG" --pkglibdir)/pgml.so"; then
  echo "install.sh: a pg_test build was installed; touch src/lib.rs and run it again" >&2; exit 1
fi
