//! Clustering from linfa-clustering.
//!
//! `kmeans` (seeded k-means++, deterministic): the stored model is its centroids; `predict`
//! returns the index of the nearest one. `dbscan`: linfa labels only the rows it was fitted
//! on, so the stored model is the core points (rows with at least `min_points` rows, itself
//! included, within `tolerance`) and their clusters; a new row joins the cluster of the
//! nearest core point within `tolerance`, else it is noise (-1). Fitting is quadratic in rows.

use super::params::{p, ParamKind::*};
use super::{
    reject_missing, Backend, BindingError, Evaluation, Hyperparams, Model, ModelShape, ParamSpec,
    Progress, Result, Task, TrainData,
};
use linfa::prelude::*;
use linfa_clustering::{Dbscan, KMeans};
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

pub static DBSCAN: Clustering = Clustering {
    name: "dbscan",
    params: &[p("min_points", Int), p("tolerance", Float)],
};

#[derive(Serialize, Deserialize)]
struct Centroids {
    num_features: usize,
    /// One row of `num_features` per cluster (kmeans) or per core point (dbscan).
    values: Vec<f64>,
    /// dbscan: the cluster of each core point, and the radius.
    #[serde(default)]
    labels: Option<Vec<u32>>,
    #[serde(default)]
    tolerance: Option<f64>,
}

fn squared(a: &[f64], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(c, v)| (c - f64::from(*v)).powi(2))
        .sum()
}

/// dbscan's core points with their clusters.
fn dbscan(data: &TrainData, params: &Hyperparams) -> Result<Centroids> {
    let min_points = params
        .int_in("min_points", 1, i32::MAX as i64)?
        .unwrap_or(5) as usize;
    let tolerance = params.float("tolerance").unwrap_or(0.5);
    if !(tolerance.is_finite() && tolerance > 0.0) {
        return Err(BindingError::InvalidHyperparam {
            name: "tolerance".into(),
            expected: "a number > 0",
            got: tolerance.to_string(),
        });
    }
    let x = data.x.mapv(f64::from);
    // linfa's defaults (L2, a k-d tree), with a distance that is an interrupt point.
    let clusters = Dbscan::params_with(
        min_points,
        crate::interrupt::PolledL2,
        linfa_nn::CommonNearestNeighbour::KdTree,
    )
    .tolerance(tolerance)
    .check()
    .map_err(library)?
    .transform(&x);
    let rows: Vec<&[f32]> = data
        .x
        .as_slice()
        .map(|s| s.chunks_exact(x.ncols().max(1)).collect())
        .unwrap_or_default();
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for (i, row) in x.rows().into_iter().enumerate() {
        // A pass over every row per row: quadratic, so an interrupt point each time.
        crate::interrupt::poll();
        let Some(cluster) = clusters[i] else { continue };
        let row = row.to_vec();
        let near = rows
            .iter()
            .filter(|o| squared(&row, o) <= tolerance * tolerance)
            .count();
        if near >= min_points {
            values.extend_from_slice(&row);
            labels.push(cluster as u32);
        }
    }
    Ok(Centroids {
        num_features: x.ncols(),
        values,
        labels: Some(labels),
        tolerance: Some(tolerance),
    })
}

fn library(e: impl std::fmt::Display) -> BindingError {
    BindingError::library("kmeans", e)
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

    /// dbscan's neighbourhoods can hold every pair of rows (a large eps), so it is
    /// estimated at one index per pair; kmeans keeps a copy and its centroids.
    fn working_set(&self, rows: usize, features: usize) -> usize {
        let copy = rows.saturating_mul(features).saturating_mul(8);
        if self.name == "dbscan" {
            copy.saturating_add(rows.saturating_mul(rows).saturating_mul(8))
        } else {
            copy
        }
    }

    fn fit(
        &self,
        data: &TrainData,
        params: &Hyperparams,
        progress: Progress,
    ) -> Result<Box<dyn Model>> {
        self.check_task(data.task)?;
        reject_missing(self.name, &data.x)?;
        if self.name == "dbscan" {
            progress.step(0, 1)?;
            let c = dbscan(data, params)?;
            progress.step(1, 1)?;
            let shape = ModelShape {
                task: Task::Clustering,
                num_features: data.x.ncols(),
                num_classes: 0,
                num_targets: 1,
            };
            return Ok(Box::new(ClusterModel { c, shape }));
        }
        // scikit-learn's default number of clusters.
        let k = params
            .int_in("n_clusters", 1, data.x.nrows().max(1) as i64)?
            .unwrap_or(8)
            .min(data.x.nrows() as i64) as usize;
        // KMeans::params(k) (its seed, 42), with a distance that is an interrupt point:
        // a fit is one call into linfa (22 s on a million rows).
        let mut builder = KMeans::params_with(
            k,
            <rand_xoshiro::Xoshiro256Plus as rand_xoshiro::rand_core::SeedableRng>::seed_from_u64(
                42,
            ),
            crate::interrupt::PolledL2,
        );
        if let Some(n) = params.int_in("max_n_iterations", 1, i64::MAX)? {
            builder = builder.max_n_iterations(n as u64);
        }
        if let Some(t) = params.float("tolerance") {
            builder = builder.tolerance(t);
        }
        if let Some(n) = params.int_in("n_runs", 1, 1000)? {
            builder = builder.n_runs(n as usize);
        }
        progress.step(0, 1)?;
        let x = data.x.mapv(f64::from);
        let fitted = builder.fit(&DatasetBase::from(x)).map_err(library)?;
        progress.step(1, 1)?;
        let c = Centroids {
            num_features: data.x.ncols(),
            values: fitted.centroids().iter().copied().collect(),
            labels: None,
            tolerance: None,
        };
        let shape = ModelShape {
            task: Task::Clustering,
            num_features: data.x.ncols(),
            num_classes: 0,
            num_targets: 1,
        };
        Ok(Box::new(ClusterModel { c, shape }))
    }

    fn load(&self, bytes: &[u8], shape: ModelShape) -> Result<Box<dyn Model>> {
        let c: Centroids = super::from_json("kmeans", bytes)?;
        let labels_ok = c
            .labels
            .as_ref()
            .is_none_or(|l| l.len() * c.num_features == c.values.len());
        if c.num_features != shape.num_features
            || !labels_ok
            || (c.values.is_empty() && c.labels.is_none())
            || !c.values.len().is_multiple_of(c.num_features.max(1))
        {
            return Err(BindingError::Corrupt {
                backend: "kmeans",
                message: "centroids do not match the features".into(),
            });
        }
        Ok(Box::new(ClusterModel { c, shape }))
    }
}

