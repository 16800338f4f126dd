//! XGBoost gradient-boosted trees, through its C API.
//!
//! Hyperparameters keep XGBoost's own names (and its aliases such as `learning_rate` for
//! `eta`); `n_estimators` is the number of boosting rounds, as in XGBoost's Python API.

mod ffi;
mod ubjson;

use super::params::{p, ParamKind::*};
use super::trees::{self, Library, TreeModel};
use super::{
    Backend, BindingError, Hyperparams, Model, ModelShape, ParamSpec, Progress, Result, Task,
    TrainData,
};
use ffi::{Booster, DMatrix};
use std::borrow::Cow;
use std::cell::OnceCell;

pub struct XGBoost {
    /// XGBoost's random forest mode: one round of `n_estimators` parallel trees.
    random_forest: bool,
}

pub static XGBOOST: XGBoost = XGBoost {
    random_forest: false,
};
pub static XGBOOST_RANDOM_FOREST: XGBoost = XGBoost {
    random_forest: true,
};

/// XGBRFRegressor / XGBRFClassifier's defaults, applied before the user's hyperparameters.
const RANDOM_FOREST_DEFAULTS: [(&str, &str); 4] = [
    ("eta", "1"),
    ("subsample", "0.8"),
    ("colsample_bynode", "0.8"),
    ("lambda", "0.00001"),
];

/// Rounds when `n_estimators` is not given (XGBoost's Python API default).
const DEFAULT_ROUNDS: i64 = 100;

/// XGBoost's names; an alias (DMLC_DECLARE_ALIAS in its param.h files) says which field it
/// sets, the name XGBoost's messages use.
static PARAMS: &[ParamSpec] = &[
    p("n_estimators", Int),
    // general
    p("booster", Text),
    p("nthread", Int),
    p("verbosity", Int),
    p("device", Text),
    p("seed", Int),
    p("seed_per_iteration", Bool),
    // tree booster
    p("eta", Float).alias_of("learning_rate"),
    p("learning_rate", Float),
    p("gamma", Float).alias_of("min_split_loss"),
    p("min_split_loss", Float),
    p("max_depth", Int),
    p("min_child_weight", Float),
    p("max_delta_step", Float),
    p("subsample", Float),
    p("sampling_method", Text),
    p("colsample_bytree", Float),
    p("colsample_bylevel", Float),
    p("colsample_bynode", Float),
    p("lambda", Float).alias_of("reg_lambda"),
    p("reg_lambda", Float),
    p("alpha", Float).alias_of("reg_alpha"),
    p("reg_alpha", Float),
    p("tree_method", Text),
    p("scale_pos_weight", Float),
    p("updater", Text),
    p("refresh_leaf", Bool),
    p("process_type", Text),
    p("grow_policy", Text),
    p("max_leaves", Int),
    p("max_bin", Int),
    p("num_parallel_tree", Int),
    p("monotone_constraints", Any),
    p("interaction_constraints", Any),
    p("max_cat_to_onehot", Int),
    p("max_cat_threshold", Int),
    p("multi_strategy", Text),
    // dart booster
    p("sample_type", Text),
    p("normalize_type", Text),
    p("rate_drop", Float),
    p("one_drop", Bool),
    p("skip_drop", Float),
    // learning task
    p("objective", Text),
    p("base_score", Float),
    p("huber_slope", Float),
    p("quantile_alpha", Float),
    p("tweedie_variance_power", Float),
];

