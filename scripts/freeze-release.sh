#!/usr/bin/env bash
# Freezes the SQL of the version in Cargo.toml into sql/releases/pgml--<version>.sql: the first
# step of a release that changes the extension's SQL (CONTRIBUTING.md, section Releases), run
# BEFORE the change, so the file is what databases at that release hold. The SQL comes from a
# non-test build (`cargo pgrx schema`), so it has no tests schema. Refuses to overwrite: a
# released version's SQL never changes.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
OUT="sql/releases/pgml--$VERSION.sql"
if [ -e "$OUT" ]; then
  echo "$OUT exists: $VERSION is frozen already. Bump the version in Cargo.toml for your change." >&2
  exit 1
fi
cargo pgrx schema pg15 --release --out "$OUT"
echo "froze $OUT; now bump the version in Cargo.toml and write sql/pgml--$VERSION--<new>.sql"
