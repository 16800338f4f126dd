//! Training data: one dense row-major f32 buffer, its labels, and the train/test split.
//!
//! The SQL layer streams rows into a [`DenseBuilder`]; the split reorders rows in place so
//! both halves are contiguous slices of the same buffer (no second copy).

pub mod preprocess;

use crate::memory::MemoryError;
use ndarray::{ArrayView1, ArrayView2};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DataError {
    #[error("the relation has no rows")]
    Empty,
    #[error("the label has {count} NULL value(s)")]
    NullLabel { count: usize },
    #[error("{rows} row(s) are too few to split with test_size {test_size}")]
    TooFewRows { rows: usize, test_size: f32 },
    #[error("test_size {0} is not a fraction in (0, 1) or a row count >= 1")]
    BadTestSize(f32),
    #[error("the label has a single class ({0})")]
    SingleClass(String),
    #[error("stratified sampling needs a classification label")]
    StratifyNeedsClasses,
    #[error("the label has non-finite value {0}")]
    NonFiniteLabel(f32),
}

/// Rows as they are read, before the split.
pub struct DenseBuilder {
    num_features: usize,
    /// Unsupervised data has no label; every row gets 0 so the split needs no special case.
    labeled: bool,
    /// Labels per row: 1, or the number of label columns of a joint (multi-target) regression.
    num_targets: usize,
    x: Vec<f32>,
    y: Vec<f32>,
    null_labels: usize,
    /// Bytes the two buffers may take together.
    limit: usize,
}

impl DenseBuilder {
    /// `rows` is the expected row count: the buffer is allocated once at that size.
    #[cfg(test)]
    pub fn with_capacity(rows: usize, num_features: usize) -> Self {
        DenseBuilder {
            num_features,
            labeled: true,
            num_targets: 1,
            x: Vec::with_capacity(rows * num_features),
            y: Vec::with_capacity(rows),
            null_labels: 0,
            limit: usize::MAX,
        }
    }

    /// A builder for rows without a label (clustering).
    #[cfg(test)]
    pub fn unlabeled(rows: usize, num_features: usize) -> Self {
        DenseBuilder {
            labeled: false,
            ..DenseBuilder::with_capacity(rows, num_features)
        }
    }

    /// A builder for rows with `num_targets` labels each (joint regression).
    #[cfg(test)]
    pub fn joint(rows: usize, num_features: usize, num_targets: usize) -> Self {
        DenseBuilder {
            num_targets,
            y: Vec::with_capacity(rows * num_targets),
            ..DenseBuilder::with_capacity(rows, num_features)
        }
    }

    /// A builder for `rows` rows of `num_features` values and `num_targets` labels (0: no
    /// label, clustering), its buffers reserved fallibly and never grown past `limit` bytes
    /// in all (rows added since the count grow it, within the bound).
    pub fn bounded(
        rows: usize,
        num_features: usize,
        num_targets: usize,
        limit: usize,
    ) -> Result<Self, MemoryError> {
        let budget = crate::memory::Budget { limit };
        let targets = num_targets.max(1);
        let x = budget.vec("the training rows", rows.saturating_mul(num_features))?;
        let y_budget = crate::memory::Budget {
            limit: limit.saturating_sub(x.capacity() * 4),
        };
        let y = y_budget.vec("the training rows", rows.saturating_mul(targets))?;
        Ok(DenseBuilder {
            num_features,
            labeled: num_targets > 0,
            num_targets: targets,
            x,
            y,
            null_labels: 0,
            limit,
        })
    }

    /// Missing features are stored as NaN (XGBoost's and LightGBM's missing value).
    #[cfg(test)]
    pub fn push_row(
        &mut self,
        features: impl IntoIterator<Item = Option<f32>>,
        label: Option<f32>,
    ) {
        self.push_row_joint(features, [label]);
    }

    #[cfg(test)]
    pub fn push_row_joint(
        &mut self,
        features: impl IntoIterator<Item = Option<f32>>,
        labels: impl IntoIterator<Item = Option<f32>>,
    ) {
        self.try_push_row_joint(features, labels)
            .expect("a test's rows fit");
    }

