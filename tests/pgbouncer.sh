#!/usr/bin/env bash
# PgBouncer test (issue 5, item 5): pgml behind PgBouncer in transaction pooling mode, where
# consecutive transactions of one client land on different server backends and no session
# state may be assumed. Through PgBouncer: train, then 32 pgbench clients predict while
# another client redeploys between two models in a loop; every prediction must equal one of
# the two models' answers (an error or a wrong value fails the transaction and the test),
# and the pool must have served them with at most its few server connections.
#   tests/pgbouncer.sh      (run by scripts/test.sh; the topology of scripts/topology.sh)
source "$(dirname "$0")/../scripts/common.sh"
set -euo pipefail
B_PORT=${PGML_BOUNCER_PORT:-6435}
P_PORT=${PGML_PRIMARY_PORT:-5435}
DIR=${PGML_TOPOLOGY_DIR:-/var/tmp/pgml-topology}
POOL=4
TOPOLOGY="$ROOT/scripts/topology.sh"
trap '"$TOPOLOGY" stop' EXIT
PGML_BOUNCER_POOL=$POOL "$TOPOLOGY" start
BOUNCER=("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$B_PORT" -U pgml -d pgml -v ON_ERROR_STOP=1)
ROW="ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02]::real[]"

log "through PgBouncer: train two models of one project"
"${BOUNCER[@]}" >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT pgml.load_dataset('diabetes');
SELECT count(*) FROM pgml.train('pooled', 'regression', 'pgml.diabetes', 'target', 'xgboost', '{"n_estimators": 20}');
SELECT count(*) FROM pgml.train('pooled', algorithm => 'linear', automatic_deploy => false);
SQL
read -r xgb_id lin_id <<< "$("${BOUNCER[@]}" -F ' ' -c "
  SELECT max(m.id) FILTER (WHERE m.algorithm = 'xgboost'), max(m.id) FILTER (WHERE m.algorithm = 'linear')
  FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = 'pooled'")"
# Each model's answer, computed while it is deployed.
deploy() { "${BOUNCER[@]}" -c "SELECT count(*) FROM pgml.deploy($1::bigint)" >/dev/null; }
deploy "$xgb_id"; xgb=$("${BOUNCER[@]}" -c "SELECT pgml.predict('pooled', $ROW)")
deploy "$lin_id"; lin=$("${BOUNCER[@]}" -c "SELECT pgml.predict('pooled', $ROW)")
echo "xgboost (model $xgb_id) predicts $xgb, linear (model $lin_id) $lin"
[ "$xgb" != "$lin" ] || { echo "FAIL: the two models predict the same value" >&2; exit 1; }

log "32 clients predict through PgBouncer while the deployment flips between the models"
# Extended protocol: PgBouncer 1.18 in transaction mode cannot keep server-side prepared
# statements (a client's next transaction may run on another backend).
cat > /tmp/pgml-pooled.sql <<SQL
SELECT 1 / (pgml.predict('pooled', $ROW)::text IN ('$xgb', '$lin'))::int;
SQL
(
  for i in $(seq 40); do
    if (( i % 2 )); then deploy "$xgb_id"; else deploy "$lin_id"; fi
    sleep 0.1
  done
) &
flipper=$!
set +e
out=$("$PGBIN/pgbench" -n -M extended -c 32 -j 2 -T 6 -h 127.0.0.1 -p "$B_PORT" -U pgml -f /tmp/pgml-pooled.sql pgml 2>&1)
rc=$?
set -e
wait $flipper
echo "$out" | grep -E 'number of (transactions actually processed|failed)|^tps|aborted' || true
fail=0
[ $rc = 0 ] || { echo "FAIL: pgbench exited $rc" >&2; echo "$out" | tail -5 >&2; fail=1; }
processed=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
[ "${processed:-0}" -gt 1000 ] || { echo "FAIL: only ${processed:-0} transactions" >&2; fail=1; }
deploys=$("${BOUNCER[@]}" -c "SELECT count(*) FROM pgml.deployments d JOIN pgml.projects p ON p.id = d.project_id WHERE p.name = 'pooled'")
[ "$deploys" -ge 40 ] || { echo "FAIL: only $deploys deployments" >&2; fail=1; }
# The backends that served them: PgBouncer's few server connections, not one per client.
backends=$("$PGBIN/psql" -X -At -h 127.0.0.1 -p "$P_PORT" -U pgml -d pgml -c \
  "SELECT count(*) FROM pg_stat_activity WHERE datname = 'pgml' AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
echo "transactions: ${processed:-0} while $deploys deployments were made; server backends left by the pool: $backends (pool size $POOL)"
[ "$backends" -le $((POOL + 1)) ] || { echo "FAIL: $backends server backends for a pool of $POOL" >&2; fail=1; }
# A setting for one transaction (SET LOCAL, the pooled way) serves the same model through
# XGBoost's C API, and does not outlive the transaction on the shared server backend.
deploy "$xgb_id"
read -r lib_val after_setting <<< "$("${BOUNCER[@]}" -F ' ' -c "BEGIN" -c "SET LOCAL pgml.native_trees = off" \
  -c "SELECT pgml.predict('pooled', $ROW)" -c "COMMIT" \
  -c "SELECT current_setting('pgml.native_trees')" | tr '\n' ' ' | awk '{print $1, $NF}')"
echo "with SET LOCAL pgml.native_trees = off: $lib_val (native $xgb); afterwards the setting is $after_setting"
[ "$lib_val" = "$xgb" ] || { echo "FAIL: the library's prediction $lib_val differs from the native $xgb" >&2; fail=1; }
[ "$after_setting" = on ] || { echo "FAIL: pgml.native_trees leaked out of its transaction: $after_setting" >&2; fail=1; }
if grep -E 'terminated by signal|was terminated' "$DIR/primary/server.log"; then
  echo "FAIL: a backend crashed" >&2; fail=1
fi
[ $fail = 0 ] && echo "pgbouncer: ok (32 pooled clients, no failed transaction, every prediction from a deployed model while deployments changed)"
exit $fail
