//! Gaussian naive Bayes from linfa-bayes (classification only), stored as serde JSON.

use super::params::{p, ParamKind::*};
use super::{
    argmax, reject_missing, Backend, BindingError, Evaluation, Hyperparams, Model, ModelShape,
    ParamSpec, Progress, Result, Task, TrainData,
};
use linfa::prelude::*;
use linfa_bayes::{GaussianNb, NaiveBayes};
use ndarray::{Array1, Array2};

pub struct GaussianNaiveBayes;

static PARAMS: &[ParamSpec] = &[p("var_smoothing", Float)];

fn library(e: impl std::fmt::Display) -> BindingError {
    BindingError::library("gaussian_naive_bayes", e)
}

impl Backend for GaussianNaiveBayes {
    fn name(&self) -> &'static str {
        "gaussian_naive_bayes"
    }

    fn supports(&self, task: Task) -> bool {
        task == Task::Classification
    }

    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }

    fn fit(
        &self,
        data: &TrainData,
        params: &Hyperparams,
        progress: Progress,
    ) -> Result<Box<dyn Model>> {
        self.check_task(data.task)?;
        reject_missing(self.name(), &data.x)?;
        progress.step(0, 1)?;
        let x = data.x.mapv(f64::from);
        let y: Array1<usize> = data.y.mapv(|v| v as usize);
        let model = GaussianNb::params()
            .var_smoothing(params.float("var_smoothing").unwrap_or(1e-9))
            .fit(&Dataset::new(x, y))
            .map_err(library)?;
        progress.step(1, 1)?;
        let shape = ModelShape {
            task: data.task,
            num_features: data.x.ncols(),
            num_classes: data.num_classes,
            num_targets: 1,
        };
        Ok(Box::new(NaiveBayesModel { model, shape }))
    }

    fn load(&self, bytes: &[u8], shape: ModelShape) -> Result<Box<dyn Model>> {
        let model = super::from_json("gaussian_naive_bayes", bytes)?;
        Ok(Box::new(NaiveBayesModel { model, shape }))
    }
}

struct NaiveBayesModel {
    model: GaussianNb<f64, usize>,
    shape: ModelShape,
}

impl NaiveBayesModel {
    /// `num_classes` probabilities per row; a class absent from training gets 0.
    fn proba(&self, x: &[f32]) -> Result<Vec<f32>> {
        let d = self.shape.num_features.max(1);
        let x = Array2::from_shape_vec((x.len() / d, d), x.iter().map(|v| f64::from(*v)).collect())
            .map_err(library)?;
        let (p, classes) = self.model.predict_proba(x.view());
        let k = self.shape.num_classes;
        let mut out = vec![0f32; p.nrows() * k];
        for (r, row) in p.rows().into_iter().enumerate() {
            for (c, v) in classes.iter().zip(row.iter()) {
                if **c < k {
                    out[r * k + **c] = *v as f32;
                }
            }
        }
        Ok(out)
    }
}

impl Model for NaiveBayesModel {
    fn predict(&self, x: &[f32], _how: Evaluation, out: &mut Vec<f32>) -> Result<()> {
        let p = self.proba(x)?;
        out.extend(
            p.chunks_exact(self.shape.num_classes.max(1))
                .map(|row| argmax(row) as f32),
        );
        Ok(())
    }

    fn predict_proba(&self, x: &[f32], _how: Evaluation, out: &mut Vec<f32>) -> Result<()> {
        out.extend(self.proba(x)?);
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        super::to_json("gaussian_naive_bayes", &self.model)
    }

    fn shape(&self) -> ModelShape {
        self.shape
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_with_probabilities_and_round_trips() {
        let x = Array2::from_shape_fn((90, 1), |(i, _)| (i / 30) as f32 * 10.0 + (i % 5) as f32);
        let y = Array1::from_shape_fn(90, |i| (i / 30) as f32);
        let data = TrainData {
            x: x.view(),
            y: y.view(),
            task: Task::Classification,
            num_classes: 3,
            num_targets: 1,
            threads: None,
        };
        let hp = Hyperparams::new(json!({"var_smoothing": 1e-9}).as_object().unwrap().clone());
        GaussianNaiveBayes.validate(&hp).unwrap();
        let m = GaussianNaiveBayes
            .fit(&data, &hp, &mut |_, _| Ok(()))
            .unwrap();
        let mut c = vec![];
        m.predict(&[2.0, 12.0, 22.0], Evaluation::default(), &mut c)
            .unwrap();
        assert_eq!(c, vec![0.0, 1.0, 2.0]);
        let mut p = vec![];
        m.predict_proba(&[12.0], Evaluation::default(), &mut p)
            .unwrap();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5 && p[1] > 0.9);
        let again = GaussianNaiveBayes
            .load(&m.to_bytes().unwrap(), m.shape())
            .unwrap();
        let mut c2 = vec![];
        again
            .predict(&[2.0, 12.0, 22.0], Evaluation::default(), &mut c2)
            .unwrap();
        assert_eq!(c, c2);
        let reg = TrainData {
            task: Task::Regression,
            num_classes: 0,
            num_targets: 1,
            ..data
        };
        assert!(matches!(
            GaussianNaiveBayes.fit(&reg, &hp, &mut |_, _| Ok(())).err(),
            Some(BindingError::UnsupportedTask { .. })
        ));
    }
}
