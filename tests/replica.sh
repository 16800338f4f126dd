#!/usr/bin/env bash
# Read replica test (issue 5, item 4): a primary and a streaming replica (pg_basebackup) on
# loopback. Train on the primary, predict on the replica; then deploy another model on the
# primary while a replica session is warm: its next call must serve the new model without
# reconnecting. That works because the deploy's relcache invalidation is part of the commit
# record, which the replica replays and broadcasts to its backends.
#   tests/replica.sh        (run by scripts/test.sh; ports 5435 and 5436)
source "$(dirname "$0")/../scripts/common.sh"
set -euo pipefail
P_PORT=${PGML_PRIMARY_PORT:-5435}
R_PORT=${PGML_REPLICA_PORT:-5436}
P_DATA=/var/tmp/pgml-primary-data
R_DATA=/var/tmp/pgml-replica-data
stop_all() {
  for d in "$R_DATA" "$P_DATA"; do
    as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true
  done
}
stop_all
rm -rf "$P_DATA" "$R_DATA"
trap stop_all EXIT
"$ROOT/scripts/cluster.sh" start "$P_PORT" "$P_DATA" >/dev/null
PRIMARY=("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$P_PORT" -U pgml -d pgml -v ON_ERROR_STOP=1)
REPLICA=("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$R_PORT" -U pgml -d pgml -v ON_ERROR_STOP=1)
ROW="ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02]::real[]"

log "primary: train and deploy an xgboost model"
"${PRIMARY[@]}" >/dev/null <<'SQL'
SET client_min_messages = warning;
SET pgml.training_progress = off;
CREATE EXTENSION pgml;
SELECT pgml.load_dataset('diabetes');
SELECT * FROM pgml.train('replicated', 'regression', 'pgml.diabetes', 'target', 'xgboost', '{"n_estimators": 20}');
SQL

log "replica: pg_basebackup from the primary, streaming"
as_pg "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$P_PORT" -U postgres -D "$R_DATA" -R -X stream -c fast
printf "port = %s\nunix_socket_directories = '%s'\n" "$R_PORT" "$R_DATA" | as_pg tee -a "$R_DATA/postgresql.conf" >/dev/null
as_pg env -u LD_LIBRARY_PATH "$PGBIN/pg_ctl" -D "$R_DATA" -l "$R_DATA/server.log" -w start >/dev/null

# Waits until the replica has replayed everything the primary has written.
cat > /tmp/pgml-replica-sync.sh <<EOF
lsn=\$(${PRIMARY[*]} -c "SELECT pg_current_wal_lsn()")
for i in \$(seq 300); do
  [ "\$(${REPLICA[*]} -c "SELECT pg_last_wal_replay_lsn() >= '\$lsn'::pg_lsn")" = t ] && exit 0
  sleep 0.1
done
echo "replica did not catch up" >&2; exit 1
EOF
bash /tmp/pgml-replica-sync.sh

# The primary's deploy of a new model, run from inside the replica session below.
cat > /tmp/pgml-replica-deploy.sh <<EOF
set -e
${PRIMARY[*]} -c "SET pgml.training_progress = off" \
  -c "SELECT count(*) FROM pgml.train('replicated', algorithm => 'linear', automatic_deploy => false)" \
  -c "SELECT count(*) FROM pgml.deploy('replicated', 'most_recent')" >/dev/null
bash /tmp/pgml-replica-sync.sh
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
if grep -E 'terminated by signal|was terminated' "$P_DATA/server.log" "$R_DATA/server.log"; then
  echo "FAIL: a backend crashed" >&2; fail=1
fi
[ $fail = 0 ] && echo "replica: ok (trained on the primary, served on the replica; a new deployment reached a warm replica session without reconnecting)"
exit $fail
