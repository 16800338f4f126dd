# The reliability suite: bounded memory (issue 33). Every training family and predict_batch
# past pgml.max_train_memory, quadratic algorithms refused up front at the default bound,
# and a second cluster started under an address-space limit (ulimit -v) where the same
# requests, allowed by the setting, fail because the machine refuses them. Each must end with
# 53200, in a session that goes on working, with no postmaster restart. Sourced by run.sh.

section "Memory"
fresh_db rf_mem
"${Q[@]}" -d rf_mem -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
-- 20,000 rows x 10 features: 0.9 MB in pgml's buffer, 1.6 MB more for an f64 copy.
CREATE TABLE mem_small AS
SELECT (i % 97)::real AS a, (i % 89)::real AS b, (i % 83)::real AS c, (i % 79)::real AS d, (i % 73)::real AS e,
       (i % 71)::real AS f, (i % 67)::real AS g, (i % 61)::real AS h, (i % 59)::real AS j, (i % 53)::real AS k,
       (i % 2) AS y
  FROM generate_series(1, 20000) i;
-- 100,000 rows: svm's and dbscan's pairwise estimates (80 GB) pass any sensible default.
CREATE TABLE mem_wide AS SELECT (i % 13)::real AS a, (i % 7)::real AS b, (i % 2) AS y FROM generate_series(1, 100000) i;
SQL
started_mem=$("${Q[@]}" -d rf_mem -c "SELECT pg_postmaster_start_time()")
# One session: the statement, then a plain query; "<SQLSTATE> then <answer>".
then_works() {
  local db=$1 sql=$2 port=${3:-$PORT} out
  out=$("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$port" -U pgml -d "$db" -c '\set VERBOSITY verbose' \
    -c "SET pgml.training_progress = off" -c "$sql" -c "SELECT 'next ok'" 2>&1 || true)
  echo "$(grep -o -m1 -E '^(ERROR|FATAL|PANIC):  [0-9A-Z]{5}' <<< "$out" | awk '{print $2}') then $(grep -c 'next ok' <<< "$out")"
}
families=(
  "regression xgboost" "regression lightgbm" "regression linear" "regression random_forest" "regression ridge"
  "classification svm" "classification knn" "classification gaussian_naive_bayes" "classification decision_tree"
  "clustering kmeans" "clustering dbscan" "decomposition pca"
)
train_sql() { # TASK ALGORITHM TABLE
  local y="'y'"
  [[ $1 == clustering || $1 == decomposition ]] && y=NULL
  echo "SELECT * FROM pgml.train('mem_$2_$3', '$1', '$3', $y, '$2')"
}
bounded=0
for f in "${families[@]}"; do
  read -r task algorithm <<< "$f"
  got=$(then_works rf_mem "SET pgml.max_train_memory = '1MB'; $(train_sql "$task" "$algorithm" mem_small)")
  check "memory: $algorithm past pgml.max_train_memory" "$got" "53200 then 1"
  [ "$got" = "53200 then 1" ] && bounded=$((bounded + 1))
done
check "memory: predict_batch past pgml.max_train_memory" \
  "$(then_works rf_mem "SELECT count(*) FROM pgml.train('mem_batch', 'regression', 'mem_small', 'y', 'linear'); SET pgml.max_train_memory = '1MB'; SELECT pgml.predict_batch('mem_batch', array_fill(1.0::real, ARRAY[1000000]))")" "53200 then 1"
quadratic=""
for algorithm in svm dbscan; do
  task=classification; [ $algorithm = dbscan ] && task=clustering
  got=$(then_works rf_mem "$(train_sql $task $algorithm mem_wide)")
  check "memory: $algorithm on 100,000 rows refused up front at the default bound" "$got" "53200 then 1"
  quadratic="$quadratic $algorithm: $got;"
