//! `pgml.train`: plan, read, fit (in pgml_core), persist. [`reader`] reads
//! the relation into the dense buffer, [`progress`] shows a running training to other
//! sessions, [`datasets`] loads the toy datasets.

pub mod datasets;
pub mod progress;
pub mod reader;

use crate::catalog::{self, NewModel, NewSnapshot};
use crate::error::{Error, Result};
use pgml_core::bindings::{self, BindingError, Hyperparams, Task};
use pgml_core::data::Sampling;
use pgml_core::search;
use serde_json::{json, Map, Value};

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

/// A training, phase by phase: [`plan`] (validate, read the catalog), [`read`] (the
/// relation into the dense buffer), `pgml_core::fit::fit` (pure: classes, split,
/// preprocessing, search, fit, score) and [`persist`] (snapshot, model, deployment).
pub fn train(a: TrainArgs) -> Result<Trained> {
    let plan = plan(&a)?;
    // Shown in pgml.training_progress until this returns, error or not.
    let _live = progress::begin(&a.project, plan.backend.name());
    let read = read(&plan, &a)?;
    // The fit takes the hyperparameters and the search; persist keeps the rest.
    let Plan {
        backend,
        params,
        search,
        sampling,
        project,
        ..
    } = plan;
    let relation = read.snap.relation.clone();
    let mut hook = progress::TrainProgress(progress::Reporter::new(backend.name()));
    let fitted = pgml_core::fit::fit(
        pgml_core::fit::Input {
            data: read.snap.data,
            pipeline: read.pipeline,
            dictionaries: &read.snap.dictionaries,
            label_dictionary: read.snap.label_dictionary,
            boolean_label: read.snap.labels.first().and_then(|l| l.kind())
                == Some(pgml_core::data::preprocess::Kind::Boolean),
            task: project.task,
            backend,
            params,
            search,
            test_size: a.test_size,
            sampling,
            seed: SPLIT_SEED,
            threads: Some(crate::gucs::train_threads()),
            // The test split is scored as it will be served.
            how: crate::gucs::evaluation(),
            max_uninterruptible_rows: crate::gucs::max_uninterruptible_rows(),
        },
        &mut hook,
    )
    .map_err(|e| fit_error(e, &relation))?;
    persist(
        &a,
        backend,
        sampling,
        project,
        read.relation_name,
        &read.snap.labels,
        read.materialized,
        fitted,
    )
}

/// What [`plan`] checked and looked up before any data is read.
struct Plan {
    backend: &'static dyn bindings::Backend,
    params: Hyperparams,
    search: Option<pgml_core::fit::Search>,
    sampling: Sampling,
    project: catalog::Project,
    relation: String,
    y: Vec<String>,
}

