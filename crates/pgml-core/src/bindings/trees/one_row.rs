//! The one-row layout: what a `pgml.predict` of one row walks.
//!
//! Why a layout of its own: a served model is cold in cache on every call (the network path,
//! the executor and the other backend run between calls), so a one-row walk pays for the
//! cache lines it touches as well as its comparisons. The complete layout is built for
//! batches: trees interleaved by LANES, 8-byte splits (16 for LightGBM's f64 thresholds),
//! every tree padded to the depth of the deepest. For one row each tree's path then lands on
//! its own line at every level, and a LightGBM model of 100 leaf-wise trees laid out 9
//! levels deep is 850 KB, more than L2, evicting Postgres's own working set on every call.
//!
//! Here each split is 4 bytes: the row is first quantized, each feature's value replaced by
//! its position among the distinct thresholds the forest compares that feature with (at most
//! 256, as both libraries' histogram methods cut features into at most 256 bins), so a
//! split is a one-byte column and a one-byte bin. Trees are stored one after another,
//! breadth first with a node's two children adjacent, so a tree's top levels share a line.
//! A 100-tree model is then 24-47 KB of splits.
//!
//! The quantized row then finds its leaves in one of two forms, whichever the forest's shape
//! makes cheaper (QUICK_SPLITS_PER_STEP): a walk from each tree's root, or every split of a
//! column at once, no walk (see quick).
//!
//! Exact, not approximate: for an f32 value x and the sorted distinct cuts c of its feature,
//! with q(x) = how many cuts lie below x (XGBoost: `c <= x`, as its `x < t` is strict;
//! LightGBM: `c < x`), x goes left at the split on cut c[i] exactly when q(x) <= i. A value
//! that takes a split's default direction (NaN; LightGBM's zero mode) gets q = 0 in the
//! column default-left splits read and q = 256 (right of every bin) in the other.
//! LightGBM's f64 thresholds become f32 cuts rounded down: for an f32 x, `x <= t` exactly
//! when `x <= t` rounded down to f32.

use super::quick::Quick;
use super::{feature, is_zero, Missing, Node, Trees, DEFAULT_LEFT, GROUPS, LANES, MISSING_SHIFT};

/// Steps prefetched from each tree's root before a walk: levels 0-4 when the root is at the
/// start of a line (two lines; at most three levels' worth is lost to where the tree starts).
const TOP_STEPS: usize = 32;

/// Most distinct cuts per feature: a split's bin is one byte.
const MAX_CUTS: usize = 256;
/// Most features: two columns each and the leaves' column fit a one-byte column.
const MAX_FEATURES: usize = 127;
/// The quantized value of a default-side value in the column its default side reads: left
/// of every bin, and right of every bin.
const TO_LEFT: u16 = 0;
const TO_RIGHT: u16 = MAX_CUTS as u16;

/// One node: go to `delta` + 1 past this one when the row's quantized value in `col` is
/// above `bin`, else to `delta` past it. A leaf reads the leaves' column (always 0) against
/// bin 255 with delta 0: it stays where it is, so every walk can take a fixed number of
/// steps.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Step {
    col: u8,
    bin: u8,
    delta: u16,
}

/// How a family's rule reads as cuts: implemented by each rule the layout covers.
pub(super) trait Cuts<T> {
    /// Whether `x < cut` (true) or `x <= cut` (false) sends x left.
    const STRICT: bool;

    /// The f32 cut a threshold compares like, or None when there is none (NaN).
    fn cut(threshold: T) -> Option<f32>;

    /// The value compared for `x` at a split with this missing mode, or None when x takes
    /// the split's default direction.
    fn compared(x: f32, missing: u32) -> Option<f32>;
}

impl Cuts<f32> for super::XGBoostRule {
    const STRICT: bool = true;

    fn cut(threshold: f32) -> Option<f32> {
        (!threshold.is_nan()).then_some(threshold)
    }

    #[inline(always)]
    fn compared(x: f32, _: u32) -> Option<f32> {
        (!x.is_nan()).then_some(x)
    }
}

