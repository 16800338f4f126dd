-- Privileges: a project has an owner, who grants 'predict' or 'train' on it; serving needs no
-- access to the catalog's tables (README.md, section Privileges).
CREATE EXTENSION IF NOT EXISTS pgml;
SET client_min_messages = warning;
-- Two roles with the grants a DBA gives (roles are cluster-wide: made here, dropped at the end).
CREATE ROLE ex_trainer;
CREATE ROLE ex_app;
GRANT USAGE ON SCHEMA pgml TO ex_trainer, ex_app;
GRANT EXECUTE ON FUNCTION pgml.train, pgml.train_joint, pgml.snapshot, pgml.load_dataset TO ex_trainer;
CREATE SCHEMA ex_data AUTHORIZATION ex_trainer;
RESET client_min_messages;

-- The trainer loads a dataset into its own schema and trains: the project is its own.
SET ROLE ex_trainer;
SELECT * FROM pgml.load_dataset('iris', 'ex_data');
SELECT project, task, algorithm FROM pgml.train('ex_iris', 'classification', 'ex_data.iris', 'target', 'xgboost', '{"n_estimators": 5}');
SELECT name, owner FROM pgml.projects;
-- Nobody else may create in schema pgml, nor write the catalog.
CREATE TABLE pgml.mine (a int);
DELETE FROM pgml.models;

-- The application has no privilege on the project yet.
SET ROLE ex_app;
SELECT pgml.predict('ex_iris', ARRAY[5.1, 3.5, 1.4, 0.2]);
SELECT count(*) AS projects_visible FROM pgml.projects;

-- The owner grants it predict.
SET ROLE ex_trainer;
SELECT pgml.grant_project('ex_iris', 'predict', 'ex_app');
SELECT grantee, privilege, grantor FROM pgml.project_privileges;

SET ROLE ex_app;
SELECT pgml.predict('ex_iris', ARRAY[5.1, 3.5, 1.4, 0.2]) AS setosa;
-- It sees the project and its models, not the model bytes or the snapshot's statistics.
SELECT name, algorithm FROM pgml.deployed_models;
SELECT (SELECT count(*) FROM pgml.files) AS files, (SELECT count(*) FROM pgml.snapshots) AS snapshots;
-- Deploying needs 'train'.
SELECT * FROM pgml.deploy('ex_iris', 'most_recent');

-- Even a superuser does not retrain without naming the relation another role chose: that
-- relation could run that role's code with the superuser's privileges.
RESET ROLE;
SELECT * FROM pgml.train('ex_iris');
SELECT project FROM pgml.train('ex_iris', relation_name => 'ex_data.iris', algorithm => 'linear', automatic_deploy => false);

-- Only the owner drops the project (its models, grants and snapshots go with it).
SET ROLE ex_app;
SELECT pgml.drop_project('ex_iris');
SET ROLE ex_trainer;
SELECT pgml.drop_project('ex_iris') AS models_dropped;
RESET ROLE;

SET client_min_messages = warning;
DROP SCHEMA ex_data CASCADE;
DROP OWNED BY ex_trainer, ex_app;
DROP ROLE ex_trainer, ex_app;
