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

-- A scrollable cursor keeps the plain scan (the node reads forward only).
BEGIN;
DECLARE scan_cursor SCROLL CURSOR FOR SELECT id, pgml.predict('scan', t) > 0 AS positive FROM scan_rows t WHERE id <= 3;
FETCH 3 FROM scan_cursor;
FETCH BACKWARD 2 FROM scan_cursor;
COMMIT;
