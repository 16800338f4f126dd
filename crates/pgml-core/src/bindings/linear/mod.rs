//! Linear models from linfa: ordinary least squares for regression, logistic regression
//! (binary and multinomial) for classification.
//!
//! linfa's solvers run in f64 on standardized features (logistic regression's L-BFGS
//! converges poorly on raw scales); the fitted coefficients are folded back to the original
//! scale, so a stored model is just weights and intercepts and predicts with a dot product.

use super::params::{p, ParamKind::*};
use super::{
    argmax, reject_missing, Backend, BindingError, Evaluation, Hyperparams, Model, ModelShape,
    ParamSpec, Progress, Result, Task, TrainData,
};
use linfa_linalg::eigh::EighInto;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

mod logistic;

pub struct Linear;

static PARAMS: &[ParamSpec] = &[
    // Names of linfa's builder methods.
    p("with_intercept", Bool),
    p("alpha", Float),
    p("max_iterations", Int),
    p("gradient_tolerance", Float),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Link {
    Identity,
    Logistic,
    Softmax,
}

/// The stored form: `outputs` rows of `num_features` weights, one intercept per row.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Coefficients {
    link: Link,
    num_features: usize,
    weights: Vec<f64>,
    intercepts: Vec<f64>,
}

fn library(e: impl std::fmt::Display) -> BindingError {
    BindingError::library("linear", e)
}

/// Standardized f64 copy of `x`, with the per-column mean and scale used.
fn standardize(x: &ArrayView2<f32>) -> (Array2<f64>, Vec<f64>, Vec<f64>) {
    let mut z = x.mapv(f64::from);
    let mut means = Vec::with_capacity(z.ncols());
    let mut scales = Vec::with_capacity(z.ncols());
    for mut col in z.axis_iter_mut(Axis(1)) {
        let mean = col.mean().unwrap_or(0.0);
        let std = col.std(0.0);
        let scale = if std > 1e-12 && std.is_finite() {
            std
        } else {
            1.0
        };
        col.mapv_inplace(|v| (v - mean) / scale);
        means.push(mean);
        scales.push(scale);
    }
    (z, means, scales)
}

/// Coefficients fitted on standardized features, re-expressed on the raw features.
fn unstandardize(w: &[f64], b: f64, means: &[f64], scales: &[f64]) -> (Vec<f64>, f64) {
    let raw: Vec<f64> = w.iter().zip(scales).map(|(w, s)| w / s).collect();
    let shift: f64 = raw.iter().zip(means).map(|(w, m)| w * m).sum();
    (raw, b - shift)
}

/// Rows per block of the least-squares accumulation: about 2 MiB of f64 per block, so the
/// working copy stays small next to the training buffer whatever its shape.
const BLOCK_VALUES: usize = 1 << 18;