impl Cuts<f64> for super::LightGBMRule {
    const STRICT: bool = false;

    fn cut(threshold: f64) -> Option<f32> {
        if threshold.is_nan() {
            return None;
        }
        // Nearest first (an overflow goes to +-inf), then one step down if that was above.
        let near = threshold as f32;
        Some(if f64::from(near) > threshold {
            near.next_down()
        } else {
            near
        })
    }

    /// As LightGBMRule::left on the widened row (values within 1e-35 of zero read as 0).
    #[inline(always)]
    fn compared(x: f32, missing: u32) -> Option<f32> {
        let x = if is_zero(f64::from(x)) { 0.0 } else { x };
        if missing == Missing::Nan as u32 {
            (!x.is_nan()).then_some(x)
        } else if missing == Missing::Zero as u32 {
            (!x.is_nan() && x != 0.0).then_some(x)
        } else {
            Some(if x.is_nan() { 0.0 } else { x })
        }
    }
}

/// Cuts per block of a feature's search (one cache line).
const BLOCK: usize = 16;
/// A feature's cuts split into blocks of BLOCK, NaN after the last cut (NaN compares false
/// with everything, so padding never counts, and the last block always has some): how many
/// cuts lie below x is BLOCK times the whole blocks below it (their last cut below x) plus
/// those in the next block. Two lines read, with counts the compiler vectorizes, where a
/// binary search over 256 cuts waits on up to 8 cold loads one after another.
#[derive(Clone, Debug)]
struct Search {
    /// Each block's last cut, NaN past the blocks (at most MAX_CUTS / BLOCK + 1 of them).
    lasts: [f32; 2 * BLOCK],
    /// The feature's first block in `blocks`.
    first: u32,
}

/// How many of `cuts` lie below `x` (`c <= x` when STRICT, else `c < x`).
#[inline(always)]
fn below<const N: usize>(cuts: &[f32; N], x: f32, strict: bool) -> usize {
    cuts.iter()
        .map(|c| usize::from(if strict { *c <= x } else { *c < x }))
        .sum()
}

#[derive(Debug)]
pub(super) struct OneRow<T> {
    /// Per feature: where to look its value up in `blocks`.
    searches: Vec<Search>,
    blocks: Vec<[f32; BLOCK]>,
    /// Feature f's missing mode (every split on it has the same; LightGBM's is per feature).
    missing: Vec<u32>,
    form: Form<T>,
}

/// How the quantized row finds its leaves: whichever new() estimates cheaper for the forest.
#[derive(Debug)]
enum Form<T> {
    Walk(Walk<T>),
    /// Every tree within 32 leaves.
    Narrow(Quick<T, u32>),
    Wide(Quick<T, u64>),
}

/// Trees walked from their roots, a group of LANES at a time.
#[derive(Debug)]
struct Walk<T> {
    /// Every tree breadth first; node 0 is a leaf of value 0 the filler lanes stay on.
    steps: Vec<Step>,
    /// A leaf's value at its node's index (splits hold 0).
    values: Vec<T>,
    roots: Vec<u32>,
    /// Per group of LANES consecutive trees: the steps from the root to its deepest leaf.
    depths: Vec<u32>,
}

/// The quick form is chosen where a forest has at most this many splits per step its walk
/// would take (LANES per group and level, each group as deep as its deepest tree). Measured
/// in a loop of one-row predicts in one backend (benches/serving/REPORT.md): the quick form
/// costs about 0.35 ns per split (the row goes right at half of them on average), the walk
/// 1.1-1.5 ns per step. LightGBM's 31-leaf trees, grown leaf-wise 8-12 levels deep, have
/// 2.5-3 splits per step (3,000 splits and 1,176 steps for 100 trees): the quick form is
/// 10-15% faster. XGBoost's depth-6 trees have 8-9.5 (5,885 and 624): the walk is twice as
/// fast.
const QUICK_SPLITS_PER_STEP: usize = 4;

