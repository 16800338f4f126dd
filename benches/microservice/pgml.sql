-- The pgml side of benches/microservice: the flights in a table keyed by flight (the primary
-- key is the index every request uses) and the same model as the Python service's:
-- XGBoost, 25 trees, default hyperparameters otherwise. psql -v csv=PATH.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgml;
SET pgml.training_progress = off;
DROP TABLE IF EXISTS flights CASCADE;
CREATE TABLE flights (
  key integer PRIMARY KEY,
  month real, day real, hour real, minute real, sched_dep_time real, sched_arr_time real,
  distance real, carrier real, origin real, dest real,
  dep_delay real
);
\set copy '\\copy flights FROM ' :'csv' ' CSV HEADER'
:copy
VACUUM ANALYZE flights;
-- Every column but the key: the features and the label.
CREATE VIEW flights_train AS
SELECT month, day, hour, minute, sched_dep_time, sched_arr_time, distance, carrier, origin, dest,
       dep_delay
  FROM flights WHERE dep_delay IS NOT NULL;
DELETE FROM pgml.projects WHERE name = 'flights';
SELECT project, algorithm, deployed FROM pgml.train('flights', 'regression', 'flights_train', 'dep_delay',
  algorithm => 'xgboost', hyperparams => '{"n_estimators": 25}');
