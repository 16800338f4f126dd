# The reliability suite, part 2: faults. Sourced by run.sh, which has started the cluster and
# defines Q (psql, -d to add), PORT, check, figure and section. Everything here runs in
# databases of its own (rf_*), so DROP EXTENSION and the restores touch no other part.

ROW="ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02]::real[]"
FEATURES="ARRAY[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6]::real[]"

fresh_db() {
  "${Q[@]}" -d pgml -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"
  "${Q[@]}" -d "$1" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pgml;
SELECT pgml.load_dataset('diabetes');
SELECT pgml.load_dataset('iris');
SQL
}

# Waits until the server answers again; prints the milliseconds it took.
wait_ready() {
  local t0
  t0=$(date +%s%N)
  for _ in $(seq 1 1200); do
    "${Q[@]}" -d pgml -c "SELECT 1" >/dev/null 2>&1 && { echo $((($(date +%s%N) - t0) / 1000000)); return 0; }
    sleep 0.05
  done
  echo "never"
  return 1
}

# Waits until `project` is in the training phase (iteration >= 1); prints its backend's pid.
training_pid() {
  local db=$1 project=$2 pid=""
  for _ in $(seq 1 480); do
    pid=$("${Q[@]}" -d "$db" -c "SELECT pid FROM pgml.training_progress
                                  WHERE project = '$project' AND phase = 'training' AND iteration >= 1")
    [ -n "$pid" ] && { echo "$pid"; return 0; }
    sleep 0.25
  done
  return 1
}

# Models, deployments and snapshot tables left by `project` (none after a failed training).
leftovers() {
  "${Q[@]}" -d "$1" -c "
    SELECT (SELECT count(*) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = '$2')
        || ' models, '
        || (SELECT count(*) FROM pgml.deployments d JOIN pgml.projects p ON p.id = d.project_id WHERE p.name = '$2')
        || ' deployments, '
        || (SELECT count(*) FROM pg_catalog.pg_tables
             WHERE schemaname = 'pgml' AND tablename ~ '^snapshot_[0-9]+$'
               AND substr(tablename, 10)::bigint NOT IN (SELECT id FROM pgml.snapshots))
        || ' orphan snapshot tables'"
}

section "Faults"
fresh_db rf_faults
"${Q[@]}" -d rf_faults -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE rf_big AS SELECT d.* FROM pgml.diabetes d, generate_series(1, 50);
SELECT count(*) FROM pgml.train('rf_kept', 'regression', 'pgml.diabetes', 'target', 'xgboost', '{"n_estimators": 20}');
SQL
kept=$("${Q[@]}" -d rf_faults -c "SELECT pgml.predict('rf_kept', $ROW)")

# --- kill -9 of a backend in the middle of training ---------------------------------------
for algorithm in xgboost lightgbm; do
  project="rf_killed_$algorithm"
  "${Q[@]}" -d rf_faults -c "SELECT count(*) FROM pgml.train('$project', 'regression', 'rf_big', 'target',
      '$algorithm', '{\"n_estimators\": 1000000}', materialize_snapshot => true)" >/dev/null 2>&1 &
  client=$!
  if pid=$(training_pid rf_faults "$project"); then
    kill -9 "$pid"
    wait "$client" || true
    ms=$(wait_ready) || true
    left=$(leftovers rf_faults "$project")
    after=$("${Q[@]}" -d rf_faults -c "SELECT pgml.predict('rf_kept', $ROW)" 2>&1 || true)
    progress=$("${Q[@]}" -d rf_faults -c "SELECT count(*) FROM pgml.training_progress")
    check "kill -9 during $algorithm training: nothing left" "$left" "0 models, 0 deployments, 0 orphan snapshot tables"
    check "kill -9 during $algorithm training: other models unchanged" "$after" "$kept"
    check "kill -9 during $algorithm training: no training shown as running" "$progress" "0"
    figure "kill -9 of the backend training $algorithm (pid $pid, mid-iteration): the server answered again ${ms} ms later (crash recovery); left behind: $left; another project's predictions unchanged"
  else
    check "kill -9 during $algorithm training: training started" "no training seen" "training"
    kill "$client" 2>/dev/null || true
  fi
done

