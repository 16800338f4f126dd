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
-- (pgml.deployments_changed, src/api/deploy.rs): pgml.deployments on every change, the others on
-- UPDATE, DELETE and TRUNCATE (pgml itself only inserts there).
CREATE TRIGGER deployments_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pgml.deployments
    FOR EACH STATEMENT EXECUTE FUNCTION pgml.deployments_changed();
CREATE TRIGGER served_rows_changed
    AFTER UPDATE OR DELETE OR TRUNCATE ON pgml.projects
    FOR EACH STATEMENT EXECUTE FUNCTION pgml.deployments_changed();
CREATE TRIGGER served_rows_changed
    AFTER UPDATE OR DELETE OR TRUNCATE ON pgml.snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION pgml.deployments_changed();
CREATE TRIGGER served_rows_changed
    AFTER UPDATE OR DELETE OR TRUNCATE ON pgml.models
    FOR EACH STATEMENT EXECUTE FUNCTION pgml.deployments_changed();
CREATE TRIGGER served_rows_changed
    AFTER UPDATE OR DELETE OR TRUNCATE ON pgml.files
    FOR EACH STATEMENT EXECUTE FUNCTION pgml.deployments_changed();
-- A trigger function needs EXECUTE only to be attached (CREATE TRIGGER), not to fire: nobody
-- but the extension owner may attach this one to a table of their own.
REVOKE EXECUTE ON FUNCTION pgml.deployments_changed() FROM PUBLIC;
