-- Every form of pgml.predict, on one classification project.
CREATE EXTENSION IF NOT EXISTS pgml;
SELECT table_name, rows FROM pgml.load_dataset('iris');
SELECT project, task, algorithm FROM pgml.train('forms', 'classification', 'pgml.iris', 'target',
    'xgboost', '{"n_estimators": 10}');

-- One row as an array: numeric[], real[], double precision[], integer[], bigint[].
SELECT pgml.predict('forms', ARRAY[5.1, 3.5, 1.4, 0.2])           AS numeric_array,
       pgml.predict('forms', ARRAY[5.1, 3.5, 1.4, 0.2]::real[])   AS real_array,
       pgml.predict('forms', ARRAY[5.1, 3.5, 1.4, 0.2]::float8[]) AS double_array,
       pgml.predict('forms', ARRAY[7, 3, 6, 2])                   AS integer_array,
       pgml.predict('forms', ARRAY[7, 3, 6, 2]::bigint[])         AS bigint_array;

-- One row as a table row (matched by column name) or an anonymous ROW (by position).
SELECT pgml.predict('forms', i) AS table_row FROM pgml.iris i LIMIT 1;
SELECT pgml.predict('forms', ROW(5.1, 3.5, 1.4, 0.2)) AS anonymous_row;

-- A view with the columns in another order still matches by name.
CREATE VIEW iris_shuffled AS SELECT target, petal_width, petal_length, sepal_width, sepal_length FROM pgml.iris;
SELECT count(*) FILTER (WHERE pgml.predict('forms', v) = pgml.predict('forms', ARRAY[sepal_length, sepal_width, petal_length, petal_width])) AS same
  FROM iris_shuffled v;

-- Many rows at once: a flattened array or a 2-D array, one result per row, in one array
-- (unnest it for rows).
SELECT pgml.predict_batch('forms', ARRAY[5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]);
SELECT * FROM unnest(pgml.predict_batch('forms', ARRAY[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])) WITH ORDINALITY AS p(prediction, n);

-- Probabilities: one per class, summing to 1.
SELECT array_length(p, 1) AS n, round((p[1] + p[2] + p[3])::numeric, 4) AS total, p[1] > 0.5 AS setosa
  FROM pgml.predict_proba('forms', ARRAY[5.1, 3.5, 1.4, 0.2]) p;

-- A one-row form takes one row: a 2-D array (a matrix meant for predict_batch) is refused
-- with 2202E rather than predicted flattened as one long row.
SELECT pgml.predict('forms', ARRAY[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]::real[]);
\set VERBOSITY sqlstate
SELECT pgml.predict('forms', ARRAY[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]::real[]);
SELECT pgml.predict('forms', ARRAY[[5.1, 3.5, 1.4, 0.2]]::float8[]);
SELECT pgml.predict_proba('forms', ARRAY[[5.1, 3.5, 1.4, 0.2]]::real[]);
SELECT pgml.predict_label('forms', ARRAY[[5.1, 3.5, 1.4, 0.2]]::real[]);
\set VERBOSITY default
