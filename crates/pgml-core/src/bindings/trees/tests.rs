//! Unit tests of the evaluator: the layouts and walks against the preorder nodes, bit for
//! bit (the families' parity with their libraries is tested in their backends).

use super::layout::COMPLETE_MAX_DEPTH;
use super::walk::Decide;
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
    mixed.nodes[0].meta =
        (mixed.nodes[0].meta & !(3 << MISSING_SHIFT)) | ((Missing::Nan as u32) << MISSING_SHIFT);
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