struct ClusterModel {
    c: Centroids,
    shape: ModelShape,
}

impl Model for ClusterModel {
    fn predict(&self, x: &[f32], _how: Evaluation, out: &mut Vec<f32>) -> Result<()> {
        let d = self.c.num_features.max(1);
        for row in x.chunks_exact(d) {
            let mut best = (f64::INFINITY, 0usize);
            for (i, centroid) in self.c.values.chunks_exact(d).enumerate() {
                let dist = squared(centroid, row);
                if dist < best.0 {
                    best = (dist, i);
                }
            }
            out.push(match (&self.c.labels, self.c.tolerance) {
                (Some(labels), Some(t)) if best.0 <= t * t => labels[best.1] as f32,
                (Some(_), _) => -1.0,
                _ => best.1 as f32,
            });
        }
        Ok(())
    }

    fn predict_proba(&self, _x: &[f32], _how: Evaluation, _out: &mut Vec<f32>) -> Result<()> {
        Err(library("a clustering model has no class probabilities"))
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        super::to_json("kmeans", &self.c)
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
            num_targets: 1,
            threads: None,
        };
        let hp = Hyperparams::new(json!({"n_clusters": 3}).as_object().unwrap().clone());
        KMEANS.validate(&hp).unwrap();
        let m = KMEANS.fit(&data, &hp, &mut |_, _| Ok(())).unwrap();
        let mut c = vec![];
        m.predict(
            &[1.0, 2.0, 101.0, 102.0, 201.0, 203.0, 2.0, 1.0],
            Evaluation::default(),
            &mut c,
        )
        .unwrap();
        assert_eq!(c[0], c[3]);
        assert!(c[0] != c[1] && c[1] != c[2] && c[0] != c[2]);
        let again = KMEANS.load(&m.to_bytes().unwrap(), m.shape()).unwrap();
        let mut c2 = vec![];
        again
            .predict(
                &[1.0, 2.0, 101.0, 102.0, 201.0, 203.0, 2.0, 1.0],
                Evaluation::default(),
                &mut c2,
            )
            .unwrap();
        assert_eq!(c, c2);
        assert!(!KMEANS.supports(Task::Regression));
    }

    #[test]
    fn dbscan_finds_dense_groups_and_noise() {
        let x = Array2::from_shape_fn((41, 1), |(i, _)| {
            if i == 40 {
                500.0
            } else {
                (i / 20) as f32 * 100.0 + (i % 20) as f32 * 0.1
            }
        });
        let y = Array1::zeros(41);
        let data = TrainData {
            x: x.view(),
            y: y.view(),
            task: Task::Clustering,
            num_classes: 0,
            num_targets: 1,
            threads: None,
        };
        let hp = Hyperparams::new(
            json!({"min_points": 3, "tolerance": 0.5})
                .as_object()
                .unwrap()
                .clone(),
        );
        DBSCAN.validate(&hp).unwrap();
        let m = DBSCAN.fit(&data, &hp, &mut |_, _| Ok(())).unwrap();
        let mut c = vec![];
        m.predict(&[1.0, 101.0, 300.0, 1.2], Evaluation::default(), &mut c)
            .unwrap();
        assert_eq!(c[0], c[3]);
        assert!(c[0] >= 0.0 && c[1] >= 0.0 && c[0] != c[1], "{c:?}");
        assert_eq!(c[2], -1.0, "far from every core point: noise");
        let again = DBSCAN.load(&m.to_bytes().unwrap(), m.shape()).unwrap();
        let mut c2 = vec![];
        again
            .predict(&[1.0, 101.0, 300.0, 1.2], Evaluation::default(), &mut c2)
            .unwrap();
        assert_eq!(c, c2);
    }
}
