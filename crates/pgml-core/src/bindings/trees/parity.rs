//! Shared by the XGBoost and LightGBM parity tests: data that exercises every branch of the
//! walk, and a bit-for-bit comparison. Also built with the `testing` feature: the extension
//! crate's fuzz tests draw their data from here (`compare` reaches into the layouts' test
//! helpers, so it stays with the unit tests).

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
#[cfg(test)]
pub fn compare(
    what: &str,
    forest: &super::Forest,
    probes: &[f32],
    mut library: impl FnMut(&[f32], usize, &mut Vec<f32>),
) {
    let mut native = vec![];
    forest.predict(
        probes,
        super::Evaluation::default().batch_threads(),
        &mut native,
    );
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
        forest.predict(row, super::Evaluation::default().batch_threads(), &mut one);
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