# --- statement_timeout and pg_cancel_backend stop training --------------------------------
for algorithm in xgboost lightgbm; do
  project="rf_timeout_$algorithm"
  t0=$(date +%s%N)
  out=$("${Q[@]}" -d rf_faults -c "\set VERBOSITY verbose" -c "SET statement_timeout = '2s'" \
    -c "SELECT count(*) FROM pgml.train('$project', 'regression', 'rf_big', 'target', '$algorithm', '{\"n_estimators\": 1000000000}')" 2>&1 || true)
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  state=$(grep -o -m1 -E 'ERROR:  [0-9A-Z]{5}' <<< "$out" | awk '{print $2}' || true)
  check "statement_timeout stops $algorithm training" "$state" "57014"
  check "statement_timeout during $algorithm: nothing left" "$(leftovers rf_faults "$project")" "0 models, 0 deployments, 0 orphan snapshot tables"
  (( ms < 10000 )) || check "statement_timeout = 2s stops $algorithm training within 10 s" "${ms} ms" "< 10000 ms"
  figure "statement_timeout = 2s, $algorithm with n_estimators = 10^9: cancelled ($state) after $ms ms, nothing left"

  project="rf_cancel_$algorithm"
  "${Q[@]}" -d rf_faults -c "\set VERBOSITY verbose" \
    -c "SELECT count(*) FROM pgml.train('$project', 'regression', 'rf_big', 'target', '$algorithm', '{\"n_estimators\": 1000000000}')" \
    > "$WORK/cancel.out" 2>&1 &
  client=$!
  if pid=$(training_pid rf_faults "$project"); then
    t0=$(date +%s%N)
    "${Q[@]}" -d pgml -c "SELECT pg_cancel_backend($pid)" >/dev/null
    wait "$client" || true
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    state=$(grep -o -m1 -E 'ERROR:  [0-9A-Z]{5}' "$WORK/cancel.out" | awk '{print $2}' || true)
    check "pg_cancel_backend stops $algorithm training" "$state" "57014"
    check "pg_cancel_backend during $algorithm: nothing left" "$(leftovers rf_faults "$project")" "0 models, 0 deployments, 0 orphan snapshot tables"
    figure "pg_cancel_backend() during $algorithm training: the statement ended ($state) $ms ms later, nothing left"
  else
    check "pg_cancel_backend: $algorithm training started" "no training seen" "training"
    kill "$client" 2>/dev/null || true
  fi
done

# --- two sessions training one project at once --------------------------------------------
rounds=5
for r in $(seq 1 $rounds); do
  twins=()
  for algorithm in linear xgboost; do
    "${Q[@]}" -d rf_faults -v ON_ERROR_STOP=1 -c "SELECT count(*) FROM pgml.train('rf_twin', 'regression',
        'pgml.diabetes', 'target', '$algorithm', '{}')" > "$WORK/twin_$algorithm.out" 2>&1 &
    twins+=($!)
  done
  ok=0
  for job in "${twins[@]}"; do wait "$job" && ok=$((ok + 1)) || cat "$WORK"/twin_*.out >&2; done
  check "two sessions train one project at once (round $r): both succeed" "$ok" "2"
