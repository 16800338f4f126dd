//! smartcore's random forests, decision trees and k-nearest neighbours, for both tasks.
//!
//! Hyperparameters keep smartcore's field names (`n_trees`, `max_depth`, `min_samples_leaf`,
//! `min_samples_split`, `m`, `seed`, `criterion`, `k`, `weight`, `algorithm`). smartcore
//! trains in f64 from a row-major copy of the features and has no iteration hook: query
//! cancel is honoured before and after the fit. Models are stored as serde JSON.

use super::params::{p, ParamKind::*};
use super::{
    reject_missing, Backend, BindingError, Evaluation, Hyperparams, Model, ModelShape, ParamSpec,
    Progress, Result, Task, TrainData,
};
use serde::{Deserialize, Serialize};
use smartcore::algorithm::neighbour::KNNAlgorithmName;
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::arrays::{
    Array, Array2, ArrayView1, ArrayView2, MutArray, MutArrayView2,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::metrics::distance::euclidian::Euclidian;
use smartcore::metrics::distance::Distance;
use smartcore::neighbors::knn_classifier::{KNNClassifier, KNNClassifierParameters};
use smartcore::neighbors::knn_regressor::{KNNRegressor, KNNRegressorParameters};
use smartcore::neighbors::KNNWeightFunction;
use smartcore::tree::decision_tree_classifier::{
    DecisionTreeClassifier, DecisionTreeClassifierParameters, SplitCriterion,
};
use smartcore::tree::decision_tree_regressor::{
    DecisionTreeRegressor, DecisionTreeRegressorParameters,
};
use std::ops::Range;

type X = Polled;

/// smartcore's DenseMatrix with an interrupt point in every element read
/// (crate::interrupt): the trees' split search reads the matrix in its inner loop, which is
/// the only code of ours a smartcore fit runs (13 s for one tree on a million rows, 6 s per
/// forest tree). Only a type parameter of the stored models (PhantomData), so their bytes
/// are those of DenseMatrix's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Polled(DenseMatrix<f64>);

impl std::fmt::Display for Polled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Array<f64, (usize, usize)> for Polled {
    #[inline]
    fn get(&self, pos: (usize, usize)) -> &f64 {
        crate::interrupt::poll();
        self.0.get(pos)
    }
    fn shape(&self) -> (usize, usize) {
        self.0.shape()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn iterator<'b>(&'b self, axis: u8) -> Box<dyn Iterator<Item = &'b f64> + 'b> {
        crate::interrupt::poll();
        self.0.iterator(axis)
    }
}

impl MutArray<f64, (usize, usize)> for Polled {
    fn set(&mut self, pos: (usize, usize), x: f64) {
        self.0.set(pos, x)
    }
    fn iterator_mut<'b>(&'b mut self, axis: u8) -> Box<dyn Iterator<Item = &'b mut f64> + 'b> {
        self.0.iterator_mut(axis)
    }
}

impl ArrayView2<f64> for Polled {}
impl MutArrayView2<f64> for Polled {}

impl Array2<f64> for Polled {
    fn get_row<'a>(&'a self, row: usize) -> Box<dyn ArrayView1<f64> + 'a> {
        crate::interrupt::poll();
        self.0.get_row(row)
    }
    fn get_col<'a>(&'a self, col: usize) -> Box<dyn ArrayView1<f64> + 'a> {
        crate::interrupt::poll();
        self.0.get_col(col)
    }
    fn slice<'a>(
        &'a self,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> Box<dyn ArrayView2<f64> + 'a> {
        self.0.slice(rows, cols)
    }
    fn slice_mut<'a>(
        &'a mut self,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> Box<dyn MutArrayView2<f64> + 'a> {
        self.0.slice_mut(rows, cols)
    }
    fn fill(nrows: usize, ncols: usize, value: f64) -> Self {
        Polled(DenseMatrix::fill(nrows, ncols, value))
    }
    fn from_iterator<I: Iterator<Item = f64>>(
        iter: I,
        nrows: usize,
        ncols: usize,
        axis: u8,
    ) -> Self {
        Polled(DenseMatrix::from_iterator(iter, nrows, ncols, axis))
    }
    fn transpose(&self) -> Self {
        Polled(self.0.transpose())
    }
}

