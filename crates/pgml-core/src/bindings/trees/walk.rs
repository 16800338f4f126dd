//! The walks: how a row goes down the trees by each library's rule ([`Decide`]), one row or
//! a block of rows at a time, through the layouts of layout.rs.

use super::layout::{feature, Complete, Split, Trees, DEFAULT_LEFT, LANES, MISSING_SHIFT};
use super::Missing;

/// One step down a complete tree from scaled index `a` (= i * LANES for split i): to
/// `2i + 1` on the left, `2i + 2` on the right, scaled.
#[inline(always)]
fn child(a: usize, left: bool) -> usize {
    2 * a + 2 * LANES - (left as usize) * LANES
}

/// Groups of LANES trees one row walks level by level together in the complete layout
/// (by_trees), and whose top lines the one-row layout asks for together (OneRow::each_leaf).
pub(super) const GROUPS: usize = 16;

/// Asks for the first `len` nodes at `base + i * stride` for each of `count` groups of
/// trees at once: a served model is cold in cache on each call (the network path and the
/// other processes run between calls), and a walk that fetched each level when it got there
/// would wait for one memory round trip per level, one after another.
#[inline(always)]
pub(super) fn prefetch_trees<N>(base: &[N], stride: usize, count: usize, len: usize) {
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
pub(super) trait Decide<T>: Sized {
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
pub(super) struct XGBoostRule;

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
    pub(super) fn fold_missing(&mut self) {
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
pub(super) struct LightGBMRule;

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
    pub(super) fn accumulate_rows<R: Decide<T>>(
        &self,
        rows: &[T],
        d: usize,
        acc: &mut [T],
        outputs: usize,
    ) {
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
    pub(super) fn accumulate<R: Decide<T>>(&self, row: &[T], acc: &mut [T]) {
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

/// LightGBM's kZeroThreshold (1e-35f, widened).
const ZERO: f64 = 1e-35_f32 as f64;

pub(super) fn is_zero(x: f64) -> bool {
    (-ZERO..=ZERO).contains(&x)
}
