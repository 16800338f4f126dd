# The reliability suite: the shared model cache never serves what was not committed
# (issue 34). New connections (each psql -c is one) read a project's model from the shared
# cache when it holds a current copy; these check that no rolled-back write, prepared
# transaction or trigger-less session leaves them serving anything but the committed
# deployment, and that one deployment costs the shared cache one epoch. Sourced by run.sh
# (its cluster runs with max_prepared_transactions > 0: scripts/cluster.sh).

section "Shared model cache coherence"
fresh_db rf_cache
"${Q[@]}" -d rf_cache -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT count(*) FROM pgml.train('cc', 'regression', 'pgml.diabetes', 'target', 'linear');
SELECT count(*) FROM pgml.train('cc', 'regression', 'pgml.diabetes', 'target', 'xgboost', '{"n_estimators": 5}');
SQL
# A new connection's prediction, or its SQLSTATE.
cc_predict() {
  "$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U pgml -d rf_cache -v VERBOSITY=sqlstate \
    -c "SELECT round(pgml.predict('cc', $ROW)::numeric, 4)" 2>&1 | sed 's/^ERROR: *//' | head -1
}
cc_deploy() {
  "${Q[@]}" -d rf_cache -c "SELECT count(*) FROM pgml.deploy('cc', 'most_recent', '$1')" >/dev/null
}
cc_epoch() {
  "${Q[@]}" -d rf_cache -c "SELECT shared_epoch FROM pgml.cache_info()"
}
cc_deploy linear
linear=$(cc_predict)
cc_deploy xgboost
xgboost=$(cc_predict)
check "cache: the two models predict differently (the checks below tell them apart)" "$([ "$linear" != "$xgboost" ] && echo yes)" "yes"

# 1. A hand INSERT into pgml.files, read by its own transaction (which misses the shared
# cache: the deployment just changed) and rolled back: every new connection afterwards
# serves the committed model. Before, the INSERT fired no trigger, the transaction
# published the bytes it read (the model plus the inserted part) before loading them, and
# every new connection got XX001 until the next deployment.
cc_deploy linear
before=$(cc_epoch)
inside=$("${Q[@]}" -d rf_cache -v VERBOSITY=sqlstate 2>&1 <<SQL | tr '\n' ' '
BEGIN;
INSERT INTO pgml.files (model_id, path, part, data)
  SELECT d.model_id, 'model', max(f.part) + 1, '\x2c2c2c'::bytea
    FROM pgml.deployments d JOIN pgml.projects p ON p.id = d.project_id AND p.name = 'cc'
    JOIN pgml.files f ON f.model_id = d.model_id
   WHERE d.id = (SELECT max(id) FROM pgml.deployments WHERE project_id = p.id)
   GROUP BY d.model_id;
SELECT round(pgml.predict('cc', $ROW)::numeric, 4);
ROLLBACK;
SQL
)
after=$(for _ in 1 2 3; do cc_predict; done | sort -u | tr '\n' ' ')
check "cache: a rolled-back INSERT into pgml.files leaves new connections serving the committed model" "$after" "$linear "
figure "a hand INSERT of a part into pgml.files, read in its own transaction (got: ${inside% }) and rolled back: three new connections then predicted $after(the committed linear model, $linear); the shared epoch went $before -> $(cc_epoch)"

# 2. A deployment inside a prepared transaction is served by nobody until COMMIT PREPARED
# (new connections meanwhile publish the committed model), and by every new connection
# and every warm session after it. Before, the epoch moved at PREPARE and not at COMMIT
# PREPARED: the copies published in between outlived the commit.
cc_deploy linear
warm_in="$WORK/cache_warm.in"
rm -f "$warm_in"; mkfifo "$warm_in"
"$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U pgml -d rf_cache < "$warm_in" > "$WORK/cache_warm.out" 2>&1 &
warm_pid=$!
exec 7> "$warm_in"
warm_say() { # a statement in the warm session; waits for its answer, prints it
  local mark="mark$RANDOM$RANDOM" start
  start=$(wc -l < "$WORK/cache_warm.out")
  echo "$1" >&7
  echo "SELECT '$mark';" >&7
  for _ in $(seq 1 200); do grep -q "$mark" "$WORK/cache_warm.out" && break; sleep 0.05; done
  tail -n +"$((start + 1))" "$WORK/cache_warm.out" | sed -n "/^$mark\$/q;p" | tail -1
}
warm_say "SELECT round(pgml.predict('cc', $ROW)::numeric, 4);" >/dev/null
"${Q[@]}" -d rf_cache -c "BEGIN" -c "SELECT count(*) FROM pgml.deploy('cc', 'most_recent', 'xgboost')" \
  -c "PREPARE TRANSACTION 'cc_deploy'" >/dev/null
prepared=$(for _ in 1 2; do cc_predict; done | sort -u | tr '\n' ' ')
warm_prepared=$(warm_say "SELECT round(pgml.predict('cc', $ROW)::numeric, 4);")
"${Q[@]}" -d rf_cache -c "COMMIT PREPARED 'cc_deploy'" >/dev/null
committed=$(for _ in 1 2; do cc_predict; done | sort -u | tr '\n' ' ')
warm_committed=$(warm_say "SELECT round(pgml.predict('cc', $ROW)::numeric, 4);")
check "cache: a deployment in a prepared transaction is served by nobody before COMMIT PREPARED" "$prepared|$warm_prepared" "$linear |$linear"
check "cache: and by new connections and warm sessions after it" "$committed|$warm_committed" "$xgboost |$xgboost"
figure "pgml.deploy inside PREPARE TRANSACTION: new connections and a warm session predicted $prepared/ $warm_prepared (the committed linear model) until COMMIT PREPARED, then $committed/ $warm_committed (xgboost, $xgboost)"

# 3. Under session_replication_role = replica (a logical replication subscriber applying
# a deployment, a restore run that way) the triggers fire too (ENABLE ALWAYS): the
# deployment reaches new connections and the warm session.
"${Q[@]}" -d rf_cache -c "SET session_replication_role = replica" \
  -c "SELECT count(*) FROM pgml.deploy('cc', 'most_recent', 'linear')" >/dev/null
replica=$(for _ in 1 2; do cc_predict; done | sort -u | tr '\n' ' ')
warm_replica=$(warm_say "SELECT round(pgml.predict('cc', $ROW)::numeric, 4);")
check "cache: a deployment under session_replication_role = replica reaches new connections and warm sessions" "$replica|$warm_replica" "$linear |$linear"
figure "pgml.deploy under session_replication_role = replica: new connections then predicted $replica/ the warm session $warm_replica (the new deployment, linear)"

# 4. One deployment, one epoch: the warm session and two more process the deployment's
# invalidation, and the shared epoch moves once (before, every backend that processed it
# bumped the epoch again, dropping the copies published meanwhile).
"${Q[@]}" -d rf_cache -c "SELECT 1" >/dev/null
e0=$(cc_epoch)
cc_deploy xgboost
e1=$(cc_epoch)
warm_say "SELECT round(pgml.predict('cc', $ROW)::numeric, 4);" >/dev/null
for _ in 1 2; do cc_predict >/dev/null; done
e2=$(cc_epoch)
check "cache: one deployment moves the shared epoch once, however many backends process it" "$((e1 - e0)):$((e2 - e1))" "1:0"
figure "one deployment: the shared epoch went $e0 -> $e1 at its commit and stayed $e2 while a warm session and two new connections processed its invalidation"
exec 7>&-
wait "$warm_pid" 2>/dev/null || true
rm -f "$warm_in"
