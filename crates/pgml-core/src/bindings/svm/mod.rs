//! Support vector machines from linfa-svm: epsilon-SVR for regression; for classification one
//! binary C-SVM per class (one-vs-rest), the class with the largest decision value wins.
//!
//! Hyperparameters: `c` (1.0), `kernel` (`gaussian` default, `linear`, `polynomial`),
//! `gaussian_eps` (the kernel width: k(x, y) = exp(-|x - y|² / eps); default n_features ×
//! var(X), i.e. scikit-learn's gamma = 'scale'), `constant` and `degree` for `polynomial`,
//! `loss_eps` (the SVR tube, 0.1), `eps` (solver tolerance), `shrinking`.
//! Probabilities are a softmax of the one-vs-rest decision values, not calibrated.

use super::params::{p, ParamKind::*};
use super::{
    argmax, reject_missing, Backend, BindingError, Evaluation, Hyperparams, Model, ModelShape,
    ParamSpec, Progress, Result, Task, TrainData,
};
use linfa::prelude::*;
use linfa_svm::{Svm, SvmParams};
use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

pub struct SupportVectorMachine;

static PARAMS: &[ParamSpec] = &[
    p("c", Float),
    p("kernel", Text),
    p("gaussian_eps", Float),
    p("constant", Float),
    p("degree", Float),
    p("loss_eps", Float),
    p("eps", Float),
    p("shrinking", Bool),
];

fn library(e: impl std::fmt::Display) -> BindingError {
    BindingError::library("svm", e)
}

#[derive(Serialize, Deserialize)]
enum Fitted {
    Regression(Svm<f64, f64>),
    OneVsRest(Vec<Svm<f64, bool>>),
}

fn positive(name: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(BindingError::InvalidHyperparam {
            name: name.into(),
            expected: "a number > 0",
            got: v.to_string(),
        })
    }
}

/// Kernel and solver settings shared by both tasks.
fn configure<T>(
    mut s: SvmParams<f64, T>,
    params: &Hyperparams,
    x: &ArrayView2<f64>,
) -> Result<SvmParams<f64, T>> {
    match params
        .get("kernel")
        .and_then(|v| v.as_str())
        .unwrap_or("gaussian")
    {
        "gaussian" => {
            let eps = match params.float("gaussian_eps") {
                Some(e) => positive("gaussian_eps", e)?,
                None => {
                    let var = x.var(0.0);
                    (x.ncols() as f64 * if var > 0.0 { var } else { 1.0 }).max(1e-12)
                }
            };
            s = s.gaussian_kernel(eps);
        }
        "linear" => s = s.linear_kernel(),
        "polynomial" => {
            s = s.polynomial_kernel(
                params.float("constant").unwrap_or(1.0),
                params.float("degree").unwrap_or(3.0),
            )
        }
        other => {
            return Err(BindingError::InvalidHyperparam {
                name: "kernel".into(),
                expected: "gaussian, linear or polynomial",
                got: other.into(),
            })
        }
    }
    if let Some(e) = params.float("eps") {
        s = s.eps(positive("eps", e)?);
    }
    if let Some(b) = params.bool("shrinking") {
        s = s.shrinking(b);
    }
    Ok(s)
}

impl Backend for SupportVectorMachine {
    fn name(&self) -> &'static str {
        "svm"
    }

    /// linfa-svm computes the dense kernel matrix up front: every pair of rows in f64, on
    /// top of the data.
    fn working_set(&self, rows: usize, features: usize) -> usize {
        rows.saturating_mul(features.saturating_add(rows))
            .saturating_mul(8)
    }

    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }

    /// linfa-svm builds its kernel and runs SMO in one call that takes no callback and reads
    /// nothing of ours: 21.6 s to answer a cancel on 20,000 rows (tests/RELIABILITY.md).
    fn uninterruptible(&self) -> bool {
        true
    }

    fn fit(
        &self,
        data: &TrainData,
        params: &Hyperparams,
        progress: Progress,
    ) -> Result<Box<dyn Model>> {
        reject_missing("svm", &data.x)?;
        let x: Array2<f64> = data.x.mapv(f64::from);
        let c = positive("c", params.float("c").unwrap_or(1.0))?;
        let fitted = match data.task {
            Task::Clustering | Task::Decomposition => {
                return Err(BindingError::UnsupportedTask {
                    algorithm: "svm",
                    task: data.task.as_str(),
                })
            }
            Task::Regression => {
                progress.step(0, 1)?;
                let loss_eps = params.float("loss_eps").unwrap_or(0.1);
                let s = configure(Svm::<f64, f64>::params(), params, &x.view())?
                    .c_svr(c, Some(loss_eps));
                let y: Array1<f64> = data.y.mapv(f64::from);
                let m = s.fit(&Dataset::new(x, y)).map_err(library)?;
                progress.step(1, 1)?;
                Fitted::Regression(m)
            }
            Task::Classification => {
                let k = data.num_classes;
                // Two classes need one machine (class 1 vs 0); more need one per class.
                let machines = if k == 2 { 1 } else { k };
                let mut out = Vec::with_capacity(machines);
                for class in 0..machines {
                    progress.step(class, machines)?;
                    let target = if k == 2 { 1 } else { class };
                    let y: Array1<bool> = data.y.mapv(|v| v as usize == target);
                    let s = configure(Svm::<f64, bool>::params(), params, &x.view())?
                        .pos_neg_weights(c, c);
                    out.push(s.fit(&Dataset::new(x.clone(), y)).map_err(library)?);
                }
                progress.step(machines, machines)?;
                Fitted::OneVsRest(out)
            }
        };
        let shape = ModelShape {
            task: data.task,
            num_features: data.x.ncols(),
            num_classes: data.num_classes,
            num_targets: 1,
        };
        Ok(Box::new(SvmModel { fitted, shape }))
    }

    fn load(&self, bytes: &[u8], shape: ModelShape) -> Result<Box<dyn Model>> {
        let fitted: Fitted = super::from_json("svm", bytes)?;
        let ok = match (&fitted, shape.task) {
            (Fitted::Regression(_), Task::Regression) => true,
            (Fitted::OneVsRest(m), Task::Classification) => {
                m.len()
                    == if shape.num_classes == 2 {
                        1
                    } else {
                        shape.num_classes
                    }
            }
            _ => false,
        };
        if !ok {
            return Err(BindingError::Corrupt {
                backend: "svm",
                message: "model does not match the catalog's task".into(),
            });
        }
        Ok(Box::new(SvmModel { fitted, shape }))
    }
}

