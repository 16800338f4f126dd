use crate::error::OrReport;
use crate::serve::deploy;
use pgrx::prelude::*;

/// Deploys a project's model chosen by strategy: best_score, most_recent or rollback.
#[pg_extern(volatile, parallel_unsafe, name = "deploy")]
fn deploy_strategy(
    project_name: &str,
    strategy: default!(&str, "'best_score'"),
    algorithm: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(project, String),
        name!(strategy, String),
        name!(algorithm, String),
    ),
> {
    let d = deploy::by_strategy(project_name, strategy, algorithm).or_report();
    TableIterator::once((d.project, d.strategy, d.algorithm))
}

/// Deploys one model by id.
#[pg_extern(volatile, parallel_unsafe, name = "deploy")]
fn deploy_model(
    model_id: i64,
) -> TableIterator<
    'static,
    (
        name!(project, String),
        name!(strategy, String),
        name!(algorithm, String),
    ),
> {
    let d = deploy::by_id(model_id).or_report();
    TableIterator::once((d.project, d.strategy, d.algorithm))
}

/// Row trigger (and TRUNCATE statement trigger) on the tables a served model is read from:
/// pgml.deployments and pgml.files (every change: an inserted part would change a model's
/// bytes), and pgml.projects, pgml.snapshots and pgml.models (UPDATE, DELETE, TRUNCATE: pgml
/// itself only inserts there, so these are a rename, a hand-edited model, a deleted project).
/// Row triggers because a logical replication apply worker fires no other statement trigger;
/// ENABLE ALWAYS, so they fire under session_replication_role = replica (sql/finalize.sql).
/// Each invalidates pgml.deployments' relcache entry, which Postgres delivers to every
/// backend when (and only if) the change commits; src/serve/cache.rs listens for it, and the
/// shared model cache treats it as a new deployment (src/serve/shared.rs).
#[pg_trigger]
fn deployments_changed<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, pgrx::AllocatedByPostgres>>, pgrx::PgTriggerError> {
    let rel = trigger.relation()?;
    // EXECUTE on this function is not PUBLIC's, and it refuses any other table anyway: a
    // trigger of a role's own would run it in that role's statements.
    if !crate::catalog::is_catalog_table(rel.oid()) {
        crate::error::Error::ForeignTrigger(rel.name().to_string()).report();
    }
    // SAFETY: syscache reads for the trigger's open relation; pgml.deployments sits in the
    // same schema (the extension's).
    unsafe {
        let deployments = pg_sys::get_relname_relid(
            c"deployments".as_ptr(),
            pg_sys::get_rel_namespace(rel.oid()),
        );
        if deployments != pg_sys::InvalidOid {
            pg_sys::CacheInvalidateRelcacheByRelid(deployments);
        }
    }
    crate::serve::shared::changed_in_transaction();
    Ok(None)
}
