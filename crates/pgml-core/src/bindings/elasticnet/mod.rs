//! Penalized linear regression: `lasso` (L1) and `elastic_net` (L1 and L2 mixed by
//! `l1_ratio`) by linfa-elasticnet's coordinate descent, and `ridge` (L2) solved exactly from the
//! penalized normal equations (the linear backend's least squares; linfa-elasticnet's
//! solver stops at once when l1_ratio is 0). All on the raw features, like scikit-learn's
//! Lasso, ElasticNet and Ridge, whose `alpha` is `penalty` here.
//!
//! `ridge` also classifies, as L2-penalized logistic regression (the linear backend with
//! `alpha = penalty`); linfa has no L1-penalized logistic regression, so `lasso` and
//! `elastic_net` are regression only. Fitted models are stored as the linear backend's
//! coefficients and served by it.

use super::params::{p, ParamKind::*};
use super::{
    linear, reject_missing, Backend, BindingError, Hyperparams, Model, ModelShape, ParamSpec,
    Progress, Result, Task, TrainData,
};
use linfa::prelude::*;
use linfa_elasticnet::ElasticNet as LinfaElasticNet;
use ndarray::{Array1, Array2, Axis};
use serde_json::{json, Map};

pub struct ElasticNet {
    name: &'static str,
    /// Share of the penalty that is L1; None: a hyperparameter (default 0.5).
    l1_ratio: Option<f64>,
    params: &'static [ParamSpec],
}

const COMMON: [ParamSpec; 4] = [
    p("penalty", Float),
    p("with_intercept", Bool),
    p("max_iterations", Int),
    p("tolerance", Float),
];

pub static RIDGE: ElasticNet = ElasticNet {
    name: "ridge",
    l1_ratio: Some(0.0),
    params: &COMMON,
};
pub static LASSO: ElasticNet = ElasticNet {
    name: "lasso",
    l1_ratio: Some(1.0),
    params: &COMMON,
};
pub static ELASTIC_NET: ElasticNet = ElasticNet {
    name: "elastic_net",
    l1_ratio: None,
    params: &[
        p("penalty", Float),
        p("l1_ratio", Float),
        p("with_intercept", Bool),
        p("max_iterations", Int),
        p("tolerance", Float),
    ],
};

fn library(e: impl std::fmt::Display) -> BindingError {
    BindingError::library("elasticnet", e)
}

impl Backend for ElasticNet {
    fn name(&self) -> &'static str {
        self.name
    }

    fn supports(&self, task: Task) -> bool {
        task == Task::Regression || self.name == "ridge"
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
        self.check_task(data.task)?;
        let penalty = params.float("penalty").unwrap_or(1.0);
        if !(penalty.is_finite() && penalty >= 0.0) {
            return Err(BindingError::InvalidHyperparam {
                name: "penalty".into(),
                expected: "a finite number >= 0",
                got: penalty.to_string(),
            });
        }
        let with_intercept = params.bool("with_intercept").unwrap_or(true);
        let max_iterations = params.int_in("max_iterations", 1, u32::MAX as i64)?;
        let tolerance = params.float("tolerance");
        if data.task == Task::Classification {
            // L2-penalized logistic regression: the linear backend, with its own names.
            let mut m = Map::new();
            m.insert("alpha".into(), json!(penalty));
            m.insert("with_intercept".into(), json!(with_intercept));
            if let Some(n) = max_iterations {
                m.insert("max_iterations".into(), json!(n));
            }
            if let Some(t) = tolerance {
                m.insert("gradient_tolerance".into(), json!(t));
            }
            return linear::Linear.fit(data, &Hyperparams::new(m), progress);
        }
        reject_missing(self.name, &data.x)?;
        let l1_ratio = match self.l1_ratio {
            Some(r) => r,
            None => params.float("l1_ratio").unwrap_or(0.5),
        };
        if !(0.0..=1.0).contains(&l1_ratio) {
            return Err(BindingError::InvalidHyperparam {
                name: "l1_ratio".into(),
                expected: "a number in [0, 1]",
                got: l1_ratio.to_string(),
            });
        }
        progress.step(0, 1)?;
        let shape = ModelShape {
            task: Task::Regression,
            num_features: data.x.ncols(),
            num_classes: 0,
            num_targets: 1,
        };
        if self.name == "ridge" {
            let y = data.y.view().insert_axis(Axis(1));
            let (w, b) = linear::least_squares(&data.x, &y, with_intercept, penalty)?;
            progress.step(1, 1)?;
            return Ok(linear::regression_model(w, b[0], shape));
        }
        // Centered here, not by linfa: its intercept path centers y but not X.
        let (x, y, x_mean, y_mean) = centered(data, with_intercept);
        let mut builder = LinfaElasticNet::<f64>::params()
            .penalty(penalty)
            .l1_ratio(l1_ratio)
            .with_intercept(false);
        if let Some(n) = max_iterations {
            builder = builder.max_iterations(n as u32);
        }
        if let Some(t) = tolerance {
            builder = builder.tolerance(t);
        }
        let fitted = builder.fit(&Dataset::new(x, y)).map_err(library)?;
        progress.step(1, 1)?;
        let w = fitted.hyperplane().to_vec();
        let intercept = y_mean - w.iter().zip(&x_mean).map(|(w, m)| w * m).sum::<f64>();
        Ok(linear::regression_model(w, intercept, shape))
    }

    fn load(&self, bytes: &[u8], shape: ModelShape) -> Result<Box<dyn Model>> {
        linear::Linear.load(bytes, shape)
    }
}

