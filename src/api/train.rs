use crate::error::{Error, OrReport};
use crate::train::{train as train_core, TrainArgs};
use pgrx::prelude::*;
use pgrx::JsonB;

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
) -> TableIterator<
    'static,
    (
        name!(project, String),
        name!(task, String),
        name!(algorithm, String),
        name!(deployed, bool),
    ),
> {
    let project = project_name
        .ok_or_else(|| Error::UnknownProject("NULL".into()))
        .or_report();
    let t = train_core(TrainArgs {
        project: project.to_string(),
        task: task.map(str::to_string),
        relation: relation_name.map(str::to_string),
        y_column: y_column_name.map(str::to_string),
        algorithm: algorithm.unwrap_or("linear").to_string(),
        hyperparams: hyperparams
            .map(|j| j.0)
            .unwrap_or_else(|| serde_json::json!({})),
        test_size: test_size.unwrap_or(0.25),
        test_sampling: test_sampling.unwrap_or("random").to_string(),
        automatic_deploy: automatic_deploy.unwrap_or(true),
        search: search.map(str::to_string),
        search_params: search_params
            .map(|j| j.0)
            .unwrap_or_else(|| serde_json::json!({})),
        search_args: search_args
            .map(|j| j.0)
            .unwrap_or_else(|| serde_json::json!({})),
    })
    .or_report();
    TableIterator::once((
        t.project,
        t.task.as_str().to_string(),
        t.algorithm,
        t.deployed,
    ))
}
