#!/usr/bin/env bash
# The main job: a local PostgreSQL with pgml, real datasets trained on and predicted from.
source "$(dirname "$0")/common.sh"
"$ROOT/scripts/cluster.sh" start
PSQL=("$PGBIN/psql" -X -h 127.0.0.1 -p "${PGML_PORT:-5433}" -U pgml -d pgml -v ON_ERROR_STOP=1)
# A demo database from an earlier install: update its SQL to the installed release, as a DBA
# would (README.md, section Upgrading). One with no update path (a development build, 0.1.0)
# is kept under a new name, and the demo starts in a new database.
at=$("${PSQL[@]}" -qAt -c "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgml'")
want=$(installed_version)
if [ -n "$at" ] && [ "$at" != "$want" ]; then
  path=$("${PSQL[@]}" -qAt -v at="$at" -v want="$want" <<'SQL'
SELECT count(*) FROM pg_catalog.pg_extension_update_paths('pgml')
 WHERE source = :'at' AND target = :'want' AND path IS NOT NULL;
SQL
)
  if [ "$path" = 1 ]; then
    "${PSQL[@]}" -q -c "ALTER EXTENSION pgml UPDATE"
    log "the demo database's pgml: updated from $at to $want"
  else
    kept="pgml_${at//[^0-9A-Za-z]/_}_$(date +%Y%m%d%H%M%S)"
    log "the demo database's pgml is at $at, which has no update path to $want: kept as database $kept"
    "${PSQL[@]}" -q -d postgres -c "ALTER DATABASE pgml RENAME TO $kept" -c "CREATE DATABASE pgml OWNER pgml"
  fi
fi
log "running examples/demo.sql"
"${PSQL[@]}" -f "$ROOT/examples/demo.sql"
log "pgml is running. Connect with:"
echo "    psql -h 127.0.0.1 -p ${PGML_PORT:-5433} -U pgml pgml      (or: make psql; stop it with: make stop)"
