//! LightGBM gradient-boosted trees, through its C API.
//!
//! Hyperparameters keep LightGBM's own names and its documented aliases (`n_estimators` for
//! `num_iterations`, `subsample` for `bagging_fraction`, ...). Training runs one boosting
//! round per call, so query cancel is honoured between rounds.

mod ffi;

use super::params::{p, ParamKind::*};
use super::trees::{self, Library, TreeModel};
use super::{
    outputs_per_row, Backend, BindingError, Hyperparams, Model, ModelShape, ParamSpec, Progress,
    Result, Task, TrainData,
};
use ffi::{Booster, Dataset};
use std::borrow::Cow;
use std::cell::OnceCell;

pub struct LightGBM;

/// Rounds when no alias of `num_iterations` is given (LightGBM's default).
const DEFAULT_ROUNDS: i64 = 100;
const ROUNDS: [&str; 5] = [
    "num_iterations",
    "n_estimators",
    "num_boost_round",
    "num_trees",
    "num_round",
];
/// Parameters that shape the binned dataset rather than the booster.
const DATASET_PARAMS: [&str; 6] = [
    "use_missing",
    "zero_as_missing",
    "max_bin",
    "min_data_in_bin",
    "bin_construct_sample_cnt",
    "data_random_seed",
];

/// LightGBM's names and documented aliases; an alias says which parameter it sets, the name
/// the checks in LightGBM's config_auto.cpp use in their messages.
static PARAMS: &[ParamSpec] = &[
    p("num_iterations", Int),
    p("n_estimators", Int),
    p("num_boost_round", Int),
    p("num_trees", Int),
    p("num_round", Int),
    p("objective", Text),
    p("boosting", Text),
    p("boosting_type", Text).alias_of("boosting"),
    p("learning_rate", Float),
    p("eta", Float).alias_of("learning_rate"),
    p("num_leaves", Int),
    p("max_leaves", Int).alias_of("num_leaves"),
    p("max_depth", Int),
    p("min_data_in_leaf", Int),
    p("min_child_samples", Int).alias_of("min_data_in_leaf"),
    p("min_sum_hessian_in_leaf", Float),
    p("min_child_weight", Float).alias_of("min_sum_hessian_in_leaf"),
    p("bagging_fraction", Float),
    p("subsample", Float).alias_of("bagging_fraction"),
    p("bagging_freq", Int),
    p("subsample_freq", Int).alias_of("bagging_freq"),
    p("bagging_seed", Int),
    p("feature_fraction", Float),
    p("colsample_bytree", Float).alias_of("feature_fraction"),
    p("feature_fraction_bynode", Float),
    p("feature_fraction_seed", Int),
    p("extra_trees", Bool),
    p("lambda_l1", Float),
    p("reg_alpha", Float).alias_of("lambda_l1"),
    p("lambda_l2", Float),
    p("reg_lambda", Float).alias_of("lambda_l2"),
    p("min_gain_to_split", Float),
    p("min_split_gain", Float).alias_of("min_gain_to_split"),
    p("max_delta_step", Float),
    p("path_smooth", Float),
    p("linear_tree", Bool),
    p("drop_rate", Float),
    p("max_drop", Int),
    p("skip_drop", Float),
    p("xgboost_dart_mode", Bool),
    p("top_rate", Float),
    p("other_rate", Float),
    p("data_sample_strategy", Text),
    p("is_unbalance", Bool),
    p("scale_pos_weight", Float),
    p("boost_from_average", Bool),
    p("sigmoid", Float),
    p("alpha", Float),
    p("monotone_constraints", Any),
    p("num_threads", Int),
    p("n_jobs", Int).alias_of("num_threads"),
    p("seed", Int),
    p("random_state", Int).alias_of("seed"),
    p("deterministic", Bool),
    p("force_col_wise", Bool),
    p("force_row_wise", Bool),
    p("verbosity", Int),
    p("use_missing", Bool),
    p("zero_as_missing", Bool),
    p("max_bin", Int),
    p("min_data_in_bin", Int),
    p("bin_construct_sample_cnt", Int),
    p("data_random_seed", Int),
];

