#!/usr/bin/env bash
# The release policy and the upgrade path (issue 35; README.md, section Upgrading; how to add
# a release: CONTRIBUTING.md, section Releases). Against the installed library
# (scripts/install.sh, a non-test build), on a cluster of its own:
#   1. policy: the crate's version is frozen in sql/releases/ and the installed build's SQL
#      for it has the same statements as the frozen file (a released SQL never changes);
#      sql/releases/SHA256SUMS lists every frozen file and upgrade script, unchanged; every
#      sql/pgml--A--B.sql starts at a frozen release; every frozen release has an update path
#      to the crate's version (pg_extension_update_paths) and a recording by its own library
#      in tests/upgrade/<release>/; pgml.so exports every C symbol any frozen release's SQL names;
#   2. per frozen release R older than the crate: a database created at R (this library under
#      R's SQL) trains xgboost, lightgbm, linear, random_forest (smartcore), kmeans, and xgboost
#      on a materialized snapshot, deploys; its predictions (every form) and catalog rows are
#      recorded and it is dumped; ALTER EXTENSION pgml UPDATE; predictions and rows are
#      identical from a new session, its schema (pg_dump --binary-upgrade: every member
#      object) equals a database created fresh at the current version that ran the same
#      training, training goes on; the dump taken at R restores into a new database with
#      identical predictions;
#   3. per release R recorded by its own library (tests/upgrade/<R>/, tests/upgrade/record.sh):
#      the dump restored into a database at R's SQL serves R's recorded predictions under this
#      library, and again after ALTER EXTENSION pgml UPDATE; restored into a fresh database at
#      the current version, the same;
#   4. no backend crashed.
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
# diff_check NAME FILE_A FILE_B: the files are identical (the diff is shown when not).
diff_check() {
  if diff -u "$2" "$3" > "$WORK/diff" ; then check "$1" same same
  else head -40 "$WORK/diff" >&2; check "$1" "differs ($(grep -c '^[-+][^-+]' "$WORK/diff") lines)" same; fi
}

CURRENT=$(crate_version)
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
  "$(installed_version)" "$CURRENT"
check "release $CURRENT (the crate's version) is frozen in sql/releases/ (scripts/freeze-release.sh)" \
  "$([ -f "$ROOT/sql/releases/pgml--$CURRENT.sql" ] && echo yes || echo no)" yes
if [ -f "$ROOT/sql/releases/pgml--$CURRENT.sql" ]; then
  if python3 "$HERE/same_sql.py" "$ROOT/sql/releases/pgml--$CURRENT.sql" "$EXTDIR/pgml--$CURRENT.sql" > "$WORK/same_sql"; then
    check "the build's SQL for $CURRENT has the frozen release's statements" same same
  else
    head -40 "$WORK/same_sql" >&2
    echo "Release $CURRENT is out: a change of the SQL is a new release (CONTRIBUTING.md, section Releases)." >&2
    check "the build's SQL for $CURRENT has the frozen release's statements" differs same
  fi
fi
check "at least one release older than $CURRENT is frozen" \
  "$(printf '%s\n' "${RELEASES[@]}" | grep -vxc "$CURRENT" || true)" "$(( ${#RELEASES[@]} - 1 ))"
