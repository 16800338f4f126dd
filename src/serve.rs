//! Prediction on a project's deployed model (the cache supplies it).

use crate::bindings::Task;
use crate::cache::{self, Served};
use crate::error::{Error, Result};

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

fn check_width(project: &str, s: &Served, got: usize) -> Result<()> {
    if got != s.num_features {
        return Err(Error::WrongFeatureCount {
            project: project.to_string(),
            expected: s.num_features,
            got,
        });
    }
    Ok(())
}

/// Maps a class index back to the label value it encodes.
fn label(s: &Served, v: f32) -> f32 {
    match s.task {
        Task::Classification => s.classes.get(v as usize).copied().unwrap_or(f32::NAN),
        Task::Regression | Task::Clustering | Task::Decomposition => v,
    }
}

pub fn predict(project: &str, x: &[f32]) -> Result<f32> {
    let s = cache::get(project)?;
    predict_served(project, &s, x)
}

fn predict_served(project: &str, s: &Served, x: &[f32]) -> Result<f32> {
    check_single(project, s)?;
    check_width(project, s, x.len())?;
    let mut out = Vec::with_capacity(1);
    s.model.predict(x, &mut out)?;
    Ok(label(s, out[0]))
}

/// Predicts one row whose features `features_of` extracts, given the training feature names
/// (empty if the model's snapshot was deleted). One cache lookup for both steps.
pub fn predict_row(
    project: &str,
    features_of: impl FnOnce(&[String]) -> Result<Vec<f32>>,
) -> Result<f32> {
    let s = cache::get(project)?;
    let x = features_of(&s.feature_names)?;
    predict_served(project, &s, &x)
}

pub fn predict_proba(project: &str, x: &[f32]) -> Result<Vec<f32>> {
    let s = cache::get(project)?;
    if s.task != Task::Classification {
        return Err(Error::NotClassification(project.to_string()));
    }
    check_width(project, &s, x.len())?;
    let mut out = Vec::with_capacity(s.classes.len());
    s.model.predict_proba(x, &mut out)?;
    Ok(out)
}

/// Every target of one row, in the order of the training y_column_name (regression
/// projects; a single-target one gives a one-element array).
pub fn predict_joint(project: &str, x: &[f32]) -> Result<Vec<f32>> {
    let s = cache::get(project)?;
    if s.task != Task::Regression {
        return Err(Error::NotRegression(project.to_string()));
    }
    check_width(project, &s, x.len())?;
    let mut out = Vec::with_capacity(s.num_targets);
    s.model.predict(x, &mut out)?;
    Ok(out)
}

/// The components of one row (decomposition projects).
pub fn decompose(project: &str, x: &[f32]) -> Result<Vec<f32>> {
    let s = cache::get(project)?;
    if s.task != Task::Decomposition {
        return Err(Error::NotDecomposition(project.to_string()));
    }
    check_width(project, &s, x.len())?;
    let mut out = Vec::new();
    s.model.transform(x, &mut out)?;
    Ok(out)
}

/// Many rows, flattened row-major; `row_width` is the inner dimension of a 2-D array.
pub fn predict_batch(project: &str, x: &[f32], row_width: Option<usize>) -> Result<Vec<f32>> {
    let s = cache::get(project)?;
    check_single(project, &s)?;
    let width = row_width.unwrap_or(s.num_features);
    if width != s.num_features || !x.len().is_multiple_of(s.num_features.max(1)) {
        return Err(Error::WrongFeatureCount {
            project: project.to_string(),
            expected: s.num_features,
            got: row_width.unwrap_or(x.len()),
        });
    }
    let mut out = Vec::with_capacity(x.len() / s.num_features.max(1));
    s.model.predict(x, &mut out)?;
    for v in &mut out {
        *v = label(&s, *v);
    }
    Ok(out)
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
