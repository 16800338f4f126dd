#!/usr/bin/env bash
# Read replica test (issue 5, item 4): a primary and a streaming replica (pg_basebackup) on
# loopback. Train on the primary, predict on the replica; then deploy another model on the
# primary while a replica session is warm: its next call must serve the new model without
# reconnecting. That works because the deploy's relcache invalidation is part of the commit
# record, which the replica replays and broadcasts to its backends.
#   tests/replica.sh        (run by scripts/test.sh; the topology of scripts/topology.sh)
source "$(dirname "$0")/../scripts/common.sh"
set -euo pipefail
P_PORT=${PGML_PRIMARY_PORT:-5435}
R_PORT=${PGML_REPLICA_PORT:-5436}
DIR=${PGML_TOPOLOGY_DIR:-/var/tmp/pgml-topology}
TOPOLOGY="$ROOT/scripts/topology.sh"
trap '"$TOPOLOGY" stop' EXIT
"$TOPOLOGY" start
PRIMARY=("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$P_PORT" -U pgml -d pgml -v ON_ERROR_STOP=1)
REPLICA=("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$R_PORT" -U pgml -d pgml -v ON_ERROR_STOP=1)
ROW="ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02]::real[]"

log "primary: train and deploy an xgboost model"
"${PRIMARY[@]}" >/dev/null <<'SQL'
SET client_min_messages = warning;
SET pgml.training_progress = off;
SELECT pgml.load_dataset('diabetes');
SELECT * FROM pgml.train('replicated', 'regression', 'pgml.diabetes', 'target', 'xgboost', '{"n_estimators": 20}');
SQL
"$TOPOLOGY" sync

# The primary's deploy of a new model, run from inside the replica session below.
cat > /tmp/pgml-replica-deploy.sh <<EOF
set -e
${PRIMARY[*]} -c "SET pgml.training_progress = off" \
  -c "SELECT count(*) FROM pgml.train('replicated', algorithm => 'linear', automatic_deploy => false)" \
  -c "SELECT count(*) FROM pgml.deploy('replicated', 'most_recent')" >/dev/null
"$TOPOLOGY" sync
EOF

log "replica: predict, deploy on the primary, predict again in the same session"
out=$("${REPLICA[@]}" <<SQL
SELECT pg_is_in_recovery() AS standby \gset
SELECT pg_backend_pid() AS pid \gset
SELECT pgml.predict('replicated', $ROW) AS before \gset
SELECT generation AS g FROM pgml.cache_info() \gset
\! bash /tmp/pgml-replica-deploy.sh
SELECT :'standby', pg_backend_pid() = :pid, (SELECT generation > :g FROM pgml.cache_info()),
       (SELECT algorithm FROM pgml.deployed_models WHERE name = 'replicated'),
       :before, pgml.predict('replicated', $ROW);
SQL
)
primary_now=$("${PRIMARY[@]}" -c "SELECT pgml.predict('replicated', $ROW)")
IFS='|' read -r standby same_pid invalidated algorithm before after <<< "$out"
echo "replica: standby=$standby same_session=$same_pid invalidated=$invalidated deployed=$algorithm before=$before after=$after; primary serves $primary_now"
fail=0
[ "$standby" = t ] || { echo "FAIL: the replica is not in recovery" >&2; fail=1; }
[ "$same_pid" = t ] || { echo "FAIL: the replica session reconnected" >&2; fail=1; }
[ "$invalidated" = t ] || { echo "FAIL: the replica backend saw no invalidation" >&2; fail=1; }
[ "$algorithm" = linear ] || { echo "FAIL: the replica's catalog shows $algorithm deployed" >&2; fail=1; }
[ "$after" = "$primary_now" ] || { echo "FAIL: the warm replica session serves $after, the primary $primary_now" >&2; fail=1; }
[ "$before" != "$after" ] || { echo "FAIL: the prediction did not change with the deployment" >&2; fail=1; }
if grep -E 'terminated by signal|was terminated' "$DIR/primary/server.log" "$DIR/replica/server.log"; then
  echo "FAIL: a backend crashed" >&2; fail=1
fi
[ $fail = 0 ] && echo "replica: ok (trained on the primary, served on the replica; a new deployment reached a warm replica session without reconnecting)"
exit $fail