/// Least squares (ridge when `penalty` > 0: minimizes ||y - Xw - b||² + penalty·||w||², the
/// intercept unpenalized, as scikit-learn's Ridge) for every column of `y` at once, from the
/// normal equations
/// accumulated block by block straight from the f32 buffer: memory is d x d, not another
/// copy of the data (linfa's QR needed an f64 copy plus one with an intercept column, 6.7
/// buffers at 10M x 10). Features are centred (when fitting an intercept) and the Gram
/// matrix scaled to unit diagonal before solving, which keeps it well conditioned for real
/// data; the solve is a symmetric eigendecomposition that drops directions with
/// (numerically) zero variance, so constant or collinear columns give the minimum-norm
/// solution, as a QR / SVD least squares does, instead of failing.
/// Returns `k * d` weights (target-major) and `k` intercepts.
pub(crate) fn least_squares(
    x: &ArrayView2<f32>,
    y: &ArrayView2<f32>,
    intercept: bool,
    penalty: f64,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (n, d) = x.dim();
    let k = y.ncols();
    let mean = |a: &ArrayView2<f32>| -> Array1<f64> {
        let mut m = Array1::<f64>::zeros(a.ncols());
        if intercept && n > 0 {
            for row in a.rows() {
                m.zip_mut_with(&row, |m, v| *m += f64::from(*v));
            }
            m /= n as f64;
        }
        m
    };
    let (x_mean, y_mean) = (mean(x), mean(y));
    let mut gram = Array2::<f64>::zeros((d, d));
    let mut cross = Array2::<f64>::zeros((d, k));
    let rows = (BLOCK_VALUES / (d + k).max(1)).max(1);
    for start in (0..n).step_by(rows) {
        crate::interrupt::poll();
        let end = (start + rows).min(n);
        let centred = |a: ArrayView2<f32>, m: &Array1<f64>| {
            let mut b = a.mapv(f64::from);
            b -= m;
            b
        };
        let xb = centred(x.slice(ndarray::s![start..end, ..]), &x_mean);
        let yb = centred(y.slice(ndarray::s![start..end, ..]), &y_mean);
        gram += &xb.t().dot(&xb);
        cross += &xb.t().dot(&yb);
    }
    // Unit diagonal: a zero-variance column keeps scale 1 and an all-zero row, which the
    // eigenvalue cut below removes.
    let scale: Array1<f64> = gram.diag().mapv(|v| {
        if v > 0.0 && v.is_finite() {
            v.sqrt()
        } else {
            1.0
        }
    });
    for ((i, j), g) in gram.indexed_iter_mut() {
        *g /= scale[i] * scale[j];
        if i == j {
            // penalty·||w||² with w = v / scale
            *g += penalty / (scale[i] * scale[i]);
        }
    }
    for ((i, _), c) in cross.indexed_iter_mut() {
        *c /= scale[i];
    }
    let (values, vectors) = gram.eigh_into().map_err(library)?;
    let top = values.iter().cloned().fold(0.0, f64::max);
    // Relative cut well above the round-off of a Gram matrix summed in f64 over millions
    // of rows, well below any variance a real feature has on unit scale.
    let cut = top * 1e-10;
    let mut weights = Vec::with_capacity(k * d);
    let mut intercepts = Vec::with_capacity(k);
    for t in 0..k {
        let mut v = Array1::<f64>::zeros(d);
        for (lambda, u) in values.iter().zip(vectors.columns()) {
            if *lambda > cut {
                let coef = u.dot(&cross.column(t)) / lambda;
                v.scaled_add(coef, &u);
            }
        }
        let w = &v / &scale;
        intercepts.push(y_mean[t] - w.dot(&x_mean));
        weights.extend(w);
    }
    Ok((weights, intercepts))
}

