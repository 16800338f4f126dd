#!/usr/bin/env bash
# The release policy and the upgrade path (issue 35; README.md, section Upgrading; how to add
# a release: CONTRIBUTING.md). Against the installed library (scripts/install.sh, a non-test
# build), on a cluster of its own:
#   1. policy: every sql/pgml--A--B.sql starts at a release frozen in sql/releases/; every
#      frozen release has an update path to the crate's version (pg_extension_update_paths);
#      pgml.so exports every C symbol that any frozen release's SQL names;
#   2. per frozen release R: a database created at R (this library under R's SQL) trains
#      xgboost, lightgbm, linear, random_forest (smartcore), kmeans, and xgboost on a
#      materialized snapshot, deploys; its predictions (every form) and catalog rows are
#      recorded and it is dumped; ALTER EXTENSION pgml UPDATE; predictions and rows are
#      identical from a new session, and its schema (pg_dump --binary-upgrade: every member
#      object) equals a database created fresh at the current version that ran the same
#      training; the dump taken at R restores into a new database with identical predictions;
#   3. no backend crashed (the postmaster never restarted).
#   tests/upgrade.sh      (run by scripts/test.sh)
source "$(dirname "$0")/../scripts/common.sh"
HERE="$ROOT/tests/upgrade"
PORT=${PGML_UPGRADE_PORT:-5438}
DATA=${PGML_UPGRADE_DIR:-/var/tmp/pgml-upgrade}
WORK=${DATA}-work
stop() { as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true; }
stop
rm -rf "$DATA" "$WORK"
mkdir -p "$WORK"
trap stop EXIT
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
# diff_check NAME FILE_A FILE_B: the files are identical (the diff is shown when not).
diff_check() {
  if diff -u "$2" "$3" > "$WORK/diff" ; then check "$1" same same
  else head -40 "$WORK/diff" >&2; check "$1" "differs ($(grep -c '^[-+][^-+]' "$WORK/diff") lines)" same; fi
}

CURRENT=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)
EXTDIR="$("$PG_CONFIG" --sharedir)/extension"
LIB="$("$PG_CONFIG" --pkglibdir)/pgml.so"
mapfile -t RELEASES < <(cd "$ROOT/sql/releases" && ls pgml--*.sql | sed 's/^pgml--\(.*\)\.sql$/\1/' | sort -V)
log "upgrade: releases frozen in sql/releases: ${RELEASES[*]}; the crate is at $CURRENT"

log "upgrade: the policy"
for script in "$ROOT"/sql/pgml--*--*.sql; do
  from=$(basename "$script" | sed 's/^pgml--\(.*\)--.*\.sql$/\1/')
  check "$(basename "$script") starts at a frozen release (sql/releases/pgml--$from.sql)" \
    "$([ -f "$ROOT/sql/releases/pgml--$from.sql" ] && echo yes || echo no)" yes
done
check "the installed control file's default_version is the crate's" \
  "$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$EXTDIR/pgml.control")" "$CURRENT"
check "at least one release older than $CURRENT is frozen" \
  "$(printf '%s\n' "${RELEASES[@]}" | grep -vxc "$CURRENT")" "${#RELEASES[@]}"
exported=$(nm -D --defined-only "$LIB" | awk '{print $3}' | sort -u)
for r in "${RELEASES[@]}"; do
  missing=$(grep -o "'MODULE_PATHNAME', *'[A-Za-z0-9_]*'" "$ROOT/sql/releases/pgml--$r.sql" |
    sed "s/.*, *'\(.*\)'/\1/" | sort -u | comm -23 - <(echo "$exported") | tr '\n' ' ')
  check "pgml.so exports every C symbol release $r's SQL names" "${missing:-none}" none
done