done
twins=$("${Q[@]}" -d rf_faults -c "
  SELECT (SELECT count(*) FROM pgml.projects WHERE name = 'rf_twin') || ' project, '
      || (SELECT count(*) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
           WHERE p.name = 'rf_twin' AND m.status = 'successful') || ' successful models'")
check "two sessions train one project at once: every model kept" "$twins" "1 project, $((2 * rounds)) successful models"
twin=$("${Q[@]}" -d rf_faults -c "SELECT pgml.predict('rf_twin', $ROW) IS NOT NULL" 2>&1 || true)
check "two sessions train one project at once: the project predicts" "$twin" "t"
figure "two sessions training one project at once, $rounds rounds (the first creates it): $twins, and it predicts"

# --- deployments in a loop while pgbench predicts -----------------------------------------
"${Q[@]}" -d rf_faults -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT count(*) FROM pgml.train('rf_live', 'regression', 'pgml.diabetes', 'target', 'linear');
SELECT count(*) FROM pgml.train('rf_live', 'regression', 'pgml.diabetes', 'target', 'xgboost', '{"n_estimators": 20}');
SQL
echo "SELECT pgml.predict('rf_live', $ROW);" > "$WORK/live.sql"
"$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -U pgml -M prepared -c 4 -j 2 -T 12 -f "$WORK/live.sql" rf_faults \
  > "$WORK/live.out" 2>&1 &
bench=$!
deploys=0 trainings=0
end=$((SECONDS + 11))
while (( SECONDS < end )); do
  for algorithm in linear xgboost; do
    "${Q[@]}" -d rf_faults -c "SELECT count(*) FROM pgml.deploy('rf_live', 'most_recent', '$algorithm')" >/dev/null &&
      deploys=$((deploys + 1))
  done
  if (( deploys % 10 == 0 )); then
    "${Q[@]}" -d rf_faults -c "SELECT count(*) FROM pgml.train('rf_live', 'regression', 'pgml.diabetes', 'target', 'linear')" >/dev/null &&
      trainings=$((trainings + 1))
  fi
done
wait "$bench" && bench_rc=0 || bench_rc=$?
done_tx=$(grep -oP 'number of transactions actually processed: \K[0-9]+' "$WORK/live.out" || echo 0)
failed_tx=$(grep -oP 'number of failed transactions: \K[0-9]+' "$WORK/live.out" || echo "unknown")
check "pgbench during deployments: exit status" "$bench_rc" "0"
check "pgbench during deployments: failed transactions" "$failed_tx" "0"
(( done_tx > 0 )) || check "pgbench during deployments: transactions" "$done_tx" "> 0"
figure "pgbench (4 clients, 12 s, prepared) predicting while another session made $deploys deployments and $trainings trainings: $done_tx transactions, $failed_tx failed"

# --- DROP EXTENSION / CREATE EXTENSION in a running database ------------------------------
fresh_db rf_drop
"${Q[@]}" -d rf_drop -v ON_ERROR_STOP=1 -c "SELECT count(*) FROM pgml.train('rf_same', 'regression', 'pgml.diabetes', 'target', 'linear')" >/dev/null
# A session that stays connected throughout, with the model warm in its cache.
coproc WARM { "${Q[@]}" -d rf_drop 2>&1; }
# Kept now: bash unsets WARM_PID as soon as the coprocess exits, which can be before the wait.
warm_pid=$WARM_PID
ask_warm() { echo "$1" >&"${WARM[1]}"; local line; read -r -t 60 line <&"${WARM[0]}" && echo "$line"; }
old=$(ask_warm "SELECT pgml.predict('rf_same', $ROW);")
"${Q[@]}" -d rf_drop -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
DROP EXTENSION pgml CASCADE;
CREATE EXTENSION pgml;
SQL
gone=$("${Q[@]}" -d rf_drop -c "\set VERBOSITY verbose" -c "SELECT pgml.predict('rf_same', ARRAY[1, 2]::real[])" 2>&1 |
  grep -o -m1 -E 'ERROR:  [0-9A-Z]{5}' | awk '{print $2}' || true)
check "after DROP and CREATE EXTENSION: the dropped project is gone" "$gone" "42704"
"${Q[@]}" -d rf_drop -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT pgml.load_dataset('diabetes');
CREATE TABLE negated AS SELECT age, sex, bmi, bp, s1, s2, s3, s4, s5, s6, -target AS target FROM pgml.diabetes;
SELECT count(*) FROM pgml.train('rf_same', 'regression', 'negated', 'target', 'linear');
SQL
new=$("${Q[@]}" -d rf_drop -c "SELECT pgml.predict('rf_same', $ROW)")
warm=$(ask_warm "SELECT pgml.predict('rf_same', $ROW);")
exec {WARM[1]}>&-
wait "$warm_pid" 2>/dev/null || true
check "after DROP and CREATE EXTENSION: a new model predicts otherwise" "$([ "$new" != "$old" ] && echo differs)" "differs"
check "after DROP and CREATE EXTENSION: the session open throughout sees the new model" "$warm" "$new"
figure "DROP EXTENSION pgml CASCADE and CREATE EXTENSION pgml with a session connected throughout: the old project is gone (42704), a new one under the same name (model ids restart at 1) predicts $new where the old predicted $old, in the open session too"

# --- pg_dump / pg_restore -----------------------------------------------------------------
fresh_db rf_src
"${Q[@]}" -d rf_src -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT count(*) FROM pgml.train('d_xgb', 'regression', 'pgml.diabetes', 'target', 'xgboost', '{"n_estimators": 30}');
SELECT count(*) FROM pgml.train('d_lgbm', 'classification', 'pgml.iris', 'target', 'lightgbm', '{"n_estimators": 30}');
SELECT count(*) FROM pgml.train('d_lin', 'regression', 'pgml.diabetes', 'target', 'linear', materialize_snapshot => true);
SELECT count(*) FROM pgml.train('d_forest', 'classification', 'pgml.iris', 'target', 'random_forest', '{"n_trees": 10}');
SQL
PREDICTIONS="SELECT pg_catalog.md5(string_agg(p::text, ',' ORDER BY n)) FROM (
  SELECT 1 AS n, pgml.predict('d_xgb', $FEATURES) AS p FROM pgml.diabetes
  UNION ALL SELECT 2, pgml.predict('d_lin', $FEATURES) FROM pgml.diabetes
  UNION ALL SELECT 3, pgml.predict('d_lgbm', ARRAY[sepal_length, sepal_width, petal_length, petal_width]) FROM pgml.iris
  UNION ALL SELECT 4, pgml.predict('d_forest', ARRAY[sepal_length, sepal_width, petal_length, petal_width]) FROM pgml.iris) x"
