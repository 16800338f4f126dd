//! `pgml.train`: snapshot, split, fit, score, store, and deploy if better.

use crate::bindings::{self, BindingError, Hyperparams, Task, TrainData};
use crate::catalog::{self, NewModel, NewSnapshot};
use crate::data::Sampling;
use crate::error::{Error, Result};
use crate::{metrics, search, snapshot};
use pgrx::pg_sys;
use serde_json::{json, Map, Value};
use std::time::Instant;

/// Seed of the train/test shuffle: the same data always splits the same way.
pub const SPLIT_SEED: u64 = 0x5EED_0F96_4D4C;

pub struct TrainArgs {
    pub project: String,
    pub task: Option<String>,
    pub relation: Option<String>,
    /// One label column (pgml.train), or several (pgml.train_joint).
    pub y_columns: Option<Vec<String>>,
    /// Called as pgml.train_joint: regression only.
    pub joint: bool,
    pub algorithm: String,
    pub hyperparams: Value,
    pub test_size: f32,
    pub test_sampling: String,
    pub automatic_deploy: bool,
    pub search: Option<String>,
    pub search_params: Value,
    pub search_args: Value,
    /// Per-column impute / scale / encode rules.
    pub preprocess: Value,
    /// Copy the rows into pgml.snapshot_<id> before training on them.
    pub materialize_snapshot: bool,
}

pub struct Trained {
    pub project: String,
    pub task: Task,
    pub algorithm: String,
    pub deployed: bool,
}