fn objective(task: Task, num_classes: usize, params: &Hyperparams) -> Result<String> {
    let given = params.get("objective").and_then(|v| v.as_str());
    let (expected, allowed): (&str, &[&str]) = match (task, num_classes) {
        (Task::Clustering | Task::Decomposition, _) => {
            return Err(BindingError::UnsupportedTask {
                algorithm: "lightgbm",
                task: task.as_str(),
            })
        }
        (Task::Regression, _) => (
            "regression",
            &[
                "regression",
                "regression_l2",
                "l2",
                "mse",
                "regression_l1",
                "l1",
                "mae",
                "huber",
                "fair",
                "poisson",
                "quantile",
                "mape",
                "gamma",
                "tweedie",
            ],
        ),
        // Predictions and probabilities are read back assuming these.
        (Task::Classification, 2) => ("binary", &["binary"]),
        (Task::Classification, _) => ("multiclass", &["multiclass", "softmax"]),
    };
    match given {
        None => Ok(expected.into()),
        Some(o) if allowed.contains(&o) => Ok(o.into()),
        Some(o) => Err(BindingError::InvalidHyperparam {
            name: "objective".into(),
            expected: match task {
                Task::Regression | Task::Clustering | Task::Decomposition => {
                    "a regression objective (regression, l1, huber, poisson, quantile, ...)"
                }
                Task::Classification if num_classes == 2 => "binary for a two-class label",
                Task::Classification => "multiclass for a multi-class label",
            },
            got: o.into(),
        }),
    }
}

/// `key=value` pairs as LightGBM's parameter string.
fn param_string<'a>(pairs: impl Iterator<Item = (&'a str, String)>) -> String {
    pairs
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Backend for LightGBM {
    fn blocks_signals_per_call(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "lightgbm"
    }

    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }

    fn handles_missing(&self) -> bool {
        true
    }

    fn checks_its_bytes(&self) -> bool {
        true
    }

    fn fit(
        &self,
        data: &TrainData,
        params: &Hyperparams,
        progress: Progress,
    ) -> Result<Box<dyn Model>> {
        let mut rounds = DEFAULT_ROUNDS;
        for name in ROUNDS {
            if let Some(r) = params.int_in(name, 1, i32::MAX as i64)? {
                rounds = r;
            }
        }
        let rounds = rounds as usize;
        let (rows, cols) = data.x.dim();
        let x = data.x.as_slice().ok_or_else(|| BindingError::Library {
            backend: "lightgbm",
            message: "training matrix is not contiguous".into(),
        })?;
        let text = |v: &serde_json::Value| Hyperparams::as_library_text(v);
        let dataset_params = param_string(
            params
                .0
                .iter()
                .filter(|(k, _)| DATASET_PARAMS.contains(&k.as_str()))
                .map(|(k, v)| (k.as_str(), text(v))),
        );
        // The labels as they lie in the buffer (a copy only for a strided view).
        let y = data
            .y
            .as_slice()
            .map_or_else(|| Cow::Owned(data.y.to_vec()), Cow::Borrowed);
        let train = Dataset::dense(x, rows, cols, &y, &dataset_params)?;
        // The Dataset holds its own binned copy: `x` is read no more.
        super::rows_copied();

        let mut pairs: Vec<(&str, String)> =
            vec![("objective", objective(data.task, data.num_classes, params)?)];
        if data.task == Task::Classification && data.num_classes > 2 {
            pairs.push(("num_class", data.num_classes.to_string()));
        }
        // Lets progress reports show the training metric (computed only when one is due).
        if params.get("is_provide_training_metric").is_none() {
            pairs.push(("is_provide_training_metric", "true".into()));
        }
        // LightGBM prints progress to stdout (the server log) unless told otherwise.
        if params.get("verbosity").is_none() {
            pairs.push(("verbosity", "-1".into()));
        }
        let threads_given = super::params::THREAD_PARAMS
            .iter()
            .any(|k| params.get(k).is_some());
        if let (Some(t), false) = (data.threads, threads_given) {
            pairs.push(("num_threads", t.to_string()));
        }
        for (k, v) in &params.0 {
            if k != "objective" && !ROUNDS.contains(&k.as_str()) {
                pairs.push((k.as_str(), text(v)));
            }
        }
        let mut booster = Booster::new(&train, &param_string(pairs.into_iter()))?;
        for i in 0..rounds {
            progress.step_with(i, rounds, &|| {
                booster.training_metrics().ok().filter(|m| !m.is_empty())
            })?;
            if booster.update()? {
                break;
            }
        }
        progress.step(rounds, rounds)?;
        drop(train);
        // Through its own text format, as served models are, so that what was scored on
        // the test split is exactly what predict will run.
        let shape = ModelShape {
            task: data.task,
            num_features: cols,
            num_classes: data.num_classes,
            num_targets: 1,
        };
        let text = booster.to_text()?;
        drop(booster);
        self.load(&text, shape)
    }

    fn load(&self, bytes: &[u8], shape: ModelShape) -> Result<Box<dyn Model>> {
        // LightGBM's loader trusts the text (see check_structure): bytes from pgml.files are
        // checked before it sees them.
        trees::lightgbm::check_structure(bytes).map_err(|message| BindingError::Corrupt {
            backend: "lightgbm",
            message,
        })?;
        let compiled = trees::lightgbm::compile(bytes);
        let library = LightGBMLibrary {
            booster: OnceCell::new(),
            text: bytes.to_vec(),
            num_features: shape.num_features,
        };
        match &compiled {
            // The compiled forest serves: LightGBM parses the text only if it is asked to
            // (pgml.native_trees = off). Its loader runs OpenMP loops whose threads then
            // spin on the other core; a new backend's first predict of 100 trees took
            // ~20 ms with it.
            Ok(forest) if forest.num_features() == shape.num_features => {}
            Ok(forest) => return Err(corrupt_features(forest.num_features(), shape.num_features)),
            Err(_) => {
                library.booster()?;
            }
        }
        Ok(Box::new(TreeModel::new(library, compiled, shape)))
    }
}