/// The objective pgml uses for a task unless the user picks a compatible one.
fn objective(task: Task, num_classes: usize, params: &Hyperparams) -> Result<String> {
    let given = params.get("objective").and_then(|v| v.as_str());
    match task {
        Task::Clustering | Task::Decomposition => Err(BindingError::UnsupportedTask {
            algorithm: "xgboost",
            task: task.as_str(),
        }),
        Task::Regression => {
            let o = given.unwrap_or("reg:squarederror");
            if o.starts_with("reg:") || o.starts_with("count:") || o.starts_with("survival:") {
                Ok(o.to_string())
            } else {
                Err(BindingError::InvalidHyperparam {
                    name: "objective".into(),
                    expected: "a regression objective (reg:*, count:*, survival:*)",
                    got: o.into(),
                })
            }
        }
        Task::Classification => {
            // Predictions and probabilities are read back assuming these two objectives.
            let expected = if num_classes == 2 {
                "binary:logistic"
            } else {
                "multi:softprob"
            };
            match given {
                None => Ok(expected.into()),
                Some(o) if o == expected => Ok(o.into()),
                Some(o) => Err(BindingError::InvalidHyperparam {
                    name: "objective".into(),
                    expected: if num_classes == 2 {
                        "binary:logistic for a two-class label"
                    } else {
                        "multi:softprob for a multi-class label"
                    },
                    got: o.into(),
                }),
            }
        }
    }
}

impl Backend for XGBoost {
    fn blocks_signals_per_call(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        if self.random_forest {
            "xgboost_random_forest"
        } else {
            "xgboost"
        }
    }

    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }

    /// A 2-D label trains one output per target (`multi_strategy` "one_output_per_tree",
    /// XGBoost's default) or vector-leaf trees ("multi_output_tree").
    fn supports_joint(&self) -> bool {
        true
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
        let rounds = params
            .int_in("n_estimators", 1, i32::MAX as i64)?
            .unwrap_or(DEFAULT_ROUNDS) as usize;
        let objective = objective(data.task, data.num_classes, params)?;
        let (rows, cols) = data.x.dim();
        let x = data.x.as_slice().ok_or_else(|| BindingError::Library {
            backend: "xgboost",
            message: "training matrix is not contiguous".into(),
        })?;
        // The labels as they lie in the buffer (a copy only for a strided view).
        let y = data
            .y
            .as_slice()
            .map_or_else(|| Cow::Owned(data.y.to_vec()), Cow::Borrowed);
        let targets = data.num_targets.max(1);
        // The hist method (XGBoost's default) trains from a quantile DMatrix built straight
        // from our buffer; other tree methods and the linear booster need the plain one.
        let text = |k: &str| params.get(k).map(Hyperparams::as_library_text);
        let hist = matches!(
            text("tree_method").as_deref(),
            None | Some("hist") | Some("auto")
        ) && matches!(
            text("booster").as_deref(),
            None | Some("gbtree") | Some("dart")
        );
        // n_estimators rounds; a random forest: one round of n_estimators trees, unless the
        // user names num_parallel_tree itself.
        let trees = if self.random_forest {
            params
                .int_in("num_parallel_tree", 1, i32::MAX as i64)?
                .map_or(rounds, |t| t as usize)
        } else {
            rounds
        };
        // The fit begins (pgml.training_progress says "training") with the DMatrix build,
        // which has interrupt points of its own.
        progress.step(0, trees)?;
        let dtrain = if hist {
            let mut config = serde_json::json!({"missing": f64::NAN});
            if let Some(b) = params.get("max_bin") {
                config["max_bin"] = b.clone();
            }
            if let Some(t) = data.threads {
                config["nthread"] = t.into();
            }
            // JSON has no NaN: XGBoost reads the bare token.
            let config = config.to_string().replace("null", "NaN");
            DMatrix::quantile(x, rows, cols, &y, targets, &config)?
        } else {
            DMatrix::dense(x, rows, cols, &y, targets)?
        };
        // Both kinds of DMatrix hold their own copy (bins or values): `x` is read no more.
        super::rows_copied();
        // The booster as the user configured it; the caller sets what differs per booster.
        let configured = || -> Result<Booster> {
            let mut booster = Booster::new(&dtrain)?;
            booster.set_param("objective", &objective)?;
            if data.task == Task::Classification && data.num_classes > 2 {
                booster.set_param("num_class", &data.num_classes.to_string())?;
            }
            if self.random_forest {
                for (k, v) in RANDOM_FOREST_DEFAULTS {
                    booster.set_param(k, v)?;
                }
            }
            if let (Some(t), None) = (data.threads, params.get("nthread")) {
                booster.set_param("nthread", &t.to_string())?;
            }
            for (name, value) in &params.0 {
                if name != "n_estimators" && name != "objective" {
                    booster.set_param(name, &Hyperparams::as_library_text(value))?;
                }
            }
            Ok(booster)
        };
        let booster = if self.random_forest {
            let per_call = (FOREST_WORK_PER_CALL / (rows * cols).max(1)).clamp(1, trees);
            forest(&configured, &dtrain, trees, per_call, params, progress)?.0
        } else {
            let mut booster = configured()?;
            for i in 0..rounds {
                // Round i-1 is the last one trained: its training metric goes with the report.
                let last = i.checked_sub(1);
                progress.step_with(i, rounds, &|| {
                    last.and_then(|r| booster.eval(r, &dtrain).ok())
                })?;
                booster.update(i as i32, &dtrain)?;
            }
            progress.step(rounds, rounds)?;
            booster
        };
        drop(dtrain);
        // The test split is scored by the evaluator that will serve the model.
        Ok(Box::new(model(
            booster,
            ModelShape {
                task: data.task,
                num_features: cols,
                num_classes: data.num_classes,
                num_targets: data.num_targets,
            },
        )?))
    }

    fn load(&self, bytes: &[u8], shape: ModelShape) -> Result<Box<dyn Model>> {
        // The trees are compiled from the stored bytes themselves: XGBoost loads them only if
        // it is asked to serve (a model the evaluator does not cover, pgml.native_trees off).
        // A new backend or parallel worker then reads a covered model in ~1 ms where loading
        // it into XGBoost and dumping its JSON took 7 ms (25 trees) to 20 ms (100 trees).
        if let Ok(forest) = ubjson::to_json(bytes).and_then(|json| trees::xgboost::compile(&json)) {
            if forest.num_features() != shape.num_features {
                return Err(corrupt_features(forest.num_features(), shape));
            }
            let library = XGBoostLibrary {
                booster: OnceCell::new(),
                bytes: Some(bytes.to_vec()),
                inplace: true,
            };
            return Ok(Box::new(TreeModel::new(library, Ok(forest), shape)));
        }
        let booster = load_booster(bytes)?;
        let stored = booster.num_features()?;
        if stored != shape.num_features {
            return Err(corrupt_features(stored, shape));
        }
        Ok(Box::new(model(booster, shape)?))
    }
}

