-- pgml catalog: its tables, types and plain views. Loaded first by CREATE EXTENSION
-- (pgrx `bootstrap`; sql/finalize.sql runs last); the Rust code reaches these tables only
-- through src/catalog/.

CREATE TYPE pgml.task AS ENUM ('regression', 'classification', 'clustering', 'decomposition');
CREATE TYPE pgml.algorithm AS ENUM ('linear', 'xgboost', 'lightgbm', 'random_forest', 'decision_tree', 'knn', 'ridge', 'lasso', 'elastic_net', 'xgboost_random_forest', 'gaussian_naive_bayes', 'svm', 'kmeans', 'pca', 'dbscan');
CREATE TYPE pgml.strategy AS ENUM ('new_score', 'best_score', 'most_recent', 'rollback', 'specific');
CREATE TYPE pgml.sampling AS ENUM ('random', 'first', 'last', 'stratified');
CREATE TYPE pgml.status AS ENUM ('in_progress', 'successful', 'failed');

CREATE TABLE pgml.projects (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    task       pgml.task NOT NULL,
    -- The role that owns the project: the one that created it (pgml.train), or the one
    -- given it by pgml.alter_project_owner. It, its members and superusers hold every
    -- privilege on the project (src/catalog/acl.rs); regrole so that pg_dump writes a name.
    owner      regrole NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- What a project's owner granted (pgml.grant_project): 'predict' serves its deployed model,
-- 'train' also trains into it, deploys its models and reads its snapshots. grantee '-' (0)
-- is PUBLIC. Only pgml writes here, as the extension owner, after checking the caller.
CREATE TABLE pgml.project_privileges (
    project_id bigint NOT NULL REFERENCES pgml.projects ON DELETE CASCADE,
    grantee    regrole NOT NULL,
    privilege  text NOT NULL CHECK (privilege IN ('predict', 'train')),
    grantor    regrole NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (project_id, grantee, privilege)
);

CREATE TABLE pgml.snapshots (
    id            bigserial PRIMARY KEY,
    relation_name text NOT NULL,
    y_column_name text[] NOT NULL,
    test_size     real NOT NULL,
    test_sampling pgml.sampling NOT NULL,
    status        pgml.status NOT NULL,
    -- Every feature column in training order, with how it is read and preprocessed:
    -- {"name", "type", "kind" (numeric, boolean, categorical, timestamp, array), "width"
    -- (values: 1 or the array length), "categories" (sorted; a category's raw value is its
    -- index), "impute", "scale", "encode", and the training split's statistics "fill",
    -- "target_means", "offset", "factor" (scaled = (x - offset) * factor), "train_nulls"}
    columns       jsonb NOT NULL,
    -- {"rows": n, "train_rows": n, "test_rows": n, rows per class in each split}
    analysis      jsonb NOT NULL,
    -- The rows were copied into the table pgml.snapshot_<id> (materialize_snapshot): a
    -- retrain without relation_name reads that copy.
    materialized  boolean NOT NULL DEFAULT false,
    -- The role that took the snapshot (trained, or called pgml.snapshot): it may read the
    -- snapshot's row, and its materialized copy (SELECT granted on that table only).
    owner         regrole NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE pgml.models (
    id           bigserial PRIMARY KEY,
    project_id   bigint NOT NULL REFERENCES pgml.projects ON DELETE CASCADE,
    -- RESTRICT: a model's preprocessing lives in its snapshot's columns.
    snapshot_id  bigint REFERENCES pgml.snapshots ON DELETE RESTRICT,
    num_features integer NOT NULL,
    algorithm    pgml.algorithm NOT NULL,
    hyperparams  jsonb NOT NULL,
    status       pgml.status NOT NULL,
    metrics      jsonb,
    -- Classification: the label values in class-index order (sorted ascending). predict
    -- returns classes[i]; predict_proba's i-th probability is that of classes[i].
    classes      real[],
    -- The label of each class, same order: the text of a text label (whose classes are then
    -- 0, 1, ... in byte order of the text), else the value written out. pgml.predict_label
    -- returns these.
    class_labels text[],
    -- Values predicted per row: 1, or the number of y_column_name of a pgml.train_joint
    -- regression (pgml.predict_joint returns them in that order).
    num_targets  integer NOT NULL DEFAULT 1 CHECK (num_targets >= 1),
    -- What serves it: for xgboost and lightgbm 'native (T trees, S splits)' when pgml's own
    -- tree evaluator covers the model, else 'library: <why not>' (dart, categorical splits,
    -- ...), served through the library's C API. NULL for algorithms with no choice.
    evaluator    text,
    -- The role that trained it. A retrain that names no relation reads the last model's
    -- relation only as this role or one of its members: another role's relation may run
    -- that role's code (a view's functions) with the caller's privileges.
    trained_by   regrole NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX models_project_id_idx ON pgml.models (project_id);

CREATE TABLE pgml.deployments (
    id         bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES pgml.projects ON DELETE CASCADE,
    model_id   bigint NOT NULL REFERENCES pgml.models ON DELETE CASCADE,
    strategy   pgml.strategy NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX deployments_project_id_idx ON pgml.deployments (project_id, id DESC);

CREATE TABLE pgml.files (
    id         bigserial PRIMARY KEY,
    model_id   bigint NOT NULL REFERENCES pgml.models ON DELETE CASCADE,
    path       text NOT NULL,
    part       integer NOT NULL,
    data       bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (model_id, path, part)
);

-- The key metric of a model as a number: r2 for regression, f1 for classification,
-- silhouette for clustering, cumulative explained variance for decomposition.
-- (PostgresML compared metrics->>'r2' as text, so 0.9 ranked above 0.85 only by luck.)
CREATE FUNCTION pgml.key_metric(task pgml.task, metrics jsonb) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE task WHEN 'regression' THEN (metrics ->> 'r2')::double precision
                     WHEN 'clustering' THEN (metrics ->> 'silhouette')::double precision
                     WHEN 'decomposition' THEN (metrics ->> 'cumulative_explained_variance')::double precision
                     ELSE (metrics ->> 'f1')::double precision END;

-- security_invoker: read through a view, the catalog's row-level security applies to the
-- reader (sql/finalize.sql), not to the view's owner (who bypasses it).
CREATE VIEW pgml.deployed_models WITH (security_invoker = true) AS
SELECT DISTINCT ON (d.project_id)
       p.id AS project_id, p.name, p.task, m.algorithm, m.id AS model_id,
       d.strategy, d.created_at AS deployed_at, m.metrics, m.evaluator
  FROM pgml.deployments d
  JOIN pgml.projects p ON p.id = d.project_id
  JOIN pgml.models m ON m.id = d.model_id AND m.project_id = d.project_id
 ORDER BY d.project_id, d.id DESC;

CREATE VIEW pgml.overview WITH (security_invoker = true) AS
SELECT p.name, dm.deployed_at, p.task, dm.algorithm, s.relation_name, s.y_column_name,
       s.test_sampling, s.test_size, pgml.key_metric(p.task, dm.metrics) AS key_metric
  FROM pgml.projects p
  JOIN pgml.deployed_models dm ON dm.project_id = p.id
  JOIN pgml.models m ON m.id = dm.model_id
  LEFT JOIN pgml.snapshots s ON s.id = m.snapshot_id;

-- Models are data: pg_dump must carry them.
SELECT pg_catalog.pg_extension_config_dump('pgml.projects', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.projects_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.snapshots', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.snapshots_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.models', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.models_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.deployments', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.deployments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.files', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.files_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgml.project_privileges', '');