impl Backend for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }

    fn supports_joint(&self) -> bool {
        true
    }

    fn fit(
        &self,
        data: &TrainData,
        params: &Hyperparams,
        progress: Progress,
    ) -> Result<Box<dyn Model>> {
        reject_missing("linear", &data.x)?;
        progress.step(0, 1)?;
        let d = data.x.ncols();
        let intercept = params.bool("with_intercept").unwrap_or(true);
        let coefficients = match data.task {
            Task::Clustering | Task::Decomposition => {
                return Err(BindingError::UnsupportedTask {
                    algorithm: "linear",
                    task: data.task.as_str(),
                })
            }
            Task::Regression => {
                for name in ["alpha", "max_iterations", "gradient_tolerance"] {
                    if params.get(name).is_some() {
                        return Err(BindingError::InvalidHyperparam {
                            name: name.into(),
                            expected: "absent for linear regression (only with_intercept applies)",
                            got: params.get(name).map(|v| v.to_string()).unwrap_or_default(),
                        });
                    }
                }
                let (weights, intercepts) =
                    least_squares(&data.x, &data.y_matrix(), intercept, 0.0)?;
                Coefficients {
                    link: Link::Identity,
                    num_features: d,
                    weights,
                    intercepts,
                }
            }
            Task::Classification => {
                let (z, means, scales) = standardize(&data.x);
                let settings = logistic::Settings {
                    alpha: params.float("alpha").unwrap_or(1.0),
                    max_iterations: params
                        .int_in("max_iterations", 1, 1_000_000)?
                        .unwrap_or(100) as u64,
                    gradient_tolerance: params.float("gradient_tolerance").unwrap_or(1e-4),
                    with_intercept: intercept,
                };
                let class: Vec<usize> = data.y.iter().map(|v| *v as usize).collect();
                // The classes the training rows hold, in order: linfa-logistic's multinomial
                // fits those (an absent class has no data to keep its intercept finite).
                let mut present = vec![false; data.num_classes.max(2)];
                let last = present.len() - 1;
                for c in &class {
                    present[(*c).min(last)] = true;
                }
                let columns: Vec<usize> = (0..present.len()).filter(|c| present[*c]).collect();
                if columns.len() < 2 {
                    return Err(library(format!(
                        "the training rows hold {} class(es); logistic regression needs two",
                        columns.len()
                    )));
                }
                if data.num_classes == 2 {
                    let fitted = logistic::fit(z.view(), &class, 1, &settings).map_err(library)?;
                    let (w, b) =
                        unstandardize(&fitted.weights, fitted.intercepts[0], &means, &scales);
                    Coefficients {
                        link: Link::Logistic,
                        num_features: d,
                        weights: w,
                        intercepts: vec![b],
                    }
                } else {
                    let k = data.num_classes;
                    let mut column_of = vec![0; present.len()];
                    for (j, c) in columns.iter().enumerate() {
                        column_of[*c] = j;
                    }
                    let label: Vec<usize> = class.iter().map(|c| column_of[*c]).collect();
                    let fitted = logistic::fit(z.view(), &label, columns.len(), &settings)
                        .map_err(library)?;
                    // A class absent from the training split keeps probability ~0.
                    let mut weights = vec![0.0; k * d];
                    let mut intercepts = vec![-1e30; k];
                    for (j, class) in columns.iter().enumerate() {
                        let col = &fitted.weights[j * d..(j + 1) * d];
                        let (w, b) = unstandardize(col, fitted.intercepts[j], &means, &scales);
                        weights[class * d..(class + 1) * d].copy_from_slice(&w);
                        intercepts[*class] = b;
                    }
                    Coefficients {
                        link: Link::Softmax,
                        num_features: d,
                        weights,
                        intercepts,
                    }
                }
            }
        };
        progress.step(1, 1)?;
        Ok(Box::new(LinearModel {
            c: coefficients,
            shape: ModelShape {
                task: data.task,
                num_features: d,
                num_classes: data.num_classes,
                num_targets: data.num_targets,
            },
        }))
    }

    fn load(&self, bytes: &[u8], shape: ModelShape) -> Result<Box<dyn Model>> {
        let corrupt = |message: String| BindingError::Corrupt {
            backend: "linear",
            message,
        };
        let c: Coefficients = super::from_json("linear", bytes)?;
        let outputs = match shape.task {
            Task::Regression => shape.num_targets.max(1),
            Task::Clustering | Task::Decomposition => 1,
            Task::Classification if shape.num_classes == 2 => 1,
            Task::Classification => shape.num_classes,
        };
        if c.num_features != shape.num_features
            || c.weights.len() != outputs * c.num_features
            || c.intercepts.len() != outputs
        {
            return Err(corrupt(format!(
                "coefficients do not match {} features and {} outputs",
                shape.num_features, outputs
            )));
        }
        Ok(Box::new(LinearModel { c, shape }))
    }
}

struct LinearModel {
    c: Coefficients,
    shape: ModelShape,
}

/// A regression model from weights and an intercept fitted elsewhere (the elastic net
/// family), stored and served exactly like a linear regression.
pub fn regression_model(weights: Vec<f64>, intercept: f64, shape: ModelShape) -> Box<dyn Model> {
    let c = Coefficients {
        link: Link::Identity,
        num_features: shape.num_features,
        weights,
        intercepts: vec![intercept],
    };
    Box::new(LinearModel { c, shape })
}

impl LinearModel {
    /// Linear scores for one row, one per output.
    fn scores<'a>(&'a self, row: &'a [f32]) -> impl Iterator<Item = f64> + 'a {
        let d = self.c.num_features;
        self.c.intercepts.iter().enumerate().map(move |(o, b)| {
            let w = &self.c.weights[o * d..(o + 1) * d];
            b + w
                .iter()
                .zip(row)
                .map(|(w, x)| w * f64::from(*x))
                .sum::<f64>()
        })
    }

