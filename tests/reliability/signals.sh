# The reliability suite: library threads and Postgres's signals (issue 33). Trainings on two
# OpenMP threads and predict_batch on the evaluator's threads, cancelled again and again by
# statement_timeout and pg_cancel_backend; the threads' signal masks read from /proc; and
# pg_sleep still cancellable afterwards in the same session. Sourced by run.sh.

section "Signals and library threads"
fresh_db rf_sig
"${Q[@]}" -d rf_sig -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE sig_rows AS
SELECT (i % 97)::real AS a, (i % 89)::real AS b, (i % 83)::real AS c, (i % 79)::real AS d, ((i * 7) % 101)::real AS y
  FROM generate_series(1, 50000) i;
SET pgml.training_progress = off;
SELECT count(*) FROM pgml.train('sig_xgb', 'regression', 'sig_rows', 'y', 'xgboost', '{"n_estimators": 25}');
SQL
BIG="(SELECT array_agg(v) FROM (SELECT (i % 50)::real AS v FROM generate_series(1, 4 * 65536) i) s)"
LONG_XGB="SELECT * FROM pgml.train('sig_long', 'regression', 'sig_rows', 'y', 'xgboost', '{\"n_estimators\": 1000000, \"max_depth\": 8}')"
LONG_LGB="SELECT * FROM pgml.train('sig_long_lgb', 'regression', 'sig_rows', 'y', 'lightgbm', '{\"n_estimators\": 1000000}')"
# Correlated with g, so that each row scores the batch again (an uncorrelated one runs once).
LONG_BATCH="SELECT sum(array_length(pgml.predict_batch('sig_xgb', CASE WHEN g > 0 THEN b END), 1)) FROM generate_series(1, 100000) g, (SELECT $BIG AS b) x"
# One session: each statement under statement_timeout = 1s, timed by the server; then
# pg_sleep(30) under the same timeout. Prints each SQLSTATE with its milliseconds.
timed_session() {
  local sql="" s
  for s in "$@"; do sql+="SELECT pg_catalog.clock_timestamp() AS t0 \\gset
$s;
SELECT 'ms=' || round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000);
"; done
  "$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U pgml -d rf_sig -v VERBOSITY=verbose \
    -c "SET pgml.training_progress = off" -c "SET pgml.train_threads = 2" -c "SET pgml.predict_threads = 2" \
    -c "SET statement_timeout = '1s'" -c '\set VERBOSITY verbose' -f - <<< "$sql" 2>&1 |
    grep -o -E 'ERROR:  [0-9A-Z]{5}|^ms=[0-9]+' | awk '/ERROR/ {state = $2} /^ms=/ {printf "%s:%s ", state, substr($0, 4); state = "OK"}'
}
out=$(timed_session "$LONG_XGB" "$LONG_XGB" "$LONG_XGB" "$LONG_LGB" "$LONG_LGB" "$LONG_BATCH" "$LONG_BATCH" "SELECT pg_sleep(30)")
states=$(tr ' ' '\n' <<< "$out" | grep . | cut -d: -f1 | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')
worst=$(tr ' ' '\n' <<< "$out" | grep . | cut -d: -f2 | sort -n | tail -n 1)
check "signals: every statement under statement_timeout = 1s cancelled (57014), pg_sleep included" "$states" "57014x8 "
check "signals: each within 3 s" "$([ -n "$worst" ] && [ "$worst" -lt 3000 ] && echo yes)" "yes"
figure "one session, statement_timeout = 1s, train_threads = predict_threads = 2: three xgboost and two lightgbm trainings (OpenMP threads), two loops of predict_batch of 65,536 rows each (the evaluator's threads), then pg_sleep(30): all 57014, in ms: $out"

# pg_cancel_backend from another session, five times during one session's trainings, then
# during its pg_sleep.
"$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U pgml -d rf_sig -c "SET application_name = 'rf_sig_victim'" \
  -c "SET pgml.training_progress = off" -c "SET pgml.train_threads = 2" -c '\set VERBOSITY verbose' \
  -c "$LONG_XGB" -c "$LONG_LGB" -c "$LONG_XGB" -c "$LONG_LGB" -c "$LONG_XGB" -c "SELECT pg_sleep(60)" > "$WORK/sig_cancel.out" 2>&1 &
victim=$!
cancelled=0
for _ in 1 2 3 4 5 6; do
  sleep 1.5
  # The training's threads, while they run: every one but the backend's own has SIGINT,
  # SIGUSR1 and SIGALRM blocked (SigBlk bits 2, 10, 14).
  if [ "$cancelled" = 0 ]; then
    masks=$("${Q[@]}" -d rf_sig -c "SELECT string_agg(DISTINCT ((('x' || lpad((regexp_match(pg_read_file(format('/proc/%s/task/%s/status', a.pid, t)), 'SigBlk:\s+([0-9a-f]+)'))[1], 16, '0'))::bit(64)::bigint & 8706) = 8706)::text, ',')
      FROM pg_stat_activity a, pg_ls_dir(format('/proc/%s/task', a.pid)) t WHERE a.application_name = 'rf_sig_victim' AND t::int <> a.pid")
    threads=$("${Q[@]}" -d rf_sig -c "SELECT count(*) - 1 FROM pg_stat_activity a, pg_ls_dir(format('/proc/%s/task', a.pid)) t WHERE a.application_name = 'rf_sig_victim'")
  fi
  "${Q[@]}" -d rf_sig -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'rf_sig_victim'" >/dev/null
  cancelled=$((cancelled + 1))
done
timeout 30 tail --pid="$victim" -f /dev/null || true
wait "$victim" || true
canceled=$(grep -c '57014' "$WORK/sig_cancel.out" || true)
check "signals: the training's library threads exist" "$([ "${threads:-0}" -ge 1 ] && echo yes)" "yes"
check "signals: every library thread has SIGINT, SIGUSR1 and SIGALRM blocked" "$masks" "true"
check "signals: pg_cancel_backend ended each of 5 trainings and the pg_sleep after them" "$canceled" "6"
figure "pg_cancel_backend every 1.5 s from another session: 5 trainings (xgboost and lightgbm, 2 threads) and the pg_sleep(60) after them in the same session all ended with 57014 ($canceled of 6); while the first ran, each of its $threads library threads (from /proc/PID/task) had SIGINT, SIGUSR1 and SIGALRM blocked ($masks)"