/// smartcore's Euclidean distance with an interrupt point per evaluation: a nearest-neighbour
/// search on a million rows (the test split's scoring, a predict_batch) ran for minutes.
/// Serialized as Euclidian itself, so stored models keep their bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PolledEuclidian(Euclidian<f64>);

impl Distance<Vec<f64>> for PolledEuclidian {
    #[inline]
    fn distance(&self, a: &Vec<f64>, b: &Vec<f64>) -> f64 {
        crate::interrupt::poll();
        self.0.distance(a, b)
    }
}

#[derive(Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
enum Fitted {
    /// One single-tree forest per tree (see the module comment).
    ForestClassifier(Vec<RandomForestClassifier<f64, u32, X, Vec<u32>>>),
    ForestRegressor(Vec<RandomForestRegressor<f64, f64, X, Vec<f64>>>),
    TreeClassifier(DecisionTreeClassifier<f64, u32, X, Vec<u32>>),
    TreeRegressor(DecisionTreeRegressor<f64, f64, X, Vec<f64>>),
    KnnClassifier(KNNClassifier<f64, u32, X, Vec<u32>, PolledEuclidian>),
    KnnRegressor(KNNRegressor<f64, f64, X, Vec<f64>, PolledEuclidian>),
}

fn library(e: impl std::fmt::Display) -> BindingError {
    BindingError::library("smartcore", e)
}

fn matrix(x: &[f32], cols: usize) -> Result<X> {
    let rows = x.len() / cols.max(1);
    DenseMatrix::new(rows, cols, x.iter().map(|v| f64::from(*v)).collect(), false)
        .map(Polled)
        .map_err(library)
}

fn u16_param(params: &Hyperparams, name: &str) -> Result<Option<u16>> {
    Ok(params.int_in(name, 1, u16::MAX as i64)?.map(|v| v as u16))
}

fn usize_param(params: &Hyperparams, name: &str, lo: i64) -> Result<Option<usize>> {
    Ok(params
        .int_in(name, lo, i32::MAX as i64)?
        .map(|v| v as usize))
}

fn criterion(params: &Hyperparams) -> Result<SplitCriterion> {
    use SplitCriterion::*;
    params.choice(
        "criterion",
        &[
            ("gini", Gini),
            ("entropy", Entropy),
            ("classification_error", ClassificationError),
        ],
    )
}

fn knn_weight(params: &Hyperparams) -> Result<KNNWeightFunction> {
    params.choice(
        "weight",
        &[
            ("uniform", KNNWeightFunction::Uniform),
            ("distance", KNNWeightFunction::Distance),
        ],
    )
}

fn knn_algorithm(params: &Hyperparams) -> Result<KNNAlgorithmName> {
    params.choice(
        "algorithm",
        &[
            ("cover_tree", KNNAlgorithmName::CoverTree),
            ("linear_search", KNNAlgorithmName::LinearSearch),
        ],
    )
}

/// A forest of `n_trees` one-tree forests with consecutive seeds, the progress hook
/// consulted (and query cancel honoured) between trees.
fn grow<T>(
    n_trees: usize,
    seed: u64,
    progress: Progress,
    mut fit_one: impl FnMut(u64) -> Result<T>,
) -> Result<Vec<T>> {
    let mut trees = Vec::new(); // n_trees is user input: no up-front allocation
    for t in 0..n_trees {
        progress.step(t, n_trees)?;
        trees.push(fit_one(seed.wrapping_add(t as u64))?);
    }
    Ok(trees)
}

/// The depth and leaf-size fields every smartcore tree and forest parameter struct shares.
macro_rules! tree_params {
    ($p:ident, $params:ident) => {
        $p.max_depth = u16_param($params, "max_depth")?;
        $p.min_samples_leaf =
            usize_param($params, "min_samples_leaf", 1)?.unwrap_or($p.min_samples_leaf);
        $p.min_samples_split =
            usize_param($params, "min_samples_split", 2)?.unwrap_or($p.min_samples_split);
    };
}

