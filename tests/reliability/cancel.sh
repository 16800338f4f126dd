# The reliability suite: how long a cancel takes to end a training, per algorithm, on a
# large input (issue 33). Each algorithm trains in its own session; 0.5 s after its fit has
# begun (pgml.training_progress says "training") another session calls pg_cancel_backend,
# and the victim's next statement stamps the time: latency = that stamp minus the cancel's
# own clock_timestamp(), both read on the server. Also: svm refused up front past
# pgml.max_uninterruptible_rows, pg_terminate_backend during a kmeans, and the signal masks
# of rayon's workers while it runs. Sourced by run.sh.

section "Cancel latency"
fresh_db rf_cancel
"${Q[@]}" -d rf_cancel -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
-- 1,000,000 rows x 10 features (three classes and a numeric label): what linear-time
-- algorithms take seconds on. 20,000 rows for the quadratic ones (svm, dbscan with a
-- tolerance that makes every row a neighbour of every other).
CREATE TABLE cancel_big AS
SELECT (i % 97)::real AS a, (i % 89)::real AS b, (i % 83)::real AS c, (i % 79)::real AS d, (i % 73)::real AS e,
       (i % 71)::real AS f, (i % 67)::real AS g, (i % 61)::real AS h, (i % 59)::real AS j, (i % 53)::real AS k,
       (i % 3) AS cls, ((i * 7) % 101)::real AS y
  FROM generate_series(1, 1000000) i;
CREATE TABLE cancel_pairs AS SELECT * FROM cancel_big WHERE a < 2 LIMIT 20000;
ANALYZE cancel_big; ANALYZE cancel_pairs;
SQL

# cancel_case NAME TASK RELATION LABEL HYPERPARAMS [SETTING [DELAY]]: prints "<ms> <SQLSTATE
# or OK> <fit ms before the cancel>".
cancel_case() {
  local name=$1 task=$2 rel=$3 label=$4 hp=$5 setting=${6:-"SELECT 1"} delay=${7:-0.5} app="rf_cancel_$1"
  "$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U pgml -d rf_cancel -c '\set VERBOSITY verbose' \
    -c "SET application_name = '$app'" -c "SET pgml.training_progress = off" -c "$setting" \
    -c "SELECT count(*) FROM pgml.train('cancel_$name', '$task', '$rel', $label, '${name%%@*}', '$hp')" \
    -c "SELECT 'ended=' || extract(epoch FROM clock_timestamp())" > "$WORK/cancel_$name.out" 2>&1 &
  local victim=$! began="" i
  for i in $(seq 1 1200); do
    began=$("${Q[@]}" -d rf_cancel -c "SELECT extract(epoch FROM clock_timestamp()) FROM pgml.training_progress p JOIN pg_stat_activity a USING (pid) WHERE a.application_name = '$app' AND p.phase = 'training'")
    [ -n "$began" ] && break
    kill -0 "$victim" 2>/dev/null || break
    sleep 0.05
  done
  sleep "$delay"
  local sent
  # In the select list, so that it runs for the victim's row only (a WHERE clause may call
  # it before the name test, on every backend).
  sent=$("${Q[@]}" -d rf_cancel -c "SELECT extract(epoch FROM clock_timestamp()), pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = '$app'" | cut -d'|' -f1)
  timeout 600 tail --pid="$victim" -f /dev/null || true
  wait "$victim" || true
  local ended state
  ended=$(grep -o 'ended=[0-9.]*' "$WORK/cancel_$name.out" | cut -d= -f2)
  state=$(grep -o -m1 -E '^(ERROR|FATAL):  [0-9A-Z]{5}' "$WORK/cancel_$name.out" | awk '{print $2}' || true)
  if [ -z "$sent" ] || [ -z "$state" ]; then
    echo "- OK -"
  else
    awk -v s="$sent" -v e="$ended" -v b="${began:-$sent}" -v st="$state" \
      'BEGIN { printf "%d %s %d\n", (e - s) * 1000, st, (s - b) * 1000 }'
  fi
}