    /// A row with one value per target (a joint regression's label columns, in order); the
    /// buffers grow fallibly, within the builder's bound.
    pub fn try_push_row_joint(
        &mut self,
        features: impl IntoIterator<Item = Option<f32>>,
        labels: impl IntoIterator<Item = Option<f32>>,
    ) -> Result<(), MemoryError> {
        let y_bytes = self.y.capacity() * 4;
        crate::memory::grow(
            &mut self.x,
            self.num_features,
            self.limit.saturating_sub(y_bytes) / 4 * 4,
            "the training rows",
        )?;
        let x_bytes = self.x.capacity() * 4;
        crate::memory::grow(
            &mut self.y,
            self.num_targets,
            self.limit.saturating_sub(x_bytes),
            "the training rows",
        )?;
        let before = self.x.len();
        self.x
            .extend(features.into_iter().map(|v| v.unwrap_or(f32::NAN)));
        debug_assert_eq!(self.x.len() - before, self.num_features);
        let before = self.y.len();
        for label in labels {
            match label {
                _ if !self.labeled => self.y.push(0.0),
                Some(v) => self.y.push(v),
                None => {
                    self.null_labels += 1;
                    self.y.push(f32::NAN);
                }
            }
        }
        debug_assert_eq!(self.y.len() - before, self.num_targets);
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.y.len() / self.num_targets
    }

    pub fn finish(self) -> Result<Dataset, DataError> {
        if self.y.is_empty() {
            return Err(DataError::Empty);
        }
        if self.null_labels > 0 {
            return Err(DataError::NullLabel {
                count: self.null_labels,
            });
        }
        if let Some(v) = self.y.iter().find(|v| !v.is_finite()) {
            return Err(DataError::NonFiniteLabel(*v));
        }
        Ok(Dataset {
            num_features: self.num_features,
            num_targets: self.num_targets,
            x: self.x,
            y: self.y,
        })
    }

    /// Bytes held by the buffers (for progress reporting and the memory notes).
    pub fn capacity_bytes(&self) -> usize {
        (self.x.capacity() + self.y.capacity()) * std::mem::size_of::<f32>()
    }
}

pub struct Dataset {
    pub num_features: usize,
    /// Labels per row (row-major in `y`): 1 except for a joint regression.
    pub num_targets: usize,
    pub x: Vec<f32>,
    pub y: Vec<f32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampling {
    Random,
    First,
    Last,
    /// Random within each class of the (encoded) label: class proportions are kept.
    Stratified,
}

impl Sampling {
    pub const ALL: [Sampling; 4] = [
        Sampling::Random,
        Sampling::First,
        Sampling::Last,
        Sampling::Stratified,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sampling::Random => "random",
            Sampling::First => "first",
            Sampling::Last => "last",
            Sampling::Stratified => "stratified",
        }
    }

    pub fn parse(s: &str) -> Option<Sampling> {
        Sampling::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Row ranges of the train and test halves within the (reordered) dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub train: std::ops::Range<usize>,
    pub test: std::ops::Range<usize>,
}

/// Number of test rows: a fraction of the rows when `test_size < 1`, else a row count.
pub fn test_rows(rows: usize, test_size: f32) -> Result<usize, DataError> {
    if !test_size.is_finite() || test_size <= 0.0 || (test_size >= 1.0 && test_size.fract() != 0.0)
    {
        return Err(DataError::BadTestSize(test_size));
    }
    let n_test = if test_size < 1.0 {
        ((rows as f64 * test_size as f64).round() as usize).max(1)
    } else {
        test_size as usize
    };
    if rows < 2 || n_test >= rows {
        return Err(DataError::TooFewRows { rows, test_size });
    }
    Ok(n_test)
}

/// Deterministic generator for the split (SplitMix64): the same seed gives the same split on
/// every platform, with no dependency.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), without modulo bias worth worrying about at row counts.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

impl Dataset {
    pub fn rows(&self) -> usize {
        self.y.len() / self.num_targets
    }

    fn swap_rows(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let nf = self.num_features;
        let (lo, hi) = (a.min(b), a.max(b));
        let (left, right) = self.x.split_at_mut(hi * nf);
        left[lo * nf..(lo + 1) * nf].swap_with_slice(&mut right[..nf]);
        let k = self.num_targets;
        let (left, right) = self.y.split_at_mut(hi * k);
        left[lo * k..(lo + 1) * k].swap_with_slice(&mut right[..k]);
    }

    /// Reorders rows in place so that new row `i` is old row `order[i]` (cycle by cycle:
    /// no second buffer).
    fn permute(&mut self, order: &[usize]) {
        let mut done = vec![false; order.len()];
        for start in 0..order.len() {
            if done[start] {
                continue;
            }
            done[start] = true;
            let mut at = start;
            loop {
                let next = order[at];
                if next == start {
                    break;
                }
                self.swap_rows(at, next);
                done[next] = true;
                at = next;
            }
        }
    }

