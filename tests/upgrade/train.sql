-- Run in a database created at an earlier release (tests/upgrade.sh): the current library
-- under that release's SQL trains one model of each family, deploys and snapshots.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET pgml.training_progress = off;
SELECT table_name FROM pgml.load_dataset('iris', schema => 'public');
SELECT table_name FROM pgml.load_dataset('diabetes', schema => 'public');
CREATE VIEW public.iris_measurements AS
    SELECT sepal_length, sepal_width, petal_length, petal_width FROM public.iris;
SELECT project, algorithm FROM pgml.train('up xgboost', 'regression', 'public.diabetes', 'target',
    'xgboost', '{"n_estimators": 20, "max_depth": 3}');
SELECT project, algorithm FROM pgml.train('up lightgbm', 'classification', 'public.iris', 'target',
    'lightgbm', '{"n_estimators": 20, "min_data_in_leaf": 5}');
SELECT project, algorithm FROM pgml.train('up linear', 'regression', 'public.diabetes', 'target', 'linear');
SELECT project, algorithm FROM pgml.train('up random_forest', 'classification', 'public.iris', 'target',
    'random_forest', '{"n_trees": 10, "seed": 1}');
SELECT project, algorithm FROM pgml.train('up kmeans', 'clustering', 'public.iris_measurements',
    algorithm => 'kmeans', hyperparams => '{"n_clusters": 3}');
-- A materialized snapshot, and a model trained on it.
SELECT pgml.snapshot('public.diabetes', 'target') AS snapshot_id \gset
SELECT project, algorithm FROM pgml.train('up snapshot', 'regression', 'pgml.snapshot_' || :snapshot_id,
    'target', 'xgboost', '{"n_estimators": 10}');
-- A second model and an explicit deployment of the first.
SELECT project, algorithm FROM pgml.train('up xgboost', algorithm => 'xgboost',
    hyperparams => '{"n_estimators": 5}');
SELECT * FROM pgml.deploy('up xgboost', 'best_score');
