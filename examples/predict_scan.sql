-- pgml.predict(project, row) over a table scan: the planner puts a PgmlPredict node over
-- the scan, which scores blocks of rows with the model's batch path. Every query below is
-- run both ways (pgml.predict_scan on and off) and must give the same rows.
CREATE EXTENSION IF NOT EXISTS pgml;
SET pgml.training_progress = off;
CREATE TABLE scan_rows AS
SELECT i AS id,
       (i % 97 / 9.7)::real AS x1,
       (i * 7 % 13) AS x2,
       (i % 31 / 3.1)::numeric AS x3,
       CASE WHEN i % 11 = 0 THEN NULL ELSE (i % 17 / 1.7)::float8 END AS x4,
       (ARRAY['red', 'green', 'blue'])[i % 3 + 1] AS color,
       'unused' AS note,
       ((i % 97 / 9.7) * 2 + (i * 7 % 13) - (i % 31 / 3.1) + (i % 3))::real AS y
  FROM generate_series(1, 3000) i;
-- A dropped column keeps its place in the row; the node skips it.
ALTER TABLE scan_rows ADD COLUMN gone int;
ALTER TABLE scan_rows DROP COLUMN gone;
CREATE VIEW scan_train AS SELECT x1, x2, x3, x4, color, y FROM scan_rows;
SELECT project, task, algorithm FROM pgml.train('scan', 'regression', 'scan_train', 'y',
    'xgboost', '{"n_estimators": 20}');
SELECT project, task, algorithm FROM pgml.train('scan linear', 'regression', 'scan_train', 'y', 'linear',
    preprocess => '{"x4": {"impute": "mean"}}');
ANALYZE scan_rows;

-- The plans: the node over the scan, for the scan's own output and filter and for an
-- aggregate's arguments.
EXPLAIN (COSTS OFF) SELECT id, pgml.predict('scan', t) FROM scan_rows t;
EXPLAIN (COSTS OFF) SELECT id FROM scan_rows t WHERE id > 10 AND pgml.predict('scan', t) > 20;
EXPLAIN (COSTS OFF, VERBOSE) SELECT count(pgml.predict('scan', t)), avg(pgml.predict('scan', t)) FROM scan_rows t;

