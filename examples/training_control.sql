-- Long trainings can be stopped: statement_timeout (or pg_cancel_backend, or Ctrl-C) ends
-- them between boosting rounds, and nothing of the cancelled run is kept.
CREATE EXTENSION IF NOT EXISTS pgml;
SELECT table_name FROM pgml.load_dataset('digits');
SELECT clock_timestamp() AS started \gset
SET statement_timeout = '500ms';
SELECT * FROM pgml.train('endless', 'classification', 'pgml.digits', 'target', 'xgboost', '{"n_estimators": 10000}');
SELECT * FROM pgml.train('endless', 'classification', 'pgml.digits', 'target', 'lightgbm', '{"n_estimators": 100000}');
RESET statement_timeout;
SELECT clock_timestamp() - :'started'::timestamptz < interval '3 seconds' AS both_stopped_quickly;
SELECT count(*) AS projects_left FROM pgml.projects WHERE name = 'endless';

-- Threads for training (0: the library's default, all cores); prediction uses one.
SET pgml.train_threads = 1;
SELECT project, algorithm, deployed FROM pgml.train('digits', 'classification', 'pgml.digits', 'target', 'lightgbm', '{"n_estimators": 20}');
RESET pgml.train_threads;
-- Progress of long trainings comes as INFO messages every few seconds; this turns them off:
SET pgml.training_progress = off;
