-- pgml demo (run by `make demo`): load two real datasets, train two models, predict.
CREATE EXTENSION IF NOT EXISTS pgml;
SELECT * FROM pgml.versions();   -- the library, this database's SQL (README.md, section Upgrading)

-- scikit-learn's toy datasets ship inside the extension: no network needed.
SELECT * FROM pgml.load_dataset('iris');
SELECT * FROM pgml.load_dataset('diabetes');

-- Classification with XGBoost (hyperparameters keep XGBoost's own names).
SELECT * FROM pgml.train('Iris Flowers', 'classification', 'pgml.iris', 'target',
                         algorithm => 'xgboost', hyperparams => '{"n_estimators": 25, "max_depth": 3}');

-- Regression with linear least squares. The task is only needed on a project's first train.
SELECT * FROM pgml.train('Diabetes Progression', 'regression', 'pgml.diabetes', 'target');

-- Predict from literal arrays (numeric[] literals resolve; so do real[], integer[], ...).
SELECT pgml.predict('Iris Flowers', ARRAY[5.1, 3.5, 1.4, 0.2]) AS setosa,
       pgml.predict('Iris Flowers', ARRAY[6.4, 3.2, 4.5, 1.5]) AS versicolor,
       pgml.predict('Iris Flowers', ARRAY[6.7, 3.0, 5.2, 2.3]) AS virginica;
SELECT round(pgml.predict('Diabetes Progression', ARRAY[59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87])) AS progression;

-- Predict every row of a table in one query: the row's columns are matched by name,
-- so the label column in the row is simply ignored.
SELECT count(*) FILTER (WHERE pgml.predict('Iris Flowers', iris) = target) AS correct,
       count(*) AS total
  FROM pgml.iris;

-- Class probabilities, in the order of pgml.models.classes.
SELECT array_length(pgml.predict_proba('Iris Flowers', ARRAY[5.1, 3.5, 1.4, 0.2]), 1) AS classes;

-- The models and what is deployed.
SELECT p.name AS project, m.algorithm, p.task,
       round(pgml.key_metric(p.task, m.metrics)::numeric, 2) AS key_metric,
       m.classes
  FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
 ORDER BY m.id;
SELECT name, task, algorithm, relation_name, round(key_metric::numeric, 2) AS key_metric
  FROM pgml.overview ORDER BY name;