# name@variant, task, relation, label, hyperparams, setting, whether the fit has interrupt
# points (checked: under 1.5 s) or not (measured and reported only), and the seconds into
# the fit the cancel comes (0.5 unless given; xgboost@dmatrix: 0.1 s, while XGBoost bins
# the first of its two batches, about 0.5 s here).
cancel_cases=(
  "xgboost|regression|cancel_big|'y'|{\"n_estimators\": 1000000000}||yes"
  "xgboost@dmatrix|regression|cancel_big|'y'|{\"n_estimators\": 1000000000}||yes|0.1"
  "lightgbm|regression|cancel_big|'y'|{\"n_estimators\": 1000000000}||yes"
  "random_forest|regression|cancel_big|'y'|{\"n_trees\": 1000}||yes"
  "random_forest@classification|classification|cancel_big|'cls'|{\"n_trees\": 1000}||yes"
  "decision_tree|regression|cancel_big|'y'|{}||yes"
  "decision_tree@classification|classification|cancel_big|'cls'|{}||yes"
  "knn|regression|cancel_big|'y'|{}||yes"
  "kmeans|clustering|cancel_big|NULL|{\"n_clusters\": 8, \"tolerance\": 1e-300, \"max_n_iterations\": 1000000}||yes"
  "dbscan|clustering|cancel_pairs|NULL|{\"tolerance\": 1000}||yes"
  "linear|regression|cancel_big|'y'|{}||yes"
  "ridge|regression|cancel_big|'y'|{}||yes"
  "linear@classification|classification|cancel_big|'cls'|{\"max_iterations\": 1000000, \"gradient_tolerance\": 1e-300}||yes"
  "lasso|regression|cancel_big|'y'|{\"max_iterations\": 1000000, \"tolerance\": 1e-300}||no"
  "elastic_net|regression|cancel_big|'y'|{\"max_iterations\": 1000000, \"tolerance\": 1e-300}||no"
  "gaussian_naive_bayes|classification|cancel_big|'cls'|{}||no"
  "pca|decomposition|cancel_big|NULL|{}||no"
  "xgboost_random_forest|regression|cancel_big|'y'|{\"n_estimators\": 200}||yes"
  "svm|regression|cancel_pairs|'y'|{}|SET pgml.max_uninterruptible_rows = 0|no"
)
rows_md=""
slow=""
for c in "${cancel_cases[@]}"; do
  IFS='|' read -r name task rel label hp setting polled delay <<< "$c"
  read -r ms state before <<< "$(cancel_case "$name" "$task" "$rel" "$label" "$hp" "${setting:-SELECT 1}" "${delay:-0.5}")"
  algo=${name%%@*}
  if [ "$ms" = "-" ]; then
    # The whole fit took less than the 0.5 s before the cancel.
    shown="finished before the cancel (fit under 0.5 s)"
  else
    shown="$ms ms ($state)"
    if [ "$polled" = yes ] && { [ "$state" != 57014 ] || [ "$ms" -ge 1500 ]; }; then
      slow+="$name:$state:$ms "
    fi
  fi
  rows_md+="| $algo$([ "$name" = xgboost@dmatrix ] && echo " (cancel 0.1 s in: building the DMatrix)") | $task | $rel | $shown | $([ "$polled" = yes ] && echo "inside the fit, or between its calls" || echo "none inside the library call") |"$'\n'
done
check "cancel: every fit with interrupt points ended by 57014 within 1.5 s" "$slow" ""
{
  echo "Cancel 0.5 s into the fit; latency from pg_cancel_backend to the session's next statement, both stamped by the server. cancel_big: 1,000,000 rows x 10 features; cancel_pairs: 20,000 rows (svm with pgml.max_uninterruptible_rows = 0, so that its uninterruptible fit is measured; dbscan with tolerance 1000, every row a neighbour of every other)."
  echo
  echo "| algorithm | task | input | cancel took | interrupt points |"
  echo "|---|---|---|---|---|"
  printf '%s' "$rows_md"
  echo
} >> "$WORK/figures.md"