/// Values (rows x features) whose trees XGBoost may grow in one call of a random forest:
/// about 0.3 s here (1M rows x 8 features grew a tree in ~45 ms).
const FOREST_WORK_PER_CALL: usize = 50_000_000;

/// XGBoost's random forest: one round of `trees` parallel trees, which XGBoost grows inside
/// one call with no interrupt point. A forest this small or smaller is that one call; a
/// larger one is grown in calls of several trees each (a booster each, its own seed, the
/// learning rate scaled so that every tree keeps eta / trees), with an interrupt point
/// between calls, and the parts are joined into the one-round model XGBoost would have
/// written: the same trees for the same rows, sampled from other seeds. Returns the forest
/// and the parts' JSON (none when it took one call).
fn forest(
    configured: &dyn Fn() -> Result<Booster>,
    dtrain: &DMatrix,
    trees: usize,
    per_call: usize,
    params: &Hyperparams,
    progress: Progress,
) -> Result<(Booster, Vec<Vec<u8>>)> {
    let eta = params
        .float("eta")
        .or_else(|| params.float("learning_rate"))
        .unwrap_or(1.0);
    let seed = params.int("seed").unwrap_or(0);
    let mut parts = Vec::new();
    let mut grown = 0;
    while grown < trees {
        progress.step(grown, trees)?;
        let n = per_call.min(trees - grown);
        let mut booster = configured()?;
        booster.set_param("num_parallel_tree", &n.to_string())?;
        if per_call < trees {
            booster.set_param(
                "learning_rate",
                &(eta * n as f64 / trees as f64).to_string(),
            )?;
            booster.set_param("seed", &seed.wrapping_add(parts.len() as i64).to_string())?;
        }
        booster.update(0, dtrain)?;
        grown += n;
        if per_call >= trees {
            progress.step(trees, trees)?;
            return Ok((booster, parts));
        }
        parts.push(booster.to_json()?);
    }
    progress.step(trees, trees)?;
    let joined = Booster::from_json(&join_forest(&parts, trees)?)?;
    Ok((joined, parts))
}

