-- Fixtures for tests/reliability/bad_input.cases (run once, as the superuser pgml).
SET client_min_messages = warning;
CREATE EXTENSION pgml;
SELECT pgml.load_dataset('diabetes');
SELECT pgml.load_dataset('iris');
CREATE TABLE ri_small AS SELECT * FROM pgml.diabetes LIMIT 120;
CREATE TABLE ri_one_row AS SELECT * FROM pgml.diabetes LIMIT 1;
CREATE TABLE ri_empty AS SELECT * FROM pgml.diabetes LIMIT 0;
CREATE TABLE ri_one_class AS SELECT age, sex, bmi, 1 AS label FROM pgml.diabetes LIMIT 60;
CREATE TABLE ri_nan_label AS SELECT age, bmi, CASE WHEN row_number() OVER () = 7 THEN 'NaN'::real ELSE target::real END AS target FROM pgml.diabetes LIMIT 60;
CREATE TABLE ri_inf_label AS SELECT age, bmi, CASE WHEN row_number() OVER () = 7 THEN 'Infinity'::real ELSE target::real END AS target FROM pgml.diabetes LIMIT 60;
CREATE TABLE ri_null_label AS SELECT age, bmi, CASE WHEN row_number() OVER () = 7 THEN NULL ELSE target END AS target FROM pgml.diabetes LIMIT 60;
CREATE TABLE ri_inf_feature AS SELECT CASE WHEN row_number() OVER () = 3 THEN '-Infinity'::real ELSE age::real END AS age, bmi, target FROM pgml.diabetes LIMIT 60;
CREATE TABLE ri_no_features AS SELECT target FROM pgml.diabetes LIMIT 60;
CREATE TABLE ri_json (doc jsonb, target real);
INSERT INTO ri_json SELECT '{}'::jsonb, target FROM pgml.diabetes LIMIT 60;
CREATE TABLE ri_ragged (v real[], target real);
INSERT INTO ri_ragged SELECT CASE WHEN i % 2 = 0 THEN ARRAY[i, 1]::real[] ELSE ARRAY[i]::real[] END, i FROM generate_series(1, 40) i;
-- Names with quotes, a semicolon, a dot, spaces and Unicode, in relations and columns.
CREATE TABLE "ri ""odd""; name.x" ("we; ird col" real, "ÿ ünï.cødé" real, "tar""get" real);
INSERT INTO "ri ""odd""; name.x" SELECT age, bmi, target FROM pgml.diabetes LIMIT 80;
CREATE SCHEMA "ri sch.ema";
CREATE TABLE "ri sch.ema"."tä ble" AS SELECT age, bmi, target FROM pgml.diabetes LIMIT 80;
-- Deployed models to predict with.
SELECT count(*) FROM pgml.train('ri_lin', 'regression', 'ri_small', 'target', 'linear');
SELECT count(*) FROM pgml.train('ri_xgb', 'regression', 'ri_small', 'target', 'xgboost', '{"n_estimators": 5}');
SELECT count(*) FROM pgml.train('ri_cls', 'classification', 'pgml.iris', 'target', 'lightgbm', '{"n_estimators": 5}');
-- A model whose stored bytes are tampered with (and one truncated to nothing useful).
SELECT count(*) FROM pgml.train('ri_tampered', 'regression', 'ri_small', 'target', 'xgboost', '{"n_estimators": 5}');
UPDATE pgml.files SET data = convert_to('{"learner": {"not": "a model"', 'UTF8')
 WHERE model_id = (SELECT max(m.id) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = 'ri_tampered');
SELECT count(*) FROM pgml.train('ri_truncated', 'regression', 'ri_small', 'target', 'lightgbm', '{"n_estimators": 5}');
UPDATE pgml.files SET data = substring(data from 1 for 40)
 WHERE model_id = (SELECT max(m.id) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = 'ri_truncated');
SELECT count(*) FROM pgml.train('ri_bitflip', 'regression', 'ri_small', 'target', 'linear');
UPDATE pgml.files SET data = set_byte(data, length(data) / 2, 255 - get_byte(data, length(data) / 2))
 WHERE model_id = (SELECT max(m.id) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = 'ri_bitflip');
-- Tampering that the libraries' own loaders do not survive (found by src/tests/fuzz.rs): an XGBoost
-- UBJSON string length of ~2^62 (its reader memcpy'd that much), a LightGBM tree line
-- without '=' (its parser scanned past the end), a LightGBM tree_sizes off by one, a
-- random forest (smartcore) split on feature 2^31 - 1 (it panicked indexing the row).
SELECT count(*) FROM pgml.train('ri_ubj_length', 'regression', 'ri_small', 'target', 'xgboost', '{"n_estimators": 5}');
UPDATE pgml.files SET data = set_byte(data, 2, 63)
 WHERE model_id = (SELECT max(m.id) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = 'ri_ubj_length');
SELECT count(*) FROM pgml.train('ri_lgbm_line', 'regression', 'ri_small', 'target', 'lightgbm', '{"n_estimators": 5}');
UPDATE pgml.files SET data = convert_to(replace(convert_from(data, 'UTF8'), 'split_gain=', 'split_gain '), 'UTF8')
 WHERE model_id = (SELECT max(m.id) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = 'ri_lgbm_line');
SELECT count(*) FROM pgml.train('ri_lgbm_sizes', 'regression', 'ri_small', 'target', 'lightgbm', '{"n_estimators": 5}');
UPDATE pgml.files SET data = convert_to(regexp_replace(convert_from(data, 'UTF8'), 'tree_sizes=([0-9]+)', 'tree_sizes=1\1'), 'UTF8')
 WHERE model_id = (SELECT max(m.id) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = 'ri_lgbm_sizes');
SELECT count(*) FROM pgml.train('ri_forest', 'regression', 'ri_small', 'target', 'random_forest', '{"n_trees": 3}');
UPDATE pgml.files SET data = convert_to(regexp_replace(convert_from(data, 'UTF8'), '"split_feature":[0-9]+', '"split_feature":2147483647', 'g'), 'UTF8')
 WHERE model_id = (SELECT max(m.id) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = 'ri_forest');