pub fn train(a: TrainArgs) -> Result<Trained> {
    // The test split is scored by the evaluator that serves (pgml.native_trees).
    crate::bindings::trees::set_enabled(crate::gucs::NATIVE_TREES.get());
    // Check every argument before touching data.
    let backend =
        bindings::find(&a.algorithm).ok_or_else(|| Error::UnknownAlgorithm(a.algorithm.clone()))?;
    let params = match &a.hyperparams {
        Value::Object(m) => Hyperparams::new(m.clone()),
        other => return Err(Error::HyperparamsNotObject(other.to_string())),
    };
    backend.validate(&params)?;
    // Shown in pgml.training_progress until this returns, error or not.
    let _live = crate::shmem::begin(&a.project, backend.name());
    let search = match &a.search {
        None => None,
        Some(kind) => {
            let kind = search::Kind::parse(kind)?;
            let args = search::Args::parse(&a.search_args)?;
            let candidates = search::candidates(kind, &a.search_params, &args)?;
            Some((kind, args, candidates))
        }
    };
    let sampling = Sampling::parse(&a.test_sampling)
        .ok_or_else(|| Error::UnknownSampling(a.test_sampling.clone()))?;
    let task = match &a.task {
        Some(t) => Some(Task::parse(t).ok_or_else(|| Error::UnknownTask(t.clone()))?),
        None => None,
    };
    crate::data::test_rows(usize::MAX / 2, a.test_size).map_err(|source| Error::Data {
        relation: "pgml.train".into(),
        source,
    })?;
    let project = match (catalog::project(&a.project)?, task) {
        (Some(p), Some(t)) if p.task != t => {
            return Err(Error::TaskConflict {
                project: a.project.clone(),
                existing: p.task.as_str().into(),
                given: t.as_str().into(),
            })
        }
        (Some(p), _) => p,
        (None, Some(t)) => catalog::project_or_create(&a.project, t)?,
        (None, None) => return Err(Error::TaskRequired(a.project.clone())),
    };
    if sampling == Sampling::Stratified && project.task != Task::Classification {
        return Err(Error::Data {
            relation: a.relation.clone().unwrap_or_default(),
            source: crate::data::DataError::StratifyNeedsClasses,
        });
    }
    if a.joint && project.task != Task::Regression {
        return Err(Error::JointNotRegression(project.task.as_str().into()));
    }
    if !backend.supports(project.task) {
        return Err(Error::Binding(BindingError::UnsupportedTask {
            algorithm: backend.name(),
            task: project.task.as_str(),
        }));
    }
    // Without a relation, retrain on the project's previous relation and labels.
    let supervised = project.task.supervised();
    let previous = catalog::last_snapshot(project.id)?;
    let relation = match (&a.relation, &previous) {
        (Some(r), _) => r.clone(),
        (None, Some((r, _))) => r.clone(),
        (None, None) => return Err(Error::RelationRequired(a.project.clone())),
    };
    let y: Vec<String> = match (&a.y_columns, &previous, supervised) {
        (Some(_), _, false) => return Err(Error::LabelNotAllowed(project.task.as_str())),
        (None, _, false) => vec![],
        (Some(y), _, true) if !y.is_empty() => y.clone(),
        (None, Some((_, y)), true) if !y.is_empty() => y.clone(),
        (_, _, true) => return Err(Error::LabelRequired(relation)),
    };
    if let Some((_, before)) = previous
        .as_ref()
        .filter(|(_, p)| supervised && !p.is_empty())
    {
        if before.len() != y.len() {
            return Err(Error::TargetsConflict {
                project: project.name.clone(),
                existing: before.len(),
                given: y.len(),
            });
        }
    }
    if y.len() > 1 && !backend.supports_joint() {
        return Err(Error::JointUnsupported(backend.name()));
    }

    // materialize_snapshot: copy the rows first and train on the copy, so the snapshot is
    // exactly what was trained on.
    let source = snapshot::resolve(&relation)?;
    let relation_name = source.name.clone();
    let (materialized, source) = if a.materialize_snapshot {
        let (id, table) = catalog::materialize(&source.name)?;
        (Some(id), snapshot::resolve(&table)?)
    } else {
        (None, source)
    };
    let mut snap = source.read(&y, project.task == Task::Classification)?;
    let mut pipeline = std::mem::take(&mut snap.pipeline);
    pipeline.set_rules(&a.preprocess)?;
    let data_err = |relation: &str| {
        let relation = relation.to_string();
        move |source| Error::Data { relation, source }
    };
    // Class values (what predict returns) and their labels (what predict_label returns).
    let classes = match project.task {
        Task::Classification => Some(match snap.label_dictionary.take() {
            Some(dictionary) => {
                let labels = snap
                    .data
                    .encode_text_classes(&dictionary)
                    .map_err(data_err(&snap.relation))?;
                ((0..labels.len()).map(|i| i as f32).collect(), labels)
            }
            None => {
                let values = snap
                    .data
                    .encode_classes()
                    .map_err(data_err(&snap.relation))?;
                let boolean = snap.labels.first().and_then(|l| l.kind())
                    == Some(crate::data::preprocess::Kind::Boolean);
                let labels = values
                    .iter()
                    .map(|v| match (boolean, *v) {
                        (true, 0.0) => "false".to_string(),
                        (true, _) => "true".to_string(),
                        (false, v) => v.to_string(),
                    })
                    .collect();
                (values, labels)
            }
        }),
        Task::Regression | Task::Clustering | Task::Decomposition => None,
    };
    let num_classes = classes.as_ref().map_or(0, |(v, _)| v.len());
    let split = snap
        .data
        .split(a.test_size, sampling, SPLIT_SEED)
        .map_err(data_err(&snap.relation))?;
    // Statistics from the training rows only; then every row becomes model features.
    let k = snap.data.num_targets;
    let y_train: Vec<f32> = snap
        .data
        .y_slice(split.train.clone())
        .iter()
        .step_by(k)
        .copied()
        .collect();
    pipeline.fit(
        &mut snap.data.x,
        split.train.clone(),
        &snap.dictionaries,
        &y_train,
    )?;
    // A label per training row: gone before the fit, whose peak it would otherwise add to.
    drop(y_train);
    if !pipeline.is_identity() || pipeline.out_width() != snap.data.num_features {
        snap.data.map_rows(pipeline.out_width(), |row, out| {
            pipeline.transform(row, out)
        })?;
    }
    let feature_names = pipeline.out_names();

    let train = TrainData {
        x: snap.data.x_view(split.train.clone()),
        y: snap.data.y_view(split.train.clone()),
        task: project.task,
        num_classes,
        num_targets: snap.data.num_targets,
        threads: match crate::gucs::TRAIN_THREADS.get() {
            0 => None,
            n => Some(n as usize),
        },
    };
    let started = Instant::now();
    let mut progress = TrainProgress(Reporter::new(backend.name()));
    // Search: cross-validate the candidates on the training split, then refit the winner
    // on all of it (below) before it is scored on the test split.
    let mut searched = None;
    let params = match &search {
        None => params,
        Some((kind, args, candidates)) => {
            let outcome = search::run(backend, &train, &params.0, candidates, args, &mut progress)?;
            searched = Some((*kind, args.clone(), outcome.results));
            Hyperparams::new(outcome.best)
        }
    };
    // The training rows are read no more once the fit's library has its copy: it may give
    // their pages back (the test rows, after them in the buffer, stay).
    let train_rows = train.x.as_slice().unwrap_or(&[]);
    let model =
        bindings::with_releasable_rows(train_rows, || backend.fit(&train, &params, &mut progress))
            .map_err(|e| match e {
                BindingError::MissingValues {
                    algorithm,
                    column,
                    count,
                } => Error::MissingValues {
                    algorithm,
                    column: feature_names.get(column).cloned().unwrap_or_default(),
                    count,
                },
                other => Error::Binding(other.blaming(&params, backend.params())),
            })?;
    let fit_time = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let x_test = snap.data.x_slice(split.test.clone());
    let y_test = snap.data.y_slice(split.test.clone());
    let mut pred = Vec::with_capacity(y_test.len());
    if project.task != Task::Decomposition {
        model.predict(x_test, &mut pred)?;
    }
    let mut scores = match project.task {
        Task::Regression => metrics::regression_joint(y_test, &pred, snap.data.num_targets),
        Task::Decomposition => {
            let k = model.shape().num_classes;
            let mut projected = Vec::with_capacity(y_test.len() * k);
            model.transform(x_test, &mut projected)?;
            let v = bindings::decomposition::explained_variance(
                x_test,
                snap.data.num_features,
                &projected,
                k,
            );
            let mut m = Map::new();
            m.insert(
                "cumulative_explained_variance".into(),
                serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
            );
            m
        }
        Task::Clustering => {
            let mut m = Map::new();
            let s = metrics::silhouette(x_test, snap.data.num_features, &pred);
            m.insert(
                "silhouette".into(),
                serde_json::Number::from_f64(s).map_or(Value::Null, Value::Number),
            );
            m
        }
        Task::Classification => {
            let mut proba = Vec::with_capacity(y_test.len() * num_classes);
            model.predict_proba(x_test, &mut proba)?;
            metrics::classification(y_test, &pred, &proba, num_classes)
        }
    };
    scores.insert("fit_time".into(), json!(fit_time));
    scores.insert("score_time".into(), json!(started.elapsed().as_secs_f64()));
    if let Some((kind, args, results)) = searched {
        let kind = if kind == search::Kind::Grid {
            "grid"
        } else {
            "random"
        };
        scores.insert(
            "search".into(),
            json!({"kind": kind, "cv": args.cv, "seed": args.seed, "best_params": Value::Object(params.0.clone())}),
        );
        scores.insert("search_results".into(), Value::Array(results));
    }

    let snapshot_id = catalog::insert_snapshot(&NewSnapshot {
        relation_name: &relation_name,
        y_column_name: snap.labels.iter().map(|l| l.name.clone()).collect(),
        test_size: a.test_size,
        test_sampling: sampling.as_str(),
        columns: serde_json::to_value(&pipeline).unwrap_or(Value::Null),
        analysis: json!({
            "rows": snap.data.rows(),
            "train_rows": split.train.len(),
            "test_rows": split.test.len(),
            "labels": snap.labels.iter().map(|l| l.describe()).collect::<Vec<_>>(),
            // Rows per class (in class order) in each split: what stratified sampling keeps.
            "train_class_rows": class_rows(&snap.data.y[split.train.clone()], num_classes),
            "test_class_rows": class_rows(&snap.data.y[split.test.clone()], num_classes),
        }),
        materialized,
    })?;
    let key = key_metric(project.task, &scores);
    let model_id = catalog::insert_model(NewModel {
        project_id: project.id,
        snapshot_id,
        num_features: snap.data.num_features,
        algorithm: backend.name(),
        hyperparams: Value::Object(params.0),
        metrics: scores,
        classes: classes.as_ref().map(|(values, _)| values.clone()),
        class_labels: classes.map(|(_, labels)| labels),
        num_targets: snap.data.num_targets,
        evaluator: model.evaluator(),
        bytes: model.to_bytes()?,
    })?;

    let deployed = a.automatic_deploy
        && match catalog::deployed_key_metric(project.id)? {
            None => true,
            Some(current) => beats(key, current),
        };
    if deployed {
        catalog::insert_deployment(project.id, model_id, "new_score")?;
    }
    Ok(Trained {
        project: project.name,
        task: project.task,
        algorithm: backend.name().into(),
        deployed,
    })
}