struct SvmModel {
    fitted: Fitted,
    shape: ModelShape,
}

impl SvmModel {
    fn rows<'a>(&'a self, x: &'a [f32]) -> impl Iterator<Item = Array1<f64>> + 'a {
        x.chunks_exact(self.shape.num_features.max(1))
            .map(|r| r.iter().map(|v| f64::from(*v)).collect())
    }

    /// One decision value per machine for one row.
    fn decisions(machines: &[Svm<f64, bool>], row: &Array1<f64>) -> Vec<f64> {
        machines
            .iter()
            .map(|m| m.weighted_sum(row) - m.rho)
            .collect()
    }
}

impl Model for SvmModel {
    fn predict(&self, x: &[f32], _how: Evaluation, out: &mut Vec<f32>) -> Result<()> {
        for row in self.rows(x) {
            out.push(match &self.fitted {
                Fitted::Regression(m) => (m.weighted_sum(&row) - m.rho) as f32,
                Fitted::OneVsRest(ms) if ms.len() == 1 => {
                    (Self::decisions(ms, &row)[0] >= 0.0) as u8 as f32
                }
                Fitted::OneVsRest(ms) => {
                    let d: Vec<f32> = Self::decisions(ms, &row)
                        .iter()
                        .map(|v| *v as f32)
                        .collect();
                    argmax(&d) as f32
                }
            });
        }
        Ok(())
    }

    fn predict_proba(&self, x: &[f32], _how: Evaluation, out: &mut Vec<f32>) -> Result<()> {
        let Fitted::OneVsRest(ms) = &self.fitted else {
            return Err(library("probabilities of a regression model"));
        };
        for row in self.rows(x) {
            let mut d = Self::decisions(ms, &row);
            if d.len() == 1 {
                d = vec![-d[0], d[0]];
            }
            let max = d.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = d.iter().map(|v| (v - max).exp()).sum();
            out.extend(d.iter().map(|v| ((v - max).exp() / sum) as f32));
        }
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        super::to_json("svm", &self.fitted)
    }

    fn shape(&self) -> ModelShape {
        self.shape
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fit(task: Task, k: usize, y: Array1<f32>, params: serde_json::Value) -> Box<dyn Model> {
        let x = Array2::from_shape_fn((90, 1), |(i, _)| i as f32 / 10.0);
        let data = TrainData {
            x: x.view(),
            y: y.view(),
            task,
            num_classes: k,
            num_targets: 1,
            threads: None,
        };
        let hp = Hyperparams::new(params.as_object().unwrap().clone());
        SupportVectorMachine.validate(&hp).unwrap();
        SupportVectorMachine
            .fit(&data, &hp, &mut |_, _| Ok(()))
            .unwrap()
    }

    #[test]
    fn classifies_binary_and_multiclass() {
        let m = fit(
            Task::Classification,
            3,
            Array1::from_shape_fn(90, |i| (i / 30) as f32),
            json!({"c": 10.0}),
        );
        let mut c = vec![];
        m.predict(&[0.5, 4.5, 8.5], Evaluation::default(), &mut c)
            .unwrap();
        assert_eq!(c, vec![0.0, 1.0, 2.0]);
        let mut p = vec![];
        m.predict_proba(&[4.5], Evaluation::default(), &mut p)
            .unwrap();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5 && argmax(&p) == 1);
        let again = SupportVectorMachine
            .load(&m.to_bytes().unwrap(), m.shape())
            .unwrap();
        let mut c2 = vec![];
        again
            .predict(&[0.5, 4.5, 8.5], Evaluation::default(), &mut c2)
            .unwrap();
        assert_eq!(c, c2);

        let m = fit(
            Task::Classification,
            2,
            Array1::from_shape_fn(90, |i| (i >= 45) as u8 as f32),
            json!({"kernel": "linear"}),
        );
        let mut c = vec![];
        m.predict(&[1.0, 8.0], Evaluation::default(), &mut c)
            .unwrap();
        assert_eq!(c, vec![0.0, 1.0]);
    }

    #[test]
    fn regresses() {
        let m = fit(
            Task::Regression,
            0,
            Array1::from_shape_fn(90, |i| i as f32 / 10.0 * 2.0),
            json!({"kernel": "linear", "c": 10.0}),
        );
        let mut out = vec![];
        m.predict(&[5.0], Evaluation::default(), &mut out).unwrap();
        assert!((out[0] - 10.0).abs() < 0.5, "{out:?}");
        let hp = Hyperparams::new(json!({"kernel": "sigmoid"}).as_object().unwrap().clone());
        let x = Array2::from_shape_fn((10, 1), |(i, _)| i as f32);
        let y = x.column(0).to_owned();
        let data = TrainData {
            x: x.view(),
            y: y.view(),
            task: Task::Regression,
            num_classes: 0,
            num_targets: 1,
            threads: None,
        };
        assert!(SupportVectorMachine
            .fit(&data, &hp, &mut |_, _| Ok(()))
            .is_err());
    }
}
