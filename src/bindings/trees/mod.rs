//! Native inference for tree ensembles: XGBoost and LightGBM models compiled at load into flat
//! arrays and scored in Rust.
//!
//! Why: one single-row prediction through XGBoost's C API costs ~40 µs of per-call overhead
//! (config parsing, thread pool, buffers), while the trees of a typical model take well under
//! 1 µs; a `pgml.predict` must cost about as much as the query that carries it.
//!
//! Parity with the libraries is the contract, so each family keeps its library's arithmetic:
//! - XGBoost: f32 features against f32 thresholds, `x < threshold` goes left, NaN takes the
//!   node's default direction; leaves summed in f32, tree by tree in model order, onto the
//!   base margin; float `Sigmoid` and `Softmax` as in `src/common/math.h`.
//! - LightGBM: features widened to f64 (values within 1e-35 of zero read as 0, as its C API's
//!   dense row reader drops them), `x <= threshold` in f64, its three missing-value modes per
//!   node (`NumericalDecision` in `tree.h`); leaves summed in f64 per iteration; f64 sigmoid
//!   and softmax.
//!
//! A model the evaluator does not cover (categorical splits, linear boosters or linear
//! trees, vector leaves, objectives outside the tested list) is not compiled: the parser says
//! why, and the backend serves it through the library (`pgml.models.evaluator` shows which).

pub mod lightgbm;
pub mod xgboost;

use std::sync::atomic::{AtomicBool, Ordering};

/// `pgml.native_trees`: off serves every tree model through its library (for comparison,
/// and as an escape hatch). Set by the serving layer from the setting before each predict.
static ENABLED: AtomicBool = AtomicBool::new(true);

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Why a model was not compiled (shown in the catalog after "library: ").
pub type Unsupported = String;

/// How the summed margin becomes a prediction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Link {
    Identity,
    /// P(class 1) = 1 / (1 + exp(-scale * margin)).
    Sigmoid {
        scale: f64,
    },
    /// One margin per class, normalized.
    Softmax,
    /// exp(margin): Poisson, gamma and Tweedie regressions.
    Exp,
}

/// Which way a missing (NaN) feature goes, and what counts as missing (LightGBM's
/// `missing_type`; XGBoost's is always NaN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// NaN reads as 0 and is compared like a value.
    None,
    /// 0 (and NaN, read as 0) takes the default direction.
    Zero,
    /// NaN takes the default direction.
    Nan,
}

/// A split. Children are node indices when >= 0, else `!leaf` (an index into `leaves`).
#[derive(Clone, Copy, Debug)]
struct Node<T> {
    threshold: T,
    feature: u32,
    left: i32,
    right: i32,
    default_left: bool,
    missing: Missing,
}

/// Every tree of an ensemble, flattened. `T` is the library's threshold and accumulator
/// precision (f32 for XGBoost, f64 for LightGBM).
#[derive(Debug, Default)]
struct Trees<T> {
    nodes: Vec<Node<T>>,
    leaves: Vec<T>,
    /// Each tree's root: a node index, or `!leaf` for a tree that is a single leaf.
    roots: Vec<i32>,
    /// Each tree's output (class or target) index.
    groups: Vec<u32>,
}

impl<T: Copy> Trees<T> {
    /// Appends one tree given in its library's own node numbering: `children(i)` is node
    /// `i`'s (left, right) in that numbering, `None` for a leaf; node 0 is the root. Errs on
    /// a child index out of range (cycles are caught by `validate`).
    fn push_tree(
        &mut self,
        group: u32,
        num_nodes: usize,
        children: impl Fn(usize) -> Option<(usize, usize)>,
        split: impl Fn(usize) -> (T, u32, bool, Missing),
        leaf: impl Fn(usize) -> T,
    ) -> Result<(), Unsupported> {
        if num_nodes == 0 {
            return Err("a tree without nodes".into());
        }
        // Library node ids -> ours: splits to node indices, leaves to !leaf indices.
        let mut ours = vec![0i32; num_nodes];
        let (mut splits, mut leaves) = (self.nodes.len(), self.leaves.len());
        for (i, slot) in ours.iter_mut().enumerate() {
            match children(i) {
                Some(_) => {
                    *slot = i32::try_from(splits).map_err(|_| "too many nodes")?;
                    splits += 1;
                }
                None => {
                    *slot = !i32::try_from(leaves).map_err(|_| "too many leaves")?;
                    leaves += 1;
                }
            }
        }
        for i in 0..num_nodes {
            match children(i) {
                Some((l, r)) => {
                    if l >= num_nodes || r >= num_nodes {
                        return Err(format!("node {i} has a child out of range"));
                    }
                    let (threshold, feature, default_left, missing) = split(i);
                    self.nodes.push(Node {
                        threshold,
                        feature,
                        left: ours[l],
                        right: ours[r],
                        default_left,
                        missing,
                    });
                }
                None => self.leaves.push(leaf(i)),
            }
        }
        self.roots.push(ours[0]);
        self.groups.push(group);
        Ok(())
    }

