//! Clustering: k-means from linfa-clustering (seeded k-means++, deterministic). The stored
//! model is its centroids; `predict` returns the index of the nearest one.

use super::params::{p, ParamKind::*};
use super::{
    reject_missing, Backend, BindingError, Hyperparams, Model, ModelShape, ParamSpec, Progress,
    Result, Task, TrainData,
};
use linfa::prelude::*;
use linfa_clustering::KMeans;
use serde::{Deserialize, Serialize};

pub struct Clustering {
    name: &'static str,
    params: &'static [ParamSpec],
}

pub static KMEANS: Clustering = Clustering {
    name: "kmeans",
    params: &[
        p("n_clusters", Int),
        p("max_n_iterations", Int),
        p("tolerance", Float),
        p("n_runs", Int),
    ],
};

#[derive(Serialize, Deserialize)]
struct Centroids {
    num_features: usize,
    /// One row of `num_features` per cluster.
    values: Vec<f64>,
}

fn library(e: impl std::fmt::Display) -> BindingError {
    BindingError::Library {
        backend: "kmeans",
        message: e.to_string(),
    }
}

impl Backend for Clustering {
    fn name(&self) -> &'static str {
        self.name
    }

    fn supports(&self, task: Task) -> bool {
        task == Task::Clustering
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
        if data.task != Task::Clustering {
            return Err(BindingError::UnsupportedTask {
                algorithm: self.name,
                task: data.task.as_str(),
            });
        }
        reject_missing(self.name, &data.x)?;
        // scikit-learn's default number of clusters.
        let k = params
            .int_in("n_clusters", 1, data.x.nrows().max(1) as i64)?
            .unwrap_or(8)
            .min(data.x.nrows() as i64) as usize;
        let mut builder = KMeans::params(k);
        if let Some(n) = params.int_in("max_n_iterations", 1, i64::MAX)? {
            builder = builder.max_n_iterations(n as u64);
        }
        if let Some(t) = params.float("tolerance") {
            builder = builder.tolerance(t);
        }
        if let Some(n) = params.int_in("n_runs", 1, 1000)? {
            builder = builder.n_runs(n as usize);
        }
        progress(0, 1)?;
        let x = data.x.mapv(f64::from);
        let fitted = builder.fit(&DatasetBase::from(x)).map_err(library)?;
        progress(1, 1)?;
        let c = Centroids {
            num_features: data.x.ncols(),
            values: fitted.centroids().iter().copied().collect(),
        };
        let shape = ModelShape {
            task: Task::Clustering,
            num_features: data.x.ncols(),
            num_classes: 0,
        };
        Ok(Box::new(KMeansModel { c, shape }))
    }

    fn load(&self, bytes: &[u8], shape: ModelShape) -> Result<Box<dyn Model>> {
        let c: Centroids = serde_json::from_slice(bytes).map_err(|e| BindingError::Corrupt {
            backend: "kmeans",
            message: e.to_string(),
        })?;
        if c.num_features != shape.num_features
            || c.values.is_empty()
            || !c.values.len().is_multiple_of(c.num_features.max(1))
        {
            return Err(BindingError::Corrupt {
                backend: "kmeans",
                message: "centroids do not match the features".into(),
            });
        }
        Ok(Box::new(KMeansModel { c, shape }))
    }
}

struct KMeansModel {
    c: Centroids,
    shape: ModelShape,
}

impl Model for KMeansModel {
    fn predict(&self, x: &[f32], out: &mut Vec<f32>) -> Result<()> {
        let d = self.c.num_features.max(1);
        for row in x.chunks_exact(d) {
            let mut best = (f64::INFINITY, 0usize);
            for (i, centroid) in self.c.values.chunks_exact(d).enumerate() {
                let dist: f64 = centroid
                    .iter()
                    .zip(row)
                    .map(|(c, v)| (c - f64::from(*v)).powi(2))
                    .sum();
                if dist < best.0 {
                    best = (dist, i);
                }
            }
            out.push(best.1 as f32);
        }
        Ok(())
    }

    fn predict_proba(&self, _x: &[f32], _out: &mut Vec<f32>) -> Result<()> {
        Err(library("a clustering model has no class probabilities"))
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.c).map_err(library)
    }

    fn shape(&self) -> ModelShape {
        self.shape
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};
    use serde_json::json;

    #[test]
    fn finds_separated_clusters_and_round_trips() {
        let x = Array2::from_shape_fn((60, 2), |(i, j)| {
            (i / 20) as f32 * 100.0 + ((i * 7 + j) % 5) as f32
        });
        let y = Array1::zeros(60);
        let data = TrainData {
            x: x.view(),
            y: y.view(),
            task: Task::Clustering,
            num_classes: 0,
            threads: None,
        };
        let hp = Hyperparams::new(json!({"n_clusters": 3}).as_object().unwrap().clone());
        KMEANS.validate(&hp).unwrap();
        let m = KMEANS.fit(&data, &hp, &mut |_, _| Ok(())).unwrap();
        let mut c = vec![];
        m.predict(&[1.0, 2.0, 101.0, 102.0, 201.0, 203.0, 2.0, 1.0], &mut c)
            .unwrap();
        assert_eq!(c[0], c[3]);
        assert!(c[0] != c[1] && c[1] != c[2] && c[0] != c[2]);
        let again = KMEANS.load(&m.to_bytes().unwrap(), m.shape()).unwrap();
        let mut c2 = vec![];
        again
            .predict(&[1.0, 2.0, 101.0, 102.0, 201.0, 203.0, 2.0, 1.0], &mut c2)
            .unwrap();
        assert_eq!(c, c2);
        assert!(!KMEANS.supports(Task::Regression));
    }
}