/// Checks every argument and reads the catalog (the project, its previous relation and
/// labels) before touching data.
fn plan(a: &TrainArgs) -> Result<Plan> {
    let backend =
        bindings::find(&a.algorithm).ok_or_else(|| Error::UnknownAlgorithm(a.algorithm.clone()))?;
    let params = match &a.hyperparams {
        Value::Object(m) => Hyperparams::new(m.clone()),
        other => return Err(Error::HyperparamsNotObject(other.to_string())),
    };
    backend.validate(&params)?;
    let max_threads = crate::gucs::max_train_threads();
    params.check_threads(max_threads)?;
    let search = match &a.search {
        None => None,
        Some(kind) => {
            let kind = search::Kind::parse(kind)?;
            let args = search::Args::parse(&a.search_args)?;
            let candidates = search::candidates(kind, &a.search_params, &args)?;
            // search::run validates each candidate's types and words; the server's cap on
            // threads is checked here, before any row is read.
            for c in &candidates {
                Hyperparams::new(c.clone()).check_threads(max_threads)?;
            }
            Some(pgml_core::fit::Search {
                kind,
                args,
                candidates,
            })
        }
    };
    let sampling = Sampling::parse(&a.test_sampling)
        .ok_or_else(|| Error::UnknownSampling(a.test_sampling.clone()))?;
    let task = match &a.task {
        Some(t) => Some(Task::parse(t).ok_or_else(|| Error::UnknownTask(t.clone()))?),
        None => None,
    };
    pgml_core::data::test_rows(usize::MAX / 2, a.test_size).map_err(|source| Error::Data {
        relation: "pgml.train".into(),
        source,
    })?;
    let project = match (catalog::project(&a.project)?, task) {
        // A task says "create": an existing project of another role's would take the rows
        // trained on into a project that role owns (and whose model bytes it reads). Only
        // a call that names no task trains into someone else's project.
        (Some(p), Some(_)) if !p.acl.owned_by(catalog::current_user()) => {
            return Err(Error::ProjectTaken {
                project: p.name.clone(),
                owner: catalog::role_name(p.acl.owner.into()),
            })
        }
        (Some(p), _) => p,
        (None, Some(t)) => catalog::project_or_create(&a.project, t)?,
        (None, None) => return Err(Error::TaskRequired(a.project.clone())),
    };
    // Also when this call created it: another session may have won the race.
    project.check(catalog::Privilege::Train, "train")?;
    if let Some(t) = task.filter(|t| *t != project.task) {
        return Err(Error::TaskConflict {
            project: a.project.clone(),
            existing: project.task.as_str().into(),
            given: t.as_str().into(),
        });
    }
    if sampling == Sampling::Stratified && project.task != Task::Classification {
        return Err(Error::Data {
            relation: a.relation.clone().unwrap_or_default(),
            source: pgml_core::data::DataError::StratifyNeedsClasses,
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
        // The relation another role chose could be its view, running its functions with
        // this caller's privileges: only that role and its members retrain without naming one.
        (None, Some((_, _, by))) if !catalog::acts_as(catalog::current_user(), *by) => {
            return Err(Error::RetrainOtherRole {
                project: project.name.clone(),
                trained_by: catalog::role_name(*by),
            })
        }
        (None, Some((r, _, _))) => r.clone(),
        (None, None) => return Err(Error::RelationRequired(a.project.clone())),
    };
    let y: Vec<String> = match (&a.y_columns, &previous, supervised) {
        (Some(_), _, false) => return Err(Error::LabelNotAllowed(project.task.as_str())),
        (None, _, false) => vec![],
        (Some(y), _, true) if !y.is_empty() => y.clone(),
        (None, Some((_, y, _)), true) if !y.is_empty() => y.clone(),
        (_, _, true) => return Err(Error::LabelRequired(relation)),
    };
    if let Some((_, before, _)) = previous
        .as_ref()
        .filter(|(_, p, _)| supervised && !p.is_empty())
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
    Ok(Plan {
        backend,
        params,
        search,
        sampling,
        project,
        relation,
        y,
    })
}

/// The rows as read, with the user's preprocessing rules set on their columns.
struct Read {
    /// The relation as the user named it (resolved), not a materialized copy.
    relation_name: String,
    materialized: Option<i64>,
    snap: reader::Snapshot,
    pipeline: pgml_core::data::preprocess::Pipeline,
}

/// Reads the relation (with materialize_snapshot, first copies the rows and reads the copy,
/// so the snapshot is exactly what was trained on).
fn read(plan: &Plan, a: &TrainArgs) -> Result<Read> {
    let source = reader::resolve(&plan.relation)?;
    let relation_name = source.name.clone();
    let (materialized, source) = if a.materialize_snapshot {
        let (id, table) = catalog::materialize(&source.name)?;
        (Some(id), reader::resolve(&table)?)
    } else {
        (None, source)
    };
    let mut snap = source.read(
        &plan.y,
        plan.project.task == Task::Classification,
        Some(plan.backend),
    )?;
    let mut pipeline = std::mem::take(&mut snap.pipeline);
    pipeline.set_rules(&a.preprocess)?;
    Ok(Read {
        relation_name,
        materialized,
        snap,
        pipeline,
    })
}

/// The fit phase's errors as the SQL layer reports them (data errors name the relation).
fn fit_error(e: pgml_core::fit::FitError, relation: &str) -> Error {
    use pgml_core::fit::FitError;
    match e {
        FitError::Data(source) => Error::Data {
            relation: relation.to_string(),
            source,
        },
        FitError::Preprocess(e) => Error::Preprocess(e),
        FitError::Binding(e) => Error::Binding(e),
        FitError::Search(e) => e.into(),
        FitError::Uninterruptible {
            algorithm,
            rows,
            max,
        } => Error::Uninterruptible {
            algorithm,
            rows,
            max,
        },
        FitError::MissingValues {
            algorithm,
            column,
            count,
        } => Error::MissingValues {
            algorithm,
            column,
            count,
        },
    }
}

/// Stores the snapshot and the model, and deploys it if it beats the deployed one.
#[allow(clippy::too_many_arguments)] // each is one piece the phases before produced
fn persist(
    a: &TrainArgs,
    backend: &'static dyn bindings::Backend,
    sampling: Sampling,
    project: catalog::Project,
    relation_name: String,
    labels: &[reader::Column],
    materialized: Option<i64>,
    f: pgml_core::fit::Fitted,
) -> Result<Trained> {
    // Checked again under a lock on the project's row: a training takes long, and a
    // revoke or a change of owner meanwhile must not let its model in (grant, revoke and
    // owner changes lock the row for update).
    catalog::lock_and_check(&project, catalog::Privilege::Train, "train")?;
    let (train_class_rows, test_class_rows) = f.class_rows();
    let snapshot_id = catalog::insert_snapshot(&NewSnapshot {
        relation_name: &relation_name,
        y_column_name: labels.iter().map(|l| l.name.clone()).collect(),
        test_size: a.test_size,
        test_sampling: sampling.as_str(),
        columns: serde_json::to_value(&f.pipeline).unwrap_or(Value::Null),
        analysis: json!({
            "rows": f.data.rows(),
            "train_rows": f.split.train.len(),
            "test_rows": f.split.test.len(),
            "labels": labels.iter().map(|l| l.describe()).collect::<Vec<_>>(),
            // Rows per class (in class order) in each split: what stratified sampling keeps.
            "train_class_rows": train_class_rows,
            "test_class_rows": test_class_rows,
        }),
        materialized,
    })?;
    let key = key_metric(project.task, &f.metrics);
    let model_id = catalog::insert_model(NewModel {
        project_id: project.id,
        snapshot_id,
        num_features: f.data.num_features,
        algorithm: backend.name(),
        hyperparams: Value::Object(f.params.0),
        metrics: f.metrics,
        classes: f.classes.as_ref().map(|(values, _)| values.clone()),
        class_labels: f.classes.map(|(_, labels)| labels),
        num_targets: f.data.num_targets,
        evaluator: f.model.evaluator(),
        bytes: f.model.to_bytes()?,
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
    pgml_core::data::test_rows(usize::MAX / 2, test_size).map_err(|source| Error::Data {
        relation: relation.into(),
        source,
    })?;
    let source = reader::resolve(relation)?;
    let relation_name = source.name.clone();
    let (id, table) = catalog::materialize(&source.name)?;
    let snap = reader::resolve(&table)?.read(&y, true, None)?;
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