    /// Checks that every split's feature exists, every child index is in range and every
    /// walk from a root ends: the walks then need no bounds checks (a tampered model must
    /// give an error, not a crash or an endless loop in a backend).
    fn validate(&self, num_features: usize, outputs: usize) -> Result<(), Unsupported> {
        let (n, l) = (self.nodes.len() as i64, self.leaves.len() as i64);
        let ok = |c: i32| {
            if c >= 0 {
                i64::from(c) < n
            } else {
                i64::from(!c) < l
            }
        };
        for node in &self.nodes {
            if node.feature as usize >= num_features {
                return Err(format!(
                    "a split on feature {} of {num_features}",
                    node.feature
                ));
            }
            if !ok(node.left) || !ok(node.right) {
                return Err("a child index out of range".into());
            }
        }
        if self.roots.iter().any(|r| !ok(*r)) || self.groups.iter().any(|g| *g as usize >= outputs)
        {
            return Err("a tree root or output index out of range".into());
        }
        // A cycle would loop forever at predict time. In a tree every split is reached once:
        // a second visit means a cycle (or a shared subtree, which no library writes).
        let mut seen = vec![false; self.nodes.len()];
        let mut stack: Vec<i32> = self.roots.clone();
        while let Some(c) = stack.pop() {
            if c < 0 {
                continue;
            }
            let i = c as usize;
            if std::mem::replace(&mut seen[i], true) {
                return Err(format!("split {i} is reached twice (a cycle)"));
            }
            stack.push(self.nodes[i].left);
            stack.push(self.nodes[i].right);
        }
        Ok(())
    }
}

impl Trees<f32> {
    /// XGBoost's walk: NaN to the default child, else `x < threshold` to the left.
    #[inline]
    fn leaf(&self, row: &[f32], root: i32) -> f32 {
        let mut c = root;
        while c >= 0 {
            // SAFETY: validate() checked every child index and feature before any walk.
            let n = unsafe { self.nodes.get_unchecked(c as usize) };
            let x = unsafe { *row.get_unchecked(n.feature as usize) };
            let left = if x.is_nan() {
                n.default_left
            } else {
                x < n.threshold
            };
            c = if left { n.left } else { n.right };
        }
        unsafe { *self.leaves.get_unchecked(!c as usize) }
    }
}

impl Trees<f64> {
    /// LightGBM's walk (`Tree::NumericalDecision`) on a row already widened to f64.
    #[inline]
    fn leaf(&self, row: &[f64], root: i32) -> f64 {
        let mut c = root;
        while c >= 0 {
            // SAFETY: as in Trees<f32>::leaf.
            let n = unsafe { self.nodes.get_unchecked(c as usize) };
            let mut x = unsafe { *row.get_unchecked(n.feature as usize) };
            if x.is_nan() && n.missing != Missing::Nan {
                x = 0.0;
            }
            let left = match n.missing {
                Missing::Zero if is_zero(x) => n.default_left,
                Missing::Nan if x.is_nan() => n.default_left,
                _ => x <= n.threshold,
            };
            c = if left { n.left } else { n.right };
        }
        unsafe { *self.leaves.get_unchecked(!c as usize) }
    }
}

/// LightGBM's kZeroThreshold (1e-35f, widened).
const ZERO: f64 = 1e-35_f32 as f64;

fn is_zero(x: f64) -> bool {
    (-ZERO..=ZERO).contains(&x)
}

#[derive(Debug)]
enum Family {
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
    family: Family,
    num_features: usize,
    outputs: usize,
    /// Per output, in margin space (XGBoost; LightGBM folds it into the first trees).
    base_margin: Vec<f32>,
    link: Link,
}

