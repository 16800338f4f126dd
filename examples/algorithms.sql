-- Every algorithm, on a classification and a regression dataset, from one SQL function.
-- Hyperparameters keep each library's own names.
CREATE EXTENSION IF NOT EXISTS pgml;
SELECT table_name FROM pgml.load_dataset('iris');
SELECT table_name FROM pgml.load_dataset('diabetes');

SELECT t.project, t.algorithm
  FROM (VALUES ('linear',        '{}'),
               ('ridge',         '{"penalty": 0.1}'),
               ('xgboost',       '{"n_estimators": 20, "max_depth": 3}'),
               ('xgboost_random_forest', '{"n_estimators": 20}'),
               ('lightgbm',      '{"n_estimators": 20, "min_data_in_leaf": 5}'),
               ('random_forest', '{"n_trees": 20, "seed": 1}'),
               ('decision_tree', '{"max_depth": 4}'),
               ('knn',           '{"k": 5}'),
               ('gaussian_naive_bayes', '{}'),
               ('svm',           '{"c": 10}')) AS a(algorithm, hyperparams),
       LATERAL pgml.train('iris ' || a.algorithm, 'classification', 'pgml.iris', 'target',
                          a.algorithm, a.hyperparams::jsonb) t;

SELECT t.project, t.algorithm
  FROM (VALUES ('linear',        '{}'),
               ('ridge',         '{"penalty": 1.0}'),
               ('lasso',         '{"penalty": 0.1}'),
               ('elastic_net',   '{"penalty": 0.1, "l1_ratio": 0.5}'),
               ('xgboost',       '{"n_estimators": 50, "eta": 0.1}'),
               ('xgboost_random_forest', '{"n_estimators": 50, "max_depth": 4}'),
               ('lightgbm',      '{"n_estimators": 50, "learning_rate": 0.05}'),
               ('random_forest', '{"n_trees": 20, "seed": 1}'),
               ('decision_tree', '{"max_depth": 3}'),
               ('knn',           '{"k": 10}'),
               ('svm',           '{"c": 100}')) AS a(algorithm, hyperparams),
       LATERAL pgml.train('diabetes ' || a.algorithm, 'regression', 'pgml.diabetes', 'target',
                          a.algorithm, a.hyperparams::jsonb) t;

-- Every model answers every predict form; the key metric (f1 or r2 on the test split)
-- is rounded to one decimal to keep this file stable.
SELECT p.name AS project, pgml.predict(p.name, ARRAY[5.1, 3.5, 1.4, 0.2]) AS setosa,
       round(pgml.key_metric(p.task, m.metrics)::numeric, 1) AS f1
  FROM pgml.projects p JOIN pgml.models m ON m.project_id = p.id
 WHERE p.name LIKE 'iris %' ORDER BY m.id;
SELECT p.name AS project,
       pgml.predict(p.name, ARRAY[59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]) BETWEEN 100 AND 300 AS plausible,
       pgml.key_metric(p.task, m.metrics) > 0 AS better_than_the_mean
  FROM pgml.projects p JOIN pgml.models m ON m.project_id = p.id
 WHERE p.name LIKE 'diabetes %' ORDER BY m.id;

-- An algorithm that cannot do the task says which can:
SELECT * FROM pgml.train('iris lasso', 'classification', 'pgml.iris', 'target', 'lasso');

-- Clustering: no label, every column is a feature; pgml.predict returns the cluster id and
-- the model's key metric is the silhouette on the test split.
CREATE VIEW iris_measurements AS SELECT sepal_length, sepal_width, petal_length, petal_width FROM pgml.iris;
SELECT project, task, algorithm FROM pgml.train('iris clusters', 'clustering', 'iris_measurements',
                                                algorithm => 'kmeans', hyperparams => '{"n_clusters": 3}');
SELECT count(DISTINCT pgml.predict('iris clusters', m)) AS clusters FROM iris_measurements m;
SELECT round(pgml.key_metric('clustering', metrics)::numeric, 1) AS silhouette
  FROM pgml.models WHERE id = (SELECT max(id) FROM pgml.models);
DROP VIEW iris_measurements;

-- Decomposition: principal components of the four measurements; pgml.decompose projects a
-- row, and the key metric is the share of the test split's variance the components keep.
CREATE VIEW iris_measurements AS SELECT sepal_length, sepal_width, petal_length, petal_width FROM pgml.iris;
SELECT project, task, algorithm FROM pgml.train('iris components', 'decomposition', 'iris_measurements',
                                                algorithm => 'pca', hyperparams => '{"n_components": 2}');
SELECT array_length(pgml.decompose('iris components', ARRAY[5.1, 3.5, 1.4, 0.2]), 1) AS components;
SELECT pgml.key_metric('decomposition', metrics) > 0.9 AS keeps_most_variance
  FROM pgml.models WHERE id = (SELECT max(id) FROM pgml.models);
DROP VIEW iris_measurements;