    /// A row's prediction where the model gives one value (a single-target regression, or
    /// a binary classifier's class); None for several (a joint regression, softmax).
    #[inline(always)]
    fn single(&self, row: &[f32]) -> Option<f32> {
        let first = || self.scores(row).next().unwrap_or(0.0);
        match self.c.link {
            Link::Identity if self.c.intercepts.len() == 1 => Some(first() as f32),
            Link::Logistic => Some(f32::from(u8::from(sigmoid(first()) >= 0.5))),
            Link::Identity | Link::Softmax => None,
        }
    }

    fn rows<'a>(&self, x: &'a [f32]) -> std::slice::ChunksExact<'a, f32> {
        x.chunks_exact(self.c.num_features.max(1))
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn softmax(scores: &mut [f64]) {
    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
}

impl Model for LinearModel {
    fn predict_one(&self, x: &[f32], _how: Evaluation) -> Option<f32> {
        (x.len() == self.c.num_features)
            .then(|| self.single(x))
            .flatten()
    }

    fn predict(&self, x: &[f32], _how: Evaluation, out: &mut Vec<f32>) -> Result<()> {
        for row in self.rows(x) {
            match self.single(row) {
                Some(v) => out.push(v),
                None if self.c.link == Link::Softmax => {
                    let s: Vec<f32> = self.scores(row).map(|v| v as f32).collect();
                    out.push(argmax(&s) as f32);
                }
                // A joint regression: one value per target.
                None => out.extend(self.scores(row).map(|v| v as f32)),
            }
        }
        Ok(())
    }

    fn predict_proba(&self, x: &[f32], _how: Evaluation, out: &mut Vec<f32>) -> Result<()> {
        for row in self.rows(x) {
            match self.c.link {
                Link::Identity => return Err(library("probabilities of a regression model")),
                Link::Logistic => {
                    let p = sigmoid(self.scores(row).next().unwrap_or(0.0));
                    out.extend([(1.0 - p) as f32, p as f32]);
                }
                Link::Softmax => {
                    let mut s: Vec<f64> = self.scores(row).collect();
                    softmax(&mut s);
                    out.extend(s.iter().map(|v| *v as f32));
                }
            }
        }
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        super::to_json("linear", &self.c)
    }

    fn shape(&self) -> ModelShape {
        self.shape
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::prelude::*;
    use serde_json::json;

    fn hp(v: serde_json::Value) -> Hyperparams {
        Hyperparams::new(v.as_object().unwrap().clone())
    }

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
        let h = hp(params);
        Linear.validate(&h)?;
        Linear.fit(&data, &h, &mut |_, _| Ok(()))
    }

    #[test]
    fn ols_recovers_coefficients_on_raw_scale() {
        let x = Array2::from_shape_fn((50, 2), |(i, j)| {
            if j == 0 {
                i as f32 * 100.0
            } else {
                (i % 7) as f32
            }
        });
        let y = Array1::from_shape_fn(50, |i| 0.5 * x[[i, 0]] - 2.0 * x[[i, 1]] + 10.0);
        let m = fit(&x, &y, Task::Regression, 0, json!({})).unwrap();
        let mut out = vec![];
        m.predict(&[1000.0, 3.0], Evaluation::default(), &mut out)
            .unwrap();
        assert!((out[0] - (500.0 - 6.0 + 10.0)).abs() < 1e-2, "{out:?}");

        let bytes = m.to_bytes().unwrap();
        let r = Linear.load(&bytes, m.shape()).unwrap();
        let mut again = vec![];
        r.predict(&[1000.0, 3.0], Evaluation::default(), &mut again)
            .unwrap();
        assert_eq!(out, again);
    }

    #[test]
    fn least_squares_survives_constant_and_collinear_columns() {
        // column 1 is constant, column 2 duplicates column 0: QR least squares gives the
        // minimum-norm solution, which splits column 0's weight evenly with its copy
        let x = Array2::from_shape_fn((30, 3), |(i, j)| match j {
            1 => 7.0,
            _ => i as f32,
        });
        let y = Array2::from_shape_fn((30, 1), |(i, _)| 4.0 * i as f32 + 1.0);
        let (w, b) = least_squares(&x.view(), &y.view(), true, 0.0).unwrap();
        for (got, want) in w.iter().zip([2.0, 0.0, 2.0]) {
            assert!((got - want).abs() < 1e-6, "{w:?}");
        }
        assert!((b[0] - 1.0).abs() < 1e-6, "{b:?}");
    }

