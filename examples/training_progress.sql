-- pgml.training_progress: every running training in the cluster, live (like
-- pg_stat_progress_*), read from shared memory (pgml must be in shared_preload_libraries).
-- Here a second session (through dblink) starts a long training; this one watches it,
-- then cancels it: nothing is saved and the slot is freed.
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT table_name FROM pgml.load_dataset('diabetes');
SELECT dblink_connect('trainer', format('host=127.0.0.1 port=%s dbname=%s user=%s',
       current_setting('port'), current_database(), current_user));
SELECT dblink_send_query('trainer', $$
  SELECT * FROM pgml.train('progress demo', 'regression', 'pgml.diabetes', 'target',
                           'xgboost', '{"n_estimators": 1000000, "max_depth": 8}')
$$);
-- Wait (at most 30 s) until the other session is boosting.
DO $$
BEGIN
  FOR i IN 1..600 LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM pgml.training_progress
                       WHERE project = 'progress demo' AND iteration > 0);
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT project, algorithm, phase, rows_read, rows_total, iteration > 0 AS boosting, iterations,
       pid <> pg_backend_pid() AS other_session, started_at <= now() AS started
  FROM pgml.training_progress WHERE project = 'progress demo';
SELECT dblink_cancel_query('trainer');
SELECT count(*) FROM dblink_get_result('trainer', false) AS t(project text, task text, algorithm text, deployed boolean);
SELECT dblink_disconnect('trainer');
-- The cancelled training left nothing: no slot, no project, no model.
SELECT count(*) AS running FROM pgml.training_progress WHERE project = 'progress demo';
SELECT count(*) AS projects FROM pgml.projects WHERE name = 'progress demo';