impl Forest {
    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// Values per row `predict` writes.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Appends `outputs()` values for each `num_features()`-wide row of `x`.
    pub fn predict(&self, x: &[f32], out: &mut Vec<f32>) {
        let d = self.num_features.max(1);
        out.reserve(x.len() / d * self.outputs);
        match &self.family {
            Family::XGBoost(trees) => {
                let mut acc = vec![0f32; self.outputs];
                for row in x.chunks_exact(d) {
                    acc.copy_from_slice(&self.base_margin);
                    for (root, group) in trees.roots.iter().zip(&trees.groups) {
                        acc[*group as usize] += trees.leaf(row, *root);
                    }
                    self.link_f32(&mut acc);
                    out.extend_from_slice(&acc);
                }
            }
            Family::LightGBM {
                trees,
                average_over,
            } => {
                let mut acc = vec![0f64; self.outputs];
                let mut wide = vec![0f64; d];
                for row in x.chunks_exact(d) {
                    for (w, v) in wide.iter_mut().zip(row) {
                        let v = f64::from(*v);
                        *w = if is_zero(v) { 0.0 } else { v };
                    }
                    acc.iter_mut().for_each(|a| *a = 0.0);
                    for (root, group) in trees.roots.iter().zip(&trees.groups) {
                        acc[*group as usize] += trees.leaf(&wide, *root);
                    }
                    if let Some(n) = average_over {
                        acc.iter_mut().for_each(|a| *a /= n);
                    }
                    self.link_f64(&mut acc);
                    out.extend(acc.iter().map(|v| *v as f32));
                }
            }
        }
    }

    /// XGBoost's PredTransform in float.
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

    /// LightGBM's ConvertOutput in double.
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

    /// Trees and split nodes, for the catalog.
    pub fn size(&self) -> (usize, usize) {
        match &self.family {
            Family::XGBoost(t) => (t.roots.len(), t.nodes.len()),
            Family::LightGBM { trees, .. } => (trees.roots.len(), trees.nodes.len()),
        }
    }
}

/// What serves a tree model: the compiled forest, or the library and why.
pub enum Evaluator {
    Native(Forest),
    Library(Unsupported),
}

impl Evaluator {
    /// The compiled forest if it has the catalog's shape, else the library and why.
    pub fn choose(
        compiled: Result<Forest, Unsupported>,
        num_features: usize,
        outputs: usize,
    ) -> Evaluator {
        match compiled {
            Ok(f) if f.num_features == num_features && f.outputs == outputs => Evaluator::Native(f),
            Ok(f) => Evaluator::Library(format!(
                "compiled {} features x {} outputs, expected {num_features} x {outputs}",
                f.num_features, f.outputs
            )),
            Err(why) => Evaluator::Library(why),
        }
    }

    /// The catalog's description (`pgml.models.evaluator`).
    pub fn describe(&self) -> String {
        match self {
            Evaluator::Native(f) => {
                let (trees, nodes) = f.size();
                format!("native ({trees} trees, {nodes} splits)")
            }
            Evaluator::Library(why) => format!("library: {why}"),
        }
    }

    pub fn native(&self) -> Option<&Forest> {
        match self {
            Evaluator::Native(f) => Some(f),
            Evaluator::Library(_) => None,
        }
    }
}

/// Shared by the XGBoost and LightGBM parity tests: data that exercises every branch of the
/// walk, and a bit-for-bit comparison.
#[cfg(test)]
pub(crate) mod parity {
    use crate::bindings::Task;
    use crate::data::SplitMix64;
    use ndarray::{Array1, Array2};

    pub const FEATURES: usize = 8;
    /// The figure: 100,000 probe rows per model.
    pub const PROBES: usize = 100_000;

    /// One feature value: even columns are small integers (thresholds fall exactly on
    /// them, so `<` against `<=` shows), odd columns continuous over several magnitudes;
    /// `nan_percent` of values missing, a few exact zeros (LightGBM's zero mode).
    fn value(rng: &mut SplitMix64, column: usize, nan_percent: usize) -> f32 {
        let r = rng.below(100);
        if r < nan_percent {
            return f32::NAN;
        }
        if r < nan_percent + 3 {
            return 0.0;
        }
        if column.is_multiple_of(2) {
            rng.below(21) as f32 - 10.0
        } else {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            ((u - 0.5) * 10f64.powi(column as i32 % 4)) as f32
        }
    }

