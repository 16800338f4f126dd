//! The pure phase of a training, between reading the relation and storing the model: class
//! encoding, the seeded split, preprocessing statistics, search, the fit and its scores.
//!
//! Why apart from the extension's `train()`: nothing here touches Postgres, so the whole
//! phase is unit-tested with `cargo test -p pgml-core` on data made in the test.

use crate::bindings::{
    self, Backend, BindingError, Evaluation, Hyperparams, Model, ProgressHook, Task, TrainData,
};
use crate::data::preprocess::{Pipeline, PreprocessError};
use crate::data::{DataError, Dataset, Sampling, Split};
use crate::{interrupt, metrics, search};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::time::Instant;

/// A search to run before the final fit: its kind, arguments and candidates.
pub struct Search {
    pub kind: search::Kind,
    pub args: search::Args,
    pub candidates: Vec<Map<String, Value>>,
}

/// What the fit phase needs: the rows as read, and what the caller validated.
pub struct Input<'a> {
    pub data: Dataset,
    /// The relation's columns, with the user's preprocessing rules set (statistics not yet
    /// learnt).
    pub pipeline: Pipeline,
    /// Categories per text column, as read.
    pub dictionaries: &'a HashMap<String, Vec<String>>,
    /// A text label's categories (its classes); None for numbers and booleans.
    pub label_dictionary: Option<Vec<String>>,
    /// The label is a boolean: its classes are written `false` / `true`.
    pub boolean_label: bool,
    pub task: Task,
    pub backend: &'a dyn Backend,
    pub params: Hyperparams,
    pub search: Option<Search>,
    pub test_size: f32,
    pub sampling: Sampling,
    pub seed: u64,
    /// Threads to train with when the hyperparameters do not say (None: library default).
    pub threads: Option<usize>,
    /// How the test split is scored: as it will be served.
    pub how: Evaluation,
    /// The most training rows for an algorithm with no interrupt point
    /// ([`Backend::uninterruptible`]); 0: no limit.
    pub max_uninterruptible_rows: usize,
}

/// A fitted, scored model and what the catalog records of it.
pub struct Fitted {
    pub model: Box<dyn Model>,
    /// The hyperparameters fitted with (a search's winner merged over the given ones).
    pub params: Hyperparams,
    /// Test-split metrics, fit_time, score_time and a search's results.
    pub metrics: Map<String, Value>,
    /// Class values (what predict returns) and their labels (what predict_label returns).
    pub classes: Option<(Vec<f32>, Vec<String>)>,
    /// The preprocessing with its statistics learnt from the training split.
    pub pipeline: Pipeline,
    /// The rows after preprocessing (features as the model sees them).
    pub data: Dataset,
    pub split: Split,
}