impl<T: Copy + Default> OneRow<T> {
    /// The layout of validated `trees` on `num_features` features, or None where it does
    /// not apply (too many features or cuts, a NaN threshold, a feature split under two
    /// missing modes, a tree too wide for a two-byte delta): that forest walks the complete
    /// layout for one row too.
    ///
    /// `quick`: Some to take that form where it applies (tests), None to choose by cost.
    pub(super) fn new<R: Cuts<T>>(
        trees: &Trees<T>,
        num_features: usize,
        quick: Option<bool>,
    ) -> Option<Self> {
        if num_features > MAX_FEATURES {
            return None;
        }
        let mut per_feature: Vec<Vec<f32>> = vec![vec![]; num_features];
        let mut missing: Vec<Option<u32>> = vec![None; num_features];
        for n in trees.nodes.iter().filter(|n| !n.is_leaf()) {
            let f = feature(n.meta);
            per_feature[f].push(R::cut(n.threshold)?);
            let mode = (n.meta >> MISSING_SHIFT) & 3;
            if *missing[f].get_or_insert(mode) != mode {
                return None;
            }
        }
        let (mut searches, mut blocks) = (vec![], vec![]);
        for c in &mut per_feature {
            // No NaN here (cut), so the order is total; -0 and 0 are one cut.
            c.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            c.dedup_by(|a, b| a == b);
            if c.len() > MAX_CUTS {
                return None;
            }
            let mut search = Search {
                lasts: [f32::NAN; 2 * BLOCK],
                first: u32::try_from(blocks.len()).ok()?,
            };
            for (j, chunk) in c.chunks(BLOCK).enumerate() {
                let mut block = [f32::NAN; BLOCK];
                block[..chunk.len()].copy_from_slice(chunk);
                search.lasts[j] = block[BLOCK - 1];
                blocks.push(block);
            }
            if c.len() % BLOCK == 0 {
                // Whole blocks only: one more, all padding, for a value above every cut.
                blocks.push([f32::NAN; BLOCK]);
            }
            searches.push(search);
        }
        // A split's column in the quantized row and its bin; None never, as every threshold
        // has a cut (above) and a feature at most MAX_CUTS of them.
        let place = |n: &Node<T>| {
            let f = feature(n.meta);
            let c = R::cut(n.threshold)?;
            let bin = u8::try_from(per_feature[f].partition_point(|x| *x < c)).ok()?;
            Some((2 * f + usize::from(n.meta & DEFAULT_LEFT != 0), bin))
        };
        let depths: Vec<u32> = trees
            .depths
            .chunks(LANES)
            .map(|d| d.iter().copied().max().unwrap_or(0))
            .collect();
        let splits = trees.nodes.iter().filter(|n| !n.is_leaf()).count();
        let steps: usize = depths.iter().map(|d| *d as usize * LANES).sum();
        let quick_form = if quick.unwrap_or(splits <= QUICK_SPLITS_PER_STEP * steps) {
            let right = |i: usize| trees.nodes[i].right as usize;
            let split = |i: usize| {
                let n = &trees.nodes[i];
                (!n.is_leaf()).then(|| place(n).map_or((0, 0), |(col, bin)| (col as u16, bin)))
            };
            let value = |i: usize| trees.nodes[i].threshold;
            Quick::new(&trees.roots, right, split, value)
                .map(Form::Narrow)
                .or_else(|| Quick::new(&trees.roots, right, split, value).map(Form::Wide))
        } else {
            None
        };
        let form = match quick_form {
            Some(form) => form,
            None => Form::Walk(Walk::new(trees, num_features, depths, place)?),
        };
        Some(OneRow {
            searches,
            blocks,
            missing: missing
                .into_iter()
                .map(|m| m.unwrap_or(Missing::Nan as u32))
                .collect(),
            form,
        })
    }

