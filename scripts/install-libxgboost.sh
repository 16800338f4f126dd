#!/usr/bin/env bash
# pgml.so is linked with rpath $ORIGIN: the server finds libxgboost in its own lib dir.
source "$(dirname "$0")/common.sh"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
libdir=$("$PG_CONFIG" --pkglibdir)
src=$(readlink -f "$PGML_CACHE/xgboost-3.4.0/lib/libxgboost.so")
soname=$(objdump -p "$src" | awk '/SONAME/ {print $2}')
if ! cmp -s "$src" "$libdir/$soname"; then
  $SUDO install -m 0755 "$src" "$libdir/$soname"
fi
