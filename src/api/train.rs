use crate::error::{Error, OrReport};
use crate::train::{train as train_core, TrainArgs};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

/// (project, task, algorithm, deployed): the row both functions return. pgrx reads the
/// SQL return type from each signature, so they spell TableIterator out themselves.
type Trained = (String, String, String, bool);

fn object_or_empty(j: Option<JsonB>) -> Value {
    j.map(|j| j.0).unwrap_or_else(|| serde_json::json!({}))
}

/// The arguments pgml.train and pgml.train_joint share, as given in SQL.
#[allow(clippy::too_many_arguments)]
fn run(
    project_name: Option<&str>,
    task: Option<&str>,
    relation_name: Option<&str>,
    y_columns: Option<Vec<String>>,
    joint: bool,
    algorithm: Option<&str>,
    hyperparams: Option<JsonB>,
    test_size: Option<f32>,
    test_sampling: Option<&str>,
    automatic_deploy: Option<bool>,
    search: Option<&str>,
    search_params: Option<JsonB>,
    search_args: Option<JsonB>,
    preprocess: Option<JsonB>,
    materialize_snapshot: Option<bool>,
) -> Trained {
    let project = match project_name {
        None => Err(Error::NoProjectName(true)),
        Some("") => Err(Error::NoProjectName(false)),
        Some(p) => Ok(p),
    }
    .or_report();
    let t = train_core(TrainArgs {
        project: project.to_string(),
        task: task.map(str::to_string),
        relation: relation_name.map(str::to_string),
        y_columns,
        joint,
        algorithm: algorithm.unwrap_or("linear").to_string(),
        hyperparams: object_or_empty(hyperparams),
        test_size: test_size.unwrap_or(0.25),
        test_sampling: test_sampling.unwrap_or("random").to_string(),
        automatic_deploy: automatic_deploy.unwrap_or(true),
        search: search.map(str::to_string),
        search_params: object_or_empty(search_params),
        search_args: object_or_empty(search_args),
        preprocess: object_or_empty(preprocess),
        materialize_snapshot: materialize_snapshot.unwrap_or(false),
    })
    .or_report();
    (
        t.project,
        t.task.as_str().to_string(),
        t.algorithm,
        t.deployed,
    )
}

/// Trains a model on a relation and deploys it when it beats the deployed one.
#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe)]
fn train(
    project_name: Option<&str>,
    task: default!(Option<&str>, "NULL"),
    relation_name: default!(Option<&str>, "NULL"),
    y_column_name: default!(Option<&str>, "NULL"),
    algorithm: default!(Option<&str>, "'linear'"),
    hyperparams: default!(Option<JsonB>, "'{}'"),
    test_size: default!(Option<f32>, 0.25),
    test_sampling: default!(Option<&str>, "'random'"),
    automatic_deploy: default!(Option<bool>, true),
    search: default!(Option<&str>, "NULL"),
    search_params: default!(Option<JsonB>, "'{}'"),
    search_args: default!(Option<JsonB>, "'{}'"),
    preprocess: default!(Option<JsonB>, "'{}'"),
    materialize_snapshot: default!(Option<bool>, false),
) -> TableIterator<
    'static,
    (
        name!(project, String),
        name!(task, String),
        name!(algorithm, String),
        name!(deployed, bool),
    ),
> {
    TableIterator::once(run(
        project_name,
        task,
        relation_name,
        y_column_name.map(|y| vec![y.to_string()]),
        false,
        algorithm,
        hyperparams,
        test_size,
        test_sampling,
        automatic_deploy,
        search,
        search_params,
        search_args,
        preprocess,
        materialize_snapshot,
    ))
}

/// Trains one regression model that predicts every column of `y_column_name` at once
/// (XGBoost's multi-output trees, or linear least squares); serve it with
/// pgml.predict_joint.
#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe)]
fn train_joint(
    project_name: Option<&str>,
    task: default!(Option<&str>, "'regression'"),
    relation_name: default!(Option<&str>, "NULL"),
    y_column_name: default!(Option<Vec<Option<String>>>, "NULL"),
    algorithm: default!(Option<&str>, "'linear'"),
    hyperparams: default!(Option<JsonB>, "'{}'"),
    test_size: default!(Option<f32>, 0.25),
    test_sampling: default!(Option<&str>, "'random'"),
    automatic_deploy: default!(Option<bool>, true),
    search: default!(Option<&str>, "NULL"),
    search_params: default!(Option<JsonB>, "'{}'"),
    search_args: default!(Option<JsonB>, "'{}'"),
    preprocess: default!(Option<JsonB>, "'{}'"),
    materialize_snapshot: default!(Option<bool>, false),
) -> TableIterator<
    'static,
    (
        name!(project, String),
        name!(task, String),
        name!(algorithm, String),
        name!(deployed, bool),
    ),
> {
    // A NULL element names no column: report it like an unknown column.
    let y = y_column_name.map(|cols| {
        cols.into_iter()
            .map(|c| c.unwrap_or_else(|| "NULL".into()))
            .collect()
    });
    TableIterator::once(run(
        project_name,
        task,
        relation_name,
        y,
        true,
        algorithm,
        hyperparams,
        test_size,
        test_sampling,
        automatic_deploy,
        search,
        search_params,
        search_args,
        preprocess,
        materialize_snapshot,
    ))
}

/// Copies a relation into pgml.snapshot_<id> and records its columns without training;
/// returns the snapshot id. Train on the copy with relation_name => 'pgml.snapshot_<id>'.
#[pg_extern(volatile, parallel_unsafe)]
fn snapshot(
    relation_name: &str,
    y_column_name: default!(Option<&str>, "NULL"),
    test_size: default!(f32, 0.25),
    test_sampling: default!(&str, "'random'"),
) -> i64 {
    crate::train::snapshot_only(
        relation_name,
        y_column_name
            .map(|y| vec![y.to_string()])
            .unwrap_or_default(),
        test_size,
        test_sampling,
    )
    .or_report()
}

/// Every running training in the cluster (needs pgml in shared_preload_libraries); the view
/// pgml.training_progress reads it.
// pgrx reads the SQL columns from the spelled-out return type.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_safe)]
fn training_progress_rows() -> TableIterator<
    'static,
    (
        name!(pid, i32),
        name!(project, String),
        name!(algorithm, String),
        name!(phase, String),
        name!(rows_read, i64),
        name!(rows_total, i64),
        name!(iteration, i64),
        name!(iterations, i64),
        name!(started_at, Option<TimestampWithTimeZone>),
    ),
> {
    TableIterator::new(crate::train::progress::snapshot().into_iter().map(|r| {
        (
            r.pid,
            r.project,
            r.algorithm,
            r.phase.to_string(),
            r.rows_read,
            r.rows_total,
            r.iteration,
            r.iterations,
            TimestampWithTimeZone::try_from(r.started_at).ok(),
        )
    }))
}
