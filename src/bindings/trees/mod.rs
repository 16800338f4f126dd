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

use super::{outputs_per_row, raw_to_predictions, raw_to_proba, BindingError, Model, ModelShape};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// `pgml.native_trees`: off serves every tree model through its library (for comparison,
/// and as an escape hatch). Set by the serving layer from the setting before each predict.
static ENABLED: AtomicBool = AtomicBool::new(true);

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// `pgml.predict_threads`: threads a large batch is scored with (the walk is pure Rust over
/// the caller's slice: no Postgres call leaves the backend's main thread).
/// 0: all cores.
static THREADS: AtomicUsize = AtomicUsize::new(1);

/// Rows below which a batch stays on one thread (starting threads costs tens of µs).
const PARALLEL_MIN_ROWS: usize = 16_384;

pub fn set_threads(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

/// Threads for a batch of `rows`: 1 below two runs of PARALLEL_MIN_ROWS (the core count is
/// only asked for beyond that, off the single-row path).
fn threads_for(rows: usize) -> usize {
    let most = rows / PARALLEL_MIN_ROWS;
    if most < 2 {
        return 1;
    }
    let want = match THREADS.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    want.min(most)
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

// Node::meta: the feature index in the low bits, flags above it.
const LEAF: u32 = 1 << 31;
const DEFAULT_LEFT: u32 = 1 << 30;
const MISSING_SHIFT: u32 = 28;
const FEATURE_MASK: u32 = (1 << MISSING_SHIFT) - 1;

/// One node, splits and leaves alike, in depth-first preorder: a split's left child is the
/// next node and `right` its right child. A leaf holds its value in `threshold`, and points
/// `right` at itself. 12 bytes for XGBoost (f32), 16 for LightGBM (f64), and a left child
/// on the same cache line: a cold model's nodes are read from memory on every call.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Node<T> {
    threshold: T,
    right: u32,
    meta: u32,
}

impl<T> Node<T> {
    #[inline(always)]
    fn feature(&self) -> usize {
        (self.meta & FEATURE_MASK) as usize
    }

    #[inline(always)]
    fn default_left(&self) -> bool {
        self.meta & DEFAULT_LEFT != 0
    }

    #[inline(always)]
    fn is_leaf(&self) -> bool {
        self.meta & LEAF != 0
    }
}

/// Every tree of an ensemble, flattened. `T` is the library's threshold and accumulator
/// precision (f32 for XGBoost, f64 for LightGBM).
#[derive(Debug, Default)]
struct Trees<T> {
    nodes: Vec<Node<T>>,
    /// Each tree's root node.
    roots: Vec<u32>,
    /// Steps from each tree's root to its deepest leaf (for the catalog and tests).
    depths: Vec<u32>,
    /// Each tree's output (class or target) index.
    groups: Vec<u32>,
    /// `nodes` packed into 8 bytes each (XGBoost, when every tree fits; else empty).
    packed: Vec<Packed>,
}

/// An XGBoost node in 8 bytes, so 8 share a cache line instead of 5: the threshold (a leaf's
/// value) and one word: feature in bits 0-11, default-left bit 12, leaf bit 13, and the right
/// child's distance from this node in bits 16-31. Built from validated `nodes` when every
/// feature index is below 4096 and every right child within 65535 nodes.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Packed {
    threshold: f32,
    word: u32,
}

const PACKED_FEATURE: u32 = (1 << 12) - 1;
const PACKED_DEFAULT_LEFT: u32 = 1 << 12;
const PACKED_LEAF: u32 = 1 << 13;
const PACKED_RIGHT_SHIFT: u32 = 16;
/// Trees at most this deep are walked a fixed number of steps (deeper ones, usually
/// unbalanced, stop at their leaf).
const FIXED_WALK_DEPTH: u32 = 10;

/// Rows a batch walks through each tree before moving to the next (a tree stays in L1 for
/// the block; XGBoost's own batch predictor does the same with 64).
const BLOCK_ROWS: usize = 64;

/// Asks for every root's cache line at once: a served model is cold in cache on each call
/// (the network path runs between calls), and the walks should not each wait for one.
#[inline(always)]
fn prefetch_roots<N>(nodes: &[N], roots: &[u32]) {
    #[cfg(target_arch = "x86_64")]
    for root in roots {
        // SAFETY: validate() bounds every root; a prefetch reads nothing architecturally.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(nodes.as_ptr().add(*root as usize) as *const i8);
        }
    }
}

