-- Real tables: text, boolean, date, numeric and array columns with NULLs, a text label, and
-- per-column preprocessing that every predict form applies the same way.
CREATE EXTENSION IF NOT EXISTS pgml;

CREATE TABLE visits (
    clinic  text,      -- categorical
    smoker  boolean,
    visited date,      -- seconds since 1970 as a feature
    age     numeric,
    vitals  real[],    -- three features
    outcome text,      -- the classification label
    cost    real       -- the regression label
);
INSERT INTO visits
SELECT CASE WHEN i % 17 = 0 THEN NULL ELSE (ARRAY['north', 'south', 'east'])[1 + i % 3] END,
       CASE WHEN i % 13 = 0 THEN NULL ELSE i % 4 = 0 END,
       DATE '2024-01-01' + (i * 7) % 365,
       CASE WHEN i % 19 = 0 THEN NULL ELSE 20 + (i * 37) % 60 END,
       CASE WHEN i % 23 = 0 THEN NULL
            ELSE ARRAY[60 + (i * 13) % 40, CASE WHEN i % 29 = 0 THEN NULL ELSE 110 + (i * 7) % 50 END, 36 + (i % 5) * 0.3]::real[] END,
       CASE WHEN (i * 37) % 60 > 40 AND i % 4 = 0 THEN 'readmitted'
            WHEN i % 3 = 2 AND (i * 13) % 40 > 25 THEN 'transferred'
            ELSE 'recovered' END,
       100 + 2 * ((i * 37) % 60) + 50 * (i % 4 = 0)::int + ((i * 13) % 40) * 0.5 + 30 * (i % 3)
  FROM generate_series(1, 600) i;

-- Classification with a text label. NULLs go to XGBoost as missing values; clinic is
-- one-hot encoded; the split keeps the label's class proportions.
CREATE VIEW visit_outcomes AS SELECT clinic, smoker, visited, age, vitals, outcome FROM visits;
SELECT project, task, algorithm FROM pgml.train('visit outcome', 'classification', 'visit_outcomes', 'outcome',
    'xgboost', '{"n_estimators": 20, "nthread": 1}', test_sampling => 'stratified',
    preprocess => '{"clinic": {"encode": "one_hot"}}');

-- The class list (byte order of the text) and each column as the snapshot stored it.
SELECT classes, class_labels FROM pgml.models ORDER BY id DESC LIMIT 1;
SELECT c ->> 'name' AS name, c ->> 'type' AS type, c ->> 'kind' AS kind, c -> 'width' AS width,
       c -> 'categories' AS categories, c ->> 'encode' AS encode, c -> 'train_nulls' AS train_nulls
  FROM pgml.snapshots s, jsonb_array_elements(s.columns) c
 WHERE s.id = (SELECT max(id) FROM pgml.snapshots);
-- Stratified: the test split has the label's proportions.
SELECT analysis -> 'train_class_rows' AS train_class_rows, analysis -> 'test_class_rows' AS test_class_rows
  FROM pgml.snapshots ORDER BY id DESC LIMIT 1;

-- pgml.predict returns a text label's class index; pgml.predict_label the text.
SELECT clinic, smoker, age, pgml.predict('visit outcome', v) AS class,
       pgml.predict_label('visit outcome', v) AS label, outcome
  FROM visit_outcomes v ORDER BY visited, age LIMIT 5;

-- Algorithms that cannot take missing values say which column and what would fix it.
CREATE VIEW visit_costs AS SELECT clinic, smoker, visited, age, vitals, cost FROM visits;
SELECT * FROM pgml.train('visit cost', 'regression', 'visit_costs', 'cost', 'linear');

-- Regression with a rule for every column that has NULLs.
SELECT project, task, algorithm FROM pgml.train('visit cost', 'regression', 'visit_costs', 'cost', 'linear',
    preprocess => '{"clinic":  {"encode": "target"},
                    "smoker":  {"impute": "mode"},
                    "age":     {"impute": "mean", "scale": "standard"},
                    "vitals":  {"impute": "median", "scale": "robust"},
                    "visited": {"scale": "min_max"}}');
SELECT round((metrics ->> 'r2')::numeric, 2) AS r2 FROM pgml.models ORDER BY id DESC LIMIT 1;

-- Every predict form applies the same preprocessing. The array form takes raw values: a
-- category's index in the snapshot's list, booleans as 0/1, dates as epoch seconds, each
-- array element, and NaN for a missing value.
CREATE TEMP TABLE forms AS
WITH clinics AS (
    SELECT ARRAY(SELECT jsonb_array_elements_text(c -> 'categories')) AS list
      FROM pgml.snapshots s, jsonb_array_elements(s.columns) c
     WHERE s.id = (SELECT max(id) FROM pgml.snapshots) AND c ->> 'name' = 'clinic'),
raw AS (
    SELECT row_number() OVER (ORDER BY v.visited, v.age, v.clinic) AS n, v,
           ARRAY[COALESCE((array_position(list, v.clinic) - 1)::real, 'NaN'),
                 COALESCE(v.smoker::int::real, 'NaN'),
                 date_part('epoch', v.visited),
                 COALESCE(v.age::real, 'NaN'),
                 COALESCE(v.vitals[1], 'NaN'), COALESCE(v.vitals[2], 'NaN'), COALESCE(v.vitals[3], 'NaN')]::real[] AS x
      FROM visit_costs v, clinics)
SELECT n, pgml.predict('visit cost', v) AS by_row, pgml.predict('visit cost', x) AS by_array, x FROM raw;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE by_row = by_array) AS row_equals_array,
       count(*) FILTER (WHERE by_row = batch.v) AS row_equals_batch
  FROM forms
  JOIN unnest(pgml.predict_batch('visit cost', (SELECT array_agg(e ORDER BY n, i) FROM forms, unnest(x) WITH ORDINALITY u(e, i))))
       WITH ORDINALITY batch(v, n) USING (n);

-- materialize_snapshot copies the rows into pgml.snapshot_<id> and trains on the copy; a
-- retrain without relation_name reads the copy, so it is reproducible after the source changes.
SELECT project FROM pgml.train('visit cost', relation_name => 'visit_costs', y_column_name => 'cost',
    algorithm => 'xgboost', hyperparams => '{"n_estimators": 10, "nthread": 1}', materialize_snapshot => true);
SELECT relation_name, materialized, analysis -> 'rows' AS rows FROM pgml.snapshots ORDER BY id DESC LIMIT 1;
DELETE FROM visits WHERE clinic = 'north';
SELECT project FROM pgml.train('visit cost', algorithm => 'xgboost', hyperparams => '{"n_estimators": 10, "nthread": 1}');
SELECT relation_name ~ '^pgml\.snapshot_\d+$' AS reads_the_copy, analysis -> 'rows' AS rows
  FROM pgml.snapshots ORDER BY id DESC LIMIT 1;
SELECT count(*) AS xgboost_models, count(DISTINCT metrics ->> 'r2') AS distinct_r2
  FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
 WHERE p.name = 'visit cost' AND m.algorithm = 'xgboost';

-- pgml.snapshot on its own: a copy and its description, no training.
SELECT pgml.snapshot('visit_outcomes', 'outcome') > 0 AS created;
SELECT relation_name, y_column_name, materialized, analysis -> 'rows' AS rows,
       jsonb_array_length(columns) AS columns
  FROM pgml.snapshots ORDER BY id DESC LIMIT 1;