/// One round's model from boosters of one round each: the trees of output group g of every
/// part, in order, then those of group g+1 (XGBoost's order within a round), renumbered.
fn join_forest(parts: &[Vec<u8>], trees: usize) -> Result<Vec<u8>> {
    let bad = |message: String| BindingError::Library {
        backend: "xgboost",
        message: format!("joining a forest: {message}"),
    };
    let mut joined: serde_json::Value =
        serde_json::from_slice(&parts[0]).map_err(|e| bad(e.to_string()))?;
    let mut groups: Vec<Vec<serde_json::Value>> = Vec::new();
    for part in parts {
        let mut part: serde_json::Value =
            serde_json::from_slice(part).map_err(|e| bad(e.to_string()))?;
        let model = &mut part["learner"]["gradient_booster"]["model"];
        let (Some(list), Some(info)) = (
            model["trees"].as_array_mut().map(std::mem::take),
            model["tree_info"].as_array(),
        ) else {
            return Err(bad("no trees".into()));
        };
        if list.len() != info.len() {
            return Err(bad("trees and tree_info differ in length".into()));
        }
        for (tree, group) in list.into_iter().zip(info) {
            let g = group.as_u64().ok_or_else(|| bad("tree_info".into()))? as usize;
            if groups.len() <= g {
                groups.resize_with(g + 1, Vec::new);
            }
            groups[g].push(tree);
        }
    }
    let mut list = Vec::new();
    let mut info = Vec::new();
    for (g, group) in groups.into_iter().enumerate() {
        for mut tree in group {
            tree["id"] = list.len().into();
            list.push(tree);
            info.push(g);
        }
    }
    let model = &mut joined["learner"]["gradient_booster"]["model"];
    let n = list.len();
    model["trees"] = list.into();
    model["tree_info"] = info.into();
    model["iteration_indptr"] = serde_json::json!([0, n]);
    model["gbtree_model_param"]["num_trees"] = n.to_string().into();
    model["gbtree_model_param"]["num_parallel_tree"] = trees.to_string().into();
    serde_json::to_vec(&joined).map_err(|e| bad(e.to_string()))
}

fn corrupt_features(stored: usize, shape: ModelShape) -> BindingError {
    BindingError::Corrupt {
        backend: "xgboost",
        message: format!(
            "model has {stored} features, catalog says {}",
            shape.num_features
        ),
    }
}

/// The booster for stored bytes, set up for serving.
fn load_booster(bytes: &[u8]) -> Result<Booster> {
    let mut booster = Booster::load(bytes)?;
    // A backend serves one query at a time: threads would only add start-up cost.
    booster.set_param("nthread", "1")?;
    Ok(booster)
}

/// An XGBoost model: compiled when covered (see [`TreeModel`]), the booster otherwise.
fn model(booster: Booster, shape: ModelShape) -> Result<TreeModel<XGBoostLibrary>> {
    let json = booster.to_json()?;
    let inplace = trees::xgboost::booster_name(&json).as_deref() != Some("gblinear");
    Ok(TreeModel::new(
        XGBoostLibrary {
            booster: OnceCell::from(booster),
            bytes: None,
            inplace,
        },
        trees::xgboost::compile(&json),
        shape,
    ))
}

