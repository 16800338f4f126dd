#!/usr/bin/env bash
# Builds the Debian package postgresql-15-pgml_<version>_amd64.deb into dist/ (make package):
# pgml.so and the libxgboost it links (RUNPATH $ORIGIN) in Debian's library directory for
# PostgreSQL 15, the control file, the current version's SQL and every upgrade script
# (sql/pgml--A--B.sql) in its extension directory. The SQL comes from a non-test build
# (`cargo pgrx package`), so the package has no `tests` schema.
# tests/package.sh installs it into a Debian root of its own and uses it there.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
PG_MAJOR=$("$PG_CONFIG" --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')
VERSION=$(crate_version)
ARCH=$(dpkg --print-architecture)
NAME="postgresql-$PG_MAJOR-pgml"
STAGE="$PGML_CACHE/package-stage"
DEB="$ROOT/dist/${NAME}_${VERSION}_${ARCH}.deb"
rm -rf "$STAGE"
mkdir -p "$ROOT/dist"

log "cargo pgrx package (a release build without the test schema)"
before_release_build
cargo pgrx package --pg-config "$PG_CONFIG" --out-dir "$STAGE/pgrx"
LIBDIR="usr/lib/postgresql/$PG_MAJOR/lib"
EXTDIR="usr/share/postgresql/$PG_MAJOR/extension"
ROOTFS="$STAGE/root"
mkdir -p "$ROOTFS/$LIBDIR" "$ROOTFS/$EXTDIR" "$ROOTFS/usr/share/doc/$NAME" "$ROOTFS/DEBIAN"
built_lib=$(find "$STAGE/pgrx" -name pgml.so | head -n 1)
built_ext=$(dirname "$(find "$STAGE/pgrx" -name pgml.control | head -n 1)")
# Debug sections out (the dynamic symbols the server looks up stay).
install -m 0644 "$built_lib" "$ROOTFS/$LIBDIR/pgml.so"
if is_test_build "$ROOTFS/$LIBDIR/pgml.so"; then
  echo "package.sh: the library is a pg_test build; touch src/lib.rs and run it again" >&2; exit 1
fi
strip --strip-unneeded "$ROOTFS/$LIBDIR/pgml.so"
xgb=$(readlink -f "$PGML_CACHE/xgboost-3.4.0/lib/libxgboost.so")
soname=$(objdump -p "$xgb" | awk '/SONAME/ {print $2}')
install -m 0644 "$xgb" "$ROOTFS/$LIBDIR/$soname"
strip --strip-unneeded "$ROOTFS/$LIBDIR/$soname"
install -m 0644 "$built_ext/pgml.control" "$built_ext/pgml--$VERSION.sql" "$ROOTFS/$EXTDIR/"
install -m 0644 "$built_ext"/pgml--*--*.sql "$ROOTFS/$EXTDIR/"
# A package that says which release's SQL it carries must carry that release's SQL.
grep -qx "default_version = '$VERSION'" "$ROOTFS/$EXTDIR/pgml.control" ||
  { echo "package.sh: pgml.control's default_version is not $VERSION" >&2; exit 1; }
if grep -q 'SCHEMA IF NOT EXISTS tests\|CREATE SCHEMA tests' "$ROOTFS/$EXTDIR/pgml--$VERSION.sql"; then
  echo "package.sh: the SQL has the test schema: a pg_test build was packaged" >&2; exit 1
fi
install -m 0644 README.md "$ROOTFS/usr/share/doc/$NAME/README.md"
cat > "$ROOTFS/usr/share/doc/$NAME/copyright" <<TXT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: pgml
License: MIT

Files: usr/lib/postgresql/$PG_MAJOR/lib/$soname
License: Apache-2.0
Comment: XGBoost, built from its release sources by scripts/build-xgboost.sh.
TXT
# Every library pgml.so and libxgboost load that the package does not carry comes from a
# dependency: libopenblas0 (BLAS), libgomp1 (OpenMP), libstdc++6, libgcc-s1, libc6; the
# minimum glibc is the newest symbol version the two libraries use.
glibc=$(objdump -T "$ROOTFS/$LIBDIR/pgml.so" "$ROOTFS/$LIBDIR/$soname" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
cat > "$ROOTFS/DEBIAN/control" <<CTL
Package: $NAME
Version: $VERSION
Architecture: $ARCH
Maintainer: pgml maintainers <pgml@localhost>
Section: database
Priority: optional
Depends: postgresql-$PG_MAJOR, libc6 (>= $glibc), libgcc-s1, libstdc++6 (>= 12), libgomp1, libopenblas0
Installed-Size: $(du -sk --exclude=DEBIAN "$ROOTFS" | cut -f1)
Description: machine learning inside PostgreSQL $PG_MAJOR
 pgml trains models on tables and views with pgml.train and serves predictions in
 ordinary queries with pgml.predict: XGBoost, LightGBM, linear models, trees,
 clustering and decomposition, with no Python in the server. Add pgml to
 shared_preload_libraries, then CREATE EXTENSION pgml; ALTER EXTENSION pgml UPDATE
 moves a database to this package's SQL and keeps every model.
CTL
dpkg-deb --root-owner-group -Zxz --build "$ROOTFS" "$DEB" >/dev/null
echo "$DEB ($(du -h "$DEB" | cut -f1), installed $(du -sh --exclude=DEBIAN "$ROOTFS" | cut -f1))"