/// f64 copies of the features and label, minus their means when there is an intercept
/// (returned, to recover it: b = mean(y) - w·mean(x)).
fn centered(data: &TrainData, with_intercept: bool) -> (Array2<f64>, Array1<f64>, Vec<f64>, f64) {
    let mut x = data.x.mapv(f64::from);
    let mut y = data.y.mapv(f64::from);
    if !with_intercept {
        let d = x.ncols();
        return (x, y, vec![0.0; d], 0.0);
    }
    let x_mean: Vec<f64> = x
        .axis_iter(Axis(1))
        .map(|c| c.mean().unwrap_or(0.0))
        .collect();
    for (mut col, m) in x.axis_iter_mut(Axis(1)).zip(&x_mean) {
        col -= *m;
    }
    let y_mean = y.mean().unwrap_or(0.0);
    y -= y_mean;
    (x, y, x_mean, y_mean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::Evaluation;
    use serde_json::Value;

    fn fit(b: &ElasticNet, task: Task, k: usize, params: Value) -> Result<Box<dyn Model>> {
        let x = Array2::from_shape_fn((60, 2), |(i, j)| {
            if j == 0 {
                i as f32
            } else {
                ((i * 7) % 5) as f32
            }
        });
        let y = match task {
            Task::Regression => Array1::from_shape_fn(60, |i| 2.0 * i as f32 + 3.0),
            Task::Classification | Task::Clustering | Task::Decomposition => {
                Array1::from_shape_fn(60, |i| (i >= 30) as u8 as f32)
            }
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
        b.validate(&hp)?;
        b.fit(&data, &hp, &mut |_, _| Ok(()))
    }

    #[test]
    fn penalties_shrink_and_round_trip() {
        for b in [&RIDGE, &LASSO, &ELASTIC_NET] {
            let m = fit(b, Task::Regression, 0, json!({"penalty": 0.01})).unwrap();
            let mut out = vec![];
            m.predict(&[10.0, 1.0], Evaluation::default(), &mut out)
                .unwrap();
            assert!((out[0] - 23.0).abs() < 0.5, "{} {out:?}", b.name);
            let again = b.load(&m.to_bytes().unwrap(), m.shape()).unwrap();
            let mut out2 = vec![];
            again
                .predict(&[10.0, 1.0], Evaluation::default(), &mut out2)
                .unwrap();
            assert_eq!(out, out2);
        }
        // a large L1 penalty zeroes the slope; the intercept is the mean
        let m = fit(&LASSO, Task::Regression, 0, json!({"penalty": 1e6})).unwrap();
        let mut out = vec![];
        m.predict(&[0.0, 0.0, 59.0, 4.0], Evaluation::default(), &mut out)
            .unwrap();
        assert!(
            (out[0] - out[1]).abs() < 1e-6 && (out[0] - 62.0).abs() < 1e-3,
            "{out:?}"
        );
    }

    #[test]
    fn ridge_classifies_and_others_refuse() {
        let m = fit(&RIDGE, Task::Classification, 2, json!({"penalty": 0.1})).unwrap();
        let mut c = vec![];
        m.predict(&[5.0, 0.0, 55.0, 0.0], Evaluation::default(), &mut c)
            .unwrap();
        assert_eq!(c, vec![0.0, 1.0]);
        assert!(!LASSO.supports(Task::Classification));
        assert!(matches!(
            fit(&LASSO, Task::Classification, 2, json!({})).err(),
            Some(BindingError::UnsupportedTask { .. })
        ));
        assert!(fit(&ELASTIC_NET, Task::Regression, 0, json!({"l1_ratio": 2.0})).is_err());
        assert!(
            fit(&RIDGE, Task::Regression, 0, json!({"l1_ratio": 0.5})).is_err(),
            "ridge has no l1_ratio"
        );
    }
}