/// One step of a walk by the library's rules: whether the row goes left at this split.
trait Decide<T> {
    fn left(node: &Node<T>, row: &[T]) -> bool;
}

/// XGBoost: NaN to the default child, else `x < threshold` to the left.
struct XGBoostRule;

impl Decide<f32> for XGBoostRule {
    #[inline(always)]
    fn left(n: &Node<f32>, row: &[f32]) -> bool {
        // SAFETY: validate() checked every node's feature against the row width.
        let x = unsafe { *row.get_unchecked(n.feature()) };
        if x.is_nan() {
            n.default_left()
        } else {
            x < n.threshold
        }
    }
}

/// LightGBM (`Tree::NumericalDecision`), on a row already widened to f64.
struct LightGBMRule;

impl Decide<f64> for LightGBMRule {
    #[inline(always)]
    fn left(n: &Node<f64>, row: &[f64]) -> bool {
        // SAFETY: as for XGBoostRule.
        let mut x = unsafe { *row.get_unchecked(n.feature()) };
        let missing = (n.meta >> MISSING_SHIFT) & 3;
        if x.is_nan() && missing != Missing::Nan as u32 {
            x = 0.0;
        }
        let to_default = (missing == Missing::Zero as u32 && is_zero(x))
            || (missing == Missing::Nan as u32 && x.is_nan());
        if to_default {
            n.default_left()
        } else {
            x <= n.threshold
        }
    }
}

impl<T: Copy> Trees<T> {
    /// Appends one tree given in its library's own node numbering: `children(i)` is node
    /// `i`'s (left, right) in that numbering, `None` for a leaf; node 0 is the root. Errs on
    /// a child index out of range or a node reached twice (a cycle).
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
        let base = self.nodes.len();
        let root = u32::try_from(base).map_err(|_| "too many nodes")?;
        let mut seen = vec![false; num_nodes];
        // Preorder with an explicit stack (a chain-shaped tree may be thousands deep):
        // (library node, depth, our index of the parent whose `right` it is).
        let mut stack = vec![(0usize, 0u32, None::<usize>)];
        let mut depth = 0;
        while let Some((i, d, parent)) = stack.pop() {
            if i >= num_nodes {
                return Err(format!("a child index {i} out of range"));
            }
            if std::mem::replace(&mut seen[i], true) {
                return Err(format!("node {i} is reached twice (a cycle)"));
            }
            let ours = self.nodes.len();
            let index = u32::try_from(ours).map_err(|_| "too many nodes")?;
            if let Some(p) = parent {
                self.nodes[p].right = index;
            }
            depth = depth.max(d);
            match children(i) {
                Some((l, r)) => {
                    let (threshold, feature, default_left, missing) = split(i);
                    if feature > FEATURE_MASK {
                        return Err(format!("feature index {feature}"));
                    }
                    let meta = feature
                        | if default_left { DEFAULT_LEFT } else { 0 }
                        | (missing as u32) << MISSING_SHIFT;
                    self.nodes.push(Node {
                        threshold,
                        right: index, // set when the right child is placed
                        meta,
                    });
                    // Left child next in preorder: pushed last, popped first.
                    stack.push((r, d + 1, Some(ours)));
                    stack.push((l, d + 1, None));
                }
                None => self.nodes.push(Node {
                    threshold: leaf(i),
                    right: index,
                    meta: LEAF,
                }),
            }
        }
        self.roots.push(root);
        self.depths.push(depth);
        self.groups.push(group);
        Ok(())
    }

    fn splits(&self) -> usize {
        self.nodes.iter().filter(|n| !n.is_leaf()).count()
    }

    /// Checks every index a walk reads, so walks need no bounds checks (a tampered model
    /// must give an error, not a crash in a backend). Walks end: push_tree builds trees only.
    fn validate(&self, num_features: usize, outputs: usize) -> Result<(), Unsupported> {
        let n = self.nodes.len();
        for (i, node) in self.nodes.iter().enumerate() {
            if !node.is_leaf() && node.feature() >= num_features {
                return Err(format!(
                    "a split on feature {} of {num_features}",
                    node.feature()
                ));
            }
            if node.right as usize >= n || (!node.is_leaf() && i + 1 >= n) {
                return Err("a child index out of range".into());
            }
        }
        if self.roots.iter().any(|r| *r as usize >= n)
            || self.groups.iter().any(|g| *g as usize >= outputs)
        {
            return Err("a tree root or output index out of range".into());
        }
        Ok(())
    }

    /// Adds each tree's leaf for `row` to `acc[group]`, in tree order (the libraries' order
    /// of summation).
    #[inline]
    fn accumulate<R: Decide<T>>(&self, row: &[T], acc: &mut [T])
    where
        T: std::ops::AddAssign,
    {
        prefetch_roots(&self.nodes, &self.roots);
        for (root, group) in self.roots.iter().zip(&self.groups) {
            let mut at = *root as usize;
            // SAFETY: validate() bounds every root, `right` and `i + 1` of a split, and
            // every group against the outputs.
            unsafe {
                let mut n = self.nodes.get_unchecked(at);
                while !n.is_leaf() {
                    at = if R::left(n, row) {
                        at + 1
                    } else {
                        n.right as usize
                    };
                    n = self.nodes.get_unchecked(at);
                }
                *acc.get_unchecked_mut(*group as usize) += n.threshold;
            }
        }
    }
}