    #[test]
    fn least_squares_without_intercept_and_with_penalty() {
        let x = Array2::from_shape_fn((20, 1), |(i, _)| i as f32 + 1.0);
        let y = Array2::from_shape_fn((20, 1), |(i, _)| 3.0 * (i as f32 + 1.0) + 5.0);
        // through the origin: w = sum(xy) / sum(x²)
        let (sxy, sxx) = (1..=20).fold((0.0, 0.0), |(a, b), i| {
            let v = f64::from(i);
            (a + v * (3.0 * v + 5.0), b + v * v)
        });
        let (w, b) = least_squares(&x.view(), &y.view(), false, 0.0).unwrap();
        assert!(
            (w[0] - sxy / sxx).abs() < 1e-9 && b[0] == 0.0,
            "{w:?} {b:?}"
        );
        // ridge with intercept, one feature: w = sxy_c / (sxx_c + penalty) on centred data
        let mean = 10.5;
        let sxx_c: f64 = (1..=20).map(|i| (f64::from(i) - mean).powi(2)).sum();
        let (w, b) = least_squares(&x.view(), &y.view(), true, 100.0).unwrap();
        let want = 3.0 * sxx_c / (sxx_c + 100.0);
        assert!((w[0] - want).abs() < 1e-9, "{w:?} vs {want}");
        assert!(
            (b[0] - (3.0 * mean + 5.0 - want * mean)).abs() < 1e-9,
            "{b:?}"
        );
    }

