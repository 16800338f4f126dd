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
mod one_row;
mod quick;
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
/// `right` at itself. The general layout, walked for trees too deep for [`Complete`].
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Node<T> {
    threshold: T,
    right: u32,
    meta: u32,
}

impl<T> Node<T> {
    #[inline(always)]
    fn is_leaf(&self) -> bool {
        self.meta & LEAF != 0
    }
}

#[inline(always)]
fn feature(meta: u32) -> usize {
    (meta & FEATURE_MASK) as usize
}

/// Every tree of an ensemble, flattened. `T` is the library's threshold and accumulator
/// precision (f32 for XGBoost, f64 for LightGBM).
#[derive(Debug, Default)]
struct Trees<T> {
    nodes: Vec<Node<T>>,
    /// Each tree's root node.
    roots: Vec<u32>,
    /// Steps from each tree's root to its deepest leaf.
    depths: Vec<u32>,
    /// Each tree's output (class or target) index.
    groups: Vec<u32>,
    /// The same trees in the complete layout, when they are shallow enough.
    complete: Option<Complete<T>>,
    /// The same trees as one row walks them, where that layout applies (see one_row).
    one_row: Option<one_row::OneRow<T>>,
}

/// A split of the complete layout: the threshold and `meta` of its [`Node`].
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Split<T> {
    threshold: T,
    meta: u32,
}

/// The top `depth` levels of every tree grown into a complete binary tree, stored breadth
/// first (split `i`'s children are `2i + 1` and `2i + 2`). Why: a walk then finds the next
/// node by arithmetic instead of loading its index, takes the same number of steps on every
/// path (no branch to mispredict), and the walks of several trees or rows are independent
/// chains the CPU overlaps. Measured on 1M rows, 25 trees of depth 6: 0.46 s one walk at a
/// time, 0.19 s eight in lockstep, against 1.2 s for the preorder nodes. A leaf above the
/// bottom level becomes splits whose two sides hold copies of it, so the direction taken
/// there does not matter. Trees deeper than `depth` (LightGBM grows leaf-wise, 10-15 levels
/// for 31 leaves) go on from the bottom in the preorder nodes.
#[derive(Debug)]
///
/// Trees are stored in groups of LANES, interleaved: split `i` of tree `k` of a group at
/// `i * LANES + k` (leaves and exits likewise), so walks of the LANES trees of a group (one
/// row) or of one tree (LANES rows) address every node from one base register and an index
/// pre-scaled by LANES; separate base addresses per lane do not fit x86-64's registers and
/// spill. The last group is filled up with filler trees: walked, never summed.
struct Complete<T> {
    depth: u32,
    /// 2^depth - 1 per tree.
    splits: Vec<Split<T>>,
    /// 2^depth per tree: the leaf values, when every tree ends within `depth` levels.
    leaves: Vec<T>,
    /// Else 2^depth per tree: the preorder node each bottom position goes on from.
    exits: Vec<u32>,
    /// `splits` with each `meta` replaced by the column it reads in a block transposed by
    /// [`FoldedMissing`], when that walk is exact for the forest (XGBoost only); else empty.
    folded: Vec<Split<T>>,
}

impl<T> Complete<T> {
    /// Splits per tree.
    fn inner(&self) -> usize {
        (1 << self.depth) - 1
    }

    /// Index into `leaves` / `exits` of tree `t` once its walk's scaled index is `a`.
    #[inline(always)]
    fn bottom_slot(&self, t: usize, a: usize) -> usize {
        let (g, k) = (t / LANES, t % LANES);
        (g << self.depth) * LANES + a - self.inner() * LANES + k
    }
}

/// One step down a complete tree from scaled index `a` (= i * LANES for split i): to
/// `2i + 1` on the left, `2i + 2` on the right, scaled.
#[inline(always)]
fn child(a: usize, left: bool) -> usize {
    2 * a + 2 * LANES - (left as usize) * LANES
}

/// Most levels laid out completely: 1023 splits per tree.
const COMPLETE_MAX_DEPTH: u32 = 10;

/// Walks in lockstep: independent chains of loads the CPU overlaps, where one walk at a time
/// waits on each level's load.
const LANES: usize = 8;

/// Groups of LANES trees one row walks level by level together in the complete layout
/// (by_trees), and whose top lines the one-row layout asks for together (OneRow::each_leaf).
const GROUPS: usize = 16;

/// Rows a batch walks through each tree before moving to the next (a tree stays in L1 for
/// the block; XGBoost's own batch predictor does the same with 64).
const BLOCK_ROWS: usize = 64;