CATALOG="SELECT (SELECT count(*) FROM pgml.models) || ' models, ' || (SELECT count(*) FROM pgml.deployments)
  || ' deployments, ' || (SELECT pg_catalog.sum(pg_catalog.length(data)) FROM pgml.files) || ' model bytes'"
src=$("${Q[@]}" -d rf_src -c "$PREDICTIONS")
src_catalog=$("${Q[@]}" -d rf_src -c "$CATALOG")
rm -f "$WORK/rf_src.dump"
"$PGBIN/pg_dump" -h 127.0.0.1 -p "$PORT" -U pgml -Fc -f "$WORK/rf_src.dump" rf_src
"${Q[@]}" -d pgml -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS rf_dst" -c "CREATE DATABASE rf_dst"
"$PGBIN/pg_restore" -h 127.0.0.1 -p "$PORT" -U pgml --exit-on-error -d rf_dst "$WORK/rf_src.dump" &&
  restore_rc=0 || restore_rc=$?
check "pg_restore exit status" "$restore_rc" "0"
dst=$("${Q[@]}" -d rf_dst -c "$PREDICTIONS" 2>&1 || true)
check "pg_dump / pg_restore: catalog restored" "$("${Q[@]}" -d rf_dst -c "$CATALOG" 2>&1 || true)" "$src_catalog"
check "pg_dump / pg_restore: identical predictions (1184 rows, 4 models)" "$dst" "$src"
# The restored database goes on by itself: a retrain from the restored snapshot gets a new
# model id; once it is deployed and served there (and so in the shared cache, where both
# databases' project names and model ids are the same), the source still predicts as before.
"${Q[@]}" -d rf_dst -v ON_ERROR_STOP=1 -c "SELECT count(*) FROM pgml.train('d_lin', algorithm => 'xgboost')" \
  -c "SELECT count(*) FROM pgml.deploy('d_lin', 'most_recent')" >/dev/null && retrain=ok || retrain=failed
check "after pg_restore: retraining from the restored snapshot" "$retrain" "ok"
moved=$("${Q[@]}" -d rf_dst -c "$PREDICTIONS")
check "after pg_restore and a new deployment there: the restored database serves it" "$([ "$moved" != "$src" ] && echo moved)" "moved"
check "after pg_restore and a new deployment there: the source database predicts as before" \
  "$("${Q[@]}" -d rf_src -c "$PREDICTIONS")" "$src"
figure "pg_dump -Fc of a database with 4 models (xgboost, lightgbm, linear with a materialized snapshot, random forest) and pg_restore into a new database: $src_catalog restored; the 1,184 predictions identical (md5 $src); a retrain deployed and served in the restored database leaves the source's predictions, read through the same shared cache, unchanged"
