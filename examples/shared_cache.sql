-- The shared model cache: with pgml in shared_preload_libraries, the first backend that
-- loads a deployed model leaves a copy in shared memory (pgml.shared_cache_size, 64MB by
-- default), and a new connection's first predict takes it from there instead of reading
-- pgml.deployments, pgml.models and pgml.files. A new deployment makes the copy stale at
-- once, for every backend.
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT table_name FROM pgml.load_dataset('diabetes');
SET pgml.training_progress = off;
SELECT project, algorithm FROM pgml.train('shared demo', 'regression', 'pgml.diabetes',
                                          'target', 'xgboost', '{"n_estimators": 10}');
SELECT pgml.predict('shared demo', ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02]) AS here \gset
-- This session loaded it from the catalog and published it.
SELECT loaded_from_catalog > 0 AS read_catalog, shared_projects > 0 AS shared_project,
       shared_models > 0 AS shared_model, shared_bytes > 0 AS bytes_used,
       shared_capacity = 64 * 1024 * 1024 AS default_capacity
  FROM pgml.cache_info();

-- A new connection: the same prediction, loaded from shared memory, no catalog read.
CREATE FUNCTION pg_temp.in_new_connection(sql text)
  RETURNS TABLE (prediction real, from_shared bigint, from_catalog bigint) AS $$
  SELECT * FROM dblink(format('host=127.0.0.1 port=%s dbname=%s user=%s',
                              current_setting('port'), current_database(), current_user),
                       sql || $q$, (SELECT loaded_from_shared FROM pgml.cache_info()),
                                  (SELECT loaded_from_catalog FROM pgml.cache_info())$q$)
         AS t(prediction real, from_shared bigint, from_catalog bigint)
$$ LANGUAGE sql;
SELECT prediction = :'here'::real AS same_prediction, from_shared, from_catalog
  FROM pg_temp.in_new_connection($$SELECT pgml.predict('shared demo', ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02])$$);

-- With the cache turned off for a session, it reads the catalog.
SELECT prediction = :'here'::real AS same_prediction, from_shared, from_catalog
  FROM pg_temp.in_new_connection($$SET pgml.shared_cache = off; SELECT pgml.predict('shared demo', ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02])$$);

-- A deployment in an open transaction is not published, nor does it make the shared copy
-- stale before it commits: other sessions keep the committed model (from shared memory),
-- and this transaction serves its own new one.
BEGIN;
SELECT project, algorithm FROM pgml.train('shared demo', algorithm => 'linear');
SELECT pgml.predict('shared demo', ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02]) <> :'here'::real AS serves_its_own;
SELECT prediction = :'here'::real AS others_keep_committed, from_shared, from_catalog
  FROM pg_temp.in_new_connection($$SELECT pgml.predict('shared demo', ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02])$$);
COMMIT;

-- After the commit the old copy is stale for everyone. This session reloads the new model
-- (its own invalidation comes back to it) and publishes it; new connections take it from
-- shared memory.
SELECT pgml.predict('shared demo', ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02]) AS linear \gset
SELECT prediction = :'linear'::real AS new_model, from_shared, from_catalog
  FROM pg_temp.in_new_connection($$SELECT pgml.predict('shared demo', ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02])$$);
SELECT prediction = :'linear'::real AS new_model, from_shared, from_catalog
  FROM pg_temp.in_new_connection($$SELECT pgml.predict('shared demo', ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02])$$);

-- A served model's rows edited by hand (here another model's bytes written over its
-- pgml.files row; likewise an UPDATE or DELETE on pgml.models, pgml.snapshots or
-- pgml.projects) make every copy stale at commit, as a deployment does: the first new
-- connection reads the catalog and replaces the shared copy, the next takes the edited
-- model from shared memory, and this session reloads it too.
CREATE TABLE shared_flipped AS SELECT * FROM pgml.diabetes;
UPDATE shared_flipped SET target = -target;
SELECT project, algorithm FROM pgml.train('shared flipped', 'regression', 'shared_flipped', 'target', 'linear');
SELECT pgml.predict('shared flipped', ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02]) AS flipped \gset
UPDATE pgml.files f SET data = o.data
  FROM pgml.files o
 WHERE f.model_id = (SELECT model_id FROM pgml.deployed_models WHERE name = 'shared demo')
   AND o.model_id = (SELECT model_id FROM pgml.deployed_models WHERE name = 'shared flipped')
   AND o.path = f.path AND o.part = f.part;
SELECT prediction = :'flipped'::real AS edited, from_shared, from_catalog
  FROM pg_temp.in_new_connection($$SELECT pgml.predict('shared demo', ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02])$$);
SELECT prediction = :'flipped'::real AS edited, from_shared, from_catalog
  FROM pg_temp.in_new_connection($$SELECT pgml.predict('shared demo', ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02])$$);
SELECT pgml.predict('shared demo', ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.00, 0.02, -0.02]) = :'flipped'::real AS edited_here;
DROP TABLE shared_flipped;
DROP EXTENSION dblink;
