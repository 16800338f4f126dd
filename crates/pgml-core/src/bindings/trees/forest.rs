//! A compiled ensemble, [`Forest`]: rows scored in blocks through the walks, one row through
//! the one-row layout, a large batch on several threads, and each library's link.

use super::layout::Trees;
use super::walk::{is_zero, LightGBMRule, XGBoostRule};
use super::Link;

/// Rows below which a batch stays on one thread (starting threads costs tens of µs).
const PARALLEL_MIN_ROWS: usize = 16_384;

/// Threads for a batch of `rows` when `threads` are asked for (`Evaluation::threads`, 0: all
/// cores): 1 below two runs of PARALLEL_MIN_ROWS (the core count is only asked for beyond
/// that, off the single-row path).
fn threads_for(rows: usize, threads: usize) -> usize {
    let most = rows / PARALLEL_MIN_ROWS;
    if most < 2 {
        return 1;
    }
    threads.max(1).min(most)
}

/// Rows a batch walks through each tree before moving to the next (a tree stays in L1 for
/// the block; XGBoost's own batch predictor does the same with 64).
const BLOCK_ROWS: usize = 64;

/// Outputs and features that fit the per-call scratch on the stack (larger models use the heap).
const STACK_OUTPUTS: usize = 16;
const STACK_FEATURES: usize = 64;

/// `len` zeroed values: the stack buffer when it is large enough, else `heap`.
fn scratch<'a, T: Copy + Default, const N: usize>(
    stack: &'a mut [T; N],
    heap: &'a mut Vec<T>,
    len: usize,
) -> &'a mut [T] {
    if len <= N {
        &mut stack[..len]
    } else {
        heap.resize(len, T::default());
        heap
    }
}

#[derive(Debug)]
pub(super) enum Family {
    XGBoost(Trees<f32>),
    LightGBM {
        trees: Trees<f64>,
        /// Random forest mode: the sum is divided by the number of iterations.
        average_over: Option<f64>,
    },
}

/// A compiled ensemble. `predict` writes what the library's prediction call returns: the
/// value, P(class 1) for two classes, or one probability per class.
#[derive(Debug)]
pub struct Forest {
    pub(super) family: Family,
    pub(super) num_features: usize,
    pub(super) outputs: usize,
    /// Per output, in margin space (XGBoost; LightGBM folds it into the first trees).
    pub(super) base_margin: Vec<f32>,
    pub(super) link: Link,
}