"$ROOT/scripts/cluster.sh" start "$PORT" "$DATA" >/dev/null
Q=("$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U pgml)
DUMP=("$PGBIN/pg_dump" -h 127.0.0.1 -p "$PORT" -U pgml)
started=$("${Q[@]}" -d pgml -c "SELECT pg_postmaster_start_time()")
for r in "${RELEASES[@]}"; do
  path=$("${Q[@]}" -d pgml -c "SELECT coalesce(path, 'none') FROM pg_catalog.pg_extension_update_paths('pgml')
                                 WHERE source = '$r' AND target = '$CURRENT'")
  [ "$r" = "$CURRENT" ] || check "an update path from $r to $CURRENT" "$([ "$path" != none ] && echo yes)" yes
done

# Catalog rows in the columns a table had at the earlier release, model bytes as md5 per part,
# and the materialized snapshots' rows.
catalog_rows() {
  local db=$1 t
  for t in projects snapshots models deployments project_privileges; do
    "${Q[@]}" -d "$db" -c "SELECT '$t', ROW(${COLS[$t]})::text FROM pgml.$t ORDER BY 2"
  done
  "${Q[@]}" -d "$db" -c "SELECT 'files', model_id, path, part, md5(data) FROM pgml.files ORDER BY 2, 3, 4"
  for t in $("${Q[@]}" -d "$db" -c "SELECT relname FROM pg_catalog.pg_class
              WHERE relnamespace = 'pgml'::regnamespace AND relname LIKE 'snapshot\_%' AND relkind = 'r' ORDER BY 1"); do
    "${Q[@]}" -d "$db" -c "SELECT '$t', count(*), md5(string_agg(s::text, ',' ORDER BY s::text)) FROM pgml.$t s"
  done
}
schema_of() {
  as_pg "$PGBIN/pg_dump" -h 127.0.0.1 -p "$PORT" -U postgres --schema-only --binary-upgrade "$1" > "$WORK/$1.dump.sql"
  python3 "$HERE/normalize_dump.py" "$WORK/$1.dump.sql"
}

# The reference: a fresh install of the current version that ran the same training.
"${Q[@]}" -d pgml -c "CREATE DATABASE fresh" -c "CREATE DATABASE fresh_empty"
"${Q[@]}" -d fresh -c "CREATE EXTENSION pgml" -f "$HERE/train.sql" >/dev/null
"${Q[@]}" -d fresh_empty -c "CREATE EXTENSION pgml"
schema_of fresh > "$WORK/fresh.schema"
schema_of fresh_empty > "$WORK/fresh_empty.schema"

for r in "${RELEASES[@]}"; do
  [ "$r" = "$CURRENT" ] && continue
  db="at_${r//./_}"
  log "upgrade: from $r"
  "${Q[@]}" -d pgml -c "CREATE DATABASE $db" -c "CREATE DATABASE ${db}_empty"
  "${Q[@]}" -d "$db" -c "CREATE EXTENSION pgml VERSION '$r'"
  "${Q[@]}" -d "${db}_empty" -c "CREATE EXTENSION pgml VERSION '$r'"
  check "$db is at $r, served by library $CURRENT" \
    "$("${Q[@]}" -d "$db" -c "SELECT extversion || ' ' || pgml.version() FROM pg_catalog.pg_extension WHERE extname = 'pgml'")" "$r $CURRENT"
  "${Q[@]}" -d "$db" -f "$HERE/train.sql" > "$WORK/$db.train.out"
  check "six projects trained and deployed at $r" \
    "$("${Q[@]}" -d "$db" -c "SELECT count(DISTINCT project_id) FROM pgml.deployments")" 6
  declare -A COLS=()
  for t in projects snapshots models deployments project_privileges; do
    COLS[$t]=$("${Q[@]}" -d "$db" -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum)
                 FROM pg_catalog.pg_attribute WHERE attrelid = 'pgml.$t'::pg_catalog.regclass AND attnum > 0 AND NOT attisdropped")
  done
  "${Q[@]}" -d "$db" -f "$HERE/predict.sql" > "$WORK/$db.before.predictions"
  catalog_rows "$db" > "$WORK/$db.before.catalog"
  "${DUMP[@]}" -Fc -f "$WORK/$db.dump" "$db"
  check "predictions recorded at $r" "$(wc -l < "$WORK/$db.before.predictions")" \
    "$(( 442 * 4 + 1 + 150 * 5 ))"

  "${Q[@]}" -d "$db" -c "ALTER EXTENSION pgml UPDATE"
  "${Q[@]}" -d "${db}_empty" -c "ALTER EXTENSION pgml UPDATE"
  check "$db updated to $CURRENT" \
    "$("${Q[@]}" -d "$db" -c "SELECT extension || ' ' || update_available FROM pgml.versions()")" "$CURRENT false"
  "${Q[@]}" -d "$db" -f "$HERE/predict.sql" > "$WORK/$db.after.predictions"
  diff_check "every prediction identical after the update from $r" "$WORK/$db.before.predictions" "$WORK/$db.after.predictions"
  catalog_rows "$db" > "$WORK/$db.after.catalog"
  diff_check "catalog rows and model bytes intact after the update from $r" "$WORK/$db.before.catalog" "$WORK/$db.after.catalog"
  schema_of "$db" > "$WORK/$db.schema"
  diff_check "schema updated from $r (trained) equals a fresh $CURRENT's" "$WORK/fresh.schema" "$WORK/$db.schema"
  schema_of "${db}_empty" > "$WORK/${db}_empty.schema"
  diff_check "schema updated from $r (empty) equals a fresh $CURRENT's" "$WORK/fresh_empty.schema" "$WORK/${db}_empty.schema"
  "${Q[@]}" -d "$db" -c "SET pgml.training_progress = off" -c "SELECT count(*) FROM pgml.train('up xgboost', algorithm => 'lightgbm')" >/dev/null
  check "training after the update from $r deploys" \
    "$("${Q[@]}" -d "$db" -c "SELECT algorithm FROM pgml.deployed_models WHERE name = 'up xgboost'")" lightgbm

  "${Q[@]}" -d pgml -c "CREATE DATABASE ${db}_restored"
  restored=$("$PGBIN/pg_restore" -h 127.0.0.1 -p "$PORT" -U pgml --exit-on-error -d "${db}_restored" "$WORK/$db.dump" 2>&1 && echo ok || echo failed)
  check "the dump taken at $r restores into $CURRENT" "$(tail -n 1 <<< "$restored")" ok
  check "the restored database is at $CURRENT" \
    "$("${Q[@]}" -d "${db}_restored" -c "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgml'")" "$CURRENT"
  "${Q[@]}" -d "${db}_restored" -f "$HERE/predict.sql" > "$WORK/$db.restored.predictions"
  diff_check "every prediction identical in the database restored from $r's dump" "$WORK/$db.before.predictions" "$WORK/$db.restored.predictions"
done

check "the postmaster never restarted (no backend crashed)" \
  "$("${Q[@]}" -d pgml -c "SELECT pg_postmaster_start_time()")" "$started"
if grep -E 'terminated by signal|was terminated' "$DATA/server.log"; then check "no backend crashed" crashed none; fi
echo "upgrade: $((checks - failed)) of $checks checks passed"
[ "$failed" = 0 ]