/// `pgml.snapshot`: copies a relation into pgml.snapshot_<id> and records it (columns and
/// their kinds, rows, labels) without training; returns the id. Train on the copy with
/// `relation_name => 'pgml.snapshot_<id>'`.
pub fn snapshot_only(
    relation: &str,
    y: Vec<String>,
    test_size: f32,
    test_sampling: &str,
) -> Result<i64> {
    let sampling = Sampling::parse(test_sampling)
        .ok_or_else(|| Error::UnknownSampling(test_sampling.into()))?;
    crate::data::test_rows(usize::MAX / 2, test_size).map_err(|source| Error::Data {
        relation: relation.into(),
        source,
    })?;
    let source = snapshot::resolve(relation)?;
    let relation_name = source.name.clone();
    let (id, table) = catalog::materialize(&source.name)?;
    let snap = snapshot::resolve(&table)?.read(&y, true)?;
    catalog::insert_snapshot(&NewSnapshot {
        relation_name: &relation_name,
        y_column_name: snap.labels.iter().map(|l| l.name.clone()).collect(),
        test_size,
        test_sampling: sampling.as_str(),
        columns: serde_json::to_value(&snap.pipeline).unwrap_or(Value::Null),
        analysis: json!({
            "rows": snap.data.rows(),
            "labels": snap.labels.iter().map(|l| l.describe()).collect::<Vec<_>>(),
        }),
        materialized: Some(id),
    })
}