    /// Calls `add(tree, leaf)` for each tree's leaf for `row` (num_features wide), in tree
    /// order. Inlined: on the one-row path (Forest::one_value).
    #[inline(always)]
    pub(super) fn each_leaf<R: Cuts<T>>(&self, row: &[f32], add: impl FnMut(usize, T)) {
        let d = self.missing.len();
        // Column 2f: feature f as splits with a right default read it; 2f + 1: default
        // left; 2d: the leaves' column, 0. Only these 2d + 1 are written (zeroing the whole
        // array was a call to memset on every predict).
        let mut buf = [std::mem::MaybeUninit::<u16>::uninit(); 2 * MAX_FEATURES + 1];
        for (f, x) in row[..d].iter().enumerate() {
            let (right, left) = match R::compared(*x, self.missing[f]) {
                None => (TO_RIGHT, TO_LEFT),
                Some(x) => {
                    let search = &self.searches[f];
                    let whole = below(&search.lasts, x, R::STRICT);
                    // SAFETY: the last of a feature's blocks has padding, so its last is
                    // NaN and `whole` stays below the feature's block count (new()).
                    let block = unsafe { self.blocks.get_unchecked(search.first as usize + whole) };
                    let q = BLOCK * whole + below(block, x, R::STRICT);
                    (q as u16, q as u16)
                }
            };
            buf[2 * f].write(right);
            buf[2 * f + 1].write(left);
        }
        buf[2 * d].write(0);
        // SAFETY: entries 0..2d + 1 were all written just above (d <= MAX_FEATURES, new()).
        let q = unsafe { &*(std::ptr::from_ref(&buf[..2 * d + 1]) as *const [u16]) };
        match &self.form {
            Form::Walk(w) => w.each_leaf(q, add),
            Form::Narrow(k) => k.each_leaf(q, add),
            Form::Wide(k) => k.each_leaf(q, add),
        }
    }
}

impl<T: Copy + Default + std::ops::AddAssign> OneRow<T> {
    /// `start` plus every tree's leaf for `row`, added in tree order (one output: the sum
    /// stays in a register).
    #[inline(always)]
    pub(super) fn sum<R: Cuts<T>>(&self, row: &[f32], start: T) -> T {
        let mut sum = start;
        self.each_leaf::<R>(row, |_, leaf| sum += leaf);
        sum
    }
}

impl<T> OneRow<T> {
    /// Whether the quick form was chosen (tests).
    #[cfg(test)]
    pub(super) fn is_quick(&self) -> bool {
        !matches!(self.form, Form::Walk(_))
    }
}

impl<T: Copy + Default> Walk<T> {
    /// The walk of `trees`, `depths` per group of LANES, each split at `place(node)`; None
    /// where a tree is too wide for a two-byte delta.
    fn new(
        trees: &Trees<T>,
        num_features: usize,
        depths: Vec<u32>,
        place: impl Fn(&Node<T>) -> Option<(usize, u8)>,
    ) -> Option<Self> {
        let leaf = Step {
            col: (2 * num_features) as u8,
            bin: u8::MAX,
            delta: 0,
        };
        let mut layout = Walk {
            steps: vec![leaf],
            values: vec![T::default()],
            roots: vec![],
            depths,
        };
        let mut queue = std::collections::VecDeque::new();
        for root in &trees.roots {
            let base = layout.steps.len();
            layout.roots.push(u32::try_from(base).ok()?);
            // Breadth first: a node's place is base + the order it was queued in.
            queue.push_back(*root as usize);
            let mut queued = 1;
            while let Some(at) = queue.pop_front() {
                let n = trees.nodes[at];
                let here = layout.steps.len() - base;
                if n.is_leaf() {
                    layout.steps.push(leaf);
                    layout.values.push(n.threshold);
                    continue;
                }
                let (col, bin) = place(&n)?;
                layout.steps.push(Step {
                    col: col as u8,
                    bin,
                    delta: u16::try_from(queued - here).ok()?,
                });
                layout.values.push(T::default());
                // Validated: the left child is the next preorder node.
                queue.push_back(at + 1);
                queue.push_back(n.right as usize);
                queued += 2;
            }
        }
        u32::try_from(layout.steps.len()).ok()?;
        Some(layout)
    }
}

