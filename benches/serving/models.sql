-- The serving benches' models: 20,000 rows x 10 features; XGBoost and LightGBM of 25 trees
-- (the issue's reference model) and of 100 (the libraries' default).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgml;
SET pgml.training_progress = off;
DROP TABLE IF EXISTS serving_rows;
CREATE TABLE serving_rows AS
SELECT f1, f2, f3, f4, f5, f6, f7, f8, f9, f10,
       (f1 * 2 + f2 * f3 - f4 / (1 + abs(f5)) + sin(f6) * 3 + f7 * f8 * 0.1 + f9 - f10)::real AS y
  FROM (SELECT (random() * 10)::real f1, (random() * 10)::real f2, (random() * 10)::real f3,
               (random() * 10)::real f4, (random() * 10)::real f5, (random() * 10)::real f6,
               (random() * 10)::real f7, (random() * 10)::real f8, (random() * 10)::real f9,
               (random() * 10)::real f10
          FROM generate_series(1, 20000)) r;
DELETE FROM pgml.projects WHERE name LIKE 'serving %';
SELECT * FROM pgml.train('serving xgboost 25', 'regression', 'serving_rows', 'y', 'xgboost', '{"n_estimators": 25}');
SELECT * FROM pgml.train('serving lightgbm 25', 'regression', 'serving_rows', 'y', 'lightgbm', '{"n_estimators": 25}');
SELECT * FROM pgml.train('serving xgboost 100', 'regression', 'serving_rows', 'y', 'xgboost');
SELECT * FROM pgml.train('serving lightgbm 100', 'regression', 'serving_rows', 'y', 'lightgbm');
-- A linear model: ten multiply-adds, so its cost over the empty query is pgml's fixed cost.
SELECT * FROM pgml.train('serving linear', 'regression', 'serving_rows', 'y', 'linear');