struct XGBoostLibrary {
    /// Loaded from `bytes` the first time the library serves, when not given.
    booster: OnceCell<Booster>,
    /// The stored bytes the model was loaded from, if it was.
    bytes: Option<Vec<u8>>,
    /// gblinear has no inplace predict: it goes through a DMatrix.
    inplace: bool,
}

impl XGBoostLibrary {
    fn booster(&self) -> Result<&Booster> {
        if let Some(b) = self.booster.get() {
            return Ok(b);
        }
        let loaded = load_booster(self.bytes.as_deref().unwrap_or_default())?;
        Ok(self.booster.get_or_init(|| loaded))
    }
}

impl Library for XGBoostLibrary {
    const NAME: &'static str = "xgboost";

    fn predict(&self, x: &[f32], shape: ModelShape, out: &mut Vec<f32>) -> Result<()> {
        let rows = x.len() / shape.num_features.max(1);
        let booster = self.booster()?;
        if self.inplace {
            booster.predict_dense(x, rows, shape.num_features, out)
        } else {
            booster.predict_dmatrix(x, rows, shape.num_features, out)
        }
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        match &self.bytes {
            Some(bytes) => Ok(bytes.clone()),
            None => self.booster()?.to_ubj(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::Evaluation;
    use ndarray::{Array1, Array2};
    use serde_json::json;

    fn no_progress() -> impl FnMut(usize, usize) -> Result<()> {
        |_, _| Ok(())
    }

    fn fit(
        x: &Array2<f32>,
        y: &Array1<f32>,
        task: Task,
        k: usize,
        params: serde_json::Value,
    ) -> Box<dyn Model> {
        let data = TrainData {
            x: x.view(),
            y: y.view(),
            task,
            num_classes: k,
            num_targets: 1,
            threads: None,
        };
        let hp = Hyperparams::new(params.as_object().unwrap().clone());
        XGBOOST.validate(&hp).unwrap();
        XGBOOST.fit(&data, &hp, &mut no_progress()).unwrap()
    }

    /// The issue's parity test: 100,000 probe rows with NaNs, native trees against
    /// XGBoost's own prediction, batch and single-row, bit for bit.
    #[test]
    fn native_trees_match_xgboost_bit_for_bit() {
        use crate::bindings::trees::parity;
        let cases = [
            (
                Task::Regression,
                0,
                json!({"n_estimators": 30, "max_depth": 6}),
            ),
            (
                Task::Regression,
                0,
                json!({"n_estimators": 20, "objective": "count:poisson"}),
            ),
            (
                Task::Regression,
                0,
                json!({"n_estimators": 10, "objective": "reg:absoluteerror"}),
            ),
            // More trees than one row walks in lockstep (trees::GROUPS groups of LANES):
            // the packs' boundaries and a partly filled last pack.
            (
                Task::Regression,
                0,
                json!({"n_estimators": 150, "max_depth": 3}),
            ),
            (
                Task::Classification,
                2,
                json!({"n_estimators": 25, "max_depth": 4}),
            ),
            (
                Task::Classification,
                4,
                json!({"n_estimators": 15, "max_depth": 5}),
            ),
        ];
        let probes = parity::probes(7);
        for (n, (task, k, params)) in cases.into_iter().enumerate() {
            let (x, y) = parity::training(task, k, n as u64);
            let m = fit(&x, &y, task, k, params.clone());
            let bytes = m.to_bytes().unwrap();
            let booster = Booster::load(&bytes).unwrap();
            // Compiled from XGBoost's own JSON dump and, as a load does, from the stored
            // UBJSON transcoded without the library.
            let dumped = booster.to_json().unwrap();
            let transcoded = ubjson::to_json(&bytes).unwrap();
            for (how, json) in [("dump", dumped), ("ubjson", transcoded)] {
                let forest = trees::xgboost::compile(&json)
                    .unwrap_or_else(|e| panic!("{params} ({how}): not compiled: {e}"));
                let what = format!("{params} ({how})");
                parity::compare(&what, &forest, &probes, |x, rows, out| {
                    booster
                        .predict_dense(x, rows, parity::FEATURES, out)
                        .unwrap()
                });
            }
            // A loaded model serves natively; its library loads the bytes on demand.
            let loaded = XGBOOST.load(&bytes, m.shape()).unwrap();
            assert!(loaded.evaluator().unwrap().starts_with("native"));
            let lazy = XGBoostLibrary {
                booster: OnceCell::new(),
                bytes: Some(bytes.clone()),
                inplace: true,
            };
            let rows = probes.len() / parity::FEATURES;
            let (mut got, mut want) = (vec![], vec![]);
            lazy.predict(&probes, m.shape(), &mut got).unwrap();
            booster
                .predict_dense(&probes, rows, parity::FEATURES, &mut want)
                .unwrap();
            parity::assert_identical(&format!("{params}: the lazily loaded library"), &got, &want);
            assert_eq!(loaded.to_bytes().unwrap(), bytes, "the stored bytes, kept");
            assert!(
                m.evaluator().unwrap().starts_with("native"),
                "{:?}",
                m.evaluator()
            );
        }
    }

    #[test]
    fn uncovered_models_fall_back_to_the_library_visibly() {
        use crate::bindings::trees::parity;
        let (x, y) = parity::training(Task::Regression, 0, 1);
        let linear = fit(
            &x,
            &y,
            Task::Regression,
            0,
            json!({"n_estimators": 5, "booster": "gblinear"}),
        );
        assert_eq!(linear.evaluator().unwrap(), "library: gblinear booster");
        let mut out = vec![];
        linear
            .predict(
                &parity::probes(1)[..parity::FEATURES * 3],
                Evaluation::default(),
                &mut out,
            )
            .unwrap();
        assert_eq!(out.len(), 3);
        let gamma = fit(
            &x,
            &y,
            Task::Regression,
            0,
            json!({"n_estimators": 5, "objective": "reg:gamma"}),
        );
        assert_eq!(gamma.evaluator().unwrap(), "library: objective reg:gamma");
    }

    #[test]
    fn regression_learns_and_round_trips() {
        let x = Array2::from_shape_fn((200, 2), |(i, j)| (i * (j + 1)) as f32 / 10.0);
        let y = x.column(0).mapv(|v| 3.0 * v + 1.0);
        let m = fit(&x, &y, Task::Regression, 0, json!({"n_estimators": 50}));
        let mut out = vec![];
        m.predict(x.as_slice().unwrap(), Evaluation::default(), &mut out)
            .unwrap();
        let err: f32 = out
            .iter()
            .zip(y.iter())
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / 200.0;
        assert!(err < 0.5, "mean abs error {err}");

        let bytes = m.to_bytes().unwrap();
        let restored = XGBOOST.load(&bytes, m.shape()).unwrap();
        let mut again = vec![];
        restored
            .predict(x.as_slice().unwrap(), Evaluation::default(), &mut again)
            .unwrap();
        assert_eq!(out, again);
    }

    #[test]
    fn joint_regression_predicts_every_target_with_either_strategy() {
        let x = Array2::from_shape_fn((300, 2), |(i, j)| ((i * (j + 3)) % 97) as f32);
        // targets: 2*x0 and x1 - x0, row-major
        let y: Array1<f32> = x
            .rows()
            .into_iter()
            .flat_map(|r| [2.0 * r[0], r[1] - r[0]])
            .collect();
        for strategy in ["one_output_per_tree", "multi_output_tree"] {
            let data = TrainData {
                x: x.view(),
                y: y.view(),
                task: Task::Regression,
                num_classes: 0,
                num_targets: 2,
                threads: None,
            };
            let hp = Hyperparams::new(
                json!({"n_estimators": 60, "multi_strategy": strategy, "tree_method": "hist"})
                    .as_object()
                    .unwrap()
                    .clone(),
            );
            let m = XGBOOST.fit(&data, &hp, &mut no_progress()).unwrap();
            let mut out = vec![];
            m.predict(x.as_slice().unwrap(), Evaluation::default(), &mut out)
                .unwrap();
            assert_eq!(out.len(), 600, "{strategy}: two values per row");
            let r2 = crate::metrics::regression_joint(y.as_slice().unwrap(), &out, 2)["r2"]
                .as_f64()
                .unwrap();
            assert!(r2 > 0.95, "{strategy}: r2 {r2}");
            let restored = XGBOOST.load(&m.to_bytes().unwrap(), m.shape()).unwrap();
            let mut again = vec![];
            restored
                .predict(
                    &x.as_slice().unwrap()[..2],
                    Evaluation::default(),
                    &mut again,
                )
                .unwrap();
            assert_eq!(again, out[..2]);
        }
    }

    #[test]
    fn random_forest_mode_is_one_round_of_parallel_trees() {
        let x = Array2::from_shape_fn((200, 2), |(i, j)| (i * (j + 1)) as f32 / 10.0);
        let y = x.column(0).mapv(|v| 3.0 * v + 1.0);
        let data = TrainData {
            x: x.view(),
            y: y.view(),
            task: Task::Regression,
            num_classes: 0,
            num_targets: 1,
            threads: None,
        };
        let hp = Hyperparams::new(
            json!({"n_estimators": 20, "max_depth": 6})
                .as_object()
                .unwrap()
                .clone(),
        );
        let mut rounds = 0;
        let m = XGBOOST_RANDOM_FOREST
            .fit(&data, &hp, &mut |_, total| {
                rounds = total;
                Ok(())
            })
            .unwrap();
        assert_eq!(rounds, 20); // progress counts the forest's trees
        let mut out = vec![];
        m.predict(x.as_slice().unwrap(), Evaluation::default(), &mut out)
            .unwrap();
        let err: f32 = out
            .iter()
            .zip(y.iter())
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / 200.0;
        assert!(err < 2.0, "mean abs error {err}");
        let again = XGBOOST_RANDOM_FOREST
            .load(&m.to_bytes().unwrap(), m.shape())
            .unwrap();
        let mut out2 = vec![];
        again
            .predict(x.as_slice().unwrap(), Evaluation::default(), &mut out2)
            .unwrap();
        assert_eq!(out, out2);
    }

    /// A forest grown in several calls is joined into one round whose prediction is the
    /// base score plus every part's trees: checked with two output groups (one tree per
    /// target per parallel tree), where XGBoost's order of trees within a round matters.
    #[test]
    fn forest_grown_in_parts_joins_into_one_round() {
        let (rows, cols) = (400, 3);
        let x = Array2::from_shape_fn((rows, cols), |(i, j)| ((i * (j + 3)) % 17) as f32);
        let y: Vec<f32> = x
            .rows()
            .into_iter()
            .flat_map(|r| [r[0] - 2.0 * r[1], r[2] * r[0] / 5.0])
            .collect();
        let xs = x.as_slice().unwrap();
        let dtrain = DMatrix::quantile(xs, rows, cols, &y, 2, r#"{"missing": NaN}"#).unwrap();
        let configured = || -> Result<Booster> {
            let mut b = Booster::new(&dtrain)?;
            b.set_param("objective", "reg:squarederror")?;
            for (k, v) in RANDOM_FOREST_DEFAULTS {
                b.set_param(k, v)?;
            }
            Ok(b)
        };
        let mut calls = 0;
        let (joined, parts) = forest(
            &configured,
            &dtrain,
            10,
            3,
            &Hyperparams::default(),
            &mut |done, total| {
                assert_eq!(total, 10);
                calls += (done < total) as usize;
                Ok(())
            },
        )
        .unwrap();
        assert_eq!((parts.len(), calls), (4, 4)); // 3 + 3 + 3 + 1 trees
        let json: serde_json::Value = serde_json::from_slice(&joined.to_json().unwrap()).unwrap();
        let model = &json["learner"]["gradient_booster"]["model"];
        assert_eq!(model["gbtree_model_param"]["num_parallel_tree"], "10");
        assert_eq!(model["trees"].as_array().unwrap().len(), 20);
        let info: Vec<u64> = model["tree_info"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(info, [[0; 10], [1; 10]].concat());
        let base: Vec<f32> = json["learner"]["learner_model_param"]["base_score"]
            .as_str()
            .unwrap()
            .trim_matches(['[', ']'])
            .split(',')
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(base.len(), 2);
        let mut want: Vec<f32> = (0..rows * 2).map(|i| base[i % 2]).collect();
        for part in &parts {
            let mut p = vec![];
            Booster::from_json(part)
                .unwrap()
                .predict_dense(xs, rows, cols, &mut p)
                .unwrap();
            for (i, (w, v)) in want.iter_mut().zip(p).enumerate() {
                *w += v - base[i % 2];
            }
        }
        let mut got = vec![];
        joined.predict_dense(xs, rows, cols, &mut got).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-3 * (1.0 + w.abs()), "{g} vs {w}");
        }
        // every part grew different trees (its own seed), and the forest fits the data
        let err: f32 = got.iter().zip(&y).map(|(a, b)| (a - b).abs()).sum::<f32>() / y.len() as f32;
        assert!(err < 3.0, "mean abs error {err}");
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn multiclass_probabilities_sum_to_one() {
        let x = Array2::from_shape_fn((90, 1), |(i, _)| i as f32);
        let y = Array1::from_shape_fn(90, |i| (i / 30) as f32);
        let m = fit(
            &x,
            &y,
            Task::Classification,
            3,
            json!({"n_estimators": 10, "max_depth": 2}),
        );
        let mut p = vec![];
        m.predict_proba(&[5.0, 45.0, 85.0], Evaluation::default(), &mut p)
            .unwrap();
        assert_eq!(p.len(), 9);
        for row in p.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        let mut c = vec![];
        m.predict(&[5.0, 45.0, 85.0], Evaluation::default(), &mut c)
            .unwrap();
        assert_eq!(c, vec![0.0, 1.0, 2.0]);
    }

    #[test]
    fn binary_and_missing_values() {
        let x = Array2::from_shape_fn((100, 2), |(i, j)| {
            if j == 1 && i % 7 == 0 {
                f32::NAN
            } else {
                i as f32
            }
        });
        let y = Array1::from_shape_fn(100, |i| if i >= 50 { 1.0 } else { 0.0 });
        let m = fit(&x, &y, Task::Classification, 2, json!({"n_estimators": 5}));
        let mut c = vec![];
        m.predict(&[10.0, f32::NAN, 90.0, 90.0], Evaluation::default(), &mut c)
            .unwrap();
        assert_eq!(c, vec![0.0, 1.0]);
        let mut p = vec![];
        m.predict_proba(&[90.0, 90.0], Evaluation::default(), &mut p)
            .unwrap();
        assert!(p[1] > 0.5 && (p[0] + p[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn rejects_bad_objective_and_corrupt_bytes() {
        let hp = Hyperparams::new(
            json!({"objective": "binary:hinge"})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert!(objective(Task::Classification, 2, &hp).is_err());
        assert!(objective(Task::Regression, 0, &hp).is_err());
        let shape = ModelShape {
            task: Task::Regression,
            num_features: 2,
            num_classes: 0,
            num_targets: 1,
        };
        assert!(matches!(
            XGBOOST.load(b"not a model", shape),
            Err(BindingError::Corrupt { .. })
        ));
    }
}