impl Trees<f32> {
    /// Fills `packed` from the validated nodes, if every node fits (else leaves it empty and
    /// the walk uses `nodes`).
    fn pack(&mut self) {
        let packed: Option<Vec<Packed>> = (self.nodes.iter().enumerate())
            .map(|(i, n)| {
                if n.is_leaf() {
                    return Some(Packed {
                        threshold: n.threshold,
                        word: PACKED_LEAF,
                    });
                }
                let offset = (n.right as usize).checked_sub(i)?;
                let feature = u32::try_from(n.feature()).ok()?;
                (offset > 0 && offset <= u16::MAX as usize && feature <= PACKED_FEATURE).then(
                    || Packed {
                        threshold: n.threshold,
                        word: feature
                            | if n.default_left() {
                                PACKED_DEFAULT_LEFT
                            } else {
                                0
                            }
                            | (offset as u32) << PACKED_RIGHT_SHIFT,
                    },
                )
            })
            .collect();
        self.packed = packed.unwrap_or_default();
    }

    /// [`Trees::accumulate`] with XGBoost's rule on the packed nodes: the same leaves, in
    /// the same order.
    #[inline]
    fn accumulate_packed(&self, row: &[f32], acc: &mut [f32]) {
        prefetch_roots(&self.packed, &self.roots);
        for ((root, group), depth) in self.roots.iter().zip(&self.groups).zip(&self.depths) {
            // SAFETY: validate() bounds every group against the outputs.
            unsafe {
                *acc.get_unchecked_mut(*group as usize) += self.leaf_packed(*root, *depth, row)
            };
        }
    }

    /// How far one step down from `n` moves, branch-free: on rows that differ from call to
    /// call a split's direction is a coin toss, and a mispredicted branch per level costs more
    /// than the arithmetic. NaN compares false, so `x < t` is 0 for it and the default bit
    /// decides. Left: 1; right: the stored distance; a leaf: 0 (it stays), so a walk may run
    /// a fixed number of steps.
    #[inline(always)]
    fn step(n: Packed, row: &[f32]) -> usize {
        // SAFETY: features are below the row width (validated); a leaf's are 0.
        let x = unsafe { *row.get_unchecked((n.word & PACKED_FEATURE) as usize) };
        let default_left = (n.word & PACKED_DEFAULT_LEFT != 0) as usize;
        let left = (x < n.threshold) as usize | (x.is_nan() as usize & default_left);
        let right = (n.word >> PACKED_RIGHT_SHIFT) as usize;
        let split = (n.word & PACKED_LEAF == 0) as usize;
        split * (1 + (right.wrapping_sub(1) & left.wrapping_sub(1)))
    }

    /// The value of the leaf `row` reaches from `root` in a tree `depth` levels deep, by
    /// XGBoost's rule.
    #[inline(always)]
    fn leaf_packed(&self, root: u32, depth: u32, row: &[f32]) -> f32 {
        let step = |n: Packed| Self::step(n, row);
        let mut at = root as usize;
        // SAFETY: `packed` mirrors the validated `nodes` one for one (same roots, each split's
        // right child at the same index, features below the row width), and no walk passes
        // a leaf.
        unsafe {
            let mut n = *self.packed.get_unchecked(at);
            if depth <= FIXED_WALK_DEPTH {
                // As many steps as the tree is deep, whatever the path: the loop's own branch
                // is then always predicted, and consecutive walks overlap in the CPU.
                for _ in 0..depth {
                    at += step(n);
                    n = *self.packed.get_unchecked(at);
                }
            } else {
                while n.word & PACKED_LEAF == 0 {
                    at += step(n);
                    n = *self.packed.get_unchecked(at);
                }
            }
            n.threshold
        }
    }