fn corrupt_features(stored: usize, catalog: usize) -> BindingError {
    BindingError::Corrupt {
        backend: "lightgbm",
        message: format!("model has {stored} features, catalog says {catalog}"),
    }
}

struct LightGBMLibrary {
    /// Loaded from `text` the first time the library serves.
    booster: OnceCell<Booster>,
    /// The model text (checked by check_structure), kept for to_bytes (LightGBM's writer is
    /// not const) and the booster.
    text: Vec<u8>,
    /// The catalog's.
    num_features: usize,
}

impl LightGBMLibrary {
    fn booster(&self) -> Result<&Booster> {
        if let Some(b) = self.booster.get() {
            return Ok(b);
        }
        let mut booster = Booster::load(&self.text)?;
        let stored = booster.num_features()?;
        if stored != self.num_features {
            return Err(corrupt_features(stored, self.num_features));
        }
        booster.init_single_row(self.num_features)?;
        Ok(self.booster.get_or_init(|| booster))
    }
}

impl Library for LightGBMLibrary {
    const NAME: &'static str = "lightgbm";

    fn predict(&self, x: &[f32], shape: ModelShape, out: &mut Vec<f32>) -> Result<()> {
        self.booster()?
            .predict(x, shape.num_features, outputs_per_row(shape), out)
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.text.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::Evaluation;
    use ndarray::{Array1, Array2};
    use serde_json::json;

    fn fit(
        x: &Array2<f32>,
        y: &Array1<f32>,
        task: Task,
        k: usize,
        params: serde_json::Value,
    ) -> Result<Box<dyn Model>> {
        let data = TrainData {
            x: x.view(),
            y: y.view(),
            task,
            num_classes: k,
            num_targets: 1,
            threads: None,
        };
        let hp = Hyperparams::new(params.as_object().unwrap().clone());
        LightGBM.validate(&hp)?;
        LightGBM.fit(&data, &hp, &mut |_, _| Ok(()))
    }

    /// The parity test for LightGBM: native trees against its own prediction
    /// (single-row fast path, as served, and the batch path), bit for bit.
    #[test]
    fn native_trees_match_lightgbm_bit_for_bit() {
        use crate::bindings::trees::parity;
        let cases = [
            (Task::Regression, 0, json!({"n_estimators": 30})),
            (
                Task::Regression,
                0,
                json!({"n_estimators": 20, "objective": "poisson"}),
            ),
            (
                Task::Regression,
                0,
                json!({"n_estimators": 10, "zero_as_missing": true}),
            ),
            (
                Task::Regression,
                0,
                json!({"n_estimators": 10, "use_missing": false}),
            ),
            (
                Task::Regression,
                0,
                json!({"boosting": "rf", "n_estimators": 10, "bagging_fraction": 0.7, "bagging_freq": 1}),
            ),
            (Task::Classification, 2, json!({"n_estimators": 25})),
            (Task::Classification, 4, json!({"n_estimators": 15})),
            // More trees than one row walks in lockstep (trees::GROUPS groups of LANES):
            // the packs' boundaries and a partly filled last pack.
            (
                Task::Regression,
                0,
                json!({"n_estimators": 150, "num_leaves": 8}),
            ),
        ];
        let probes = parity::probes(11);
        for (n, (task, k, params)) in cases.into_iter().enumerate() {
            let (x, y) = parity::training(task, k, 100 + n as u64);
            let m = fit(&x, &y, task, k, params.clone()).unwrap();
            let text = m.to_bytes().unwrap();
            let forest = trees::lightgbm::compile(&text)
                .unwrap_or_else(|e| panic!("{params}: not compiled: {e}"));
            // the missing-value mode each case is there for: NaN by default, zero, none
            let modes: std::collections::BTreeSet<u8> = String::from_utf8_lossy(&text)
                .lines()
                .filter_map(|l| l.strip_prefix("decision_type="))
                .flat_map(|l| l.split(' ').map(|d| (d.parse::<u8>().unwrap() >> 2) & 3))
                .collect();
            let want = match n {
                2 => 1,
                3 => 0,
                _ => 2,
            };
            assert!(modes.contains(&want), "{params}: missing modes {modes:?}");
            let mut booster = Booster::load(&text).unwrap();
            booster.init_single_row(parity::FEATURES).unwrap();
            let outputs = outputs_per_row(m.shape());
            parity::compare(&params.to_string(), &forest, &probes, |x, _, out| {
                booster.predict(x, parity::FEATURES, outputs, out).unwrap()
            });
            // The library of a loaded model parses the text only when it first serves.
            let lazy = LightGBMLibrary {
                booster: OnceCell::new(),
                text: text.clone(),
                num_features: parity::FEATURES,
            };
            let (mut got, mut want) = (vec![], vec![]);
            lazy.predict(&probes, m.shape(), &mut got).unwrap();
            booster
                .predict(&probes, parity::FEATURES, outputs, &mut want)
                .unwrap();
            parity::assert_identical(&format!("{params}: the lazily loaded library"), &got, &want);
            assert!(
                m.evaluator().unwrap().starts_with("native"),
                "{:?}",
                m.evaluator()
            );
        }
    }

    #[test]
    fn regression_learns_and_round_trips() {
        let x = Array2::from_shape_fn((200, 2), |(i, j)| (i * (j + 1)) as f32 / 10.0);
        let y = x.column(0).mapv(|v| 3.0 * v + 1.0);
        let m = fit(
            &x,
            &y,
            Task::Regression,
            0,
            json!({"n_estimators": 50, "min_data_in_leaf": 5}),
        )
        .unwrap();
        let mut out = vec![];
        m.predict(x.as_slice().unwrap(), Evaluation::default(), &mut out)
            .unwrap();
        let err: f32 = out
            .iter()
            .zip(y.iter())
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / 200.0;
        assert!(err < 1.0, "mean abs error {err}");
        // the single-row fast path agrees with the batch path
        let mut one = vec![];
        m.predict(
            &x.as_slice().unwrap()[20..22],
            Evaluation::default(),
            &mut one,
        )
        .unwrap();
        assert_eq!(one[0], out[10]);
        let restored = LightGBM.load(&m.to_bytes().unwrap(), m.shape()).unwrap();
        let mut again = vec![];
        restored
            .predict(x.as_slice().unwrap(), Evaluation::default(), &mut again)
            .unwrap();
        assert_eq!(out, again);
    }

    #[test]
    fn classification_binary_and_multiclass() {
        let x = Array2::from_shape_fn((90, 1), |(i, _)| i as f32);
        let y3 = Array1::from_shape_fn(90, |i| (i / 30) as f32);
        let m = fit(
            &x,
            &y3,
            Task::Classification,
            3,
            json!({"num_iterations": 20, "min_data_in_leaf": 5}),
        )
        .unwrap();
        let mut c = vec![];
        m.predict(&[5.0, 45.0, 85.0], Evaluation::default(), &mut c)
            .unwrap();
        assert_eq!(c, vec![0.0, 1.0, 2.0]);
        let mut p = vec![];
        m.predict_proba(&[45.0], Evaluation::default(), &mut p)
            .unwrap();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5 && p[1] > 0.5);

        let y2 = Array1::from_shape_fn(90, |i| (i >= 45) as u8 as f32);
        let m = fit(
            &x,
            &y2,
            Task::Classification,
            2,
            json!({"min_data_in_leaf": 5}),
        )
        .unwrap();
        let mut c = vec![];
        m.predict(&[5.0, 85.0], Evaluation::default(), &mut c)
            .unwrap();
        assert_eq!(c, vec![0.0, 1.0]);
    }

    #[test]
    fn rejects_bad_params_and_corrupt_text() {
        let x = Array2::from_shape_fn((30, 1), |(i, _)| i as f32);
        let y = x.column(0).to_owned();
        assert!(matches!(
            fit(&x, &y, Task::Regression, 0, json!({"num_leafs": 3})).err(),
            Some(BindingError::UnknownHyperparam { .. })
        ));
        assert!(fit(&x, &y, Task::Regression, 0, json!({"objective": "binary"})).is_err());
        let shape = ModelShape {
            task: Task::Regression,
            num_features: 1,
            num_classes: 0,
            num_targets: 1,
        };
        assert!(matches!(
            LightGBM.load(b"garbage", shape).err(),
            Some(BindingError::Corrupt { .. })
        ));
    }
}
