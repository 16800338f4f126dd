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

-- encode: target is cross-fitted (as scikit-learn's TargetEncoder): a column unique per row,
-- such as a name, cannot stand in for the label; the model is as good with it as without.
SELECT setseed(0.36);
CREATE TABLE tc_people AS
SELECT x1, x2, 3 * x1 - 2 * x2 + (random() - 0.5) AS y, md5(i::text) AS name
  FROM (SELECT i, random() * 10 AS x1, random() * 10 AS x2 FROM generate_series(1, 2000) i) s;
CREATE VIEW tc_people_unnamed AS SELECT x1, x2, y FROM tc_people;
SELECT project FROM pgml.train('people', 'regression', 'tc_people_unnamed', 'y', 'linear');
SELECT project FROM pgml.train('people named', 'regression', 'tc_people', 'y', 'linear',
                               preprocess => '{"name": {"encode": "target"}}');
SELECT abs((SELECT (metrics ->> 'r2')::float8 FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
              WHERE p.name = 'people' ORDER BY m.id DESC LIMIT 1)
         - (SELECT (metrics ->> 'r2')::float8 FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
              WHERE p.name = 'people named' ORDER BY m.id DESC LIMIT 1))
       < 0.005 AS same_r2_with_the_names;

-- pca is exact whatever the columns' scales (amounts, ratios, tiny rates); unscaled, the large
-- columns dominate, as in scikit-learn: scale them first for each column to count equally.
CREATE TABLE tc_accounts AS
SELECT a * 1000 + b * 50 AS amount, a * 2 - c AS ratio, b * 0.001 + c * 0.0005 AS rate,
       3000 + c * 800 - a * 400 AS balance
  FROM (SELECT ((i * 37) % 101) / 101.0 AS a, ((i * 53) % 89) / 89.0 AS b, ((i * 71) % 97) / 97.0 AS c
          FROM generate_series(0, 299) i) s;
SELECT project FROM pgml.train('accounts', 'decomposition', 'tc_accounts', algorithm => 'pca',
                               hyperparams => '{"n_components": 2}');
SELECT round((metrics ->> 'cumulative_explained_variance')::numeric, 3) AS kept
  FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = 'accounts'
 ORDER BY m.id DESC LIMIT 1;
