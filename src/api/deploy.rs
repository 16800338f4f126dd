use crate::deploy;
use crate::error::OrReport;
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

/// Statement trigger on pgml.deployments: every change to it invalidates the relation's
/// relcache entry, which Postgres delivers to every backend when (and only if) the change
/// commits; src/cache.rs listens for it.
#[pg_trigger]
fn deployments_changed<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, pgrx::AllocatedByPostgres>>, pgrx::PgTriggerError> {
    let rel = trigger.relation()?;
    // SAFETY: the trigger's relation is open and valid for the duration of the call.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(rel.oid()) };
    crate::shared_models::changed_in_transaction();
    Ok(None)
}

extension_sql!(
    r#"
CREATE TRIGGER deployments_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pgml.deployments
    FOR EACH STATEMENT EXECUTE FUNCTION pgml.deployments_changed();
"#,
    name = "deployments_trigger",
    requires = [deployments_changed],
    finalize
);
