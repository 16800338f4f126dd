#!/usr/bin/env bash
# Records what a release's own library made, for tests/upgrade.sh to restore under every later
# library: tests/upgrade/<version>/trained.dump (pg_dump -Fc of a database that ran train.sql)
# and predictions.out (predict.sql's output there). Run by scripts/freeze-release.sh against
# the installed build of the release being frozen; 0.2.0's were made the same way by a build of
# commit eb81059 (the 0.2.0 release).
#   tests/upgrade/record.sh
source "$(dirname "$0")/../../scripts/common.sh"
HERE="$ROOT/tests/upgrade"
PORT=${PGML_RECORD_PORT:-5440}
DATA=/var/tmp/pgml-record
VERSION=$(installed_version)
OUT="$HERE/$VERSION"
stop() { as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true; }
stop
rm -rf "$DATA"
trap stop EXIT
"$ROOT/scripts/cluster.sh" start "$PORT" "$DATA" >/dev/null
Q=("$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U pgml)
"${Q[@]}" -d pgml -c "CREATE DATABASE recorded"
"${Q[@]}" -d recorded -c "CREATE EXTENSION pgml"
[ "$("${Q[@]}" -d recorded -c "SELECT pgml.version()")" = "$VERSION" ] ||
  { echo "record.sh: the installed library is not $VERSION's" >&2; exit 1; }
"${Q[@]}" -d recorded -f "$HERE/train.sql" >/dev/null
mkdir -p "$OUT"
"${Q[@]}" -d recorded -f "$HERE/predict.sql" > "$OUT/predictions.out"
"$PGBIN/pg_dump" -h 127.0.0.1 -p "$PORT" -U pgml -Fc -Z 9 -f "$OUT/trained.dump" recorded
echo "recorded $OUT: $(wc -l < "$OUT/predictions.out") predictions, dump $(du -h "$OUT/trained.dump" | cut -f1)"