# svm at the default bound: refused before it fits, in a session that goes on.
svm_default=$("$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U pgml -d rf_cancel -c '\set VERBOSITY verbose' \
  -c "SET pgml.training_progress = off" -c "SELECT count(*) FROM pgml.train('cancel_svm_default', 'regression', 'cancel_pairs', 'y', 'svm')" \
  -c "SELECT 'next ok'" 2>&1 || true)
svm_state="$(grep -o -m1 -E '^ERROR:  [0-9A-Z]{5}' <<< "$svm_default" | awk '{print $2}') then $(grep -c 'next ok' <<< "$svm_default")"
check "cancel: svm on 15,000 training rows refused at the default pgml.max_uninterruptible_rows" "$svm_state" "54000 then 1"
role_set=$("${Q[@]}" -d rf_cancel -c "CREATE ROLE rf_cancel_user" -c "SET ROLE rf_cancel_user" -c "SET pgml.max_uninterruptible_rows = 0" 2>&1 | grep -o -m1 'permission denied' || true)
check "cancel: a role that is not a superuser cannot lift pgml.max_uninterruptible_rows" "$role_set" "permission denied"
figure "svm at the default pgml.max_uninterruptible_rows (5000) on 15,000 training rows: $svm_state (refused before the fit, 54000, the session goes on); a role without superuser cannot raise the setting ($role_set)"

# pg_terminate_backend during a kmeans (its distances on rayon's workers): the backend
# exits within a second; while it ran, rayon's workers had every signal blocked and the
# backend's own thread had SIGINT open (it is where the handlers run).
"$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U pgml -d rf_cancel -c "SET application_name = 'rf_cancel_term'" \
  -c "SET pgml.training_progress = off" -c "SET pgml.train_threads = 2" \
  -c "SELECT count(*) FROM pgml.train('cancel_term', 'clustering', 'cancel_big', NULL, 'kmeans', '{\"n_clusters\": 8, \"tolerance\": 1e-300, \"max_n_iterations\": 1000000}')" \
  > "$WORK/cancel_term.out" 2>&1 &
victim=$!
for _ in $(seq 1 600); do
  pid=$("${Q[@]}" -d rf_cancel -c "SELECT pid FROM pgml.training_progress p JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'rf_cancel_term' AND p.phase = 'training'")
  [ -n "$pid" ] && break
  sleep 0.05
done
sleep 0.5
# SigBlk bits 2 (SIGINT), 10 (SIGUSR1), 14 (SIGALRM), 15 (SIGTERM): 8706 + 16384.
masks=$("${Q[@]}" -d rf_cancel -c "SELECT string_agg(DISTINCT m, ',' ORDER BY m) FROM (
  SELECT (t::int = $pid)::text || ':' || ((('x' || lpad(b, 16, '0'))::bit(64)::bigint & 25090) = 25090)::text AS m
    FROM pg_ls_dir(format('/proc/%s/task', $pid)) t,
         LATERAL (SELECT (regexp_match(pg_read_file(format('/proc/%s/task/%s/status', $pid, t)), 'SigBlk:\s+([0-9a-f]+)'))[1] AS b) r) s")
workers=$("${Q[@]}" -d rf_cancel -c "SELECT count(*) FROM pg_ls_dir(format('/proc/%s/task', $pid)) t WHERE pg_read_file(format('/proc/%s/task/%s/comm', $pid, t)) LIKE 'pgml-rayon%'")
sent=$("${Q[@]}" -d rf_cancel -c "SELECT extract(epoch FROM clock_timestamp()) FROM (SELECT pg_terminate_backend($pid)) t")
for _ in $(seq 1 100); do
  alive=$("${Q[@]}" -d rf_cancel -c "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid")
  [ "$alive" = 0 ] && break
  sleep 0.02
done
gone=$("${Q[@]}" -d rf_cancel -c "SELECT round((extract(epoch FROM clock_timestamp()) - $sent) * 1000)")
wait "$victim" || true
fatal=$(grep -o -m1 'FATAL:  terminating connection due to administrator command' "$WORK/cancel_term.out" | cut -c1-5 || true)
check "cancel: pg_terminate_backend ended a kmeans with FATAL within 1.5 s" "$fatal:$([ "$alive" = 0 ] && [ "$gone" -lt 1500 ] && echo yes)" "FATAL:yes"
check "cancel: rayon's workers have SIGINT, SIGUSR1, SIGALRM and SIGTERM blocked, the backend's thread has them open" "$masks" "false:true,true:false"
check "cancel: the kmeans ran on rayon's workers" "$([ "${workers:-0}" -ge 1 ] && echo yes)" "yes"
figure "pg_terminate_backend during a kmeans on cancel_big: the backend was gone $gone ms later ($fatal); while it ran, its $workers rayon workers had SIGINT, SIGUSR1, SIGALRM and SIGTERM blocked and the backend's own thread had them open (main:blocked per thread: $masks)"