impl<T: Copy> Walk<T> {
    /// As OneRow::each_leaf, for the quantized row `q`.
    #[inline(always)]
    fn each_leaf(&self, q: &[u16], mut add: impl FnMut(usize, T)) {
        // Group by group: each group of LANES trees walks all its levels before the next
        // starts, so its LANES positions stay in registers and its walks are LANES
        // independent chains; the out-of-order window runs the next group's first levels
        // under this group's last. (Walking every group level by level together, as before,
        // kept 128 positions in memory, a load and a store on every step: this walk takes
        // 14-23% less time in a loop of one-row predicts; benches/serving/REPORT.md.) The top
        // lines of every tree in a pack are asked for first, as a served model is cold.
        // By index rather than zipped chunks: the zip of two Chunks was a call of its own.
        let (trees, groups) = (self.roots.len(), self.depths.len());
        let mut t = 0;
        for pack in (0..groups).step_by(GROUPS) {
            let pack_end = groups.min(pack + GROUPS);
            for root in &self.roots[pack * LANES..trees.min(pack_end * LANES)] {
                super::prefetch_trees(&self.steps[*root as usize..], 0, 1, TOP_STEPS);
            }
            for g in pack..pack_end {
                let roots = &self.roots[g * LANES..trees.min(g * LANES + LANES)];
                // Filler lanes stay on node 0, a leaf. (Lane by lane: a copy of the roots
                // was a call to memcpy.)
                let mut a = [0u32; LANES];
                for (i, a) in a.iter_mut().enumerate() {
                    *a = roots.get(i).copied().unwrap_or(0);
                }
                for _ in 0..self.depths[g] {
                    for a in a.iter_mut() {
                        // SAFETY: new() gives every split two children within the steps
                        // (whose length fits a u32) and leaves a delta of 0, and its columns
                        // are below 2d + 1 <= q.len().
                        unsafe {
                            let s = *self.steps.get_unchecked(*a as usize);
                            let right = *q.get_unchecked(s.col as usize) > u16::from(s.bin);
                            *a += u32::from(s.delta) + u32::from(right);
                        }
                    }
                }
                for a in a.iter().take(roots.len()) {
                    // SAFETY: a walk ends on a node of the steps; values is as long.
                    add(t, unsafe { *self.values.get_unchecked(*a as usize) });
                    t += 1;
                }
            }
        }
    }
}

impl<T: Copy + Default + std::ops::AddAssign> Trees<T> {
    /// Lays out `one_row` for rule `R` (after validate), where it applies.
    pub(super) fn lay_out_one_row<R: Cuts<T>>(&mut self, num_features: usize) {
        self.one_row = OneRow::new::<R>(self, num_features, None);
    }

    /// Adds each tree's leaf for each `d`-wide row of `rows` to that row's outputs in `acc`
    /// through the one-row layout, when the forest has one and the rows are fewer than a
    /// batch walk's LANES; else returns false, `acc` untouched.
    #[inline]
    pub(super) fn accumulate_few<R: Cuts<T>>(&self, rows: &[f32], d: usize, acc: &mut [T]) -> bool {
        let n = rows.len() / d.max(1);
        let Some(layout) = self.one_row.as_ref().filter(|_| n > 0 && n < LANES) else {
            return false;
        };
        let outputs = acc.len() / n;
        for (row, acc) in rows
            .chunks_exact(d.max(1))
            .zip(acc.chunks_exact_mut(outputs))
        {
            if let [only] = acc {
                *only = layout.sum::<R>(row, *only);
            } else {
                layout.each_leaf::<R>(row, |t, leaf| {
                    // SAFETY: t < trees; groups are below the outputs (validated).
                    unsafe {
                        *acc.get_unchecked_mut(*self.groups.get_unchecked(t) as usize) += leaf
                    }
                });
            }
        }
        true
    }
}
