//! Decomposition: principal component analysis from linfa-reduction (truncated SVD, seeded).
//! The stored model is the mean and the components; `transform` projects rows onto them.

use super::params::{p, ParamKind::*};
use super::{
    reject_missing, Backend, BindingError, Evaluation, Hyperparams, Model, ModelShape, ParamSpec,
    Progress, Result, Task, TrainData,
};
use linfa::prelude::*;
use linfa_reduction::Pca;
use serde::{Deserialize, Serialize};

pub struct Decomposition {
    name: &'static str,
    params: &'static [ParamSpec],
}

pub static PCA: Decomposition = Decomposition {
    name: "pca",
    params: &[p("n_components", Int)],
};

#[derive(Serialize, Deserialize)]
struct Components {
    num_features: usize,
    mean: Vec<f64>,
    /// One row of `num_features` per component.
    components: Vec<f64>,
}

fn library(e: impl std::fmt::Display) -> BindingError {
    BindingError::library("pca", e)
}

impl Backend for Decomposition {
    fn name(&self) -> &'static str {
        self.name
    }

    fn supports(&self, task: Task) -> bool {
        task == Task::Decomposition
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
        reject_missing(self.name, &data.x)?;
        let d = data.x.ncols();
        // scikit-learn keeps every component by default.
        let k = params
            .int_in("n_components", 1, d as i64)?
            .unwrap_or(d as i64) as usize;
        progress.step(0, 1)?;
        let x = data.x.mapv(f64::from);
        let fitted = Pca::params(k).fit(&DatasetBase::from(x)).map_err(library)?;
        progress.step(1, 1)?;
        let c = Components {
            num_features: d,
            mean: fitted.mean().to_vec(),
            components: fitted.components().iter().copied().collect(),
        };
        let shape = ModelShape {
            task: Task::Decomposition,
            num_features: d,
            num_classes: k,
            num_targets: 1,
        };
        Ok(Box::new(PcaModel { c, shape }))
    }

    fn load(&self, bytes: &[u8], shape: ModelShape) -> Result<Box<dyn Model>> {
        let c: Components = super::from_json("pca", bytes)?;
        // The catalog keeps no component count (its class list is empty): the bytes know it.
        let d = c.num_features.max(1);
        if c.num_features != shape.num_features
            || c.mean.len() != c.num_features
            || c.components.is_empty()
            || !c.components.len().is_multiple_of(d)
        {
            return Err(BindingError::Corrupt {
                backend: "pca",
                message: "components do not match the catalog".into(),
            });
        }
        let shape = ModelShape {
            num_classes: c.components.len() / d,
            num_targets: 1,
            ..shape
        };
        Ok(Box::new(PcaModel { c, shape }))
    }
}

struct PcaModel {
    c: Components,
    shape: ModelShape,
}

impl Model for PcaModel {
    fn predict(&self, _x: &[f32], _how: Evaluation, _out: &mut Vec<f32>) -> Result<()> {
        Err(BindingError::UnsupportedTask {
            algorithm: "pca",
            task: "prediction (use pgml.decompose)",
        })
    }

    fn predict_proba(&self, x: &[f32], how: Evaluation, out: &mut Vec<f32>) -> Result<()> {
        self.predict(x, how, out)
    }

    fn transform(&self, x: &[f32], out: &mut Vec<f32>) -> Result<()> {
        let d = self.c.num_features.max(1);
        for row in x.chunks_exact(d) {
            for comp in self.c.components.chunks_exact(d) {
                out.push(
                    comp.iter()
                        .zip(row)
                        .zip(&self.c.mean)
                        .map(|((c, v), m)| c * (f64::from(*v) - m))
                        .sum::<f64>() as f32,
                );
            }
        }
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        super::to_json("pca", &self.c)
    }

    fn shape(&self) -> ModelShape {
        self.shape
    }
}

/// Share of the variance of `x` (rows of `num_features`) that the `k` components per row in
/// `projected` keep: scikit-learn's cumulative explained_variance_ratio_, on any rows.
pub fn explained_variance(x: &[f32], num_features: usize, projected: &[f32], k: usize) -> f64 {
    let variance = |v: &[f32], width: usize| -> f64 {
        let n = v.len() / width.max(1);
        (0..width)
            .map(|j| {
                let col = v.iter().skip(j).step_by(width).map(|x| f64::from(*x));
                let mean = col.clone().sum::<f64>() / n as f64;
                col.map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64
            })
            .sum()
    };
    let total = variance(x, num_features);
    if total > 0.0 {
        variance(projected, k) / total
    } else {
        f64::NAN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};
    use serde_json::json;

    #[test]
    fn first_component_follows_the_line() {
        // points on the line y = 2x with a little noise in a second direction
        let x = Array2::from_shape_fn((50, 2), |(i, j)| {
            if j == 0 {
                i as f32
            } else {
                2.0 * i as f32 + (i % 3) as f32 * 0.1
            }
        });
        let y = Array1::zeros(50);
        let data = TrainData {
            x: x.view(),
            y: y.view(),
            task: Task::Decomposition,
            num_classes: 0,
            num_targets: 1,
            threads: None,
        };
        let hp = Hyperparams::new(json!({"n_components": 1}).as_object().unwrap().clone());
        let m = PCA.fit(&data, &hp, &mut |_, _| Ok(())).unwrap();
        let mut t = vec![];
        m.transform(x.as_slice().unwrap(), &mut t).unwrap();
        assert_eq!(t.len(), 50);
        let kept = explained_variance(x.as_slice().unwrap(), 2, &t, 1);
        assert!(kept > 0.999, "{kept}");
        let again = PCA.load(&m.to_bytes().unwrap(), m.shape()).unwrap();
        let mut t2 = vec![];
        again.transform(x.as_slice().unwrap(), &mut t2).unwrap();
        assert_eq!(t, t2);
        assert!(m
            .predict(&[1.0, 2.0], Evaluation::default(), &mut vec![])
            .is_err());
    }
}
