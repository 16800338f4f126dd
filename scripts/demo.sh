#!/usr/bin/env bash
# The main job: a local PostgreSQL with pgml, real datasets trained on and predicted from.
source "$(dirname "$0")/common.sh"
"$ROOT/scripts/cluster.sh" start
PSQL=("$PGBIN/psql" -X -h 127.0.0.1 -p "${PGML_PORT:-5433}" -U pgml -d pgml -v ON_ERROR_STOP=1)
log "running examples/demo.sql"
"${PSQL[@]}" -f "$ROOT/examples/demo.sql"
log "pgml is running. Connect with:"
echo "    psql -h 127.0.0.1 -p ${PGML_PORT:-5433} -U pgml pgml      (or: make psql; stop it with: make stop)"
