//! Serving: prediction on a project's deployed model. The per-backend cache ([`cache`]) and
//! the shared one ([`shared`]) supply the model, [`deploy`] chooses it, [`rows`] reads table
//! rows as training did, and [`scan`] is the PgmlPredict planner hook and custom scan node.

pub mod cache;
pub mod deploy;
pub mod rows;
pub mod scan;
pub mod shared;

use crate::error::{Error, Result};
use cache::Served;
use pgml_core::bindings::{Evaluation, Task};
use std::borrow::Cow;

/// A joint regression predicts several values per row: only predict_joint returns them.
fn check_single(project: &str, s: &Served) -> Result<()> {
    if s.num_targets > 1 {
        return Err(Error::JointModel {
            project: project.to_string(),
            targets: s.num_targets,
        });
    }
    Ok(())
}

/// The model's features for raw rows (`raw_width` values each, as the array forms take
/// them): the same preprocessing as training, skipped when it changes nothing. A NaN left
/// for a model that cannot take missing values is an error naming the feature.
fn features<'a>(project: &str, s: &Served, raw: &'a [f32], batch: bool) -> Result<Cow<'a, [f32]>> {
    let width = s.pipeline.raw_width();
    let ok = if batch {
        width > 0 && raw.len().is_multiple_of(width)
    } else {
        raw.len() == width
    };
    if !ok {
        return Err(Error::WrongFeatureCount {
            project: project.to_string(),
            expected: width,
            got: raw.len(),
        });
    }
    let x: Cow<[f32]> = if s.identity {
        Cow::Borrowed(raw)
    } else {
        let mut out = Vec::with_capacity(raw.len() / width.max(1) * s.num_features);
        for row in raw.chunks_exact(width.max(1)) {
            s.pipeline.transform(row, &mut out)?;
        }
        Cow::Owned(out)
    };
    if !s.handles_missing {
        if let Some(i) = x.iter().position(|v| v.is_nan()) {
            let names = s.pipeline.out_names();
            return Err(Error::NullFeature {
                feature: format!(
                    "feature \"{}\" (after preprocessing)",
                    names
                        .get(i % s.num_features.max(1))
                        .cloned()
                        .unwrap_or_default()
                ),
            });
        }
    }
    Ok(x)
}

/// Maps a class index back to the label value it encodes.
#[inline(always)]
fn label(s: &Served, v: f32) -> f32 {
    match s.task {
        Task::Classification => s.classes.get(v as usize).copied().unwrap_or(f32::NAN),
        Task::Regression | Task::Clustering | Task::Decomposition => v,
    }
}

/// One row's prediction through `Model::predict_one`, where the row is the model's as it
/// is (no preprocessing, the width it was trained on, no NaN for a model that refuses
/// them) and the model has such a path; None otherwise.
#[inline(always)]
fn one_row(s: &Served, x: &[f32], how: Evaluation) -> Option<f32> {
    let takes = s.one_row
        && x.len() == s.num_features
        && (s.handles_missing || !x.iter().any(|v| v.is_nan()));
    let v = if takes {
        s.model.predict_one(x, how)
    } else {
        None
    };
    v.map(|v| label(s, v))
}