impl Forest {
    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// Values per row `predict` writes.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Appends `outputs()` values for each `num_features()`-wide row of `x`; a large batch
    /// is split into contiguous runs of rows scored on `threads` threads
    /// (`Evaluation::threads`, from `pgml.predict_threads`; 0: all cores), each row exactly
    /// as on one thread. The walk is pure Rust over the caller's slice: no Postgres call
    /// leaves the backend's main thread.
    pub fn predict(&self, x: &[f32], threads: usize, out: &mut Vec<f32>) {
        let d = self.num_features.max(1);
        // One row (a served pgml.predict) takes its own short path, see predict_one.
        if x.len() == d && self.predict_one(x, out) {
            return;
        }
        let rows = x.len() / d;
        let threads = threads_for(rows, threads);
        if threads < 2 {
            return self.predict_rows(x, out);
        }
        let per = rows.div_ceil(threads) * d;
        // The scoped threads are born with the server's signals blocked (crate::signals).
        let _signals = crate::signals::Blocked::new();
        let parts: Vec<Vec<f32>> = std::thread::scope(|scope| {
            let handles: Vec<_> = x
                .chunks(per)
                .map(|chunk| {
                    scope.spawn(move || {
                        let mut part = Vec::new();
                        self.predict_rows(chunk, &mut part);
                        part
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        out.reserve(rows * self.outputs);
        for part in parts {
            out.extend_from_slice(&part);
        }
    }

    /// One row of one output through the one-row layout, as a call of its own (the paths
    /// that take rows in a buffer); false, `out` untouched, where one_value declines.
    ///
    /// Why apart from predict_rows: within it the one-row path ran ~70 lines of a 38 KB
    /// function built for blocks of rows, with a 10 KB stack frame (the quick form's bit
    /// vectors) probed page by page. Here it is one short function: 10% less time in a loop
    /// of one-row predicts, and +0.003 to +0.021 in the serving ratio
    /// (benches/serving/REPORT.md).
    #[inline(never)]
    fn predict_one(&self, x: &[f32], out: &mut Vec<f32>) -> bool {
        self.one_value(x).map(|v| out.push(v)).is_some()
    }

    /// One `num_features`-wide row's value through the one-row layout; None where the row
    /// is another width, or the forest has no such layout or more outputs. The sum is
    /// taken, and linked, in the same order and precision as predict_rows does. Inlined:
    /// TreeModel::predict_one serves a warm pgml.predict with it in one function.
    #[inline(always)]
    pub(super) fn one_value(&self, x: &[f32]) -> Option<f32> {
        if x.len() != self.num_features || self.outputs != 1 {
            return None;
        }
        match &self.family {
            Family::XGBoost(trees) => {
                let layout = trees.one_row.as_ref()?;
                let mut sum = [layout.sum::<XGBoostRule>(x, self.base_margin[0])];
                self.link_f32(&mut sum);
                Some(sum[0])
            }
            Family::LightGBM {
                trees,
                average_over,
            } => {
                let layout = trees.one_row.as_ref()?;
                let mut sum = [layout.sum::<LightGBMRule>(x, 0.0)];
                self.finish_f64(&mut sum, *average_over);
                Some(sum[0] as f32)
            }
        }
    }

    /// Scores rows in blocks of BLOCK_ROWS (one row: no heap allocation here, the scratch is
    /// on the stack).
    fn predict_rows(&self, x: &[f32], out: &mut Vec<f32>) {
        let d = self.num_features.max(1);
        let o = self.outputs;
        let rows = x.len() / d;
        let x = &x[..rows * d];
        out.reserve(rows * o);
        let block = rows.min(BLOCK_ROWS);
        match &self.family {
            Family::XGBoost(trees) => {
                let (mut stack, mut heap) = ([0f32; STACK_OUTPUTS], vec![]);
                let acc = scratch(&mut stack, &mut heap, block * o);
                for b in x.chunks(BLOCK_ROWS * d) {
                    let acc = &mut acc[..b.len() / d * o];
                    for a in acc.chunks_exact_mut(o) {
                        a.copy_from_slice(&self.base_margin);
                    }
                    if !trees.accumulate_few::<XGBoostRule>(b, d, acc) {
                        trees.accumulate_rows::<XGBoostRule>(b, d, acc, o);
                    }
                    for a in acc.chunks_exact_mut(o) {
                        self.link_f32(a);
                    }
                    out.extend_from_slice(acc);
                }
            }
            Family::LightGBM {
                trees,
                average_over,
            } => {
                let (mut stack, mut heap) = ([0f64; STACK_OUTPUTS], vec![]);
                let acc = scratch(&mut stack, &mut heap, block * o);
                let mut heap_rows = vec![];
                for b in x.chunks(BLOCK_ROWS * d) {
                    let n = b.len() / d;
                    let acc = &mut acc[..n * o];
                    acc.iter_mut().for_each(|a| *a = 0.0);
                    if !trees.accumulate_few::<LightGBMRule>(b, d, acc) {
                        // The rows widened to f64, for this walk only: the one-row layout
                        // reads the f32 row, so a one-row predict does not zero this buffer.
                        let mut stack_rows = [0f64; STACK_FEATURES];
                        let wide = scratch(&mut stack_rows, &mut heap_rows, n * d);
                        for (w, v) in wide.iter_mut().zip(b) {
                            let v = f64::from(*v);
                            *w = if is_zero(v) { 0.0 } else { v };
                        }
                        trees.accumulate_rows::<LightGBMRule>(wide, d, acc, o);
                    }
                    for a in acc.chunks_exact_mut(o) {
                        self.finish_f64(a, *average_over);
                    }
                    out.extend(acc.iter().map(|v| *v as f32));
                }
            }
        }
    }

    /// XGBoost's PredTransform in float (inlined: on the one-row path, see one_value).
    #[inline(always)]
    fn link_f32(&self, acc: &mut [f32]) {
        match self.link {
            Link::Identity => {}
            Link::Sigmoid { .. } => {
                for v in acc.iter_mut() {
                    // common::Sigmoid(float): the 1e-16 epsilon vanishes next to 1.0f.
                    *v = 1.0 / ((-*v).min(88.7).exp() + 1.0);
                }
            }
            Link::Softmax => {
                let max = acc.iter().skip(1).fold(acc[0], |m, v| v.max(m));
                let mut sum = 0f64;
                for v in acc.iter_mut() {
                    *v = (*v - max).exp();
                    sum += f64::from(*v);
                }
                for v in acc.iter_mut() {
                    *v /= sum as f32;
                }
            }
            Link::Exp => acc.iter_mut().for_each(|v| *v = v.exp()),
        }
    }

    /// A LightGBM row's sums to its outputs: averaged over the iterations in random forest
    /// mode, then linked.
    #[inline(always)]
    fn finish_f64(&self, acc: &mut [f64], average_over: Option<f64>) {
        if let Some(n) = average_over {
            acc.iter_mut().for_each(|a| *a /= n);
        }
        self.link_f64(acc);
    }

    /// LightGBM's ConvertOutput in double (inlined: on the one-row path, see one_value).
    #[inline(always)]
    fn link_f64(&self, acc: &mut [f64]) {
        match self.link {
            Link::Identity => {}
            Link::Sigmoid { scale } => {
                for v in acc.iter_mut() {
                    *v = 1.0 / (1.0 + (-scale * *v).exp());
                }
            }
            Link::Softmax => {
                let max = acc.iter().skip(1).fold(acc[0], |m, v| v.max(m));
                let mut sum = 0f64;
                for v in acc.iter_mut() {
                    *v = (*v - max).exp();
                    sum += *v;
                }
                for v in acc.iter_mut() {
                    *v /= sum;
                }
            }
            Link::Exp => acc.iter_mut().for_each(|v| *v = v.exp()),
        }
    }

    /// Whether one row walks the one-row layout (see one_row).
    #[cfg(test)]
    pub(super) fn one_row_layout(&self) -> bool {
        match &self.family {
            Family::XGBoost(t) => t.one_row.is_some(),
            Family::LightGBM { trees, .. } => trees.one_row.is_some(),
        }
    }

    /// Trees and split nodes, for the catalog.
    pub fn size(&self) -> (usize, usize) {
        match &self.family {
            Family::XGBoost(t) => (t.roots.len(), t.splits()),
            Family::LightGBM { trees, .. } => (trees.roots.len(), trees.splits()),
        }
    }
}