    /// [`Trees::accumulate_packed`] for `acc.len() / outputs` rows of width `d` at once, tree
    /// by tree: each row still gets its leaves added in tree order, so the sums are the same.
    fn accumulate_block_packed(&self, rows: &[f32], d: usize, acc: &mut [f32], outputs: usize) {
        const LANES: usize = 8;
        for ((root, group), depth) in self.roots.iter().zip(&self.groups).zip(&self.depths) {
            let (root, group) = (*root as usize, *group as usize);
            let one_by_one = |rows: &[f32], acc: &mut [f32]| {
                for (row, a) in rows.chunks_exact(d).zip(acc.chunks_exact_mut(outputs)) {
                    // SAFETY: validate() bounds every group against the outputs.
                    unsafe {
                        *a.get_unchecked_mut(group) += self.leaf_packed(root as u32, *depth, row)
                    };
                }
            };
            if *depth > FIXED_WALK_DEPTH {
                one_by_one(rows, acc);
                continue;
            }
            let mut row_chunks = rows.chunks_exact(d * LANES);
            let mut acc_chunks = acc.chunks_exact_mut(outputs * LANES);
            // LANES rows walk the tree in lockstep: independent chains of loads the CPU
            // overlaps, where one walk at a time waits on each level's load.
            for (rows8, acc8) in (&mut row_chunks).zip(&mut acc_chunks) {
                let mut at = [root; LANES];
                for _ in 0..*depth {
                    for (k, at) in at.iter_mut().enumerate() {
                        // SAFETY: as leaf_packed.
                        let n = unsafe { *self.packed.get_unchecked(*at) };
                        *at += Self::step(n, &rows8[k * d..(k + 1) * d]);
                    }
                }
                for (k, at) in at.iter().enumerate() {
                    // SAFETY: as leaf_packed; `group` < outputs (validated).
                    unsafe {
                        *acc8.get_unchecked_mut(k * outputs + group) +=
                            self.packed.get_unchecked(*at).threshold
                    };
                }
            }
            one_by_one(row_chunks.remainder(), acc_chunks.into_remainder());
        }
    }
}

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

    /// Appends `outputs()` values for each `num_features()`-wide row of `x`; a large batch
    /// is split into contiguous runs of rows scored on `pgml.predict_threads` threads, each
    /// row exactly as on one thread.
    pub fn predict(&self, x: &[f32], out: &mut Vec<f32>) {
        let d = self.num_features.max(1);
        let rows = x.len() / d;
        let threads = threads_for(rows);
        if threads < 2 {
            return self.predict_rows(x, out);
        }
        let per = rows.div_ceil(threads) * d;
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

    fn predict_rows(&self, x: &[f32], out: &mut Vec<f32>) {
        let d = self.num_features.max(1);
        out.reserve(x.len() / d * self.outputs);
        match &self.family {
            Family::XGBoost(trees) if !trees.packed.is_empty() && x.len() >= BLOCK_ROWS * d => {
                // Batches: each tree walks a block of rows while it is in cache.
                let o = self.outputs;
                let mut acc = vec![0f32; BLOCK_ROWS * o];
                for block in x.chunks(BLOCK_ROWS * d) {
                    let n = block.len() / d;
                    let acc = &mut acc[..n * o];
                    for a in acc.chunks_exact_mut(o) {
                        a.copy_from_slice(&self.base_margin);
                    }
                    trees.accumulate_block_packed(block, d, acc, o);
                    for a in acc.chunks_exact_mut(o) {
                        self.link_f32(a);
                    }
                    out.extend_from_slice(acc);
                }
            }
            Family::XGBoost(trees) => {
                // On the stack for the usual few outputs: a single-row predict allocates
                // nothing here.
                let mut stack = [0f32; STACK_OUTPUTS];
                let mut heap = vec![];
                let acc = scratch(&mut stack, &mut heap, self.outputs);
                for row in x.chunks_exact(d) {
                    acc.copy_from_slice(&self.base_margin);
                    if trees.packed.is_empty() {
                        trees.accumulate::<XGBoostRule>(row, acc);
                    } else {
                        trees.accumulate_packed(row, acc);
                    }
                    self.link_f32(acc);
                    out.extend_from_slice(acc);
                }
            }
            Family::LightGBM {
                trees,
                average_over,
            } => {
                let (mut stack, mut heap) = ([0f64; STACK_OUTPUTS], vec![]);
                let acc = scratch(&mut stack, &mut heap, self.outputs);
                let (mut stack_row, mut heap_row) = ([0f64; STACK_FEATURES], vec![]);
                let wide = scratch(&mut stack_row, &mut heap_row, d);
                for row in x.chunks_exact(d) {
                    for (w, v) in wide.iter_mut().zip(row) {
                        let v = f64::from(*v);
                        *w = if is_zero(v) { 0.0 } else { v };
                    }
                    acc.iter_mut().for_each(|a| *a = 0.0);
                    trees.accumulate::<LightGBMRule>(wide, acc);
                    if let Some(n) = average_over {
                        acc.iter_mut().for_each(|a| *a /= n);
                    }
                    self.link_f64(acc);
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
            Family::XGBoost(t) => (t.roots.len(), t.splits()),
            Family::LightGBM { trees, .. } => (trees.roots.len(), trees.splits()),
        }
    }
}

/// A tree library's own serving path, used where the compiled forest does not apply.
pub trait Library: Send {
    /// The backend's name, for errors.
    const NAME: &'static str;

    /// Appends what the library's prediction call returns, `outputs_per_row(shape)` values
    /// per row (as [`Forest::predict`]).
    fn predict(&self, x: &[f32], shape: ModelShape, out: &mut Vec<f32>) -> super::Result<()>;

    /// The stored form of the model.
    fn to_bytes(&self) -> super::Result<Vec<u8>>;
}

/// An XGBoost or LightGBM model: served by the compiled forest when it covers the model and
/// `pgml.native_trees` is on, else by the library.
pub struct TreeModel<L> {
    library: L,
    evaluator: Evaluator,
    shape: ModelShape,
}

impl<L: Library> TreeModel<L> {
    pub fn new(library: L, compiled: Result<Forest, Unsupported>, shape: ModelShape) -> Self {
        TreeModel {
            library,
            evaluator: Evaluator::choose(compiled, shape.num_features, outputs_per_row(shape)),
            shape,
        }
    }

    /// Appends values, P(class 1), or per-class probabilities, by whichever evaluator
    /// serves.
    fn raw_into(&self, x: &[f32], raw: &mut Vec<f32>) -> super::Result<()> {
        let expected = x.len() / self.shape.num_features.max(1) * outputs_per_row(self.shape);
        let before = raw.len();
        match self.evaluator.native().filter(|_| enabled()) {
            Some(forest) => forest.predict(x, raw),
            None => self.library.predict(x, self.shape, raw)?,
        }
        if raw.len() - before != expected {
            return Err(BindingError::Library {
                backend: L::NAME,
                message: format!("expected {expected} outputs, got {}", raw.len() - before),
            });
        }
        Ok(())
    }

    fn raw(&self, x: &[f32]) -> super::Result<Vec<f32>> {
        let mut raw = vec![];
        self.raw_into(x, &mut raw)?;
        Ok(raw)
    }
}

impl<L: Library> Model for TreeModel<L> {
    fn predict(&self, x: &[f32], out: &mut Vec<f32>) -> super::Result<()> {
        if self.shape.task != super::Task::Classification {
            // The library's values are the predictions: no intermediate buffer.
            return self.raw_into(x, out);
        }
        raw_to_predictions(self.shape, &self.raw(x)?, out);
        Ok(())
    }

    fn predict_proba(&self, x: &[f32], out: &mut Vec<f32>) -> super::Result<()> {
        raw_to_proba(self.shape, &self.raw(x)?, out);
        Ok(())
    }

    fn to_bytes(&self) -> super::Result<Vec<u8>> {
        self.library.to_bytes()
    }

    fn evaluator(&self) -> Option<String> {
        Some(self.evaluator.describe())
    }

    fn shape(&self) -> ModelShape {
        self.shape
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

    /// The forest against its library on the probe rows: all of them in one batch call, and
    /// the first 2,000 one call per row (the serving path). `library(rows, n, out)` appends
    /// the library's outputs for `n` rows.
    pub fn compare(
        what: &str,
        forest: &super::Forest,
        probes: &[f32],
        mut library: impl FnMut(&[f32], usize, &mut Vec<f32>),
    ) {
        let mut native = vec![];
        forest.predict(probes, &mut native);
        let mut batch = vec![];
        library(probes, PROBES, &mut batch);
        assert_identical(&format!("{what} batch"), &native, &batch);
        let mut single = vec![];
        for row in probes.chunks_exact(FEATURES).take(2000) {
            library(row, 1, &mut single);
        }
        let outputs = forest.outputs();
        assert_identical(
            &format!("{what} single"),
            &native[..2000 * outputs],
            &single,
        );
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

    /// Each tree's leaf for `row`: one output per tree.
    fn leaves<T: Copy + Default + std::ops::AddAssign, R: Decide<T>>(
        t: &Trees<T>,
        row: &[T],
    ) -> Vec<T> {
        let per_tree = Trees {
            nodes: t.nodes.clone(),
            roots: t.roots.clone(),
            depths: t.depths.clone(),
            groups: (0..t.roots.len() as u32).collect(),
            packed: vec![],
        };
        let mut acc = vec![T::default(); t.roots.len()];
        per_tree.accumulate::<R>(row, &mut acc);
        acc
    }

    #[test]
    fn packed_nodes_walk_like_the_wide_ones() {
        let mut t = leaf_tree();
        t.validate(2, 1).unwrap();
        t.pack();
        assert_eq!(t.packed.len(), t.nodes.len());
        for row in [
            [0.0, 0.0],
            [0.0, 5.0],
            [f32::NAN, 0.0],
            [0.0, f32::NAN],
            [9.0, -9.0],
        ] {
            let (mut wide, mut packed) = ([0f32], [0f32]);
            t.accumulate::<XGBoostRule>(&row, &mut wide);
            t.accumulate_packed(&row, &mut packed);
            assert_eq!(wide[0].to_bits(), packed[0].to_bits(), "row {row:?}");
        }
        // A feature index beyond 12 bits keeps the wide nodes.
        t.nodes[0].meta = (t.nodes[0].meta & !FEATURE_MASK) | 5000;
        t.pack();
        assert!(t.packed.is_empty());
    }

    #[test]
    fn walks_thresholds_and_default_directions() {
        let t = leaf_tree();
        t.validate(2, 1).unwrap();
        let leaf = |row: &[f32]| leaves::<f32, XGBoostRule>(&t, row)[0];
        assert_eq!(leaf(&[0.0, 0.0]), 1.0);
        assert_eq!(leaf(&[0.0, 5.0]), 2.0);
        assert_eq!(leaf(&[0.5, 0.0]), 3.0, "x < threshold is strict");
        assert_eq!(leaf(&[f32::NAN, 0.0]), 1.0, "default left");
        assert_eq!(leaf(&[0.0, f32::NAN]), 2.0, "default right");
        assert_eq!(t.depths, vec![2]);
        assert!(t.validate(1, 1).is_err(), "feature 1 of 1");
        assert!(t.validate(2, 0).is_err(), "group 0 of 0 outputs");
    }

    #[test]
    fn many_trees_of_unequal_depth_sum_in_order() {
        // 19 trees (two full lanes and a partial one): tree k is a leaf k for even k, else
        // the two-level tree above; all in one output
        let mut t = Trees::<f32>::default();
        let two = leaf_tree();
        for k in 0..19u32 {
            if k % 2 == 0 {
                t.push_tree(0, 1, |_| None, |_| unreachable!(), |_| k as f32)
                    .unwrap();
            } else {
                let base = t.nodes.len() as u32;
                t.roots.push(base);
                t.depths.push(two.depths[0]);
                t.groups.push(0);
                t.nodes.extend(two.nodes.iter().map(|n| Node {
                    right: n.right + base,
                    ..*n
                }));
            }
        }
        t.validate(2, 1).unwrap();
        let mut acc = [0f32];
        t.accumulate::<XGBoostRule>(&[0.0, 5.0], &mut acc);
        let want: f32 = (0..19)
            .map(|k| if k % 2 == 0 { k as f32 } else { 2.0 })
            .sum();
        assert_eq!(acc[0], want);
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
        let cycle = t.push_tree(
            0,
            2,
            |i| (i == 0).then_some((0, 1)),
            |_| (0.0, 0, false, Missing::Nan),
            |_| 1.0,
        );
        assert!(cycle.is_err());
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
        t.validate(1, 1).unwrap();
        let walk = |x: f64| leaves::<f64, LightGBMRule>(&t, &[x]);
        // None: NaN is 0, compared; Zero: 0 and NaN default left; Nan: NaN default left
        assert_eq!(walk(f64::NAN), vec![2.0, 1.0, 1.0]);
        assert_eq!(walk(0.0), vec![2.0, 1.0, 2.0]);
        assert_eq!(walk(-3.0), vec![1.0, 1.0, 1.0]);
    }
}
