#!/usr/bin/env bash
# Installs everything pgml needs on Debian 12, idempotently: apt packages, cargo-pgrx,
# XGBoost's C++ library, and pgrx's registration of PostgreSQL 15. debootstrap is for
# tests/package.sh (a Debian root to install the package into).
source "$(dirname "$0")/common.sh"

APT_PACKAGES="build-essential pkg-config libssl-dev libclang-dev clang postgresql-15 \
postgresql-server-dev-15 postgresql-contrib sudo cmake ninja-build libopenblas-dev python3 python3-pip python3-venv pgbouncer debootstrap"
missing=$(for p in $APT_PACKAGES; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
  log "apt: installing $(echo $missing)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
# Debian's package starts a cluster on 5432; pgml runs its own, so leave that one alone.

if ! "$PGRX_BIN/cargo-pgrx" pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  log "cargo-pgrx $PGRX_VERSION: installing into $PGML_CACHE (about 15 minutes, once)"
  CARGO_TARGET_DIR="$PGML_CACHE/pgrx-install-target" \
    cargo install cargo-pgrx --version "=$PGRX_VERSION" --locked --root "$PGML_CACHE/cargo-pgrx-$PGRX_VERSION"
  rm -rf "$PGML_CACHE/pgrx-install-target"
fi

if [ ! -x "$CMAKE_PIP/cmake/data/bin/cmake" ]; then
  log "cmake 3.x from PyPI into $CMAKE_PIP (LightGBM needs >= 3.28)"
  python3 -m pip install -q --disable-pip-version-check --target "$CMAKE_PIP" "cmake>=3.28,<4"
fi

"$ROOT/scripts/build-xgboost.sh"
mkdir -p "$ROOT/.cache"
ln -sfn "$PGML_CACHE/xgboost-3.4.0" "$ROOT/.cache/xgboost"

if ! grep -qs "pg15" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
  log "cargo pgrx init --pg15 $PG_CONFIG"
  cargo pgrx init --pg15 "$PG_CONFIG" >/dev/null
fi
