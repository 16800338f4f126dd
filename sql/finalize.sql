-- Run last when the extension is created (extension_sql_file! with `finalize`, src/lib.rs):
-- the objects that need pgml's C functions, which pgrx declares before this file runs.

-- Running trainings, from the shared memory of training progress (src/train/progress.rs).
CREATE VIEW pgml.training_progress AS SELECT * FROM pgml.training_progress_rows();
COMMENT ON VIEW pgml.training_progress IS
    'Running pgml trainings (like pg_stat_progress_*); empty unless pgml is in shared_preload_libraries.';
-- Readable by every role, as pg_stat_progress_* are: pgml.training_progress_rows() shows a
-- role only its own trainings of this database, or all of this database's with the
-- privileges of pg_read_all_stats.
GRANT SELECT ON pgml.training_progress TO PUBLIC;

-- Every change of a table a served model is read from invalidates every backend's model cache
-- (pgml.deployments_changed, src/api/deploy.rs): pgml.deployments, pgml.files (a model's bytes)
-- and pgml.project_privileges on every change, the others on UPDATE, DELETE and TRUNCATE
-- (pgml itself only inserts there). Row triggers, plus a statement trigger for TRUNCATE: a
-- logical replication apply worker fires row triggers (and TRUNCATE's) but no other
-- statement trigger. ENABLE ALWAYS: they fire under session_replication_role = replica too
-- (that apply worker, a restore run in that mode).
CREATE TRIGGER deployments_changed
    AFTER INSERT OR UPDATE OR DELETE ON pgml.deployments
    FOR EACH ROW EXECUTE FUNCTION pgml.deployments_changed();
CREATE TRIGGER served_rows_changed
    AFTER UPDATE OR DELETE ON pgml.projects
    FOR EACH ROW EXECUTE FUNCTION pgml.deployments_changed();
CREATE TRIGGER served_rows_changed
    AFTER UPDATE OR DELETE ON pgml.snapshots
    FOR EACH ROW EXECUTE FUNCTION pgml.deployments_changed();
CREATE TRIGGER served_rows_changed
    AFTER UPDATE OR DELETE ON pgml.models
    FOR EACH ROW EXECUTE FUNCTION pgml.deployments_changed();
CREATE TRIGGER served_rows_changed
    AFTER INSERT OR UPDATE OR DELETE ON pgml.files
    FOR EACH ROW EXECUTE FUNCTION pgml.deployments_changed();
CREATE TRIGGER served_rows_changed
    AFTER INSERT OR UPDATE OR DELETE ON pgml.project_privileges
    FOR EACH ROW EXECUTE FUNCTION pgml.deployments_changed();
CREATE TRIGGER deployments_truncated AFTER TRUNCATE ON pgml.deployments
    FOR EACH STATEMENT EXECUTE FUNCTION pgml.deployments_changed();
CREATE TRIGGER served_rows_truncated AFTER TRUNCATE ON pgml.projects
    FOR EACH STATEMENT EXECUTE FUNCTION pgml.deployments_changed();
CREATE TRIGGER served_rows_truncated AFTER TRUNCATE ON pgml.snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION pgml.deployments_changed();
CREATE TRIGGER served_rows_truncated AFTER TRUNCATE ON pgml.models
    FOR EACH STATEMENT EXECUTE FUNCTION pgml.deployments_changed();
CREATE TRIGGER served_rows_truncated AFTER TRUNCATE ON pgml.files
    FOR EACH STATEMENT EXECUTE FUNCTION pgml.deployments_changed();
CREATE TRIGGER served_rows_truncated AFTER TRUNCATE ON pgml.project_privileges
    FOR EACH STATEMENT EXECUTE FUNCTION pgml.deployments_changed();
ALTER TABLE pgml.deployments ENABLE ALWAYS TRIGGER deployments_changed;
ALTER TABLE pgml.deployments ENABLE ALWAYS TRIGGER deployments_truncated;
ALTER TABLE pgml.projects ENABLE ALWAYS TRIGGER served_rows_changed;
ALTER TABLE pgml.projects ENABLE ALWAYS TRIGGER served_rows_truncated;
ALTER TABLE pgml.snapshots ENABLE ALWAYS TRIGGER served_rows_changed;
ALTER TABLE pgml.snapshots ENABLE ALWAYS TRIGGER served_rows_truncated;
ALTER TABLE pgml.models ENABLE ALWAYS TRIGGER served_rows_changed;
ALTER TABLE pgml.models ENABLE ALWAYS TRIGGER served_rows_truncated;
ALTER TABLE pgml.files ENABLE ALWAYS TRIGGER served_rows_changed;
ALTER TABLE pgml.files ENABLE ALWAYS TRIGGER served_rows_truncated;
ALTER TABLE pgml.project_privileges ENABLE ALWAYS TRIGGER served_rows_changed;
ALTER TABLE pgml.project_privileges ENABLE ALWAYS TRIGGER served_rows_truncated;
-- A trigger function needs EXECUTE only to be attached (CREATE TRIGGER), not to fire: nobody
-- but the extension owner may attach this one to a table of their own.
REVOKE EXECUTE ON FUNCTION pgml.deployments_changed() FROM PUBLIC;

-- Privileges (README.md, section Privileges). Only pgml writes the catalog, as the extension
-- owner, after checking the caller's privilege on the project (src/catalog/acl.rs); nobody
-- else has INSERT, UPDATE or DELETE on it, nor CREATE on the schema. Every role may read the
-- rows of the projects it holds a privilege on, as row-level security decides: the catalog's
-- owner (who runs pgml's own statements) bypasses it, every other role sees
--   projects, models, deployments, project_privileges: projects it may predict with;
--   snapshots: its own, and those of projects it may train;
--   files (model bytes, which may hold training rows): projects it owns.
-- Roles still need USAGE on the schema, which the extension grants nobody.
ALTER TABLE pgml.projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgml.models ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgml.deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgml.snapshots ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgml.files ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgml.project_privileges ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON pgml.projects FOR SELECT
    USING (pgml.has_project_privilege(id, 'predict'));
CREATE POLICY readable ON pgml.models FOR SELECT
    USING (pgml.has_project_privilege(project_id, 'predict'));
CREATE POLICY readable ON pgml.deployments FOR SELECT
    USING (pgml.has_project_privilege(project_id, 'predict'));
CREATE POLICY readable ON pgml.project_privileges FOR SELECT
    USING (pgml.has_project_privilege(project_id, 'predict'));
CREATE POLICY readable ON pgml.snapshots FOR SELECT
    USING (pgml.has_snapshot_privilege(id));
CREATE POLICY readable ON pgml.files FOR SELECT
    USING (pgml.has_model_privilege(model_id, 'owner'));
GRANT SELECT ON pgml.projects, pgml.models, pgml.deployments, pgml.snapshots, pgml.files,
    pgml.project_privileges, pgml.deployed_models, pgml.overview TO PUBLIC;

-- Training reads tables and takes CPU and memory: the DBA grants it to the roles that may
-- (GRANT EXECUTE ON FUNCTION pgml.train, ... TO trainer), as with any function. Serving,
-- deploying and the project functions stay PUBLIC: each checks the caller's privilege on
-- the project itself.
REVOKE EXECUTE ON FUNCTION pgml.train, pgml.train_joint, pgml.snapshot, pgml.load_dataset FROM PUBLIC;
