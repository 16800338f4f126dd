//! Logistic regression, binary and multinomial, by L-BFGS through argmin: the solver and
//! settings linfa-logistic uses (10 correction pairs, More-Thuente line search, a tolerance on
//! the gradient's norm, L2 penalty `alpha` on the weights and none on the intercepts), with
//! the loss and its gradient computed here, a block of rows at a time. Each block is an
//! interrupt point (crate::interrupt): linfa-logistic computes the same loss as whole-matrix
//! ndarray products inside its own solver loop, where a cancel waited for the whole fit (2.5 s
//! on a million rows, unbounded with more iterations). Its hyperparameters keep their names.

use argmin::core::{CostFunction, Executor, Gradient};
use argmin::solver::{linesearch::MoreThuenteLineSearch, quasinewton::LBFGS};
use ndarray::{Array1, ArrayView2};

/// Rows per block between interrupt points: well under a millisecond of work.
const BLOCK_ROWS: usize = 4096;

/// linfa-logistic's settings, under its builder's names.
pub struct Settings {
    pub alpha: f64,
    pub max_iterations: u64,
    pub gradient_tolerance: f64,
    pub with_intercept: bool,
}

/// Weights per output row-major (`outputs` x features) and one intercept per output.
pub struct Fitted {
    pub weights: Vec<f64>,
    pub intercepts: Vec<f64>,
}

/// The loss of a fit: `x` standardized, `label[i]` the column of row i's class (binary: 0 or
/// 1), `k` outputs (1: binary, P(class 1) = logistic(x.w + b); more: softmax).
struct Problem<'a> {
    x: ArrayView2<'a, f64>,
    label: &'a [usize],
    k: usize,
    intercept: bool,
    alpha: f64,
}

fn log_logistic(v: f64) -> f64 {
    // ln(1 / (1 + e^-v)) without overflow on either side.
    if v > 0.0 {
        -(-v).exp().ln_1p()
    } else {
        v - v.exp().ln_1p()
    }
}

impl Problem<'_> {
    fn features(&self) -> usize {
        self.x.ncols()
    }

    /// The loss at `w`, and its gradient when asked: one pass over the rows.
    fn pass(&self, w: &Array1<f64>, grad: Option<&mut Array1<f64>>) -> f64 {
        let (d, k) = (self.features(), self.k);
        let w = w.as_slice().expect("argmin's parameters are contiguous");
        let mut g = grad.map(|g| g.as_slice_mut().expect("contiguous"));
        let mut loss = 0.0;
        let mut h = vec![0.0; k];
        for (start, block) in (0..self.x.nrows()).step_by(BLOCK_ROWS).map(|s| {
            (
                s,
                self.x
                    .slice(ndarray::s![s..(s + BLOCK_ROWS).min(self.x.nrows()), ..]),
            )
        }) {
            crate::interrupt::poll();
            for (r, row) in block.rows().into_iter().enumerate() {
                let row = row.to_slice().expect("standardized rows are contiguous");
                let label = self.label[start + r];
                if k == 1 {
                    let y = if label == 1 { 1.0 } else { -1.0 };
                    let mut z = if self.intercept { w[d] } else { 0.0 };
                    z += row.iter().zip(&w[..d]).map(|(a, b)| a * b).sum::<f64>();
                    loss -= log_logistic(y * z);
                    if let Some(g) = g.as_deref_mut() {
                        // d/dz of -ln(logistic(yz)) = (logistic(yz) - 1) y
                        let s = (1.0 / (1.0 + (-y * z).exp()) - 1.0) * y;
                        for (gj, xj) in g[..d].iter_mut().zip(row) {
                            *gj += s * xj;
                        }
                        if self.intercept {
                            g[d] += s;
                        }
                    }
                } else {
                    // h = x.W + b, W stored feature-major (w[j * k + c]), b after it
                    for (c, hc) in h.iter_mut().enumerate() {
                        *hc = if self.intercept { w[d * k + c] } else { 0.0 };
                    }
                    for (j, xj) in row.iter().enumerate() {
                        for (hc, wjc) in h.iter_mut().zip(&w[j * k..(j + 1) * k]) {
                            *hc += xj * wjc;
                        }
                    }
                    let max = h.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let lse = max + h.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
                    loss -= h[label] - lse;
                    if let Some(g) = g.as_deref_mut() {
                        // d/dh_c = softmax_c - [c = label]
                        for (c, hc) in h.iter_mut().enumerate() {
                            *hc = (*hc - lse).exp() - (c == label) as u8 as f64;
                        }
                        for (j, xj) in row.iter().enumerate() {
                            for (gjc, dc) in g[j * k..(j + 1) * k].iter_mut().zip(&h) {
                                *gjc += xj * dc;
                            }
                        }
                        if self.intercept {
                            for (gc, dc) in g[d * k..].iter_mut().zip(&h) {
                                *gc += dc;
                            }
                        }
                    }
                }
            }
        }
        // The penalty: weights only, not intercepts (they come last).
        let weights = d * k;
        loss += 0.5 * self.alpha * w[..weights].iter().map(|v| v * v).sum::<f64>();
        if let Some(g) = g {
            for (gj, wj) in g[..weights].iter_mut().zip(&w[..weights]) {
                *gj += self.alpha * wj;
            }
        }
        loss
    }
}

impl CostFunction for Problem<'_> {
    type Param = Array1<f64>;
    type Output = f64;

    fn cost(&self, w: &Array1<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.pass(w, None))
    }
}

impl Gradient for Problem<'_> {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;

    fn gradient(&self, w: &Array1<f64>) -> Result<Array1<f64>, argmin::core::Error> {
        let mut g = Array1::zeros(w.len());
        self.pass(w, Some(&mut g));
        Ok(g)
    }
}

/// Fits `x` (standardized) to `label` (one class column per row). `k` = 1 fits the binary
/// model (labels 0 and 1), more fits a softmax over `k` columns.
pub fn fit<'a>(
    x: ArrayView2<'a, f64>,
    label: &'a [usize],
    k: usize,
    s: &Settings,
) -> Result<Fitted, String> {
    debug_assert_eq!(x.nrows(), label.len());
    if !x.iter().all(|v| v.is_finite()) {
        return Err("the standardized features hold a value that is not finite".into());
    }
    let d = x.ncols();
    let problem = Problem {
        x,
        label,
        k,
        intercept: s.with_intercept,
        alpha: s.alpha,
    };
    let init = Array1::zeros((d + s.with_intercept as usize) * k);
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
        .with_tolerance_grad(s.gradient_tolerance)
        .map_err(|e| e.to_string())?;
    let result = Executor::new(problem, solver)
        .configure(|state| state.param(init.clone()).max_iters(s.max_iterations))
        .run()
        .map_err(|e| e.to_string())?;
    let w = result.state.best_param.unwrap_or(init);
    let w = w.as_slice().expect("contiguous");
    let mut weights = vec![0.0; k * d];
    for j in 0..d {
        for c in 0..k {
            weights[c * d + j] = w[j * k + c];
        }
    }
    let intercepts = if s.with_intercept {
        w[d * k..].to_vec()
    } else {
        vec![0.0; k]
    };
    Ok(Fitted {
        weights,
        intercepts,
    })
}