done
hint=$("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U pgml -d rf_mem -c "$(train_sql classification svm mem_wide)" 2>&1 | grep HINT || true)
check "memory: the refusal names the setting and the need" "$(grep -c 'pgml.max_train_memory to at least' <<< "$hint")" "1"
check "memory: no postmaster restart" "$("${Q[@]}" -d rf_mem -c "SELECT pg_postmaster_start_time()")" "$started_mem"
figure "pgml.max_train_memory = 1MB: $bounded of ${#families[@]} algorithms (xgboost, lightgbm, linear, random_forest, ridge, svm, knn, gaussian_naive_bayes, decision_tree, kmeans, dbscan, pca) on 20,000 x 10 rows, and predict_batch of 1,000,000 values, refused with 53200 before reading a row; the same session's next statement worked; no postmaster restart"
figure "at the default bound (a quarter of the machine's memory), svm and dbscan on 100,000 rows (an estimated 80 GB of pairs) refused up front:$quadratic $(sed 's/^HINT:  //' <<< "$hint")"

# A cluster under an address-space limit: the backend's own size plus 512 MB. The setting
# allows anything; the probe of the estimate fails, so nothing reaches the library.
vm_kb=$("${Q[@]}" -d rf_mem -c "SELECT pgml.version()" -c "SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmSize:\s+(\d+)'))[1]" | tail -n 1)
limit_kb=$((vm_kb + 512 * 1024))
MDATA="$DATA-ulimit" MPORT=$((PORT + 20))
as_pg "$PGBIN/pg_ctl" -D "$MDATA" -m immediate stop >/dev/null 2>&1 || true
rm -rf "$MDATA"
"$ROOT/scripts/cluster.sh" start "$MPORT" "$MDATA" >/dev/null
cat <<CONF | as_pg tee -a "$MDATA/postgresql.conf" >/dev/null
pgml.max_train_memory = '100GB'
pgml.max_train_threads = 1
shared_buffers = '32MB'
CONF
as_pg "$PGBIN/pg_ctl" -D "$MDATA" -m fast -w stop >/dev/null
as_pg bash -c "ulimit -v $limit_kb && exec env -u LD_LIBRARY_PATH '$PGBIN/pg_ctl' -D '$MDATA' -l '$MDATA/server.log' -w start" >/dev/null
MQ=("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$MPORT" -U pgml)
"${MQ[@]}" -d postgres -c "CREATE DATABASE rf_ulimit" >/dev/null
"${MQ[@]}" -d rf_ulimit -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pgml;
CREATE TABLE mem_huge AS SELECT array_fill((i % 5)::real, ARRAY[400]) AS x, (i % 2) AS y FROM generate_series(1, 200000) i;
CREATE TABLE mem_tiny AS SELECT (i % 7)::real AS a, (i % 3)::real AS b, (i % 2) AS y FROM generate_series(1, 2000) i;
SQL
started_ulimit=$("${MQ[@]}" -d rf_ulimit -c "SELECT pg_postmaster_start_time()")
limited=0
for f in "regression xgboost" "regression lightgbm" "regression linear" "regression random_forest" "classification svm" "clustering kmeans" "decomposition pca"; do
  read -r task algorithm <<< "$f"
  got=$(then_works rf_ulimit "$(train_sql "$task" "$algorithm" mem_huge)" "$MPORT")
  check "memory under ulimit -v: $algorithm past what the machine gives" "$got" "53200 then 1"
  [ "$got" = "53200 then 1" ] && limited=$((limited + 1))
done
check "memory under ulimit -v: a small training still works" \
  "$(then_works rf_ulimit "SELECT count(*) FROM pgml.train('mem_tiny', 'regression', 'mem_tiny', 'y', 'xgboost', '{\"n_estimators\": 5}')" "$MPORT")" " then 1"
check "memory under ulimit -v: no postmaster restart" "$("${MQ[@]}" -d rf_ulimit -c "SELECT pg_postmaster_start_time()")" "$started_ulimit"
check "memory under ulimit -v: no backend ended by a signal" "$(as_pg grep -c -E 'terminated by signal|was terminated' "$MDATA/server.log" || true)" "0"
as_pg "$PGBIN/pg_ctl" -D "$MDATA" -m fast stop >/dev/null 2>&1 || true
figure "a cluster started under ulimit -v (a backend's size, $((vm_kb / 1024)) MB, plus 512 MB) with pgml.max_train_memory = 100GB: $limited of 7 algorithms (xgboost, lightgbm, linear, random_forest, svm, kmeans, pca) on 200,000 rows of a 400-wide array (about 1 GB to train) refused with 53200 (the probe of the estimate failed before a row was read); the session went on, and a small xgboost training in the same cluster worked; no postmaster restart, no backend ended by a signal"