sums=$(cd "$ROOT" && sha256sum -c --quiet sql/releases/SHA256SUMS 2>&1 && echo ok || true)
check "sql/releases/SHA256SUMS: released SQL and upgrade scripts unchanged" "$(tail -n 1 <<< "$sums")" ok
for f in "$ROOT"/sql/releases/pgml--*.sql "$ROOT"/sql/pgml--*--*.sql; do
  rel=${f#"$ROOT/"}
  check "$rel is listed in sql/releases/SHA256SUMS" "$(grep -c "  $rel\$" "$ROOT/sql/releases/SHA256SUMS" || true)" 1
done
exported=$(nm -D --defined-only "$LIB" | awk '{print $3}' | sort -u)
for r in "${RELEASES[@]}"; do
  missing=$(grep -o "'MODULE_PATHNAME', *'[A-Za-z0-9_]*'" "$ROOT/sql/releases/pgml--$r.sql" |
    sed "s/.*, *'\(.*\)'/\1/" | sort -u | comm -23 - <(echo "$exported") | tr '\n' ' ' || true)
  check "pgml.so exports every C symbol release $r's SQL names" "${missing:-none}" none
  check "release $r has a recording by its own library (tests/upgrade/$r/)" \
    "$([ -s "$HERE/$r/trained.dump" ] && [ -s "$HERE/$r/predictions.out" ] && echo yes || echo no)" yes
done

"$ROOT/scripts/cluster.sh" start "$PORT" "$DATA" >/dev/null
Q=("$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U pgml)
DUMP=("$PGBIN/pg_dump" -h 127.0.0.1 -p "$PORT" -U pgml)
started=$("${Q[@]}" -d pgml -c "SELECT pg_postmaster_start_time()")
for r in "${RELEASES[@]}"; do
  path=$("${Q[@]}" -d pgml -c "SELECT coalesce(path, 'none') FROM pg_catalog.pg_extension_update_paths('pgml')
                                 WHERE source = '$r' AND target = '$CURRENT'")
  [ "$r" = "$CURRENT" ] || check "an update path from $r to $CURRENT" "$([ -n "$path" ] && [ "$path" != none ] && echo yes || echo no)" yes
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
  "${Q[@]}" -d "$db" -c "SET pgml.training_progress = off" -c "SELECT count(*) FROM pgml.train('up xgboost', algorithm => 'lightgbm')" \
    -c "SELECT count(*) FROM pgml.deploy('up xgboost', 'most_recent')" >/dev/null
  check "training and deploying after the update from $r" \
    "$("${Q[@]}" -d "$db" -c "SELECT algorithm FROM pgml.deployed_models WHERE name = 'up xgboost'")" lightgbm

  "${Q[@]}" -d pgml -c "CREATE DATABASE ${db}_restored"
  restored=$("$PGBIN/pg_restore" -h 127.0.0.1 -p "$PORT" -U pgml --exit-on-error -d "${db}_restored" "$WORK/$db.dump" 2>&1 && echo ok || echo failed)
  check "the dump taken at $r restores into $CURRENT" "$(tail -n 1 <<< "$restored")" ok
  check "the restored database is at $CURRENT" \
    "$("${Q[@]}" -d "${db}_restored" -c "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgml'")" "$CURRENT"
  "${Q[@]}" -d "${db}_restored" -f "$HERE/predict.sql" > "$WORK/$db.restored.predictions"
  diff_check "every prediction identical in the database restored from $r's dump" "$WORK/$db.before.predictions" "$WORK/$db.restored.predictions"
done

# Models made by each release's own library, under this one.
for r in "${RELEASES[@]}"; do
  [ -s "$HERE/$r/trained.dump" ] || continue
  log "upgrade: release $r's own recording (tests/upgrade/$r/)"
  db="recorded_${r//./_}"
  targets=("${db}_fresh")
  [ "$r" = "$CURRENT" ] || targets=("${db}_at" "${db}_fresh")
  for t in "${targets[@]}"; do
    "${Q[@]}" -d pgml -c "CREATE DATABASE $t"
    "$PGBIN/pg_restore" -l "$HERE/$r/trained.dump" > "$WORK/$t.list"
    if [ "$t" = "${db}_at" ]; then
      # The extension first, at R (the dump's CREATE EXTENSION IF NOT EXISTS then keeps it),
      # and without the dump's CREATE SCHEMA pgml, which that made.
      "${Q[@]}" -d "$t" -c "CREATE EXTENSION pgml VERSION '$r'"
      grep -v ' SCHEMA - pgml ' "$WORK/$t.list" > "$WORK/$t.list.tmp" || true
      mv "$WORK/$t.list.tmp" "$WORK/$t.list"
    fi
    restored=$("$PGBIN/pg_restore" -h 127.0.0.1 -p "$PORT" -U pgml --exit-on-error -L "$WORK/$t.list" -d "$t" "$HERE/$r/trained.dump" 2>&1 && echo ok || echo failed)
    at=$("${Q[@]}" -d "$t" -c "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgml'")
    check "release $r's dump restores into a database at $at" "$(tail -n 1 <<< "$restored")" ok
    "${Q[@]}" -d "$t" -f "$HERE/predict.sql" > "$WORK/$t.predictions"
    diff_check "release $r's models predict as they did under $r's library (SQL at $at)" "$HERE/$r/predictions.out" "$WORK/$t.predictions"
    if [ "$at" != "$CURRENT" ]; then
      "${Q[@]}" -d "$t" -c "ALTER EXTENSION pgml UPDATE"
      "${Q[@]}" -d "$t" -f "$HERE/predict.sql" > "$WORK/$t.updated.predictions"
      diff_check "release $r's models predict as they did after ALTER EXTENSION pgml UPDATE to $CURRENT" "$HERE/$r/predictions.out" "$WORK/$t.updated.predictions"
    fi
  done
done

check "the postmaster never restarted (no backend crashed)" \
  "$("${Q[@]}" -d pgml -c "SELECT pg_postmaster_start_time()")" "$started"
if grep -E 'terminated by signal|was terminated' "$DATA/server.log"; then check "no backend crashed" crashed none; fi
echo "upgrade: $((checks - failed)) of $checks checks passed"
[ "$failed" = 0 ]
