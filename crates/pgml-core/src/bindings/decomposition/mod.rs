//! Decomposition: principal component analysis, exact. The covariance matrix is summed in f64
//! in blocks of rows (an interrupt point each) and decomposed by the symmetric eigensolver
//! the linear models use (linfa-linalg): scikit-learn's `covariance_eigh` solver, which its
//! "auto" picks for tall data. Components are ordered by variance, and each one's sign makes
//! its largest entry positive, as scikit-learn's svd_flip does. Unscaled columns are fine:
//! linfa-reduction's truncated SVD, used before, failed with "NaN values in array" on
//! columns 1000x apart, and with every component kept gave non-orthogonal ones.
//! The stored model is the mean and the components; `transform` projects rows onto them.

use super::params::{p, ParamKind::*};
use super::{
    reject_missing, Backend, BindingError, Evaluation, Hyperparams, Model, ModelShape, ParamSpec,
    Progress, Result, Task, TrainData,
};
use linfa_linalg::eigh::EighInto;
use ndarray::{Array1, Array2, ArrayView2};
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
        let (n, d) = data.x.dim();
        // As scikit-learn: min(rows, columns) components by default and at most; more than
        // the rank would be arbitrary directions of no variance.
        let most = n.min(d).max(1) as i64;
        let k = params.int_in("n_components", 1, most)?.unwrap_or(most) as usize;
        progress.step(0, 1)?;
        let (mean, components) = principal_components(&data.x, k)?;
        progress.step(1, 1)?;
        let c = Components {
            num_features: d,
            mean,
            components,
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

/// Rows per block of the covariance sum: about 1M values, an interrupt point each.
const BLOCK_VALUES: usize = 1 << 20;

/// The mean of `x` and its `k` leading principal components (`k` rows of `d`, by variance).
fn principal_components(x: &ArrayView2<f32>, k: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let (n, d) = x.dim();
    let mut mean = Array1::<f64>::zeros(d);
    for row in x.rows() {
        mean.zip_mut_with(&row, |m, v| *m += f64::from(*v));
    }
    mean /= n.max(1) as f64;
    // The scatter matrix of the centred rows; its eigenvectors are the components.
    let mut scatter = Array2::<f64>::zeros((d, d));
    for start in (0..n).step_by((BLOCK_VALUES / d.max(1)).max(1)) {
        crate::interrupt::poll();
        let end = (start + (BLOCK_VALUES / d.max(1)).max(1)).min(n);
        let mut b = x.slice(ndarray::s![start..end, ..]).mapv(f64::from);
        b -= &mean;
        scatter += &b.t().dot(&b);
    }
    if scatter.iter().any(|v| !v.is_finite()) {
        return Err(library("the covariance of the rows is not finite"));
    }
    let (values, vectors) = scatter.eigh_into().map_err(library)?;
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|a, b| values[*b].total_cmp(&values[*a]));
    let mut components = Vec::with_capacity(k * d);
    for &i in order.iter().take(k) {
        let v = vectors.column(i);
        // The first of equally large entries, as NumPy's argmax in svd_flip.
        let largest = v.iter().copied().fold(
            0.0f64,
            |best, c| if c.abs() > best.abs() { c } else { best },
        );
        let sign = if largest < 0.0 { -1.0 } else { 1.0 };
        components.extend(v.iter().map(|c| c * sign));
    }
    Ok((mean.to_vec(), components))
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

    /// 300 rows whose columns differ in scale by up to 10^6 (a real table's look: amounts,
    /// ratios, tiny rates, an offset column), one of them nearly a combination of others.
    fn badly_scaled() -> Array2<f32> {
        Array2::from_shape_fn((300, 4), |(i, j)| {
            let a = ((i * 37) % 101) as f64 / 101.0;
            let b = ((i * 53) % 89) as f64 / 89.0;
            let c = ((i * 71) % 97) as f64 / 97.0;
            (match j {
                0 => a * 1000.0 + b * 50.0,
                1 => a * 2.0 - c,
                2 => b * 0.001 + c * 0.0005,
                _ => 3000.0 + c * 800.0 - a * 400.0,
            }) as f32
        })
    }

    fn fit(x: &Array2<f32>, k: Option<usize>) -> Result<Box<dyn Model>> {
        let y = Array1::zeros(x.nrows());
        let data = TrainData {
            x: x.view(),
            y: y.view(),
            task: Task::Decomposition,
            num_classes: 0,
            num_targets: 1,
            threads: None,
        };
        let hp = match k {
            Some(k) => json!({ "n_components": k }),
            None => json!({}),
        };
        PCA.fit(
            &data,
            &Hyperparams::new(hp.as_object().unwrap().clone()),
            &mut |_, _| Ok(()),
        )
    }

    #[test]
    fn unscaled_columns_give_scikit_learns_components() {
        // Issue 36: fewer components than columns on such data failed with "NaN values in
        // array". scikit-learn 1.9.1, PCA(n_components=2).fit(x) on the same f32 values:
        let components = [
            [
                0.9019888257701844,
                0.0018905638626331989,
                -1.6523525360444243e-08,
                -0.43175523616281136,
            ],
            [
                0.43175678429764064,
                -0.00048517290925920165,
                7.417388408191282e-07,
                0.9019899355423313,
            ],
        ];
        let ratio = [0.6664288951016523, 0.3335711015032659];
        let x = badly_scaled();
        let m = fit(&x, Some(2)).unwrap();
        let c: Components = serde_json::from_slice(&m.to_bytes().unwrap()).unwrap();
        for (got, want) in c.components.chunks_exact(4).zip(components) {
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-6, "{:?}", c.components);
            }
        }
        let mut t = vec![];
        m.transform(x.as_slice().unwrap(), &mut t).unwrap();
        let first = explained_variance(x.as_slice().unwrap(), 4, &t[..], 2);
        assert!((first - (ratio[0] + ratio[1])).abs() < 1e-5, "{first}");
        // More components than rows or columns: refused, as scikit-learn does.
        assert!(fit(&x, Some(5)).is_err());
        assert!(fit(&x.slice(ndarray::s![..3, ..]).to_owned(), Some(4)).is_err());
        // Every component: all the variance.
        let all = fit(&x, None).unwrap();
        let mut t = vec![];
        all.transform(x.as_slice().unwrap(), &mut t).unwrap();
        let kept = explained_variance(x.as_slice().unwrap(), 4, &t, 4);
        assert!((kept - 1.0).abs() < 1e-5, "{kept}");
    }

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