impl Fitted {
    /// Rows per class (in class order) in each split, for the snapshot's analysis: what
    /// stratified sampling keeps. Null for other tasks.
    pub fn class_rows(&self) -> (Value, Value) {
        let n = self.classes.as_ref().map_or(0, |(v, _)| v.len());
        (
            class_rows(&self.data.y[self.split.train.clone()], n),
            class_rows(&self.data.y[self.split.test.clone()], n),
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Preprocess(#[from] PreprocessError),
    #[error(transparent)]
    Binding(#[from] BindingError),
    #[error(transparent)]
    Search(#[from] search::SearchError2),
    /// The training split is larger than an uninterruptible fit may take.
    #[error("{algorithm} cannot be interrupted while it trains, and {rows} training rows are more than pgml.max_uninterruptible_rows ({max})")]
    Uninterruptible {
        algorithm: &'static str,
        rows: usize,
        max: usize,
    },
    /// A column the algorithm cannot take NULLs in, by its feature name.
    #[error("{algorithm} cannot train with missing values: column \"{column}\" has {count}")]
    MissingValues {
        algorithm: &'static str,
        column: String,
        count: usize,
    },
}

/// Encodes the classes, splits, learns the preprocessing on the training split and applies
/// it, searches, fits and scores on the test split.
pub fn fit(mut a: Input<'_>, progress: &mut dyn ProgressHook) -> Result<Fitted, FitError> {
    let classes = match a.task {
        Task::Classification => Some(match a.label_dictionary.take() {
            Some(dictionary) => {
                let labels = a.data.encode_text_classes(&dictionary)?;
                ((0..labels.len()).map(|i| i as f32).collect(), labels)
            }
            None => {
                let values = a.data.encode_classes()?;
                let labels = values
                    .iter()
                    .map(|v| match (a.boolean_label, *v) {
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
    let mut data = a.data;
    let split = data.split(a.test_size, a.sampling, a.seed)?;
    // Statistics from the training rows only; then every row becomes model features.
    let k = data.num_targets;
    let y_train: Vec<f32> = data
        .y_slice(split.train.clone())
        .iter()
        .step_by(k)
        .copied()
        .collect();
    let mut pipeline = a.pipeline;
    let encodings = pipeline.fit(
        &mut data.x,
        split.train.clone(),
        a.dictionaries,
        &y_train,
        a.seed,
    )?;
    // A label per training row: gone before the fit, whose peak it would otherwise add to.
    drop(y_train);
    if !pipeline.is_identity() || pipeline.out_width() != data.num_features {
        // Training rows through transform_training: target encodings out of fold.
        let mut r: usize = 0;
        data.map_rows(pipeline.out_width(), |row, out| {
            let done = if split.train.contains(&r) {
                pipeline.transform_training(&encodings, r - split.train.start, row, out)
            } else {
                pipeline.transform(row, out)
            };
            r += 1;
            done
        })?;
    }
    drop(encodings);
    let feature_names = pipeline.out_names();

    let train = TrainData {
        x: data.x_view(split.train.clone()),
        y: data.y_view(split.train.clone()),
        task: a.task,
        num_classes,
        num_targets: data.num_targets,
        threads: a.threads,
    };
    let backend = a.backend;
    let rows = split.train.len();
    if backend.uninterruptible()
        && a.max_uninterruptible_rows > 0
        && rows > a.max_uninterruptible_rows
    {
        return Err(FitError::Uninterruptible {
            algorithm: backend.name(),
            rows,
            max: a.max_uninterruptible_rows,
        });
    }
    let started = Instant::now();
    // Search: cross-validate the candidates on the training split, then refit the winner
    // on all of it (below) before it is scored on the test split.
    let mut searched = None;
    let params = match &a.search {
        None => a.params,
        Some(s) => {
            let outcome = search::run(
                backend,
                &train,
                &a.params.0,
                &s.candidates,
                &s.args,
                a.how,
                progress,
            )?;
            searched = Some((s.kind, s.args.clone(), outcome.results));
            Hyperparams::new(outcome.best)
        }
    };
    // The training rows are read no more once the fit's library has its copy: it may give
    // their pages back (the test rows, after them in the buffer, stay).
    let train_rows = train.x.as_slice().unwrap_or(&[]);
    let model = bindings::with_releasable_rows(train_rows, || {
        bindings::fit(backend, &train, &params, progress)
    })
    .map_err(|e| match e {
        BindingError::MissingValues {
            algorithm,
            column,
            count,
        } => FitError::MissingValues {
            algorithm,
            column: feature_names.get(column).cloned().unwrap_or_default(),
            count,
        },
        other => FitError::Binding(other.blaming(&params, backend.params())),
    })?;
    let fit_time = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut scores = score(&*model, &data, &split, a.task, num_classes, a.how)?;
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
    Ok(Fitted {
        model,
        params,
        metrics: scores,
        classes,
        pipeline,
        data,
        split,
    })
}

/// The test split's metrics for the task.
fn score(
    model: &dyn Model,
    data: &Dataset,
    split: &Split,
    task: Task,
    num_classes: usize,
    how: Evaluation,
) -> Result<Map<String, Value>, FitError> {
    let x_test = data.x_slice(split.test.clone());
    let y_test = data.y_slice(split.test.clone());
    let width = data.num_features;
    let mut pred = Vec::with_capacity(y_test.len());
    if task != Task::Decomposition {
        interrupt::in_chunks(x_test, width, |x| model.predict(x, how, &mut pred))?;
    }
    let number = |v: f64| serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number);
    Ok(match task {
        Task::Regression => metrics::regression_joint(y_test, &pred, data.num_targets),
        Task::Decomposition => {
            let k = model.shape().num_classes;
            let mut projected = Vec::with_capacity(y_test.len() * k);
            interrupt::in_chunks(x_test, width, |x| model.transform(x, &mut projected))?;
            let v = bindings::decomposition::explained_variance(
                x_test,
                data.num_features,
                &projected,
                k,
            );
            let mut m = Map::new();
            m.insert("cumulative_explained_variance".into(), number(v));
            m
        }
        Task::Clustering => {
            let mut m = Map::new();
            let s = metrics::silhouette(x_test, data.num_features, &pred);
            m.insert("silhouette".into(), number(s));
            m
        }
        Task::Classification => {
            let mut proba = Vec::with_capacity(y_test.len() * num_classes);
            interrupt::in_chunks(x_test, width, |x| model.predict_proba(x, how, &mut proba))?;
            metrics::classification(y_test, &pred, &proba, num_classes)
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::preprocess::{Column, Kind};
    use crate::data::DenseBuilder;

    struct Quiet;
    impl ProgressHook for Quiet {
        fn step_with(
            &mut self,
            _: usize,
            _: usize,
            _: &dyn Fn() -> Option<String>,
        ) -> bindings::Result<()> {
            Ok(())
        }
    }

    /// Two numeric features; the label is 10 when the first is above 0.5, else 20.
    fn input<'a>(
        task: Task,
        algorithm: &str,
        dictionaries: &'a HashMap<String, Vec<String>>,
    ) -> Input<'a> {
        let mut rng = crate::data::SplitMix64::new(7);
        let mut b = DenseBuilder::with_capacity(400, 2);
        for _ in 0..400 {
            let x0 = (rng.below(1000) as f32) / 1000.0;
            let x1 = (rng.below(1000) as f32) / 1000.0;
            let y = if x0 > 0.5 { 10.0 } else { 20.0 };
            b.push_row([Some(x0), Some(x1)], Some(y));
        }
        let columns = ["a", "b"]
            .iter()
            .map(|n| Column::new(n, "real", Kind::Numeric, 1))
            .collect();
        Input {
            data: b.finish().expect("dataset"),
            pipeline: Pipeline::new(columns),
            dictionaries,
            label_dictionary: None,
            boolean_label: false,
            task,
            backend: bindings::find(algorithm).expect("backend"),
            params: Hyperparams::new(Map::new()),
            search: None,
            test_size: 0.25,
            sampling: Sampling::Random,
            seed: 1,
            threads: Some(1),
            how: Evaluation::default(),
            max_uninterruptible_rows: 0,
        }
    }

    /// svm's library cannot be interrupted: past the bound it is refused before it fits,
    /// and at or under it it trains.
    #[test]
    fn uninterruptible_fits_are_bounded_up_front() {
        let none = HashMap::new();
        let mut a = input(Task::Regression, "svm", &none);
        a.max_uninterruptible_rows = 299;
        assert!(matches!(
            fit(a, &mut Quiet).err(),
            Some(FitError::Uninterruptible {
                algorithm: "svm",
                rows: 300,
                max: 299
            })
        ));
        let mut a = input(Task::Regression, "svm", &none);
        a.max_uninterruptible_rows = 300;
        assert!(fit(a, &mut Quiet).is_ok());
        // Others have interrupt points: the bound does not apply.
        let mut a = input(Task::Regression, "knn", &none);
        a.max_uninterruptible_rows = 1;
        assert!(fit(a, &mut Quiet).is_ok());
    }

    #[test]
    fn classification_encodes_classes_splits_fits_and_scores() {
        let none = HashMap::new();
        let f = fit(input(Task::Classification, "xgboost", &none), &mut Quiet).expect("fit");
        let (values, labels) = f.classes.clone().expect("classes");
        assert_eq!(values, vec![10.0, 20.0]);
        assert_eq!(labels, vec!["10", "20"]);
        assert_eq!((f.split.train.len(), f.split.test.len()), (300, 100));
        let accuracy = f.metrics["accuracy"].as_f64().expect("accuracy");
        assert!(accuracy > 0.95, "accuracy {accuracy}");
        assert!(f.metrics["fit_time"].as_f64().is_some());
        let (train, test) = f.class_rows();
        let sum = |v: &Value| -> u64 {
            v.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap())
                .sum()
        };
        assert_eq!((sum(&train), sum(&test)), (300, 100));
    }

    #[test]
    fn search_picks_a_candidate_and_records_it() {
        let none = HashMap::new();
        let mut a = input(Task::Regression, "xgboost", &none);
        let args = search::Args::parse(&json!({"cv": 2})).expect("args");
        let space = json!({"max_depth": [1, 3]});
        a.search = Some(Search {
            kind: search::Kind::Grid,
            candidates: search::candidates(search::Kind::Grid, &space, &args).expect("space"),
            args,
        });
        let f = fit(a, &mut Quiet).expect("fit");
        assert_eq!(f.metrics["search"]["kind"], "grid");
        assert_eq!(
            f.metrics["search_results"].as_array().map(Vec::len),
            Some(2)
        );
        assert!(f.params.0.contains_key("max_depth"));
        assert!(f.metrics["r2"].as_f64().expect("r2") > 0.9);
    }

    #[test]
    fn missing_values_name_the_feature() {
        let none = HashMap::new();
        let mut a = input(Task::Regression, "linear", &none);
        // Every row's "b" is missing, so the training split has them whichever way it falls.
        for row in a.data.x.chunks_mut(2) {
            row[1] = f32::NAN;
        }
        match fit(a, &mut Quiet) {
            Err(FitError::MissingValues { column, .. }) => assert_eq!(column, "b"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a NaN trained"),
        }
    }
}