    #[test]
    fn joint_ols_fits_each_target() {
        let x = Array2::from_shape_fn((40, 2), |(i, j)| (i * (j + 2) % 13) as f32);
        let y: Array1<f32> = x
            .rows()
            .into_iter()
            .flat_map(|r| [r[0] + 2.0 * r[1] + 1.0, -3.0 * r[0] + 5.0])
            .collect();
        let data = TrainData {
            x: x.view(),
            y: y.view(),
            task: Task::Regression,
            num_classes: 0,
            num_targets: 2,
            threads: None,
        };
        let m = Linear
            .fit(&data, &Hyperparams::default(), &mut |_, _| Ok(()))
            .unwrap();
        let mut out = vec![];
        m.predict(&[1.0, 2.0, 0.0, 0.0], Evaluation::default(), &mut out)
            .unwrap();
        let want = [6.0, 2.0, 1.0, 5.0];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 1e-3, "{out:?}");
        }
        let r = Linear.load(&m.to_bytes().unwrap(), m.shape()).unwrap();
        let mut again = vec![];
        r.predict(&[1.0, 2.0, 0.0, 0.0], Evaluation::default(), &mut again)
            .unwrap();
        assert_eq!(out, again);
        // the catalog's target count must match the stored coefficients
        let one = ModelShape {
            num_targets: 1,
            ..m.shape()
        };
        assert!(Linear.load(&m.to_bytes().unwrap(), one).is_err());
    }

    /// Our loss under argmin's L-BFGS reaches linfa-logistic's optimum (the same solver on
    /// the same loss, computed there as whole-matrix products): binary and multinomial, with
    /// and without intercept, on 3,000 rows.
    #[test]
    fn logistic_matches_linfa_logistic() {
        use linfa_logistic::{LogisticRegression, MultiLogisticRegression};
        let rows = 3000;
        let x = Array2::from_shape_fn((rows, 4), |(i, j)| {
            (((i * 7919 + j * 104_729) % 1000) as f64 / 500.0) - 1.0
        });
        for (classes, intercept) in [(2usize, true), (3, true), (2, false), (4, false)] {
            let y: Vec<usize> = x
                .rows()
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    let s =
                        r[0] - 2.0 * r[1] + 0.5 * r[2] * r[3] + ((i * 31) % 7) as f64 / 7.0 - 0.5;
                    ((s + 2.0).max(0.0) as usize * classes / 4).min(classes - 1)
                })
                .collect();
            let settings = logistic::Settings {
                alpha: 1.0,
                max_iterations: 1000,
                gradient_tolerance: 1e-8,
                with_intercept: intercept,
            };
            let dataset = Dataset::new(x.clone(), Array1::from(y.clone()));
            let k = if classes == 2 { 1 } else { classes };
            let ours = logistic::fit(x.view(), &y, k, &settings).unwrap();
            let (mut weights, mut intercepts) = (Vec::new(), Vec::new());
            if classes == 2 {
                let f = LogisticRegression::default()
                    .alpha(1.0)
                    .max_iterations(1000)
                    .gradient_tolerance(1e-8)
                    .with_intercept(intercept)
                    .fit(&dataset)
                    .unwrap();
                // linfa's positive class is the larger label: class 1 here.
                assert_eq!(f.labels().pos.class, 1);
                weights.extend(f.params().iter());
                intercepts.push(f.intercept());
            } else {
                let f = MultiLogisticRegression::default()
                    .alpha(1.0)
                    .max_iterations(1000)
                    .gradient_tolerance(1e-8)
                    .with_intercept(intercept)
                    .fit(&dataset)
                    .unwrap();
                assert_eq!(f.classes().len(), classes);
                for c in 0..classes {
                    weights.extend(f.params().column(c).iter());
                }
                intercepts.extend(f.intercept().iter());
            }
            let close = |a: &[f64], b: &[f64]| {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(a, b)| (a - b).abs() < 1e-4 * (1.0 + a.abs()))
            };
            assert!(
                close(&ours.weights, &weights) && close(&ours.intercepts, &intercepts),
                "{classes} classes, intercept {intercept}: ours {:?} {:?}, linfa {weights:?} {intercepts:?}",
                ours.weights,
                ours.intercepts
            );
        }
    }

    #[test]
    fn logistic_binary_and_multinomial() {
        let x = Array2::from_shape_fn((60, 1), |(i, _)| i as f32 * 10.0);
        let y2 = Array1::from_shape_fn(60, |i| (i >= 30) as u8 as f32);
        let m = fit(&x, &y2, Task::Classification, 2, json!({"alpha": 0.01})).unwrap();
        let mut c = vec![];
        m.predict(&[10.0, 590.0], Evaluation::default(), &mut c)
            .unwrap();
        assert_eq!(c, vec![0.0, 1.0]);
        let mut p = vec![];
        m.predict_proba(&[590.0], Evaluation::default(), &mut p)
            .unwrap();
        assert!(p[1] > 0.9);

        let y3 = Array1::from_shape_fn(60, |i| (i / 20) as f32);
        let m = fit(
            &x,
            &y3,
            Task::Classification,
            3,
            json!({"alpha": 0.01, "max_iterations": 500}),
        )
        .unwrap();
        let mut c = vec![];
        m.predict(&[0.0, 300.0, 590.0], Evaluation::default(), &mut c)
            .unwrap();
        assert_eq!(c, vec![0.0, 1.0, 2.0]);
        let mut p = vec![];
        m.predict_proba(&[300.0], Evaluation::default(), &mut p)
            .unwrap();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn missing_values_name_the_column() {
        let x = Array2::from_shape_fn(
            (10, 2),
            |(i, j)| if j == 1 && i < 3 { f32::NAN } else { i as f32 },
        );
        let y = Array1::from_shape_fn(10, |i| i as f32);
        let e = fit(&x, &y, Task::Regression, 0, json!({})).err().unwrap();
        assert_eq!(
            e,
            BindingError::MissingValues {
                algorithm: "linear",
                column: 1,
                count: 3
            }
        );
    }

    #[test]
    fn regression_rejects_logistic_params_and_corrupt_bytes() {
        let x = Array2::from_shape_fn((10, 1), |(i, _)| i as f32);
        let y = x.column(0).to_owned();
        assert!(fit(&x, &y, Task::Regression, 0, json!({"alpha": 1.0})).is_err());
        assert!(fit(&x, &y, Task::Regression, 0, json!({"fit_intercept": true})).is_err());
        let shape = ModelShape {
            task: Task::Regression,
            num_features: 1,
            num_classes: 0,
            num_targets: 1,
        };
        assert!(Linear.load(b"{}", shape).is_err());
        assert!(Linear
            .load(
                br#"{"link":"identity","num_features":2,"weights":[1,2],"intercepts":[0]}"#,
                shape
            )
            .is_err());
    }
}