    /// Reorders rows in place as `sampling` requires and returns the two halves' ranges.
    pub fn split(
        &mut self,
        test_size: f32,
        sampling: Sampling,
        seed: u64,
    ) -> Result<Split, DataError> {
        let rows = self.rows();
        let n_test = test_rows(rows, test_size)?;
        let n_train = rows - n_test;
        Ok(match sampling {
            Sampling::Last => Split {
                train: 0..n_train,
                test: n_train..rows,
            },
            Sampling::First => Split {
                train: n_test..rows,
                test: 0..n_test,
            },
            Sampling::Stratified => {
                // Labels are class indices here. Each class gives round(its rows x the test
                // share) test rows, chosen at random, so proportions hold within a row.
                // Class indices are below the row count; anything else is not an encoded label.
                if self.num_targets != 1
                    || self
                        .y
                        .iter()
                        .any(|v| v.fract() != 0.0 || *v < 0.0 || *v as usize >= rows)
                {
                    return Err(DataError::StratifyNeedsClasses);
                }
                let k = self.y.iter().fold(0usize, |m, v| m.max(*v as usize + 1));
                let mut by_class: Vec<Vec<usize>> = vec![vec![]; k];
                for (r, v) in self.y.iter().enumerate() {
                    by_class[*v as usize].push(r);
                }
                let mut rng = SplitMix64::new(seed);
                let share = n_test as f64 / rows as f64;
                let (mut train, mut test) = (Vec::with_capacity(rows), Vec::with_capacity(n_test));
                for rows_of_class in &mut by_class {
                    for i in (1..rows_of_class.len()).rev() {
                        let j = rng.below(i + 1);
                        rows_of_class.swap(i, j);
                    }
                    let t = (rows_of_class.len() as f64 * share).round() as usize;
                    let t = t.min(rows_of_class.len().saturating_sub(1));
                    test.extend_from_slice(&rows_of_class[..t]);
                    train.extend_from_slice(&rows_of_class[t..]);
                }
                if test.is_empty() || train.is_empty() {
                    return Err(DataError::TooFewRows { rows, test_size });
                }
                let n_train = train.len();
                train.extend(test);
                self.permute(&train);
                Split {
                    train: 0..n_train,
                    test: n_train..rows,
                }
            }
            Sampling::Random => {
                let mut rng = SplitMix64::new(seed);
                for i in (1..rows).rev() {
                    let j = rng.below(i + 1);
                    self.swap_rows(i, j);
                }
                Split {
                    train: 0..n_train,
                    test: n_train..rows,
                }
            }
        })
    }

    pub fn x_view(&self, rows: std::ops::Range<usize>) -> ArrayView2<'_, f32> {
        let nf = self.num_features;
        ArrayView2::from_shape((rows.len(), nf), &self.x[rows.start * nf..rows.end * nf])
            .expect("buffer holds rows * num_features values")
    }

    pub fn x_slice(&self, rows: std::ops::Range<usize>) -> &[f32] {
        &self.x[rows.start * self.num_features..rows.end * self.num_features]
    }