-- The same rows either way. Each query's result both ways, compared in full.
CREATE FUNCTION scan_same(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  on_rows text[];
  off_rows text[];
BEGIN
  SET LOCAL pgml.predict_scan = on;
  EXECUTE format('SELECT array_agg(r::text ORDER BY r::text) FROM (%s) r', q) INTO on_rows;
  SET LOCAL pgml.predict_scan = off;
  EXECUTE format('SELECT array_agg(r::text ORDER BY r::text) FROM (%s) r', q) INTO off_rows;
  -- The row count depends on the trained model where a filter reads a prediction: only
  -- whether there were rows is shown.
  RETURN CASE WHEN on_rows IS DISTINCT FROM off_rows THEN 'DIFFERENT'
              WHEN coalesce(cardinality(on_rows), 0) = 0 THEN 'same, no rows'
              ELSE 'same' END;
END $$;
SELECT scan_same($$SELECT id, pgml.predict('scan', t) FROM scan_rows t$$) AS output;
SELECT scan_same($$SELECT id, pgml.predict('scan linear', t) FROM scan_rows t$$) AS linear;
SELECT scan_same($$SELECT id, x4, color FROM scan_rows t WHERE id % 2 = 0 AND pgml.predict('scan', t) > 15$$) AS filter;
SELECT scan_same($$SELECT id, pgml.predict('scan', t) - pgml.predict('scan linear', t) AS d FROM scan_rows t$$) AS two_models;
SELECT scan_same($$SELECT t.ctid, t, pgml.predict('scan', t) FROM scan_rows t WHERE id < 50$$) AS whole_row_too;
-- Two row types at two call sites of one query: row by row, each site keeps its own plan
-- (and both give the same predictions: columns are matched by name).
CREATE TABLE scan_reordered AS SELECT y, color, x4, x3, x2, x1, id FROM scan_rows;
SELECT scan_same($$SELECT id, pgml.predict('scan', t), pgml.predict('scan', r) FROM scan_rows t JOIN scan_reordered r USING (id)$$) AS two_row_types;
SET pgml.predict_scan = off;
SELECT count(*) AS rows, count(*) FILTER (WHERE pgml.predict('scan', t) <> pgml.predict('scan', r)) AS differ
  FROM scan_rows t JOIN scan_reordered r USING (id);
RESET pgml.predict_scan;
SELECT scan_same($$SELECT count(*), sum(pgml.predict('scan', t)), max(pgml.predict('scan', t)) FROM scan_rows t$$) AS aggregate;
SELECT scan_same($$SELECT color, round(avg(pgml.predict('scan', t))::numeric, 3) FROM scan_rows t GROUP BY color$$) AS grouped;
SELECT scan_same($$SELECT id, pgml.predict('scan', t) FROM scan_rows t ORDER BY 2 DESC, 1 LIMIT 5$$) AS top_five;
SELECT scan_same($$SELECT g, (SELECT sum(pgml.predict('scan', t)) FROM scan_rows t WHERE t.x2 = g) FROM generate_series(0, 12) g$$) AS rescanned;
-- The node's row holds only the columns read above it, in the order of first use; these
-- read a column twice, out of order, next to a NULL, or only in a filter on a prediction.
SELECT scan_same($$SELECT x2, NULL::int AS nothing, id, pgml.predict('scan', t), x2 FROM scan_rows t$$) AS reordered;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM scan_rows t WHERE pgml.predict('scan', t) > x1 * 3;
SELECT scan_same($$SELECT id FROM scan_rows t WHERE pgml.predict('scan', t) > x1 * 3$$) AS filter_reads_a_column;

-- Parallel workers run the node too.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT sum(pgml.predict('scan', t)) FROM scan_rows t;
-- Summed as numeric: a float sum depends on which worker got which rows, with the node or
-- without it.
SELECT scan_same($$SELECT sum(pgml.predict('scan', t)::numeric) FROM scan_rows t$$) AS parallel_sum;
SELECT scan_same($$SELECT id, pgml.predict('scan', t) FROM scan_rows t WHERE pgml.predict('scan', t) > 10$$) AS parallel_rows;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- Written into a table in one statement.
CREATE TABLE scan_scores (id int, score real);
INSERT INTO scan_scores SELECT id, pgml.predict('scan', t) FROM scan_rows t;
SET pgml.predict_scan = off;
SELECT count(*) AS differ_from_row_by_row
  FROM scan_scores s JOIN scan_rows t USING (id) WHERE s.score <> pgml.predict('scan', t);
RESET pgml.predict_scan;

-- A prepared statement keeps its plan; a new deployment still reaches it.
PREPARE scan_total AS SELECT round(sum(pgml.predict('scan', t))::numeric, 1) FROM scan_rows t;
CREATE TEMP TABLE scan_before AS EXECUTE scan_total;
SELECT project, algorithm FROM pgml.train('scan', 'regression', 'scan_train', 'y',
    'xgboost', '{"n_estimators": 3}');
SELECT project, strategy FROM pgml.deploy('scan', 'most_recent');
CREATE TEMP TABLE scan_after AS EXECUTE scan_total;
SET pgml.predict_scan = off;
SELECT (SELECT * FROM scan_before) <> (SELECT * FROM scan_after) AS changed,
       (SELECT * FROM scan_after) = (SELECT round(sum(pgml.predict('scan', t))::numeric, 1) FROM scan_rows t) AS prepared_follows;
RESET pgml.predict_scan;

-- Errors are the function's: an unknown project, a row without a training column. A scan
-- that reads no row looks no model up, as the function is never called.
SELECT pgml.predict('no such project', t) FROM scan_rows t;
CREATE TABLE scan_empty (LIKE scan_rows);
SELECT pgml.predict('no such project', t) FROM scan_empty t;
CREATE TABLE scan_partial AS SELECT id, x1, x2 FROM scan_rows LIMIT 5;
SELECT pgml.predict('scan', t) FROM scan_partial t;

-- Guarded calls, LIMIT, errors: the scan is an optimisation, never a change of what a query
-- returns or raises. A model that refuses NULL features (x4 is NULL on every 11th row):
CREATE VIEW scan_train_strict AS SELECT x1, x2, x4, y FROM scan_rows WHERE x4 IS NOT NULL;
SELECT project, algorithm FROM pgml.train('scan strict', 'regression', 'scan_train_strict', 'y', 'linear');
-- Each query both ways, rows or error (SQLSTATE and message) compared; plain statements at
-- the top level, so that a data-modifying WITH may be one.
CREATE FUNCTION scan_outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  r record;
  rows text[] := '{}';
BEGIN
  FOR r IN EXECUTE q LOOP
    rows := rows || r::text;
  END LOOP;
  RETURN (SELECT string_agg(x, ';' ORDER BY x) FROM unnest(rows) x);
EXCEPTION WHEN OTHERS THEN
  RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION scan_both(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  on_result text;
  off_result text;
BEGIN
  SET LOCAL pgml.predict_scan = on;
  on_result := scan_outcome(q);
  SET LOCAL pgml.predict_scan = off;
  off_result := scan_outcome(q);
  RETURN CASE WHEN on_result IS DISTINCT FROM off_result THEN 'DIFFERENT: ' || coalesce(on_result, 'no rows') || ' / ' || coalesce(off_result, 'no rows')
              WHEN on_result LIKE 'ERROR %' THEN 'same ' || on_result
              WHEN on_result IS NULL THEN 'same, no rows'
              ELSE 'same' END;
END $$;
-- Guarded: the call runs only for rows whose x4 is not NULL, so no error either way.
SELECT scan_both($$SELECT count(CASE WHEN x4 IS NOT NULL THEN pgml.predict('scan strict', t) END) FROM scan_rows t$$) AS case_in_aggregate;
SELECT scan_both($$SELECT id, CASE WHEN x4 IS NULL THEN 0 ELSE pgml.predict('scan strict', t) END FROM scan_rows t$$) AS case_in_output;
SELECT scan_both($$SELECT id, COALESCE(CASE WHEN x4 IS NULL THEN -1 END, pgml.predict('scan strict', t)) FROM scan_rows t$$) AS coalesce;
SELECT scan_both($$SELECT id FROM scan_rows t WHERE x4 IS NULL OR pgml.predict('scan strict', t) > 10$$) AS or_filter;
SELECT scan_both($$SELECT id FROM scan_rows t WHERE x4 IS NOT NULL AND pgml.predict('scan strict', t) > 10$$) AS and_filter;
SELECT scan_both($$SELECT id, x4 IS NOT NULL AND pgml.predict('scan strict', t) > 10 FROM scan_rows t$$) AS and_in_output;
SELECT scan_both($$SELECT count(pgml.predict('scan strict', t)) FILTER (WHERE x4 IS NOT NULL) FROM scan_rows t$$) AS aggregate_filter;
-- The AND filter still scores in blocks: the plain condition stays on the scan, below.
EXPLAIN (COSTS OFF) SELECT id FROM scan_rows t WHERE x4 IS NOT NULL AND pgml.predict('scan strict', t) > 10;
EXPLAIN (COSTS OFF) SELECT id FROM scan_rows t WHERE x4 IS NULL OR pgml.predict('scan strict', t) > 10;
-- Unguarded: the first bad row (id 11) fails either way, with the same error.
SELECT scan_both($$SELECT id, pgml.predict('scan strict', t) FROM scan_rows t$$) AS unguarded;
SELECT scan_both($$SELECT sum(pgml.predict('scan strict', t)) FROM scan_rows t$$) AS unguarded_aggregate;
-- LIMIT stops before the bad row (row 10 is good, row 11 is not): one row either way; two
-- rows reach it, and fail either way.
SELECT scan_both($$SELECT id, pgml.predict('scan strict', t) FROM scan_rows t WHERE id >= 10 LIMIT 1$$) AS limit_before_bad_row;
SELECT scan_both($$SELECT id, pgml.predict('scan strict', t) FROM scan_rows t WHERE id >= 10 LIMIT 2$$) AS limit_reaches_bad_row;
-- The same with a feature read row by row (an array; row 11's has one element too few):
CREATE TABLE scan_arrays AS
SELECT i AS id, CASE WHEN i = 11 THEN ARRAY[1, 2]::real[] ELSE ARRAY[i % 7, i % 5, i % 3]::real[] END AS v,
       (i % 7 + 2 * (i % 5))::real AS y
  FROM generate_series(1, 200) i;
CREATE VIEW scan_arrays_train AS SELECT v, y FROM scan_arrays WHERE id <> 11;
SELECT project, algorithm FROM pgml.train('scan arrays', 'regression', 'scan_arrays_train', 'y', 'linear');
EXPLAIN (COSTS OFF) SELECT id, pgml.predict('scan arrays', t) FROM scan_arrays t WHERE id >= 10 LIMIT 1;
SELECT scan_both($$SELECT id, pgml.predict('scan arrays', t) FROM scan_arrays t WHERE id >= 10 LIMIT 1$$) AS array_limit_before_bad_row;
SELECT scan_both($$SELECT id, pgml.predict('scan arrays', t) FROM scan_arrays t WHERE id >= 10 LIMIT 2$$) AS array_limit_reaches_bad_row;
SELECT scan_both($$SELECT id, coalesce(pgml.predict('scan arrays', t), -1) FROM scan_arrays t$$) AS array_unguarded;
-- A filter the scan could not run ahead of the node without raising an error the
-- executor would not (a division by zero at id 5 when the prediction is checked first):
SELECT scan_both($$SELECT id FROM scan_rows t WHERE 100 / (id - 5) > 1 AND pgml.predict('scan', t) > 1$$) AS division_filter;
-- A data-modifying WITH keeps its plan (EvalPlanQual may re-run its scans); the same rows.
CREATE TABLE scan_written AS SELECT id, x1, x2, x3, x4, color, note, 0::real AS s FROM scan_rows WHERE id <= 40;
EXPLAIN (COSTS OFF) WITH u AS (UPDATE scan_written w SET s = 1 WHERE id < 3 RETURNING id) SELECT count(pgml.predict('scan', t)) FROM scan_rows t;
SELECT scan_both($$WITH u AS (UPDATE scan_written w SET s = pgml.predict('scan', w) WHERE id < 20 RETURNING id, s) SELECT id, s FROM u$$) AS writable_cte;
SELECT scan_both($$WITH u AS (UPDATE scan_written w SET note = note WHERE id < 3 RETURNING id) SELECT (SELECT count(*) FROM u), sum(pgml.predict('scan', t)::numeric) FROM scan_rows t$$) AS writable_cte_beside;
-- REVOKE EXECUTE on the function is obeyed by the node as by the call: 42501 either way.
CREATE ROLE scan_no_execute;
GRANT USAGE ON SCHEMA pgml TO scan_no_execute;
GRANT SELECT ON scan_rows TO scan_no_execute;
REVOKE EXECUTE ON FUNCTION pgml.predict(text, anyelement) FROM PUBLIC;
SET ROLE scan_no_execute;
-- (The examples' tables and functions are in schema pgml: the path's "$user" for role pgml.)
SET search_path = pgml, public;
SELECT scan_both($$SELECT sum(pgml.predict('scan', t)) FROM scan_rows t$$) AS revoked;
SELECT scan_both($$SELECT id, pgml.predict('scan', t) FROM scan_rows t$$) AS revoked_output;
RESET search_path;
RESET ROLE;
GRANT EXECUTE ON FUNCTION pgml.predict(text, anyelement) TO PUBLIC;
REVOKE SELECT ON scan_rows FROM scan_no_execute;
REVOKE USAGE ON SCHEMA pgml FROM scan_no_execute;
DROP ROLE scan_no_execute;

-- A scrollable cursor keeps the plain scan (the node reads forward only).
BEGIN;
DECLARE scan_cursor SCROLL CURSOR FOR SELECT id, pgml.predict('scan', t) > 0 AS positive FROM scan_rows t WHERE id <= 3;
FETCH 3 FROM scan_cursor;
FETCH BACKWARD 2 FROM scan_cursor;
COMMIT;

-- A cursor declared without SCROLL may still fetch backward when its plan allows it, as a
-- plain scan's does: the node's plan gets a Material on top to keep that working.
BEGIN;
DECLARE scan_plain_cursor CURSOR FOR SELECT id, pgml.predict('scan', t) > 0 AS positive FROM scan_rows t WHERE id <= 3;
FETCH 3 FROM scan_plain_cursor;
FETCH BACKWARD 2 FROM scan_plain_cursor;
COMMIT;
EXPLAIN (COSTS OFF) DECLARE scan_explained CURSOR FOR SELECT id, pgml.predict('scan', t) FROM scan_rows t;
