//! The one-row layout's second form: every split on a column at once, no walk (QuickScorer,
//! Lucchese et al., SIGIR 2015).
//!
//! Why: a walk is a chain of dependent loads, one per level of every tree, and a served model
//! is cold in cache on each call, so each level waits for its line. Here each tree keeps a
//! bit per leaf (leaves numbered left to right); a split that sends the row right rules out
//! the leaves of its left subtree, so ANDing the masks of every split the row goes right at
//! leaves the row's leaf as the lowest bit still set. With the row quantized (see one_row), a
//! column's splits sorted by bin make the ones the row goes right at a prefix whose length one
//! table lookup gives: the work is a sequential stream of (tree, mask) pairs, no comparison
//! and no load that waits on another.

use std::ops::BitAndAssign;

/// Leaves a tree may have: one bit each in the widest mask.
const MAX_LEAVES: usize = 64;
/// Trees the per-call bit vectors hold (on the stack: 8 KB of u64).
pub(super) const MAX_TREES: usize = 1024;
/// Quantized values a column takes: 0..=256 (one_row::TO_RIGHT).
const QS: usize = 257;

/// A tree's leaf bits.
pub(super) trait Mask: Copy + BitAndAssign + Default + std::fmt::Debug {
    const BITS: usize;
    const ONES: Self;
    /// All ones but leaves lo..hi.
    fn without(lo: usize, hi: usize) -> Self;
    /// The lowest leaf still set.
    fn lowest(self) -> usize;
}

macro_rules! mask {
    ($t:ty) => {
        impl Mask for $t {
            const BITS: usize = <$t>::BITS as usize;
            const ONES: Self = <$t>::MAX;
            fn without(lo: usize, hi: usize) -> Self {
                let upto = |n: usize| {
                    if n >= <Self as Mask>::BITS {
                        <$t>::MAX
                    } else {
                        (1 << n) - 1
                    }
                };
                !(upto(hi) & !upto(lo))
            }
            #[inline(always)]
            fn lowest(self) -> usize {
                self.trailing_zeros() as usize
            }
        }
    };
}
mask!(u32);
mask!(u64);

/// One column's splits: `count` from `start` in `masks` / `trees`, sorted by bin.
#[derive(Clone, Copy, Debug)]
struct Column {
    /// Index into the quantized row.
    col: u16,
    start: u32,
}

#[derive(Debug)]
pub(super) struct Quick<T, M> {
    columns: Vec<Column>,
    /// Per column, QS entries: how many of its splits have a bin below q.
    below: Vec<u16>,
    masks: Vec<M>,
    trees: Vec<u16>,
    /// Each tree's first leaf in `values`.
    first_leaf: Vec<u32>,
    values: Vec<T>,
}

/// A split as the builder collects it.
struct Split<M> {
    col: u16,
    bin: u8,
    tree: u16,
    mask: M,
}