/// Asks for the first `len` nodes at `base + i * stride` for each of `count` groups of
/// trees at once: a served model is cold in cache on each call (the network path and the
/// other processes run between calls), and a walk that fetched each level when it got there
/// would wait for one memory round trip per level, one after another.
#[inline(always)]
fn prefetch_trees<N>(base: &[N], stride: usize, count: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    for i in 0..count {
        let bytes = len * std::mem::size_of::<N>();
        for offset in (0..bytes).step_by(64) {
            // SAFETY: a prefetch reads nothing architecturally; the address stays within
            // `base` (wrapping_add: not even computed out of bounds when it would be).
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                let p = (base.as_ptr().wrapping_add(i * stride) as *const i8).wrapping_add(offset);
                _mm_prefetch::<_MM_HINT_T0>(p);
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (base, stride, count, len);
}

/// Levels of every tree prefetched before a one-row walk (see prefetch_trees): levels 0-2
/// are 7 nodes per tree, all of which the walks of a group of LANES trees read in most
/// rows; deeper, most of a level's nodes would be fetched for nothing.
const PREFETCH_LEVELS: u32 = 3;

/// One step of a walk by the library's rules: whether feature value `x` goes left at a
/// split with this threshold and `meta`.
trait Decide<T>: Sized {
    fn left(threshold: T, meta: u32, x: T) -> bool;

    /// Scores rows tree by tree through the complete layout (see Trees::by_rows): by this
    /// rule, unless the family has a faster walk that gives the same results.
    fn by_rows(trees: &Trees<T>, c: &Complete<T>, rows: &[T], d: usize, acc: &mut [T], o: usize)
    where
        T: Copy + Default + std::ops::AddAssign,
    {
        trees.by_rows::<Plain<Self>, Self>(c, &c.splits, rows, d, acc, o);
    }
}

/// How Trees::by_rows reads a split from its block of rows transposed to columns.
trait Walk<T> {
    /// Columns of the block per feature.
    const COPIES: usize;
    /// Writes feature value `x`'s COPIES columns.
    fn fill(x: T, columns: &mut [T]);
    /// Where lane 0's value of the column the split with this `meta` reads is in the block
    /// (the column times LANES).
    fn offset(meta: u32) -> usize;
    fn left(threshold: T, meta: u32, x: T) -> bool;
}

/// A split reads its feature's value and decides by rule `R`.
struct Plain<R>(std::marker::PhantomData<R>);

impl<T: Copy, R: Decide<T>> Walk<T> for Plain<R> {
    const COPIES: usize = 1;
    #[inline(always)]
    fn fill(x: T, columns: &mut [T]) {
        columns[0] = x;
    }
    #[inline(always)]
    fn offset(meta: u32) -> usize {
        feature(meta) * LANES
    }
    #[inline(always)]
    fn left(threshold: T, meta: u32, x: T) -> bool {
        R::left(threshold, meta, x)
    }
}

/// XGBoost's rule with the missing value folded into the block: each feature twice, NaN as
/// +inf in column 2f (read by default-right splits: `+inf < t` is false for every t) and as
/// -inf in column 2f + 1 (default-left splits: `-inf < t` holds for every t above -inf,
/// which `Trees::fold_missing` checks). A split is then one comparison where XGBoostRule
/// needs the NaN test and the default bit too. Measured on 1M rows, 25 trees of depth 6:
/// 0.23 s -> 0.14 s of walk.
struct FoldedMissing;

impl Walk<f32> for FoldedMissing {
    const COPIES: usize = 2;
    #[inline(always)]
    fn fill(x: f32, columns: &mut [f32]) {
        let (right, left) = if x.is_nan() {
            (f32::INFINITY, f32::NEG_INFINITY)
        } else {
            (x, x)
        };
        columns[0] = right;
        columns[1] = left;
    }
    #[inline(always)]
    fn offset(meta: u32) -> usize {
        // Scaled by fold_missing: one instruction less per step of the walk.
        meta as usize
    }
    #[inline(always)]
    fn left(threshold: f32, _: u32, x: f32) -> bool {
        x < threshold
    }
}

/// The feature of the split `meta` in `row`.
#[inline(always)]
fn value<T: Copy>(meta: u32, row: &[T]) -> T {
    // SAFETY: validate() checked every split's feature against the row width; the complete
    // layout's filler splits read feature 0.
    unsafe { *row.get_unchecked(feature(meta)) }
}

/// XGBoost: NaN to the default child, else `x < threshold` to the left.
struct XGBoostRule;

impl Decide<f32> for XGBoostRule {
    #[inline(always)]
    fn left(threshold: f32, meta: u32, x: f32) -> bool {
        // Branch-free: on rows that differ from call to call a split's direction is a coin
        // toss. NaN compares false, so the default bit decides for it.
        (x < threshold) | (x.is_nan() & (meta & DEFAULT_LEFT != 0))
    }

    fn by_rows(
        trees: &Trees<f32>,
        c: &Complete<f32>,
        rows: &[f32],
        d: usize,
        acc: &mut [f32],
        o: usize,
    ) {
        if c.folded.is_empty() {
            trees.by_rows::<Plain<Self>, Self>(c, &c.splits, rows, d, acc, o);
        } else {
            trees.by_rows::<FoldedMissing, Self>(c, &c.folded, rows, d, acc, o);
        }
    }
}

impl Trees<f32> {
    /// Lays out `Complete::folded` for XGBoost's rule, when FoldedMissing is exact for every
    /// split: no default-left split at a threshold of -inf or NaN.
    fn fold_missing(&mut self) {
        let Some(c) = &mut self.complete else { return };
        let exact = c
            .splits
            .iter()
            .all(|s| s.meta & DEFAULT_LEFT == 0 || s.threshold > f32::NEG_INFINITY);
        // Each split's `meta` becomes FoldedMissing::offset: its column, 2f + default_left,
        // times LANES (a feature index too large for that keeps the plain walk).
        let offset = |s: &Split<f32>| {
            let column = 2 * feature(s.meta) + usize::from(s.meta & DEFAULT_LEFT != 0);
            u32::try_from(column * LANES).ok()
        };
        if exact {
            let folded: Option<Vec<_>> = c
                .splits
                .iter()
                .map(|s| {
                    offset(s).map(|meta| Split {
                        threshold: s.threshold,
                        meta,
                    })
                })
                .collect();
            c.folded = folded.unwrap_or_default();
        }
    }
}

/// LightGBM (`Tree::NumericalDecision`), on a row already widened to f64.
struct LightGBMRule;

impl Decide<f64> for LightGBMRule {
    #[inline(always)]
    fn left(threshold: f64, meta: u32, mut x: f64) -> bool {
        let missing = (meta >> MISSING_SHIFT) & 3;
        if x.is_nan() && missing != Missing::Nan as u32 {
            x = 0.0;
        }
        let to_default = (missing == Missing::Zero as u32 && is_zero(x))
            || (missing == Missing::Nan as u32 && x.is_nan());
        if to_default {
            meta & DEFAULT_LEFT != 0
        } else {
            x <= threshold
        }
    }
}

impl<T: Copy + Default + std::ops::AddAssign> Trees<T> {
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
    /// must give an error, not a crash in a backend), then lays the trees out for the walk.
    /// Walks end: push_tree builds trees only.
    fn validate(&mut self, num_features: usize, outputs: usize) -> Result<(), Unsupported> {
        let n = self.nodes.len();
        for (i, node) in self.nodes.iter().enumerate() {
            if !node.is_leaf() && feature(node.meta) >= num_features {
                return Err(format!(
                    "a split on feature {} of {num_features}",
                    feature(node.meta)
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
        self.complete = self.lay_out_complete();
        Ok(())
    }

    /// The complete layout of the top levels of the validated trees: as deep as the deepest
    /// tree up to COMPLETE_MAX_DEPTH, and shallower where it would take more than 8 times
    /// the memory of the nodes (a lopsided forest).
    fn lay_out_complete(&self) -> Option<Complete<T>> {
        let groups = self.roots.len().div_ceil(LANES);
        let budget = (8 * self.nodes.len()).max(1 << 16);
        let mut depth = self.depths.iter().copied().max()?.min(COMPLETE_MAX_DEPTH);
        while depth > 0 && ((groups * LANES) << depth) > budget {
            depth -= 1;
        }
        let per_tree = 1usize << depth;
        let inner = per_tree - 1;
        let filler = Split {
            threshold: T::default(),
            meta: 0,
        };
        let mut splits = vec![filler; groups * LANES * inner];
        let mut leaves = vec![T::default(); groups * LANES * per_tree];
        let mut exits = vec![0u32; groups * LANES * per_tree];
        let mut deeper = false;
        let mut stack = vec![];
        for (t, root) in self.roots.iter().enumerate() {
            let (g, k) = (t / LANES, t % LANES);
            let split_at = |pos: usize| (g * inner + pos) * LANES + k;
            let bottom_at = |pos: usize| (g * per_tree + pos - inner) * LANES + k;
            // (node, position in the complete tree, level)
            stack.push((*root as usize, 0usize, 0u32));
            while let Some((at, pos, level)) = stack.pop() {
                let n = self.nodes[at];
                if level == depth {
                    leaves[bottom_at(pos)] = n.threshold;
                    exits[bottom_at(pos)] = at as u32;
                    deeper |= !n.is_leaf();
                } else if n.is_leaf() {
                    // Both sides the same leaf: the filler split's direction is moot.
                    stack.push((at, 2 * pos + 1, level + 1));
                    stack.push((at, 2 * pos + 2, level + 1));
                } else {
                    splits[split_at(pos)] = Split {
                        threshold: n.threshold,
                        meta: n.meta,
                    };
                    stack.push((at + 1, 2 * pos + 1, level + 1));
                    stack.push((n.right as usize, 2 * pos + 2, level + 1));
                }
            }
        }
        if deeper {
            leaves = vec![];
        } else {
            exits = vec![];
        }
        Some(Complete {
            depth,
            splits,
            leaves,
            exits,
            folded: vec![],
        })
    }

    /// The leaf at `slot` of the complete layout's bottom for `row` (see bottom_slot).
    #[inline(always)]
    fn bottom<R: Decide<T>>(&self, c: &Complete<T>, slot: usize, row: &[T]) -> T {
        // SAFETY: bottom_slot is below groups * LANES * 2^depth, the length of whichever of
        // the two is kept; exits are validated nodes.
        unsafe {
            if c.exits.is_empty() {
                *c.leaves.get_unchecked(slot)
            } else {
                self.leaf::<R>(*c.exits.get_unchecked(slot) as usize, row)
            }
        }
    }

    /// Adds each tree's leaf for each `d`-wide row of `rows` to that row's `outputs` values
    /// in `acc`, in tree order for every row (the libraries' order of summation).
    fn accumulate_rows<R: Decide<T>>(&self, rows: &[T], d: usize, acc: &mut [T], outputs: usize) {
        let Some(c) = &self.complete else {
            for (row, a) in rows.chunks_exact(d).zip(acc.chunks_exact_mut(outputs)) {
                self.accumulate::<R>(row, a);
            }
            return;
        };
        let full = rows.len() / d / LANES * LANES;
        let (lanes, rest) = rows.split_at(full * d);
        let (lanes_acc, rest_acc) = acc.split_at_mut(full * outputs);
        if full > 0 {
            R::by_rows(self, c, lanes, d, lanes_acc, outputs);
        }
        for (row, a) in rest.chunks_exact(d).zip(rest_acc.chunks_exact_mut(outputs)) {
            self.by_trees::<R>(c, row, a);
        }
    }

    /// One row through the complete layout, a group of LANES trees in lockstep.
    #[inline]
    fn by_trees<R: Decide<T>>(&self, c: &Complete<T>, row: &[T], acc: &mut [T]) {
        if let [only] = acc {
            // One output: the sum stays in a register (through `acc` every add waits for
            // the previous one's store).
            let mut sum = *only;
            self.each_leaf::<R>(c, row, |_, leaf| sum += leaf);
            *only = sum;
        } else {
            self.each_leaf::<R>(c, row, |t, leaf| {
                // SAFETY: t < trees; groups are below the outputs (validated).
                unsafe { *acc.get_unchecked_mut(*self.groups.get_unchecked(t) as usize) += leaf }
            });
        }
    }

    /// Calls `add(tree, leaf)` for each tree's leaf for `row`, in tree order.
    #[inline(always)]
    fn each_leaf<R: Decide<T>>(&self, c: &Complete<T>, row: &[T], mut add: impl FnMut(usize, T)) {
        let trees = self.roots.len();
        if c.depth == 0 {
            // No splits: every tree is one leaf.
            return (0..trees).for_each(|t| add(t, self.bottom::<R>(c, c.bottom_slot(t, 0), row)));
        }
        let group_len = c.inner() * LANES;
        let top = ((1usize << c.depth.min(PREFETCH_LEVELS)) - 1) * LANES;
        prefetch_trees(&c.splits, group_len, trees.div_ceil(LANES), top);
        // GROUPS groups at a time, level by level: their walks are independent chains, and
        // a served model is cold in cache, so one level's loads of every group are in
        // flight together instead of one group's walk waiting on each of its misses before
        // the next group's start (the out-of-order window holds about one group's walk).
        for (h, pack) in c.splits.chunks(group_len * GROUPS).enumerate() {
            let n = pack.len() / group_len;
            let mut a = [[0usize; LANES]; GROUPS];
            for _ in 0..c.depth {
                for (g, a) in a.iter_mut().enumerate().take(n) {
                    // SAFETY: g < n, so the group's splits lie in `pack`.
                    let splits = unsafe { pack.get_unchecked(g * group_len..) };
                    for (k, a) in a.iter_mut().enumerate() {
                        // SAFETY: a / LANES stays below `inner` for `depth` steps.
                        let s = unsafe { *splits.get_unchecked(*a + k) };
                        *a = child(*a, R::left(s.threshold, s.meta, value(s.meta, row)));
                    }
                }
            }
            for (g, a) in a.iter().enumerate().take(n) {
                let first = (h * GROUPS + g) * LANES;
                for (k, a) in a.iter().enumerate().take(trees - first) {
                    add(
                        first + k,
                        self.bottom::<R>(c, c.bottom_slot(first + k, *a), row),
                    );
                }
            }
        }
    }

    /// `acc.len() / outputs` rows (a multiple of LANES) through the complete layout, tree by
    /// tree, LANES rows in lockstep: the tree stays in cache for the whole block. `splits`
    /// is the layout's splits as walk `W` reads them; rule `R` goes on from an exit.
    fn by_rows<W: Walk<T>, R: Decide<T>>(
        &self,
        c: &Complete<T>,
        splits: &[Split<T>],
        rows: &[T],
        d: usize,
        acc: &mut [T],
        outputs: usize,
    ) {
        // Each group of LANES rows transposed: lane k reads column j at j * LANES + k, one
        // base address for all the lanes, as for the trees.
        let width = d * W::COPIES;
        let mut cols = vec![T::default(); rows.len() * W::COPIES];
        for (group, rows8) in cols
            .chunks_exact_mut(width * LANES)
            .zip(rows.chunks_exact(d * LANES))
        {
            for (k, row) in rows8.chunks_exact(d).enumerate() {
                let mut copies = [T::default(); 2];
                for (f, x) in row.iter().enumerate() {
                    W::fill(*x, &mut copies[..W::COPIES]);
                    for (j, v) in copies[..W::COPIES].iter().enumerate() {
                        group[(f * W::COPIES + j) * LANES + k] = *v;
                    }
                }
            }
        }
        for (t, group) in self.groups.iter().enumerate() {
            let (g, kt) = (t / LANES, t % LANES);
            // Tree t's split i is at (g * inner + i) * LANES + kt: from here, at i * LANES.
            let splits = &splits[(g * c.inner() * LANES + kt).min(splits.len())..];
            let group = *group as usize;
            for ((cols8, rows8), acc8) in cols
                .chunks_exact(width * LANES)
                .zip(rows.chunks_exact(d * LANES))
                .zip(acc.chunks_exact_mut(outputs * LANES))
            {
                let mut a = [0usize; LANES];
                for _ in 0..c.depth {
                    for (k, a) in a.iter_mut().enumerate() {
                        // SAFETY: a / LANES stays below `inner` for `depth` steps; a split's
                        // column is below `width` (features validated, fillers read 0), so
                        // the index is in cols8.
                        let (s, x) = unsafe {
                            let s = *splits.get_unchecked(*a);
                            (s, *cols8.get_unchecked(W::offset(s.meta) + k))
                        };
                        *a = child(*a, W::left(s.threshold, s.meta, x));
                    }
                }
                for (k, a) in a.iter().enumerate() {
                    let leaf = self.bottom::<R>(c, c.bottom_slot(t, *a), &rows8[k * d..]);
                    // SAFETY: group < outputs (validated).
                    unsafe { *acc8.get_unchecked_mut(k * outputs + group) += leaf };
                }
            }
        }
    }

    /// Adds each tree's leaf for `row` to `acc[group]`, in tree order, walking the preorder
    /// nodes (a forest without the complete layout).
    #[inline]
    fn accumulate<R: Decide<T>>(&self, row: &[T], acc: &mut [T]) {
        for (root, group) in self.roots.iter().zip(&self.groups) {
            let leaf = self.leaf::<R>(*root as usize, row);
            // SAFETY: validate() bounds every group against the outputs.
            unsafe { *acc.get_unchecked_mut(*group as usize) += leaf };
        }
    }

    /// The value of the leaf `row` reaches from preorder node `at`.
    #[inline(always)]
    fn leaf<R: Decide<T>>(&self, mut at: usize, row: &[T]) -> T {
        // SAFETY: validate() bounds every root, `right` and `i + 1` of a split, and callers
        // start from a root or a validated exit.
        unsafe {
            let mut n = self.nodes.get_unchecked(at);
            while !n.is_leaf() {
                at = if R::left(n.threshold, n.meta, value(n.meta, row)) {
                    at + 1
                } else {
                    n.right as usize
                };
                n = self.nodes.get_unchecked(at);
            }
            n.threshold
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
        // One row (a served pgml.predict) takes its own short path, see predict_one.
        if x.len() == d && self.predict_one(x, out) {
            return;
        }
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
    fn one_value(&self, x: &[f32]) -> Option<f32> {
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
    fn one_row_layout(&self) -> bool {
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
    fn predict_one(&self, x: &[f32]) -> Option<f32> {
        let v = self
            .evaluator
            .native()
            .filter(|_| enabled())?
            .one_value(x)?;
        // One output: a regression's value, or a binary classifier's P(class 1).
        Some(match self.shape.task {
            super::Task::Classification => super::class_of(v),
            _ => v,
        })
    }

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
    Native(Box<Forest>),
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
            Ok(f) if f.num_features == num_features && f.outputs == outputs => {
                Evaluator::Native(Box::new(f))
            }
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
        // Every probe row alone through the native one-row layout (the serving path), which
        // these models, histogram-trained on few features, all have.
        assert!(forest.one_row_layout(), "{what}: laid out for one row");
        let mut one = vec![];
        for row in probes.chunks_exact(FEATURES) {
            forest.predict(row, &mut one);
        }
        assert_identical(&format!("{what} one row natively"), &native, &one);
        // Both forms of the one-row layout, whichever the forest chose, on the raw sums.
        let d = forest.num_features;
        match &forest.family {
            super::Family::XGBoost(t) => {
                super::tests::one_row_forms_agree::<f32, super::XGBoostRule>(
                    t,
                    probes,
                    d,
                    forest.outputs(),
                );
            }
            super::Family::LightGBM { trees, .. } => {
                super::tests::one_row_forms_agree::<f64, super::LightGBMRule>(
                    trees,
                    probes,
                    d,
                    forest.outputs(),
                );
            }
        }
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

    /// The same trees with no layout but the preorder nodes.
    fn bare<T: Copy>(t: &Trees<T>) -> Trees<T> {
        Trees {
            nodes: t.nodes.clone(),
            roots: t.roots.clone(),
            depths: t.depths.clone(),
            groups: t.groups.clone(),
            complete: None,
            one_row: None,
        }
    }

    /// Each tree's leaf for `row`: one output per tree.
    fn leaves<T: Copy + Default + std::ops::AddAssign, R: Decide<T>>(
        t: &Trees<T>,
        row: &[T],
    ) -> Vec<T> {
        let per_tree = Trees {
            groups: (0..t.roots.len() as u32).collect(),
            ..bare(t)
        };
        let mut acc = vec![T::default(); t.roots.len()];
        per_tree.accumulate::<R>(row, &mut acc);
        acc
    }

    /// Sums for `rows` (width `d`, one output) through the complete layout, one row at a
    /// time and in blocks (with and then without the missing values folded into the block),
    /// checked against the preorder walk bit for bit.
    fn assert_layouts_agree(t: &mut Trees<f32>, rows: &[f32], d: usize) {
        assert_layouts_agree_as_laid_out(t, rows, d);
        let c = t.complete.as_mut().expect("laid out");
        let folded = std::mem::take(&mut c.folded);
        assert_layouts_agree_as_laid_out(t, rows, d);
        t.complete.as_mut().expect("laid out").folded = folded;
    }

    fn assert_layouts_agree_as_laid_out(t: &Trees<f32>, rows: &[f32], d: usize) {
        assert!(t.complete.is_some(), "laid out");
        let preorder = bare(t);
        let n = rows.len() / d;
        let mut want = vec![0f32; n];
        preorder.accumulate_rows::<XGBoostRule>(rows, d, &mut want, 1);
        let mut block = vec![0f32; n];
        t.accumulate_rows::<XGBoostRule>(rows, d, &mut block, 1);
        let mut single = vec![0f32; n];
        for (row, a) in rows.chunks_exact(d).zip(single.chunks_exact_mut(1)) {
            t.accumulate_rows::<XGBoostRule>(row, d, a, 1);
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&block), bits(&want), "blocks");
        assert_eq!(bits(&single), bits(&want), "one row at a time");
        // A NaN threshold has no cut: such a forest keeps the complete layout for one row.
        let nan = t.nodes.iter().any(|n| !n.is_leaf() && n.threshold.is_nan());
        match one_row_sums::<f32, XGBoostRule>(t, rows, d) {
            Some(sums) => assert_eq!(bits(&sums), bits(&want), "the one-row layout"),
            None => assert!(nan, "not laid out for one row"),
        }
    }

    /// Sums for `rows` (one output) through the one-row layout, laid out here for rule `R`;
    /// None where that layout does not apply.
    fn one_row_sums<T, R>(t: &Trees<T>, rows: &[f32], d: usize) -> Option<Vec<T>>
    where
        T: Copy + Default + std::ops::AddAssign + Into<f64>,
        R: one_row::Cuts<T>,
    {
        let mut laid = bare(t);
        laid.lay_out_one_row::<R>(d);
        laid.one_row.as_ref()?;
        let sums = one_row_forms_agree::<T, R>(t, rows, d, 1);
        let mut chosen = vec![T::default(); rows.len() / d];
        for (row, a) in rows.chunks_exact(d).zip(chosen.chunks_exact_mut(1)) {
            assert!(laid.accumulate_few::<R>(row, d, a), "laid out");
        }
        assert_eq!(bits_of(&chosen), bits_of(&sums), "the form chosen");
        Some(sums)
    }

    fn bits_of<T: Copy + Into<f64>>(v: &[T]) -> Vec<u64> {
        v.iter().map(|x| (*x).into().to_bits()).collect()
    }

    /// `outputs` sums per row of `rows` through the one-row layout's walk and its quick form
    /// (laid out here for rule `R`), which must agree bit for bit; the walk's sums. The quick
    /// form must apply wherever every tree has at most 64 leaves.
    pub(super) fn one_row_forms_agree<T, R>(
        t: &Trees<T>,
        rows: &[f32],
        d: usize,
        outputs: usize,
    ) -> Vec<T>
    where
        T: Copy + Default + std::ops::AddAssign + Into<f64>,
        R: one_row::Cuts<T>,
    {
        let n = rows.len() / d;
        let mut sums = vec![];
        for quick in [false, true] {
            let mut laid = bare(t);
            laid.one_row = one_row::OneRow::new::<R>(&laid, d, Some(quick));
            let layout = laid.one_row.as_ref().expect("laid out");
            let leaves = |root: &u32| {
                let mut stack = vec![*root as usize];
                let mut count = 0;
                while let Some(at) = stack.pop() {
                    if t.nodes[at].is_leaf() {
                        count += 1;
                    } else {
                        stack.extend([at + 1, t.nodes[at].right as usize]);
                    }
                }
                count
            };
            let fits = t.roots.iter().all(|r| leaves(r) <= 64);
            assert_eq!(layout.is_quick(), quick && fits, "the form asked for");
            let mut acc = vec![T::default(); n * outputs];
            // Row by row: accumulate_few takes fewer rows than LANES.
            for (row, a) in rows.chunks_exact(d).zip(acc.chunks_exact_mut(outputs)) {
                assert!(laid.accumulate_few::<R>(row, d, a), "laid out");
            }
            sums.push(acc);
        }
        assert_eq!(bits_of(&sums[1]), bits_of(&sums[0]), "quick against walk");
        sums.swap_remove(0)
    }

    /// A chain on two features: split 2j (on feature j % 2, at `thresholds[j]`, default
    /// left for odd j) sends the row left to leaf 2j + 1, else on to split 2j + 2.
    fn chain<T: Copy + Default + std::ops::AddAssign + From<f32>>(
        thresholds: &[T],
        missing: Missing,
    ) -> Trees<T> {
        let mut t = Trees::default();
        let n = 2 * thresholds.len() + 1;
        for shift in 0..3 {
            t.push_tree(
                0,
                n,
                |i| (i % 2 == 0 && i + 2 < n).then_some((i + 1, i + 2)),
                |i| {
                    let j = (i / 2 + shift) % thresholds.len();
                    (thresholds[j], (j % 2) as u32, j % 2 == 1, missing)
                },
                |i| T::from((i + 100 * shift) as f32),
            )
            .unwrap();
        }
        t.validate(2, 1).unwrap();
        t
    }

    /// Both features over every value of `values`.
    fn grid(values: &[f32]) -> Vec<f32> {
        (0..values.len() * values.len())
            .flat_map(|i| [values[i % values.len()], values[i / values.len()]])
            .collect()
    }

    /// LightGBM's f64 thresholds, compared against f32 cuts rounded down, and its three
    /// missing-value modes: the one-row layout agrees with the f64 walk on the widened row
    /// at values either side of every threshold.
    #[test]
    fn one_row_layout_walks_lightgbm_thresholds_and_missing_modes_exactly() {
        let thresholds = [0.1, 1.0, -0.1, 1e-36, 0.0, -1e300, 1e300, 1e-30, -7.25];
        let mut values = vec![f32::NAN, f32::NEG_INFINITY, f32::INFINITY, 0.0, -0.0];
        for t in thresholds {
            let near = t as f32;
            values.extend([near, near.next_up(), near.next_down(), -near]);
        }
        values.extend([1e-35, -1e-35, 1e-35f32.next_up(), f32::MAX, f32::MIN]);
        let rows = grid(&values);
        for missing in [Missing::None, Missing::Zero, Missing::Nan] {
            let t = chain::<f64>(&thresholds, missing);
            let mut want = vec![];
            for row in rows.chunks_exact(2) {
                let wide: Vec<f64> = row
                    .iter()
                    .map(|v| {
                        if is_zero(f64::from(*v)) {
                            0.0
                        } else {
                            f64::from(*v)
                        }
                    })
                    .collect();
                let mut a = [0f64];
                t.accumulate::<LightGBMRule>(&wide, &mut a);
                want.push(a[0]);
            }
            let got = one_row_sums::<f64, LightGBMRule>(&t, &rows, 2).expect("laid out");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    w.to_bits(),
                    "{missing:?}: row {:?}",
                    &rows[2 * i..][..2]
                );
            }
        }
    }

    /// The quick form's leaf masks at their widths: 32 leaves in a u32, 33 and 64 in a u64;
    /// 65 leaves fit neither and walk. Values either side of every threshold, and NaN.
    #[test]
    fn one_row_quick_form_holds_up_to_64_leaves() {
        for splits in [31, 32, 63, 64] {
            let thresholds: Vec<f32> = (0..splits).map(|i| i as f32 * 0.5 - 3.0).collect();
            let mut values = vec![f32::NAN, f32::NEG_INFINITY, f32::INFINITY];
            for t in &thresholds {
                values.extend([*t, t.next_up(), t.next_down()]);
            }
            let rows = grid(&values);
            let t = chain::<f32>(&thresholds, Missing::Nan);
            // one_row_forms_agree asserts the quick form applies exactly up to 64 leaves.
            let sums = one_row_forms_agree::<f32, XGBoostRule>(&t, &rows, 2, 1);
            let mut want = vec![0f32; rows.len() / 2];
            for (row, a) in rows.chunks_exact(2).zip(want.chunks_exact_mut(1)) {
                t.accumulate::<XGBoostRule>(row, a);
            }
            assert_eq!(bits_of(&sums), bits_of(&want), "{splits} splits");
        }
    }

    #[test]
    fn one_row_layout_declines_what_it_cannot_hold() {
        let rows = grid(&[0.0, 1.0]);
        // A feature split under two missing modes.
        let mut mixed = chain::<f64>(&[0.5, 1.5], Missing::Zero);
        mixed.nodes[0].meta = (mixed.nodes[0].meta & !(3 << MISSING_SHIFT))
            | ((Missing::Nan as u32) << MISSING_SHIFT);
        assert!(one_row_sums::<f64, LightGBMRule>(&mixed, &rows, 2).is_none());
        // More than 256 distinct cuts on one feature; 256 fit, and are searched exactly
        // across all their blocks. (Features alternate along the chain: half the thresholds
        // are feature 0's.)
        let mut values = vec![f32::NAN, f32::NEG_INFINITY, f32::INFINITY, -0.0];
        values.extend((0..1040).map(|i| i as f32 * 0.5 - 0.5));
        let pairs: Vec<f32> = values
            .iter()
            .zip(values.iter().rev())
            .flat_map(|(a, b)| [*a, *b])
            .collect();
        for (cuts, fits) in [(512, true), (514, false)] {
            let thresholds: Vec<f32> = (0..cuts).map(|i| i as f32).collect();
            let mut t = chain::<f32>(&thresholds, Missing::Nan);
            assert_eq!(
                one_row_sums::<f32, XGBoostRule>(&t, &pairs, 2).is_some(),
                fits,
                "{cuts} cuts on two features"
            );
            if fits {
                assert_layouts_agree(&mut t, &pairs, 2);
            }
        }
        // 128 features do not fit a one-byte column.
        let t = chain::<f32>(&[0.5], Missing::Nan);
        let wide = vec![0f32; 128];
        assert!(one_row_sums::<f32, XGBoostRule>(&t, &wide, 128).is_none());
        assert!(one_row_sums::<f32, XGBoostRule>(&t, &wide[..127], 127).is_some());
    }

    #[test]
    fn complete_layout_walks_like_the_preorder_nodes_bit_for_bit() {
        // Trees of depth 0, 2 and a lopsided 4 (leaves on every level), 11 of them: one full
        // group of LANES trees and a partial one.
        let mut t = Trees::<f32>::default();
        let chain = |i: usize| (i < 4).then_some((i + 1, 5 + i));
        for k in 0..11u32 {
            match k % 3 {
                0 => t.push_tree(0, 1, |_| None, |_| unreachable!(), |_| k as f32),
                1 => t.push_tree(
                    0,
                    5,
                    |i| match i {
                        0 => Some((1, 2)),
                        1 => Some((3, 4)),
                        _ => None,
                    },
                    |i| (0.5 * i as f32, (i % 2) as u32, k % 2 == 0, Missing::Nan),
                    |i| i as f32 + 0.25,
                ),
                _ => t.push_tree(
                    0,
                    9,
                    chain,
                    |i| (i as f32 - 1.5, (i % 2) as u32, i % 2 == 0, Missing::Nan),
                    |i| i as f32 * 0.1,
                ),
            }
            .unwrap();
        }
        t.validate(2, 1).unwrap();
        t.fold_missing();
        assert_eq!(t.complete.as_ref().map(|c| c.depth), Some(4));
        assert!(!t.complete.as_ref().unwrap().folded.is_empty(), "folded");
        let values = [
            f32::NAN,
            f32::NEG_INFINITY,
            -3.0,
            -1.5,
            -0.5,
            0.0,
            0.5,
            1.0,
            2.5,
            9.0,
            f32::INFINITY,
        ];
        let rows: Vec<f32> = (0..values.len() * values.len())
            .flat_map(|i| [values[i % values.len()], values[i / values.len()]])
            .collect();
        assert_layouts_agree(&mut t, &rows, 2);
        // Leaves only: a layout without splits.
        let mut stumps = Trees::<f32>::default();
        for k in 0..3 {
            stumps
                .push_tree(0, 1, |_| None, |_| unreachable!(), |_| k as f32 + 0.5)
                .unwrap();
        }
        stumps.validate(1, 1).unwrap();
        stumps.fold_missing();
        assert_eq!(stumps.complete.as_ref().map(|c| c.depth), Some(0));
        assert_layouts_agree(&mut stumps, &[0.0; 9], 1);
        let mut acc = [0f32];
        stumps.accumulate_rows::<XGBoostRule>(&[0.0], 1, &mut acc, 1);
        assert_eq!(acc[0], 4.5);
        // A chain deeper than the complete layout goes on from its bottom in the preorder
        // nodes (split 2j: x < j goes left to leaf 2j + 1, else on to split 2j + 2).
        let mut deep = Trees::<f32>::default();
        let n = 2 * (COMPLETE_MAX_DEPTH as usize + 2) + 1;
        deep.push_tree(
            0,
            n,
            |i| (i % 2 == 0 && i + 2 < n).then_some((i + 1, i + 2)),
            |i| ((i / 2) as f32, 0, i % 4 == 0, Missing::Nan),
            |i| i as f32,
        )
        .unwrap();
        deep.validate(1, 1).unwrap();
        deep.fold_missing();
        let c = deep.complete.as_ref().unwrap();
        assert_eq!(c.depth, COMPLETE_MAX_DEPTH);
        assert!(
            c.leaves.is_empty() && !c.exits.is_empty(),
            "goes on in the nodes"
        );
        let rows: Vec<f32> = (0..30)
            .map(|i| i as f32 * 0.5 - 1.0)
            .chain([f32::NAN, f32::NEG_INFINITY, f32::INFINITY])
            .collect();
        assert_layouts_agree(&mut deep, &rows, 1);
    }

    /// A default-left split at -inf or NaN sends NaN left and every number right (or, at
    /// NaN, every number right too): FoldedMissing's -inf would go right, so such a forest
    /// keeps the plain walk, and still agrees with the preorder nodes.
    #[test]
    fn infinite_and_nan_thresholds_keep_the_plain_walk() {
        for (threshold, folds) in [
            (f32::NEG_INFINITY, false),
            (f32::NAN, false),
            (f32::INFINITY, true),
            (-1e30, true),
        ] {
            let mut t = Trees::<f32>::default();
            for k in 0..9u32 {
                t.push_tree(
                    0,
                    3,
                    |i| (i == 0).then_some((1, 2)),
                    |_| (threshold, 0, k % 2 == 0, Missing::Nan),
                    |i| i as f32 + k as f32,
                )
                .unwrap();
            }
            t.validate(1, 1).unwrap();
            t.fold_missing();
            let c = t.complete.as_ref().unwrap();
            assert_eq!(!c.folded.is_empty(), folds, "threshold {threshold}");
            let rows = [
                f32::NAN,
                f32::NEG_INFINITY,
                -1e30,
                0.0,
                f32::INFINITY,
                f32::NAN,
                1.0,
                -2.0,
                f32::NAN,
            ];
            assert_layouts_agree(&mut t, &rows, 1);
        }
    }

    #[test]
    fn walks_thresholds_and_default_directions() {
        let mut t = leaf_tree();
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
        t.accumulate_rows::<XGBoostRule>(&[0.0, 5.0], 2, &mut acc, 1);
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
