#!/usr/bin/env bash
# The main job: a local PostgreSQL with pgml, real datasets trained on and predicted from.
source "$(dirname "$0")/common.sh"
"$ROOT/scripts/cluster.sh" start
PSQL=("$PGBIN/psql" -X -h 127.0.0.1 -p "${PGML_PORT:-5433}" -U pgml -d pgml -v ON_ERROR_STOP=1)
# A demo database from an earlier install: update its SQL to the installed release, as a DBA
# would (README.md, section Upgrading). One made by a development build (0.1.0) has no update
# path: it is kept, renamed, and the demo starts in a new database.
at=$("${PSQL[@]}" -qAt -c "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgml'")
want=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$("$PG_CONFIG" --sharedir)/extension/pgml.control")
if [ -n "$at" ] && [ "$at" != "$want" ]; then
  if err=$("${PSQL[@]}" -q -c "ALTER EXTENSION pgml UPDATE" 2>&1); then
    log "the demo database's pgml: updated from $at to $want"
  elif grep -q "no update path" <<< "$err"; then
    kept="pgml_dev_${at//[^0-9A-Za-z]/_}_$(date +%Y%m%d%H%M%S)"
    log "the demo database's pgml is development build $at (no update path): kept as database $kept"
    "${PSQL[@]}" -q -d postgres -c "ALTER DATABASE pgml RENAME TO $kept" -c "CREATE DATABASE pgml OWNER pgml"
  else
    echo "$err" >&2; exit 1
  fi
fi
log "running examples/demo.sql"
"${PSQL[@]}" -f "$ROOT/examples/demo.sql"
log "pgml is running. Connect with:"
echo "    psql -h 127.0.0.1 -p ${PGML_PORT:-5433} -U pgml pgml      (or: make psql; stop it with: make stop)"