impl<T: Copy, M: Mask> Quick<T, M> {
    /// The form for `roots` over preorder `nodes` (a split's left child is the next node),
    /// where `split(i)` gives node i's (column, bin) or None for a leaf, and `value(i)` a
    /// leaf's value. None when a tree has more leaves than M has bits, or there are more
    /// than MAX_TREES trees or more than u16::MAX splits on a column.
    pub(super) fn new(
        roots: &[u32],
        right: impl Fn(usize) -> usize,
        split: impl Fn(usize) -> Option<(u16, u8)>,
        value: impl Fn(usize) -> T,
    ) -> Option<Self> {
        if roots.len() > MAX_TREES {
            return None;
        }
        let mut splits: Vec<Split<M>> = vec![];
        let mut values = vec![];
        let mut first_leaf = vec![];
        for (t, root) in roots.iter().enumerate() {
            let first = values.len();
            first_leaf.push(u32::try_from(first).ok()?);
            // Depth first, left before right: leaves come out left to right. Each split's
            // left subtree ends where its right child starts, so its leaves are those added
            // between the two visits. Bounded: a tree of M::BITS leaves has fewer than
            // 2 * M::BITS nodes, so a malformed cycle cannot loop.
            let mut stack = vec![(*root as usize, usize::MAX)];
            let mut opened: Vec<(usize, usize)> = vec![]; // (split index in `splits`, lo)
            let mut visited = 0;
            while let Some((at, closes)) = stack.pop() {
                if closes != usize::MAX {
                    // The left subtree of split `closes` is done.
                    let (s, lo) = opened[closes];
                    splits[s].mask = M::without(lo - first, values.len() - first);
                    continue;
                }
                visited += 1;
                if visited >= 2 * M::BITS.min(MAX_LEAVES) {
                    return None;
                }
                match split(at) {
                    None => {
                        values.push(value(at));
                        if values.len() - first > M::BITS {
                            return None;
                        }
                    }
                    Some((col, bin)) => {
                        opened.push((splits.len(), values.len()));
                        splits.push(Split {
                            col,
                            bin,
                            tree: u16::try_from(t).ok()?,
                            mask: M::ONES,
                        });
                        stack.push((right(at), usize::MAX));
                        stack.push((usize::MAX, opened.len() - 1));
                        stack.push((at + 1, usize::MAX));
                    }
                }
            }
        }
        splits.sort_by_key(|s| (s.col, s.bin));
        let mut layout = Quick {
            columns: vec![],
            below: vec![],
            masks: splits.iter().map(|s| s.mask).collect(),
            trees: splits.iter().map(|s| s.tree).collect(),
            first_leaf,
            values,
        };
        for (i, s) in splits.iter().enumerate() {
            if layout.columns.last().is_none_or(|c| c.col != s.col) {
                layout.columns.push(Column {
                    col: s.col,
                    start: u32::try_from(i).ok()?,
                });
            }
        }
        let ends = layout
            .columns
            .iter()
            .skip(1)
            .map(|c| c.start as usize)
            .chain([splits.len()]);
        for (c, end) in layout.columns.clone().iter().zip(ends) {
            let bins: Vec<u8> = splits[c.start as usize..end]
                .iter()
                .map(|s| s.bin)
                .collect();
            for q in 0..QS {
                let n = bins.partition_point(|b| usize::from(*b) < q);
                layout.below.push(u16::try_from(n).ok()?);
            }
        }
        Some(layout)
    }

    /// Calls `add(tree, leaf)` for each tree's leaf for the quantized row `q` (indexed by
    /// column; every value at most QS - 1), in tree order. Inlined: on the one-row path
    /// (Forest::one_value).
    #[inline(always)]
    pub(super) fn each_leaf(&self, q: &[u16], mut add: impl FnMut(usize, T)) {
        let n = self.first_leaf.len();
        // Only the trees' own bits are set: the rest of the array stays unwritten.
        let mut buf = [std::mem::MaybeUninit::<M>::uninit(); MAX_TREES];
        for b in &mut buf[..n] {
            b.write(M::ONES);
        }
        // SAFETY: the first n (new(): at most MAX_TREES) were written just above.
        let bits = unsafe { &mut *(std::ptr::from_mut(&mut buf[..n]) as *mut [M]) };
        for (k, c) in self.columns.iter().enumerate() {
            // SAFETY: new() gives each column QS entries of `below`, within its own splits;
            // q's values are at most QS - 1 and its columns those the layout was built for;
            // every split's tree is below n.
            unsafe {
                let q = usize::from(*q.get_unchecked(usize::from(c.col)));
                let count = usize::from(*self.below.get_unchecked(k * QS + q));
                let start = c.start as usize;
                let masks = self.masks.get_unchecked(start..start + count);
                let trees = self.trees.get_unchecked(start..start + count);
                for (m, t) in masks.iter().zip(trees) {
                    *bits.get_unchecked_mut(usize::from(*t)) &= *m;
                }
            }
        }
        for (t, b) in bits.iter().enumerate() {
            // SAFETY: the lowest bit left is one of tree t's leaves (its rightmost leaf is in
            // no split's left subtree, so it is never cleared).
            add(t, unsafe {
                *self
                    .values
                    .get_unchecked(*self.first_leaf.get_unchecked(t) as usize + b.lowest())
            });
        }
    }
}
