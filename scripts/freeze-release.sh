#!/usr/bin/env bash
# Freezes the release in Cargo.toml: writes its SQL to sql/releases/pgml--<version>.sql,
# records the checksums of that file and of the upgrade scripts into it (sql/pgml--*--<version>.sql)
# in sql/releases/SHA256SUMS, installs the build and records what its library trains and
# predicts (tests/upgrade/record.sh: tests/upgrade/<version>/, restored by every later
# release's upgrade test). The last step of a change of the extension's SQL
# (CONTRIBUTING.md, section Releases). The SQL comes from a non-test build (`cargo pgrx
# schema`), so it has no tests schema. Refuses to overwrite: a released version's SQL and its
# upgrade scripts never change (tests/upgrade.sh checks the sums).
source "$(dirname "$0")/common.sh"
cd "$ROOT"
VERSION=$(crate_version)
OUT="sql/releases/pgml--$VERSION.sql"
SUMS=sql/releases/SHA256SUMS
if [ -e "$OUT" ]; then
  echo "$OUT exists: $VERSION is released. Bump the version in Cargo.toml for your change (CONTRIBUTING.md, section Releases)." >&2
  exit 1
fi
cargo pgrx schema pg15 --release --out "$OUT"
touch "$SUMS"
for f in "$OUT" sql/pgml--*--"$VERSION".sql; do
  [ -f "$f" ] || continue
  grep -q "  $f\$" "$SUMS" || sha256sum "$f" >> "$SUMS"
done
"$ROOT/scripts/install.sh"
"$ROOT/tests/upgrade/record.sh"
echo "froze $OUT; checksums in $SUMS:"
grep -- "--$VERSION.sql" "$SUMS" || true