/// Rows of each class among encoded labels; null for other tasks.
fn class_rows(y: &[f32], num_classes: usize) -> Value {
    if num_classes == 0 {
        return Value::Null;
    }
    let mut counts = vec![0usize; num_classes];
    for v in y {
        if let Some(c) = counts.get_mut(*v as usize) {
            *c += 1;
        }
    }
    json!(counts)
}

/// The hook backends call between iterations during `pgml.train`.
struct TrainProgress(Reporter);

impl bindings::ProgressHook for TrainProgress {
    fn step_with(
        &mut self,
        done: usize,
        total: usize,
        metric: &dyn Fn() -> Option<String>,
    ) -> bindings::Result<()> {
        // Raises query cancel / statement_timeout as an ERROR between iterations, never
        // inside the library.
        pg_sys::check_for_interrupts!();
        self.0.iteration(done, total, metric);
        Ok(())
    }
}

/// INFO messages about a long training, at most one every [`Reporter::EVERY`].
pub struct Reporter {
    algorithm: &'static str,
    last: Instant,
}

impl Reporter {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(5);

    pub fn new(algorithm: &'static str) -> Self {
        Reporter {
            algorithm,
            last: Instant::now(),
        }
    }

    fn due(&mut self) -> bool {
        if !crate::gucs::TRAINING_PROGRESS.get() || self.last.elapsed() < Self::EVERY {
            return false;
        }
        self.last = Instant::now();
        true
    }

    pub fn rows(&mut self, read: usize, total: usize, relation: &str) {
        crate::shmem::rows(read, total);
        if self.due() {
            pgrx::info!("pgml: read {read} of {total} rows from {relation}");
        }
    }

    pub fn iteration(&mut self, done: usize, total: usize, metric: &dyn Fn() -> Option<String>) {
        crate::shmem::iteration(done, total);
        if done < total && self.due() {
            match metric() {
                Some(m) => pgrx::info!("pgml: {} iteration {done} of {total}, {m}", self.algorithm),
                None => pgrx::info!("pgml: {} iteration {done} of {total}", self.algorithm),
            }
        }
    }
}

/// r2 for regression, f1 for classification, silhouette for clustering, cumulative explained
/// variance for decomposition (the rule of SQL's pgml.key_metric).
pub fn key_metric(task: Task, scores: &Map<String, Value>) -> Option<f64> {
    let k = match task {
        Task::Regression => "r2",
        Task::Classification => "f1",
        Task::Clustering => "silhouette",
        Task::Decomposition => "cumulative_explained_variance",
    };
    scores.get(k).and_then(Value::as_f64)
}

/// A new model replaces the deployed one when its key metric is strictly greater; an
/// undefined metric never wins, and anything beats an undefined one.
pub fn beats(new: Option<f64>, deployed: Option<f64>) -> bool {
    match (new, deployed) {
        (Some(n), Some(d)) => n > d,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_rule() {
        assert!(beats(Some(0.9), Some(0.85)));
        assert!(!beats(Some(0.85), Some(0.9)));
        assert!(!beats(Some(0.9), Some(0.9)));
        assert!(beats(Some(-1.0), None));
        assert!(!beats(None, Some(0.1)));
    }

    #[test]
    fn key_metric_by_task() {
        let m: Map<String, Value> = serde_json::from_str(r#"{"r2": 0.5, "f1": 0.7}"#).unwrap();
        assert_eq!(key_metric(Task::Regression, &m), Some(0.5));
        assert_eq!(key_metric(Task::Classification, &m), Some(0.7));
    }
}
