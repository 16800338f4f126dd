-- Bad input gives an ERROR with a message naming the value and a HINT; never a crash.
CREATE EXTENSION IF NOT EXISTS pgml;
SELECT pg_postmaster_start_time() AS started \gset
SELECT table_name FROM pgml.load_dataset('diabetes');
SELECT project FROM pgml.train('errs', 'regression', 'pgml.diabetes', 'target');
CREATE TABLE texty (name jsonb, x real, y real);
INSERT INTO texty VALUES ('{}', 1, 1), ('[]', 2, 2);
CREATE TABLE empty_table (x real, y real);

SELECT pgml.predict('no such project', ARRAY[1.0]);
SELECT * FROM pgml.train('errs', relation_name => 'no_such_table', y_column_name => 'y');
SELECT * FROM pgml.train('errs', relation_name => 'pgml.diabetes', y_column_name => 'no_such_column');
SELECT * FROM pgml.train('t', 'regression', 'texty', 'y');
SELECT * FROM pgml.train('t', 'regression', 'empty_table', 'y');
SELECT pgml.predict('errs', ARRAY[1.0, 2.0]);
SELECT pgml.predict('errs', ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, NULL]);
SELECT * FROM pgml.train('errs', algorithm => 'deep_magic', relation_name => 'pgml.diabetes', y_column_name => 'target');
SELECT * FROM pgml.train('errs', algorithm => 'xgboost', hyperparams => '{"depth": 3}', relation_name => 'pgml.diabetes', y_column_name => 'target');
SELECT * FROM pgml.train('errs', algorithm => 'xgboost', hyperparams => '"fast"', relation_name => 'pgml.diabetes', y_column_name => 'target');
SELECT pgml.predict_proba('errs', ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
SELECT * FROM pgml.train('errs', 'classification', 'pgml.diabetes', 'target');
SELECT * FROM pgml.train('new project', relation_name => 'pgml.diabetes', y_column_name => 'target');
SELECT * FROM pgml.train('errs', relation_name => 'pgml.diabetes', y_column_name => 'target', test_size => 2.5);
SELECT * FROM pgml.deploy('errs', 'yolo');

SELECT pg_postmaster_start_time() = :'started' AS postmaster_not_restarted;