/// The warm `pgml.predict(text, real[])`: the project's model when it is the last one
/// looked up and current (cache::with_warm), on a row it takes as it is (one_row); None
/// where anything else is needed, errors included, and the caller takes `predict`.
///
/// Why this lane: the general path's UTF-8 check, RawArray count, cache lookup by
/// reference count, scratch buffers and five nested calls were most of a warm linear
/// predict; the lane is one stretch of its caller's code and one virtual call into the
/// model (a loop of 1M predicts: 222 -> 168 ms for the linear model; REPORT.md, run E).
#[inline(always)]
pub fn predict_warm(name: &[u8], x: &[f32]) -> Option<f32> {
    let how = crate::gucs::evaluation();
    let v = cache::with_warm(name, |s| one_row(s, x, how));
    #[cfg(feature = "pg_test")]
    if v.is_some() {
        WARM_HITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    v
}

/// Predictions the warm lane served, for the tests to see that it is taken.
#[cfg(feature = "pg_test")]
pub static WARM_HITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One row's prediction (any path, errors named).
pub fn predict(project: &str, x: &[f32]) -> Result<f32> {
    let how = crate::gucs::evaluation();
    let s = cache::get(project)?;
    match one_row(&s, x, how) {
        Some(v) => Ok(v),
        None => predict_general(project, &s, x, how),
    }
}

/// `predict` where the model has no one-row path (or declines): preprocessing, checks and
/// errors, through `Model::predict`.
#[inline(never)]
fn predict_general(project: &str, s: &Served, x: &[f32], how: Evaluation) -> Result<f32> {
    s.scratch(|b| predict_served(project, s, x, how, &mut b.out))
}

/// One row's prediction; `out` is an empty buffer for the model's outputs.
fn predict_served(
    project: &str,
    s: &Served,
    x: &[f32],
    how: Evaluation,
    out: &mut Vec<f32>,
) -> Result<f32> {
    check_single(project, s)?;
    let x = features(project, s, x, false)?;
    s.model.predict(&x, how, out)?;
    Ok(label(s, out[0]))
}

/// Predicts one row whose raw values `raw_of` appends to the (empty) buffer it is given,
/// knowing the training columns. One cache lookup for both steps.
pub fn predict_row(
    project: &str,
    raw_of: impl FnOnce(&Served, &mut Vec<f32>) -> Result<()>,
) -> Result<f32> {
    let how = crate::gucs::evaluation();
    let s = cache::get(project)?;
    s.scratch(|b| {
        raw_of(&s, &mut b.raw)?;
        predict_served(project, &s, &b.raw, how, &mut b.out)
    })
}

/// The predicted class's label (the text of a text label) for a raw row.
pub fn predict_label(
    project: &str,
    raw_of: impl FnOnce(&Served, &mut Vec<f32>) -> Result<()>,
) -> Result<String> {
    let s = cache::get(project)?;
    if s.task != Task::Classification {
        return Err(Error::NotClassification(project.to_string()));
    }
    s.scratch(|b| {
        raw_of(&s, &mut b.raw)?;
        let x = features(project, &s, &b.raw, false)?;
        s.model.predict(&x, crate::gucs::evaluation(), &mut b.out)?;
        Ok(s.class_labels
            .get(b.out[0] as usize)
            .cloned()
            .unwrap_or_default())
    })
}

pub fn predict_proba(project: &str, x: &[f32]) -> Result<Vec<f32>> {
    let s = cache::get(project)?;
    if s.task != Task::Classification {
        return Err(Error::NotClassification(project.to_string()));
    }
    let x = features(project, &s, x, false)?;
    let mut out = Vec::with_capacity(s.classes.len());
    s.model
        .predict_proba(&x, crate::gucs::evaluation(), &mut out)?;
    Ok(out)
}

/// Every target of one row, in the order of the training y_column_name (regression
/// projects; a single-target one gives a one-element array).
pub fn predict_joint(project: &str, x: &[f32]) -> Result<Vec<f32>> {
    let s = cache::get(project)?;
    if s.task != Task::Regression {
        return Err(Error::NotRegression(project.to_string()));
    }
    let x = features(project, &s, x, false)?;
    let mut out = Vec::with_capacity(s.num_targets);
    s.model.predict(&x, crate::gucs::evaluation(), &mut out)?;
    Ok(out)
}

/// The components of one row (decomposition projects).
pub fn decompose(project: &str, x: &[f32]) -> Result<Vec<f32>> {
    let s = cache::get(project)?;
    if s.task != Task::Decomposition {
        return Err(Error::NotDecomposition(project.to_string()));
    }
    let x = features(project, &s, x, false)?;
    let mut out = Vec::new();
    s.model.transform(&x, &mut out)?;
    Ok(out)
}

/// Many rows, flattened row-major; `row_width` is the inner dimension of a 2-D array.
pub fn predict_batch(project: &str, x: &[f32], row_width: Option<usize>) -> Result<Vec<f32>> {
    let s = cache::get(project)?;
    let width = s.pipeline.raw_width();
    if row_width.is_some_and(|w| w != width) {
        return Err(Error::WrongFeatureCount {
            project: project.to_string(),
            expected: width,
            got: row_width.unwrap_or_default(),
        });
    }
    // The rows' features (a copy when preprocessed) and one output per row per target,
    // within pgml.max_train_memory and allocated fallibly.
    let rows = x.len() / width.max(1);
    let need = (x.len().saturating_add(rows.saturating_mul(s.num_features)))
        .saturating_add(rows.saturating_mul(s.num_targets.max(s.classes.len()).max(1)))
        .saturating_mul(4);
    pgml_core::memory::Budget {
        limit: crate::gucs::train_memory_limit(),
    }
    .check("this predict_batch", need)?;
    let mut out = Vec::new();
    out.try_reserve_exact(rows.saturating_mul(s.num_targets.max(1)))
        .map_err(|_| pgml_core::memory::MemoryError::Unavailable {
            what: "this predict_batch",
            need,
        })?;
    predict_rows(project, &s, x, &mut out)?;
    Ok(out)
}

/// Predicts raw rows (`raw_width` values each, flattened) on a loaded model into `out`
/// (emptied first): the batch path, for predict_batch and the predict scan node, scored
/// on `pgml.predict_threads` threads when large.
pub fn predict_rows(project: &str, s: &Served, raw: &[f32], out: &mut Vec<f32>) -> Result<()> {
    check_single(project, s)?;
    let x = features(project, s, raw, true)?;
    out.clear();
    out.reserve(x.len() / s.num_features.max(1));
    s.model.predict(&x, crate::gucs::evaluation(), out)?;
    for v in out.iter_mut() {
        *v = label(s, *v);
    }
    Ok(())
}

/// For a row whose columns are named `row_names`: the index of each training feature in the
/// row, matched by name when every feature is present, else by position when the row has
/// exactly as many columns as features (an anonymous ROW(...)).
pub fn row_order(features: &[String], row_names: &[String]) -> Result<Vec<usize>> {
    let by_name: Option<Vec<usize>> = features
        .iter()
        .map(|f| row_names.iter().position(|n| n == f))
        .collect();
    match by_name {
        Some(order) if !features.is_empty() => Ok(order),
        _ if row_names.len() == features.len() || features.is_empty() => {
            Ok((0..row_names.len()).collect())
        }
        _ => {
            let missing = features
                .iter()
                .find(|f| !row_names.contains(f))
                .cloned()
                .unwrap_or_default();
            Err(Error::RowMismatch {
                column: missing,
                count: row_names.len(),
                expected: features.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn rows_match_by_name_then_position() {
        let f = s(&["a", "b"]);
        assert_eq!(
            row_order(&f, &s(&["target", "b", "a"])).unwrap(),
            vec![2, 1]
        );
        assert_eq!(row_order(&f, &s(&["f1", "f2"])).unwrap(), vec![0, 1]);
        assert!(matches!(
            row_order(&f, &s(&["a", "x", "y"])),
            Err(Error::RowMismatch { .. })
        ));
    }
}