    /// Training rows and a label for the task: NaNs in training too, so both default
    /// directions are learned.
    pub fn training(task: Task, classes: usize, seed: u64) -> (Array2<f32>, Array1<f32>) {
        let mut rng = SplitMix64::new(seed);
        let rows = 3000;
        let x = Array2::from_shape_fn((rows, FEATURES), |(_, j)| value(&mut rng, j, 8));
        let y = Array1::from_shape_fn(rows, |i| {
            let r = x.row(i);
            let f = |j: usize| if r[j].is_nan() { 1.0 } else { r[j] };
            let score = f(0) * 0.3 + f(1) * 2.0 - f(2) * f(3) * 0.1 + f(5) * 0.01;
            match task {
                Task::Classification => ((score.abs() * 7.0) as usize % classes.max(2)) as f32,
                // non-negative for count:poisson and LightGBM's poisson
                _ => score.abs() + 0.01 + (rng.below(10) as f32) * 0.1,
            }
        });
        (x, y)
    }

    pub fn probes(seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        (0..PROBES * FEATURES)
            .map(|i| value(&mut rng, i % FEATURES, 10))
            .collect()
    }

    /// Values that differ bit for bit, with the first few shown.
    pub fn assert_identical(what: &str, native: &[f32], library: &[f32]) {
        assert_eq!(native.len(), library.len(), "{what}: lengths");
        let differ: Vec<(usize, f32, f32)> = native
            .iter()
            .zip(library)
            .enumerate()
            .filter(|(_, (a, b))| a.to_bits() != b.to_bits())
            .map(|(i, (a, b))| (i, *a, *b))
            .collect();
        assert!(
            differ.is_empty(),
            "{what}: {} of {} values differ, e.g. (index, native, library) {:?}",
            differ.len(),
            native.len(),
            &differ[..differ.len().min(5)]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf_tree() -> Trees<f32> {
        // node 0: x0 < 0.5 ? node 1 : leaf 2(=3.0); node 1: x1 < 1 ? leaf(1.0) : leaf(2.0)
        let mut t = Trees::default();
        let children = |i: usize| match i {
            0 => Some((1, 2)),
            1 => Some((3, 4)),
            _ => None,
        };
        t.push_tree(
            0,
            5,
            children,
            |i| match i {
                0 => (0.5, 0, true, Missing::Nan),
                _ => (1.0, 1, false, Missing::Nan),
            },
            |i| match i {
                2 => 3.0,
                3 => 1.0,
                _ => 2.0,
            },
        )
        .unwrap();
        t
    }

    #[test]
    fn walks_thresholds_and_default_directions() {
        let t = leaf_tree();
        t.validate(2, 1).unwrap();
        let root = t.roots[0];
        assert_eq!(t.leaf(&[0.0, 0.0], root), 1.0);
        assert_eq!(t.leaf(&[0.0, 5.0], root), 2.0);
        assert_eq!(t.leaf(&[0.5, 0.0], root), 3.0, "x < threshold is strict");
        assert_eq!(t.leaf(&[f32::NAN, 0.0], root), 1.0, "default left");
        assert_eq!(t.leaf(&[0.0, f32::NAN], root), 2.0, "default right");
        assert!(t.validate(1, 1).is_err(), "feature 1 of 1");
        assert!(t.validate(2, 0).is_err(), "group 0 of 0 outputs");
    }

    #[test]
    fn rejects_out_of_range_children_and_cycles() {
        let mut t = Trees::<f32>::default();
        let bad = t.push_tree(
            0,
            1,
            |_| Some((5, 0)),
            |_| (0.0, 0, false, Missing::Nan),
            |_| 0.0,
        );
        assert!(bad.is_err());
        let mut t = Trees::<f32>::default();
        // node 0's left child is itself
        t.push_tree(
            0,
            2,
            |i| (i == 0).then_some((0, 1)),
            |_| (0.0, 0, false, Missing::Nan),
            |_| 1.0,
        )
        .unwrap();
        assert!(t.validate(1, 1).is_err());
    }

    #[test]
    fn lightgbm_missing_modes() {
        let mut t = Trees::<f64>::default();
        for missing in [Missing::None, Missing::Zero, Missing::Nan] {
            // x0 <= -1 ? leaf 1.0 : leaf 2.0, default left
            t.push_tree(
                0,
                3,
                |i| (i == 0).then_some((1, 2)),
                |_| (-1.0, 0, true, missing),
                |i| i as f64,
            )
            .unwrap();
        }
        let walk = |x: f64| -> Vec<f64> { t.roots.iter().map(|r| t.leaf(&[x], *r)).collect() };
        // None: NaN is 0, compared; Zero: 0 and NaN default left; Nan: NaN default left
        assert_eq!(walk(f64::NAN), vec![2.0, 1.0, 1.0]);
        assert_eq!(walk(0.0), vec![2.0, 1.0, 2.0]);
        assert_eq!(walk(-3.0), vec![1.0, 1.0, 1.0]);
    }
}