/// The three algorithms, one registry entry each.
pub struct Smartcore {
    name: &'static str,
    params: &'static [ParamSpec],
}

pub static RANDOM_FOREST: Smartcore = Smartcore {
    name: "random_forest",
    params: &[
        p("n_trees", Int),
        p("max_depth", Int),
        p("min_samples_leaf", Int),
        p("min_samples_split", Int),
        p("m", Int),
        p("seed", Int),
        p("criterion", Text),
    ],
};

pub static DECISION_TREE: Smartcore = Smartcore {
    name: "decision_tree",
    params: &[
        p("max_depth", Int),
        p("min_samples_leaf", Int),
        p("min_samples_split", Int),
        p("seed", Int),
        p("criterion", Text),
    ],
};

pub static KNN: Smartcore = Smartcore {
    name: "knn",
    params: &[p("k", Int), p("weight", Text), p("algorithm", Text)],
};

impl Smartcore {
    fn fit_fitted(
        &self,
        data: &TrainData,
        params: &Hyperparams,
        progress: Progress,
    ) -> Result<Fitted> {
        let (rows, cols) = data.x.dim();
        let x = matrix(
            data.x
                .as_slice()
                .ok_or_else(|| library("training matrix is not contiguous"))?,
            cols,
        )?;
        debug_assert_eq!(rows, data.y.len());
        let classification = data.task == Task::Classification;
        let y_class: Vec<u32> = data.y.iter().map(|v| *v as u32).collect();
        let y_value: Vec<f64> = data.y.iter().map(|v| f64::from(*v)).collect();
        let seed = params.int_in("seed", 0, i64::MAX)?.map(|v| v as u64);
        Ok(match (self.name, classification) {
            ("random_forest", true) => {
                let mut p = RandomForestClassifierParameters::default();
                let n_trees = u16_param(params, "n_trees")?.unwrap_or(p.n_trees) as usize;
                tree_params!(p, params);
                p.m = usize_param(params, "m", 1)?;
                p.criterion = criterion(params)?;
                p.n_trees = 1;
                let base = seed.unwrap_or(p.seed);
                Fitted::ForestClassifier(grow(n_trees, base, progress, |seed| {
                    let p = RandomForestClassifierParameters { seed, ..p.clone() };
                    RandomForestClassifier::fit(&x, &y_class, p).map_err(library)
                })?)
            }
            ("random_forest", false) => {
                if params.get("criterion").is_some() {
                    return Err(BindingError::InvalidHyperparam {
                        name: "criterion".into(),
                        expected:
                            "absent for regression (variance reduction is the only criterion)",
                        got: params
                            .get("criterion")
                            .map(|v| v.to_string())
                            .unwrap_or_default(),
                    });
                }
                let mut p = RandomForestRegressorParameters::default();
                let n_trees = usize_param(params, "n_trees", 1)?.unwrap_or(p.n_trees);
                tree_params!(p, params);
                p.m = usize_param(params, "m", 1)?;
                p.n_trees = 1;
                let base = seed.unwrap_or(p.seed);
                Fitted::ForestRegressor(grow(n_trees, base, progress, |seed| {
                    let p = RandomForestRegressorParameters { seed, ..p.clone() };
                    RandomForestRegressor::fit(&x, &y_value, p).map_err(library)
                })?)
            }
            ("decision_tree", true) => {
                let mut p = DecisionTreeClassifierParameters::default();
                tree_params!(p, params);
                p.seed = seed.or(p.seed);
                p.criterion = criterion(params)?;
                Fitted::TreeClassifier(
                    DecisionTreeClassifier::fit(&x, &y_class, p).map_err(library)?,
                )
            }
            ("decision_tree", false) => {
                let mut p = DecisionTreeRegressorParameters::default();
                tree_params!(p, params);
                p.seed = seed.or(p.seed);
                Fitted::TreeRegressor(DecisionTreeRegressor::fit(&x, &y_value, p).map_err(library)?)
            }
            (_, true) => {
                let k = usize_param(params, "k", 1)?.unwrap_or(3);
                let p = KNNClassifierParameters::default()
                    .with_k(k)
                    .with_weight(knn_weight(params)?)
                    .with_algorithm(knn_algorithm(params)?)
                    .with_distance(PolledEuclidian(Euclidian::new()));
                Fitted::KnnClassifier(KNNClassifier::fit(&x, &y_class, p).map_err(library)?)
            }
            (_, false) => {
                let k = usize_param(params, "k", 1)?.unwrap_or(3);
                let p = KNNRegressorParameters::default()
                    .with_k(k)
                    .with_weight(knn_weight(params)?)
                    .with_algorithm(knn_algorithm(params)?)
                    .with_distance(PolledEuclidian(Euclidian::new()));
                Fitted::KnnRegressor(KNNRegressor::fit(&x, &y_value, p).map_err(library)?)
            }
        })
    }
}