    /// The labels of `rows`, row-major (`num_targets` per row).
    pub fn y_view(&self, rows: std::ops::Range<usize>) -> ArrayView1<'_, f32> {
        ArrayView1::from(self.y_slice(rows))
    }

    pub fn y_slice(&self, rows: std::ops::Range<usize>) -> &[f32] {
        &self.y[rows.start * self.num_targets..rows.end * self.num_targets]
    }

    /// Replaces every row with `f(row, out)`'s `width` values: in place when the width does
    /// not change, else into a new buffer (the old one is freed when it is built).
    pub fn map_rows<E>(
        &mut self,
        width: usize,
        mut f: impl FnMut(&[f32], &mut Vec<f32>) -> Result<(), E>,
    ) -> Result<(), E> {
        let rows = self.rows();
        let old = self.num_features.max(1);
        let mut tmp = Vec::with_capacity(width);
        if width == self.num_features {
            for row in self.x.chunks_exact_mut(old) {
                tmp.clear();
                f(row, &mut tmp)?;
                row.copy_from_slice(&tmp);
            }
        } else {
            let mut x = Vec::with_capacity(rows * width);
            for row in self.x.chunks_exact(old) {
                f(row, &mut x)?;
            }
            self.x = x;
            self.num_features = width;
        }
        Ok(())
    }

    /// Text labels read as codes into `dictionary` (first-seen order): each becomes the
    /// index of its text in byte order, and the sorted texts (the class list) are returned.
    pub fn encode_text_classes(&mut self, dictionary: &[String]) -> Result<Vec<String>, DataError> {
        let mut sorted: Vec<&String> = dictionary.iter().collect();
        sorted.sort();
        if sorted.len() < 2 {
            return Err(DataError::SingleClass(
                sorted.first().map_or("none".into(), |s| s.to_string()),
            ));
        }
        let index: Vec<f32> = dictionary
            .iter()
            .map(|d| sorted.binary_search(&d).unwrap_or(0) as f32)
            .collect();
        for v in &mut self.y {
            *v = index[*v as usize];
        }
        Ok(sorted.into_iter().cloned().collect())
    }

    /// Replaces each label with the index of its value in the sorted list of distinct
    /// values, and returns that list (the class list stored with the model).
    pub fn encode_classes(&mut self) -> Result<Vec<f32>, DataError> {
        debug_assert_eq!(self.num_targets, 1, "classification has one label");
        let mut classes = self.y.clone();
        classes.sort_by(f32::total_cmp);
        classes.dedup();
        if classes.len() < 2 {
            return Err(DataError::SingleClass(
                classes.first().map_or("none".into(), f32::to_string),
            ));
        }
        for v in &mut self.y {
            *v = classes
                .binary_search_by(|c| c.total_cmp(v))
                .expect("value is in its own class list") as f32;
        }
        Ok(classes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(rows: usize) -> Dataset {
        let mut b = DenseBuilder::with_capacity(rows, 2);
        for i in 0..rows {
            b.push_row([Some(i as f32), Some(i as f32 * 10.0)], Some(i as f32));
        }
        b.finish().unwrap()
    }

    #[test]
    fn builder_sizes_once_and_marks_nulls() {
        let mut b = DenseBuilder::with_capacity(3, 2);
        let cap = b.capacity_bytes();
        b.push_row([Some(1.0), None], Some(0.0));
        b.push_row([Some(2.0), Some(3.0)], Some(1.0));
        assert_eq!(
            b.capacity_bytes(),
            cap,
            "no reallocation within the expected rows"
        );
        let d = b.finish().unwrap();
        assert!(d.x[1].is_nan());
        assert_eq!(d.rows(), 2);
    }

    #[test]
    fn builder_errors() {
        assert_eq!(
            DenseBuilder::with_capacity(0, 1).finish().err(),
            Some(DataError::Empty)
        );
        let mut b = DenseBuilder::with_capacity(2, 1);
        b.push_row([Some(1.0)], None);
        b.push_row([Some(1.0)], Some(1.0));
        assert_eq!(b.finish().err(), Some(DataError::NullLabel { count: 1 }));
    }

    #[test]
    fn test_rows_rules() {
        assert_eq!(test_rows(100, 0.25).unwrap(), 25);
        assert_eq!(test_rows(3, 0.1).unwrap(), 1);
        assert_eq!(test_rows(100, 10.0).unwrap(), 10);
        assert!(test_rows(1, 0.5).is_err());
        assert!(test_rows(10, 0.0).is_err());
        assert!(test_rows(10, -0.5).is_err());
        assert!(test_rows(10, f32::NAN).is_err());
        assert!(test_rows(10, 1.5).is_err());
        assert!(test_rows(10, 10.0).is_err());
    }

    #[test]
    fn random_split_is_seeded_permutation_keeping_rows_intact() {
        let mut a = dataset(50);
        let mut b = dataset(50);
        let sa = a.split(0.2, Sampling::Random, 42).unwrap();
        b.split(0.2, Sampling::Random, 42).unwrap();
        assert_eq!(a.y, b.y);
        assert_eq!(
            sa,
            Split {
                train: 0..40,
                test: 40..50
            }
        );
        // every row still carries its own features
        for r in 0..50 {
            assert_eq!(a.x[r * 2], a.y[r]);
            assert_eq!(a.x[r * 2 + 1], a.y[r] * 10.0);
        }
        let mut sorted = a.y.clone();
        sorted.sort_by(f32::total_cmp);
        assert_eq!(sorted, (0..50).map(|v| v as f32).collect::<Vec<_>>());
        assert_ne!(a.y, sorted, "shuffled");
        let mut c = dataset(50);
        c.split(0.2, Sampling::Random, 7).unwrap();
        assert_ne!(a.y, c.y, "another seed, another split");
    }

    #[test]
    fn first_and_last() {
        let mut d = dataset(10);
        assert_eq!(
            d.split(0.3, Sampling::Last, 0).unwrap(),
            Split {
                train: 0..7,
                test: 7..10
            }
        );
        assert_eq!(
            d.split(0.3, Sampling::First, 0).unwrap(),
            Split {
                train: 3..10,
                test: 0..3
            }
        );
        assert_eq!(d.x_view(7..10).dim(), (3, 2));
        assert_eq!(d.y_view(0..3).to_vec(), vec![0.0, 1.0, 2.0]);
    }

    #[test]
    fn joint_rows_keep_their_targets_through_the_split() {
        let mut b = DenseBuilder::joint(20, 1, 2);
        for i in 0..20 {
            b.push_row_joint([Some(i as f32)], [Some(i as f32), Some(-(i as f32))]);
        }
        let mut d = b.finish().unwrap();
        assert_eq!(d.rows(), 20);
        let s = d.split(0.25, Sampling::Random, 3).unwrap();
        assert_eq!(s.test, 15..20);
        for r in 0..20 {
            assert_eq!(d.y[2 * r], d.x[r]);
            assert_eq!(d.y[2 * r + 1], -d.x[r]);
        }
        assert_eq!(d.y_slice(15..20).len(), 10);
        let mut b = DenseBuilder::joint(1, 1, 2);
        b.push_row_joint([Some(0.0)], [Some(1.0), None]);
        assert_eq!(b.finish().err(), Some(DataError::NullLabel { count: 1 }));
    }

    #[test]
    fn stratified_split_keeps_class_proportions() {
        let mut b = DenseBuilder::with_capacity(100, 1);
        for i in 0..100 {
            // 70 of class 0, 20 of class 1, 10 of class 2
            let class = if i < 70 {
                0.0
            } else if i < 90 {
                1.0
            } else {
                2.0
            };
            b.push_row([Some(i as f32)], Some(class));
        }
        let mut d = b.finish().unwrap();
        let s = d.split(0.2, Sampling::Stratified, 5).unwrap();
        let count =
            |range: std::ops::Range<usize>, c: f32| d.y[range].iter().filter(|v| **v == c).count();
        assert_eq!(s.test.len(), 20);
        assert_eq!(
            (
                count(s.test.clone(), 0.0),
                count(s.test.clone(), 1.0),
                count(s.test.clone(), 2.0)
            ),
            (14, 4, 2)
        );
        // rows kept their labels
        for r in 0..100 {
            let i = d.x[r] as usize;
            assert_eq!(
                d.y[r],
                if i < 70 {
                    0.0
                } else if i < 90 {
                    1.0
                } else {
                    2.0
                }
            );
        }
        let mut reg = dataset(10);
        reg.y[0] = 0.5;
        assert_eq!(
            reg.split(0.2, Sampling::Stratified, 1),
            Err(DataError::StratifyNeedsClasses)
        );
    }

    #[test]
    fn text_classes_sort_by_text_and_rows_map_in_place() {
        let mut b = DenseBuilder::with_capacity(3, 1);
        for code in [0.0, 1.0, 0.0] {
            b.push_row([Some(0.0)], Some(code));
        }
        let mut d = b.finish().unwrap();
        let labels = d
            .encode_text_classes(&["setosa".into(), "archaea".into()])
            .unwrap();
        assert_eq!(labels, vec!["archaea", "setosa"]);
        assert_eq!(d.y, vec![1.0, 0.0, 1.0]);
        d.map_rows(2, |row, out| {
            out.extend([row[0], 1.0]);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!((d.num_features, d.x.len()), (2, 6));
    }

    #[test]
    fn classes_are_encoded_by_sorted_value() {
        let mut b = DenseBuilder::with_capacity(4, 1);
        for v in [4.0, 2.0, 4.0, 7.0] {
            b.push_row([Some(0.0)], Some(v));
        }
        let mut d = b.finish().unwrap();
        assert_eq!(d.encode_classes().unwrap(), vec![2.0, 4.0, 7.0]);
        assert_eq!(d.y, vec![1.0, 0.0, 1.0, 2.0]);
        let mut one = DenseBuilder::with_capacity(2, 1);
        one.push_row([Some(0.0)], Some(1.0));
        one.push_row([Some(0.0)], Some(1.0));
        assert_eq!(
            one.finish().unwrap().encode_classes().err(),
            Some(DataError::SingleClass("1".into()))
        );
    }
}