impl Backend for Smartcore {
    fn name(&self) -> &'static str {
        self.name
    }

    fn params(&self) -> &'static [ParamSpec] {
        self.params
    }

    fn fit(
        &self,
        data: &TrainData,
        params: &Hyperparams,
        progress: Progress,
    ) -> Result<Box<dyn Model>> {
        reject_missing(self.name, &data.x)?;
        progress.step(0, 1)?;
        let fitted = self.fit_fitted(data, params, &mut *progress)?;
        progress.step(1, 1)?;
        let shape = ModelShape {
            task: data.task,
            num_features: data.x.ncols(),
            num_classes: data.num_classes,
            num_targets: 1,
        };
        Ok(Box::new(SmartcoreModel { fitted, shape }))
    }

    fn load(&self, bytes: &[u8], shape: ModelShape) -> Result<Box<dyn Model>> {
        let json: serde_json::Value = super::from_json("smartcore", bytes)?;
        check_trees(&json, shape.num_features).map_err(|message| BindingError::Corrupt {
            backend: "smartcore",
            message,
        })?;
        let fitted: Fitted = super::from_json("smartcore", bytes)?;
        Ok(Box::new(SmartcoreModel { fitted, shape }))
    }
}

/// smartcore walks a tree from node 0 through the stored child ids, with no bound on the
/// steps: a child id pointing back at an ancestor (bytes in `pgml.files` changed) made
/// predict loop forever, out of reach of query cancel (src/tests/fuzz.rs). smartcore appends a
/// node's children after it, so every tree it writes has children with larger ids than
/// their parent: required here of every node list in the model, with split features in
/// range. (Out-of-range ids would only panic, which bindings::Guarded turns into an error.)
fn check_trees(v: &serde_json::Value, features: usize) -> std::result::Result<(), String> {
    use serde_json::Value;
    match v {
        Value::Array(items) if items.iter().any(|n| n.get("true_child").is_some()) => {
            for (i, node) in items.iter().enumerate() {
                let child = |k: &str| node.get(k).map(Value::as_u64);
                match (child("true_child"), child("false_child")) {
                    (Some(None), Some(None)) => {}
                    (Some(Some(a)), Some(Some(b)))
                        if [a, b]
                            .iter()
                            .all(|c| *c as usize > i && (*c as usize) < items.len())
                            && node["split_feature"]
                                .as_u64()
                                .is_some_and(|f| (f as usize) < features) => {}
                    _ => return Err(format!("tree node {i} has a child or feature out of order")),
                }
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(|x| check_trees(x, features)),
        Value::Object(m) => m.values().try_for_each(|x| check_trees(x, features)),
        _ => Ok(()),
    }
}

struct SmartcoreModel {
    fitted: Fitted,
    shape: ModelShape,
}

impl SmartcoreModel {
    fn x(&self, x: &[f32]) -> Result<X> {
        matrix(x, self.shape.num_features)
    }

    /// Class probabilities, one column per class: the library's, or a forest's vote shares.
    fn proba(&self, x: &X) -> Result<Option<Vec<f32>>> {
        let k = self.shape.num_classes;
        let rows = x.shape().0;
        let probs: Vec<f32> = match &self.fitted {
            Fitted::TreeClassifier(m) => {
                let p = m.predict_proba(x).map_err(library)?;
                if p.shape() != (rows, k) {
                    return Ok(None);
                }
                (0..rows)
                    .flat_map(|r| (0..k).map(move |c| (r, c)))
                    .map(|rc| *p.get(rc) as f32)
                    .collect()
            }
            Fitted::KnnClassifier(m) => {
                let p = m.predict_proba(x).map_err(library)?;
                if p.iter().any(|row| row.len() != k) {
                    return Ok(None);
                }
                p.iter().flatten().map(|v| *v as f32).collect()
            }
            Fitted::ForestClassifier(trees) => {
                let mut votes = vec![0f32; rows * k];
                for tree in trees {
                    for (r, c) in tree.predict(x).map_err(library)?.iter().enumerate() {
                        if let Some(v) = votes.get_mut(r * k + *c as usize) {
                            *v += 1.0;
                        }
                    }
                }
                let n = trees.len().max(1) as f32;
                votes.iter_mut().for_each(|v| *v /= n);
                votes
            }
            _ => return Ok(None),
        };
        Ok(Some(probs))
    }
}

impl Model for SmartcoreModel {
    fn predict(&self, x: &[f32], _how: Evaluation, out: &mut Vec<f32>) -> Result<()> {
        let x = self.x(x)?;
        match &self.fitted {
            Fitted::ForestClassifier(_) => {
                // The majority vote (ties: the lowest class), from the vote shares.
                let k = self.shape.num_classes.max(1);
                let votes = self.proba(&x)?.unwrap_or_default();
                out.extend(votes.chunks_exact(k).map(|row| super::argmax(row) as f32))
            }
            Fitted::TreeClassifier(m) => {
                out.extend(m.predict(&x).map_err(library)?.iter().map(|v| *v as f32))
            }
            Fitted::KnnClassifier(m) => {
                out.extend(m.predict(&x).map_err(library)?.iter().map(|v| *v as f32))
            }
            Fitted::ForestRegressor(trees) => {
                let mut sum = vec![0f64; x.shape().0];
                for tree in trees {
                    for (s, v) in sum.iter_mut().zip(tree.predict(&x).map_err(library)?) {
                        *s += v;
                    }
                }
                let n = trees.len().max(1) as f64;
                out.extend(sum.iter().map(|s| (s / n) as f32))
            }
            Fitted::TreeRegressor(m) => {
                out.extend(m.predict(&x).map_err(library)?.iter().map(|v| *v as f32))
            }
            Fitted::KnnRegressor(m) => {
                out.extend(m.predict(&x).map_err(library)?.iter().map(|v| *v as f32))
            }
        }
        Ok(())
    }

    /// Library probabilities (decision_tree, knn), the forest's vote shares (random_forest).
    fn predict_proba(&self, x: &[f32], how: Evaluation, out: &mut Vec<f32>) -> Result<()> {
        let k = self.shape.num_classes;
        if let Some(p) = self.proba(&self.x(x)?)? {
            out.extend(p);
            return Ok(());
        }
        let mut classes = Vec::new();
        self.predict(x, how, &mut classes)?;
        for c in classes {
            out.extend((0..k).map(|i| if i == c as usize { 1.0 } else { 0.0 }));
        }
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        super::to_json("smartcore", &self.fitted)
    }

    fn shape(&self) -> ModelShape {
        self.shape
    }
}

#[cfg(test)]
mod tests {
    use super::super::argmax;
    use super::*;
    use ndarray::{Array1, Array2};
    use serde_json::json;

    fn check(backend: &Smartcore, task: Task, params: serde_json::Value) {
        let x = Array2::from_shape_fn(
            (90, 2),
            |(i, j)| if j == 0 { i as f32 } else { (i % 3) as f32 },
        );
        let (y, k) = match task {
            Task::Classification | Task::Clustering | Task::Decomposition => {
                (Array1::from_shape_fn(90, |i| (i / 30) as f32), 3)
            }
            Task::Regression => (Array1::from_shape_fn(90, |i| i as f32 * 2.0), 0),
        };
        let data = TrainData {
            x: x.view(),
            y: y.view(),
            task,
            num_classes: k,
            num_targets: 1,
            threads: None,
        };
        let hp = Hyperparams::new(params.as_object().unwrap().clone());
        backend.validate(&hp).unwrap();
        let m = backend.fit(&data, &hp, &mut |_, _| Ok(())).unwrap();
        let mut out = vec![];
        m.predict(
            &[5.0, 2.0, 45.0, 0.0, 85.0, 1.0],
            Evaluation::default(),
            &mut out,
        )
        .unwrap();
        match task {
            Task::Classification | Task::Clustering | Task::Decomposition => {
                assert_eq!(out, vec![0.0, 1.0, 2.0], "{}", backend.name);
                let mut p = vec![];
                m.predict_proba(&[45.0, 0.0], Evaluation::default(), &mut p)
                    .unwrap();
                assert_eq!(p.len(), 3);
                assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                assert_eq!(argmax(&p), 1);
            }
            Task::Regression => assert!((out[1] - 90.0).abs() < 12.0, "{} {out:?}", backend.name),
        }
        let again = backend.load(&m.to_bytes().unwrap(), m.shape()).unwrap();
        let mut out2 = vec![];
        again
            .predict(
                &[5.0, 2.0, 45.0, 0.0, 85.0, 1.0],
                Evaluation::default(),
                &mut out2,
            )
            .unwrap();
        assert_eq!(out, out2, "{} round trip", backend.name);
    }

    #[test]
    fn every_algorithm_on_both_tasks() {
        for task in [Task::Regression, Task::Classification] {
            check(
                &RANDOM_FOREST,
                task,
                json!({"n_trees": 10, "seed": 1, "m": 2}),
            );
            check(&DECISION_TREE, task, json!({"max_depth": 5}));
            check(&KNN, task, json!({"k": 3, "weight": "distance"}));
        }
    }

    #[test]
    fn forest_probabilities_are_vote_shares() {
        let x = Array2::from_shape_fn((90, 1), |(i, _)| i as f32 + (i % 7) as f32 * 6.0);
        let y = Array1::from_shape_fn(90, |i| (i / 30) as f32);
        let data = TrainData {
            x: x.view(),
            y: y.view(),
            task: Task::Classification,
            num_classes: 3,
            num_targets: 1,
            threads: None,
        };
        let hp = Hyperparams::new(
            json!({"n_trees": 20, "seed": 3})
                .as_object()
                .unwrap()
                .clone(),
        );
        let mut trees = 0;
        let m = RANDOM_FOREST
            .fit(&data, &hp, &mut |_, total| {
                trees = trees.max(total);
                Ok(())
            })
            .unwrap();
        assert_eq!(trees, 20, "progress counts trees");
        let (mut p, mut c) = (vec![], vec![]);
        m.predict_proba(x.as_slice().unwrap(), Evaluation::default(), &mut p)
            .unwrap();
        m.predict(x.as_slice().unwrap(), Evaluation::default(), &mut c)
            .unwrap();
        for (row, class) in p.chunks_exact(3).zip(&c) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            assert!(row
                .iter()
                .all(|v| (v * 20.0 - (v * 20.0).round()).abs() < 1e-4));
            assert_eq!(argmax(row) as f32, *class);
        }
    }

    #[test]
    fn bad_params() {
        let hp = Hyperparams::new(json!({"criterion": "purity"}).as_object().unwrap().clone());
        assert!(criterion(&hp).is_err());
        let hp = Hyperparams::new(json!({"weight": "heavy"}).as_object().unwrap().clone());
        assert!(knn_weight(&hp).is_err());
        let shape = ModelShape {
            task: Task::Regression,
            num_features: 2,
            num_classes: 0,
            num_targets: 1,
        };
        assert!(matches!(
            KNN.load(b"{}", shape).err(),
            Some(BindingError::Corrupt { .. })
        ));
    }
}
