//! How the columns of a relation become model features, and the statistics that takes.
//!
//! A relation is read into *raw* values first: one f32 per numeric, boolean or date column,
//! one per element of an array column, and for a categorical (text, varchar, char, enum)
//! column the category's index in its sorted category list (NaN for NULL or a category not
//! seen in training). The [`Pipeline`] then turns each raw row into the model's features:
//! impute missing values, encode categories (ordinal, one-hot, target mean), scale. Every
//! statistic (fill values, category lists, target means, scale offsets and factors) is
//! learnt from the training split only, stored with the snapshot, and applied by the same
//! code at training and by every predict form.
//!
//! Pure Rust: no Postgres here.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// What a column holds, which decides how it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Numeric,
    Boolean,
    /// text, varchar, char, enum: raw value = index in the sorted category list.
    Categorical,
    /// date, timestamp, timestamptz: seconds since 1970-01-01 00:00 UTC.
    Timestamp,
    /// An array of numbers: one raw value per element, a fixed length.
    Array,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impute {
    Mean,
    Median,
    Mode,
    Min,
    Max,
    Zero,
    /// A NULL is an error, at training and at prediction.
    Error,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    #[default]
    Preserve,
    Standard,
    MinMax,
    MaxAbs,
    Robust,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encode {
    /// The category's index, as a number (what XGBoost and LightGBM get by default).
    #[default]
    Native,
    /// The category's index, as a number.
    Ordinal,
    /// One 0/1 feature per training category; an unseen category is all zeros.
    OneHot,
    /// The training split's mean label for the category; unseen: the overall mean.
    Target,
}

/// One column of the relation: its type, its rules, and the statistics learnt for them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub kind: Kind,
    /// Raw values: 1, or an array column's length.
    pub width: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impute: Option<Impute>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub scale: Scale,
    #[serde(default, skip_serializing_if = "is_default")]
    pub encode: Encode,
    /// Statistics, per raw value (per category plus one for unseen, for target means).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fill: Vec<f32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_means: Vec<f32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offset: Vec<f32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub factor: Vec<f32>,
    /// NULLs (NaN raw values) in the training split, for the catalog and error messages.
    #[serde(default)]
    pub train_nulls: usize,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PreprocessError {
    #[error("preprocess must be a JSON object of column names, got {0}")]
    NotObject(String),
    #[error("preprocess names column \"{column}\", which is not a feature")]
    UnknownColumn {
        column: String,
        available: Vec<String>,
    },
    #[error("preprocess \"{column}\": {problem}")]
    BadRule { column: String, problem: String },
    #[error("column \"{column}\" has {count} NULL value(s) and its impute rule is \"error\"")]
    NullNotAllowed { column: String, count: usize },
    #[error("a row of {got} values, where the preprocessing reads {expected}")]
    RowWidth { got: usize, expected: usize },
}

/// Most raw values one column may take: an array column's length (a real[] of 2^28
/// elements already fills Postgres's 1 GB value limit).
const MAX_WIDTH: usize = 1 << 28;

impl Column {
    pub fn new(name: &str, type_name: &str, kind: Kind, width: usize) -> Column {
        Column {
            name: name.into(),
            type_name: type_name.into(),
            kind,
            width,
            categories: vec![],
            impute: None,
            scale: Scale::Preserve,
            encode: Encode::Native,
            fill: vec![],
            target_means: vec![],
            offset: vec![],
            factor: vec![],
            train_nulls: 0,
        }
    }

    /// Features this column gives the model.
    pub fn out_width(&self) -> usize {
        match self.encode {
            Encode::OneHot => self.categories.len(),
            _ => self.width,
        }
    }

    /// The model's feature names: the column, `col[i]` for array elements, `col=value` for
    /// one-hot categories.
    fn out_names(&self, out: &mut Vec<String>) {
        match (self.encode, self.kind) {
            (Encode::OneHot, _) => {
                out.extend(self.categories.iter().map(|c| format!("{}={c}", self.name)))
            }
            (_, Kind::Array) => {
                out.extend((0..self.width).map(|i| format!("{}[{}]", self.name, i + 1)))
            }
            _ => out.push(self.name.clone()),
        }
    }

    /// Index of a category in the training list, NaN when unseen (or NULL).
    pub fn category_index(&self, value: &str) -> f32 {
        self.categories
            .binary_search_by(|c| c.as_str().cmp(value))
            .map_or(f32::NAN, |i| i as f32)
    }

    /// Raw value `v` of element `j` through impute, encode and scale, appended to `out`;
    /// `target`, when given, is the value's target encoding (a training row's out-of-fold one).
    fn apply(
        &self,
        j: usize,
        v: f32,
        target: Option<f32>,
        out: &mut Vec<f32>,
    ) -> Result<(), PreprocessError> {
        let mut v = v;
        if v.is_nan() {
            if self.impute == Some(Impute::Error) {
                return Err(PreprocessError::NullNotAllowed {
                    column: self.name.clone(),
                    count: 1,
                });
            }
            if let Some(f) = self.fill.get(j) {
                v = *f;
            }
        }
        match self.encode {
            Encode::OneHot => {
                let k = self.categories.len();
                let hot = if v.is_nan() { usize::MAX } else { v as usize };
                out.extend((0..k).map(|c| if c == hot { 1.0 } else { 0.0 }));
                return Ok(());
            }
            Encode::Target if self.kind == Kind::Categorical && target.is_some() => {
                v = target.unwrap_or(f32::NAN);
            }
            Encode::Target if self.kind == Kind::Categorical => {
                let unseen = self.target_means.len().saturating_sub(1);
                let i = if v.is_nan() {
                    unseen
                } else {
                    (v as usize).min(unseen)
                };
                v = self.target_means.get(i).copied().unwrap_or(f32::NAN);
            }
            _ => {}
        }
        if let (Some(o), Some(f)) = (self.offset.get(j), self.factor.get(j)) {
            v = (v - o) * f;
        }
        out.push(v);
        Ok(())
    }
}

/// Every column of a snapshot, in relation order (the label excluded).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pipeline {
    pub columns: Vec<Column>,
}

impl Pipeline {
    pub fn new(columns: Vec<Column>) -> Self {
        Pipeline { columns }
    }

    /// Raw values per row: the length the array forms of predict take.
    pub fn raw_width(&self) -> usize {
        // Saturating: widths come from the catalog, which check_stored bounds only at load.
        (self.columns.iter()).fold(0, |sum, c| sum.saturating_add(c.width))
    }

    /// Features per row the model sees.
    pub fn out_width(&self) -> usize {
        (self.columns.iter()).fold(0, |sum, c| sum.saturating_add(c.out_width()))
    }

    pub fn out_names(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.out_width());
        self.columns.iter().for_each(|c| c.out_names(&mut out));
        out
    }

    /// True when raw values are the model's features unchanged: serving skips the pipeline.
    pub fn is_identity(&self) -> bool {
        self.columns.iter().all(|c| {
            c.fill.is_empty()
                && c.offset.is_empty()
                && c.impute != Some(Impute::Error)
                && matches!(c.encode, Encode::Native | Encode::Ordinal)
        })
    }

    /// Whether a pipeline read back from the catalog (or the shared cache) is one `fit` can
    /// have made, so that serving it allocates and indexes only what its widths say: a
    /// tampered width of 2^40 would otherwise abort the backend in an allocation.
    pub fn check_stored(&self) -> Result<(), String> {
        let mut total = 0usize;
        for c in &self.columns {
            if c.width == 0 || c.width > MAX_WIDTH {
                return Err(format!("column \"{}\" has width {}", c.name, c.width));
            }
            for (what, v) in [
                ("fill", &c.fill),
                ("offset", &c.offset),
                ("factor", &c.factor),
            ] {
                if !v.is_empty() && v.len() != c.width {
                    return Err(format!(
                        "column \"{}\" has {} {what} values for width {}",
                        c.name,
                        v.len(),
                        c.width
                    ));
                }
            }
            total += c.width;
            if total > MAX_WIDTH {
                return Err(format!("{total} raw values per row"));
            }
        }
        Ok(())
    }

    /// One raw row into model features, appended to `out`.
    pub fn transform(&self, raw: &[f32], out: &mut Vec<f32>) -> Result<(), PreprocessError> {
        self.transform_row(None, raw, out)
    }

    /// [`Pipeline::transform`] for the `i`-th training row, with the encodings
    /// [`Pipeline::fit`] returned: a target-encoded column takes the row's out-of-fold value,
    /// as scikit-learn's `TargetEncoder.fit_transform` gives, so that a model never sees a
    /// category's mean computed from its own label (a unique-per-row column would otherwise
    /// be the label).
    pub fn transform_training(
        &self,
        encodings: &TrainingEncodings,
        i: usize,
        raw: &[f32],
        out: &mut Vec<f32>,
    ) -> Result<(), PreprocessError> {
        self.transform_row(Some((encodings, i)), raw, out)
    }

    fn transform_row(
        &self,
        training: Option<(&TrainingEncodings, usize)>,
        raw: &[f32],
        out: &mut Vec<f32>,
    ) -> Result<(), PreprocessError> {
        if raw.len() < self.raw_width() {
            return Err(PreprocessError::RowWidth {
                got: raw.len(),
                expected: self.raw_width(),
            });
        }
        let mut at = 0;
        for (n, c) in self.columns.iter().enumerate() {
            let target = training.and_then(|(e, i)| e.0.get(n)?.get(i).copied());
            for j in 0..c.width {
                c.apply(j, raw[at + j], target, out)?;
            }
            at += c.width;
        }
        Ok(())
    }

    /// Reads the `preprocess` argument onto the columns: `{"col": {"impute": "mean", "scale":
    /// "standard", "encode": "one_hot"}}`.
    pub fn set_rules(&mut self, preprocess: &Value) -> Result<(), PreprocessError> {
        let rules = match preprocess {
            Value::Null => return Ok(()),
            Value::Object(m) => m,
            other => return Err(PreprocessError::NotObject(other.to_string())),
        };
        let available: Vec<String> = self.columns.iter().map(|c| c.name.clone()).collect();
        for (name, rule) in rules {
            let column = self
                .columns
                .iter_mut()
                .find(|c| &c.name == name)
                .ok_or_else(|| PreprocessError::UnknownColumn {
                    column: name.clone(),
                    available: available.clone(),
                })?;
            let bad = |problem: String| PreprocessError::BadRule {
                column: name.clone(),
                problem,
            };
            let rule = rule.as_object().ok_or_else(|| {
                bad(format!(
                    "expected an object such as {{\"impute\": \"mean\"}}, got {rule}"
                ))
            })?;
            for (key, value) in rule {
                let text = value.as_str().unwrap_or_default();
                match key.as_str() {
                    "impute" => {
                        column.impute = Some(parse_choice(value).ok_or_else(|| {
                            bad(format!("impute \"{text}\" is not one of mean, median, mode, min, max, zero, error"))
                        })?)
                    }
                    "scale" => {
                        column.scale = parse_choice(value).ok_or_else(|| {
                            bad(format!("scale \"{text}\" is not one of preserve, standard, min_max, max_abs, robust"))
                        })?
                    }
                    "encode" => {
                        column.encode = parse_choice(value).ok_or_else(|| {
                            bad(format!("encode \"{text}\" is not one of native, ordinal, one_hot, target"))
                        })?;
                        if column.kind != Kind::Categorical && column.encode != Encode::Native {
                            return Err(bad(format!(
                                "encode applies to text, varchar, char and enum columns; this one is {}",
                                column.type_name
                            )));
                        }
                    }
                    other => {
                        return Err(bad(format!(
                            "unknown key \"{other}\" (valid: impute, scale, encode)"
                        )))
                    }
                }
            }
            if column.encode == Encode::OneHot && column.scale != Scale::Preserve {
                return Err(bad("one_hot features are 0 or 1: leave scale out".into()));
            }
        }
        Ok(())
    }

    /// Learns every statistic from the training rows and rewrites the categorical codes of
    /// all rows. `x` is row-major raw values of all rows (`raw_width` each); `codes[c]` maps a
    /// categorical column's read-time codes to its values (in first-seen order); `y` holds
    /// the training rows' labels and `seed` shuffles the folds (for target encoding).
    /// Returns the training rows' own encodings, for [`Pipeline::transform_training`].
    pub fn fit(
        &mut self,
        x: &mut [f32],
        train: std::ops::Range<usize>,
        dictionaries: &HashMap<String, Vec<String>>,
        y: &[f32],
        seed: u64,
    ) -> Result<TrainingEncodings, PreprocessError> {
        debug_assert_eq!(y.len(), train.len(), "one label per training row");
        let width = self.raw_width().max(1);
        let rows = x.len() / width;
        let mut at = 0;
        let mut encodings = TrainingEncodings(Vec::with_capacity(self.columns.len()));
        for c in &mut self.columns {
            let mut out_of_fold_values = Vec::new();
            // Categories: those seen in the training rows, sorted; codes become indices.
            if c.kind == Kind::Categorical {
                let dict = dictionaries.get(&c.name).map_or(&[][..], Vec::as_slice);
                let mut seen = vec![false; dict.len()];
                for r in train.clone() {
                    let v = x[r * width + at];
                    if !v.is_nan() {
                        seen[v as usize] = true;
                    }
                }
                let mut cats: Vec<&String> = dict
                    .iter()
                    .zip(&seen)
                    .filter(|(_, s)| **s)
                    .map(|(d, _)| d)
                    .collect();
                cats.sort();
                c.categories = cats.into_iter().cloned().collect();
                let remap: Vec<f32> = dict.iter().map(|d| c.category_index(d)).collect();
                for r in 0..rows {
                    let v = &mut x[r * width + at];
                    if !v.is_nan() {
                        *v = remap.get(*v as usize).copied().unwrap_or(f32::NAN);
                    }
                }
            }
            let values = |j: usize| train.clone().map(move |r| r * width + at + j);
            c.train_nulls = (0..c.width)
                .map(|j| values(j).filter(|i| x[*i].is_nan()).count())
                .sum();
            if c.impute == Some(Impute::Error) {
                let count = (0..rows)
                    .flat_map(|r| (0..c.width).map(move |j| r * width + at + j))
                    .filter(|i| x[*i].is_nan())
                    .count();
                if count > 0 {
                    return Err(PreprocessError::NullNotAllowed {
                        column: c.name.clone(),
                        count,
                    });
                }
            }
            if let Some(rule) = c.impute.filter(|i| *i != Impute::Error) {
                c.fill = (0..c.width)
                    .map(|j| {
                        let mut v: Vec<f32> =
                            values(j).map(|i| x[i]).filter(|v| !v.is_nan()).collect();
                        fill_value(rule, &mut v)
                    })
                    .collect();
            }
            if c.encode == Encode::Target && c.kind == Kind::Categorical {
                let k = c.categories.len();
                let rows: Vec<(usize, f32)> = train
                    .clone()
                    .zip(y)
                    .map(|(r, label)| {
                        let mut v = x[r * width + at];
                        if v.is_nan() {
                            v = c.fill.first().copied().unwrap_or(f32::NAN);
                        }
                        (if v.is_nan() { k } else { v as usize }, *label)
                    })
                    .collect();
                c.target_means = target_encoding(&rows, k, |_| true);
                out_of_fold_values = out_of_fold(&rows, k, seed);
            }
            if c.scale != Scale::Preserve {
                // Scale statistics of the values the model would see without scaling.
                let unscaled = Column {
                    scale: Scale::Preserve,
                    offset: vec![],
                    factor: vec![],
                    ..c.clone()
                };
                let (mut offset, mut factor) = (vec![], vec![]);
                for j in 0..c.width {
                    let mut v = Vec::with_capacity(train.len());
                    let mut one = Vec::with_capacity(1);
                    // Of the values the training rows become: out-of-fold ones where encoded.
                    for (t, i) in values(j).enumerate() {
                        one.clear();
                        let target = out_of_fold_values.get(t).copied();
                        unscaled.apply(j, x[i], target, &mut one)?;
                        if let Some(v1) = one.first().filter(|v| !v.is_nan()) {
                            v.push(*v1);
                        }
                    }
                    let (o, f) = scale_stats(c.scale, &mut v);
                    offset.push(o);
                    factor.push(f);
                }
                c.offset = offset;
                c.factor = factor;
            }
            encodings.0.push(out_of_fold_values);
            at += c.width;
        }
        Ok(encodings)
    }
}

/// What the training rows' transform needs beyond the stored pipeline, from
/// [`Pipeline::fit`]: per column, each training row's out-of-fold target encoding (empty for
/// columns not target-encoded). Never stored; dropped once the training rows are transformed.
#[derive(Debug, Default, PartialEq)]
pub struct TrainingEncodings(Vec<Vec<f32>>);

/// Folds of the cross-fitting in [`out_of_fold`] (scikit-learn's TargetEncoder: cv=5).
const TARGET_FOLDS: usize = 5;

/// Target encoding as scikit-learn's `TargetEncoder(smooth="auto")` fits it, from the rows
/// `(category, label)` that `keep` selects by position (category `k`: NULL, not counted in
/// any category): each category's mean label shrunk toward the overall mean by the empirical
/// Bayes weight n·var(y) / (n·var(y) + var_c), var_c the variance of its own labels. A
/// category with one row or constant labels and var(y) > 0 keeps its mean; none seen (or
/// var(y) = 0 with var_c = 0: 0/0) gets the overall mean. Returns k + 1 values, the last the
/// overall mean (for NULL and unseen categories).
fn target_encoding(rows: &[(usize, f32)], k: usize, keep: impl Fn(usize) -> bool) -> Vec<f32> {
    let (mut sum, mut n) = (vec![0f64; k + 1], vec![0usize; k + 1]);
    let (mut total, mut count) = (0f64, 0usize);
    for (t, (c, label)) in rows.iter().enumerate() {
        if keep(t) {
            sum[*c] += f64::from(*label);
            n[*c] += 1;
            total += f64::from(*label);
            count += 1;
        }
    }
    let overall = total / count.max(1) as f64;
    let mean: Vec<f64> = (0..=k).map(|i| sum[i] / n[i].max(1) as f64).collect();
    let (mut squares, mut y_squares) = (vec![0f64; k + 1], 0f64);
    for (t, (c, label)) in rows.iter().enumerate() {
        if keep(t) {
            squares[*c] += (f64::from(*label) - mean[*c]).powi(2);
            y_squares += (f64::from(*label) - overall).powi(2);
        }
    }
    let y_variance = y_squares / count.max(1) as f64;
    (0..=k)
        .map(|i| {
            let n_i = n[i] as f64;
            let lambda = y_variance * n_i / (y_variance * n_i + squares[i] / n_i);
            if i == k || n[i] == 0 || lambda.is_nan() {
                overall as f32
            } else {
                (lambda * mean[i] + (1.0 - lambda) * overall) as f32
            }
        })
        .collect()
}

/// Each training row's target encoding fit on the other folds: rows shuffled by `seed` into
/// [`TARGET_FOLDS`] folds (scikit-learn shuffles a KFold; it stratifies for classes, this does
/// not). A category seen only in the row's own fold gets the other folds' overall mean.
fn out_of_fold(rows: &[(usize, f32)], k: usize, seed: u64) -> Vec<f32> {
    let folds = TARGET_FOLDS.min(rows.len());
    if folds < 2 {
        return target_encoding(rows, k, |_| true)
            .last()
            .map_or_else(Vec::new, |m| vec![*m; rows.len()]);
    }
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut rng = super::SplitMix64::new(seed ^ 0x7461_7267_6574); // "target"
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut fold = vec![0usize; rows.len()];
    for (position, row) in order.iter().enumerate() {
        fold[*row] = position * folds / rows.len();
    }
    let mut out = vec![0f32; rows.len()];
    for f in 0..folds {
        let encoding = target_encoding(rows, k, |t| fold[t] != f);
        for (t, (c, _)) in rows.iter().enumerate() {
            if fold[t] == f {
                out[t] = encoding[*c];
            }
        }
    }
    out
}

fn parse_choice<T: serde::de::DeserializeOwned>(v: &Value) -> Option<T> {
    serde_json::from_value(v.clone()).ok()
}

fn median(v: &mut [f32]) -> f32 {
    quantile(v, 0.5)
}

/// Linear-interpolated quantile of the values (NumPy's default), 0 for none.
fn quantile(v: &mut [f32], q: f64) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let w = (pos - lo as f64) as f32;
    v[lo] * (1.0 - w) + v[hi] * w
}

/// The value a NULL becomes; 0 when the training split has no value at all.
fn fill_value(rule: Impute, v: &mut [f32]) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    match rule {
        Impute::Mean => (v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len() as f64) as f32,
        Impute::Median => median(v),
        Impute::Mode => {
            // The most frequent value; ties go to the smallest.
            v.sort_by(f32::total_cmp);
            let (mut best, mut best_n, mut i) = (v[0], 0, 0);
            while i < v.len() {
                let j = v[i..]
                    .iter()
                    .position(|x| *x != v[i])
                    .map_or(v.len(), |p| i + p);
                if j - i > best_n {
                    best = v[i];
                    best_n = j - i;
                }
                i = j;
            }
            best
        }
        Impute::Min => v.iter().cloned().fold(f32::INFINITY, f32::min),
        Impute::Max => v.iter().cloned().fold(f32::NEG_INFINITY, f32::max),
        Impute::Zero | Impute::Error => 0.0,
    }
}

/// (offset, factor) so that the scaled value is (x - offset) * factor. A constant column
/// keeps factor 1 (scikit-learn does the same rather than divide by zero).
fn scale_stats(scale: Scale, v: &mut [f32]) -> (f32, f32) {
    let inv = |d: f64| {
        if d > 0.0 && d.is_finite() {
            (1.0 / d) as f32
        } else {
            1.0
        }
    };
    if v.is_empty() {
        return (0.0, 1.0);
    }
    match scale {
        Scale::Preserve => (0.0, 1.0),
        Scale::Standard => {
            let n = v.len() as f64;
            let mean = v.iter().map(|x| f64::from(*x)).sum::<f64>() / n;
            let var = v
                .iter()
                .map(|x| (f64::from(*x) - mean).powi(2))
                .sum::<f64>()
                / n;
            (mean as f32, inv(var.sqrt()))
        }
        Scale::MinMax => {
            let lo = v.iter().cloned().fold(f32::INFINITY, f32::min);
            let hi = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            (lo, inv(f64::from(hi) - f64::from(lo)))
        }
        Scale::MaxAbs => (
            0.0,
            inv(v.iter().map(|x| f64::from(x.abs())).fold(0.0, f64::max)),
        ),
        Scale::Robust => {
            let q1 = quantile(v, 0.25);
            let q3 = quantile(v, 0.75);
            (median(v), inv(f64::from(q3) - f64::from(q1)))
        }
    }
}

/// The preprocess JSON that would give `column` an impute rule (for error hints).
pub fn impute_hint(column: &str) -> String {
    let mut m = Map::new();
    m.insert(column.into(), serde_json::json!({"impute": "mean"}));
    Value::Object(m).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pipeline() -> Pipeline {
        Pipeline::new(vec![
            Column::new("n", "integer", Kind::Numeric, 1),
            Column::new("c", "text", Kind::Categorical, 1),
            Column::new("a", "real[]", Kind::Array, 2),
        ])
    }

    /// rows: n, c (read-time code), a[1], a[2]
    fn raw() -> Vec<f32> {
        let nan = f32::NAN;
        vec![
            1.0, 0.0, 1.0, 2.0, //
            2.0, 1.0, nan, 4.0, //
            nan, 0.0, 3.0, 6.0, //
            4.0, 2.0, 5.0, 8.0, // test row: category "b" unseen in training
        ]
    }

    fn dicts() -> HashMap<String, Vec<String>> {
        // first-seen order: "z" then "a" then "b"
        HashMap::from([("c".to_string(), vec!["z".into(), "a".into(), "b".into()])])
    }

    #[test]
    fn categories_come_from_the_training_rows_sorted() {
        let mut p = pipeline();
        let mut x = raw();
        p.fit(&mut x, 0..3, &dicts(), &[0.0, 1.0, 0.0], 1).unwrap();
        assert_eq!(p.columns[1].categories, vec!["a", "z"]);
        // "z" -> 1, "a" -> 0, unseen "b" -> NaN
        assert_eq!(x[1], 1.0);
        assert_eq!(x[5], 0.0);
        assert!(x[13].is_nan());
        assert!(p.is_identity());
        assert_eq!(p.raw_width(), 4);
        assert_eq!(p.columns[2].train_nulls, 1);
    }

    #[test]
    fn impute_encode_scale_use_training_statistics_only() {
        let mut p = pipeline();
        p.set_rules(&json!({
            "n": {"impute": "mean", "scale": "standard"},
            "c": {"encode": "one_hot"},
            "a": {"impute": "median", "scale": "min_max"}
        }))
        .unwrap();
        let mut x = raw();
        p.fit(&mut x, 0..3, &dicts(), &[0.0, 1.0, 0.0], 1).unwrap();
        // n: training values 1, 2 (NaN ignored) -> mean 1.5; the test row's 4 is not used
        assert_eq!(p.columns[0].fill, vec![1.5]);
        assert_eq!(p.columns[0].offset, vec![1.5]);
        assert_eq!(p.out_width(), 1 + 2 + 2);
        assert_eq!(p.out_names(), vec!["n", "c=a", "c=z", "a[1]", "a[2]"]);
        let mut out = vec![];
        p.transform(&x[8..12], &mut out).unwrap();
        // NaN n -> 1.5 -> standardized 0; "z" -> [0, 1]; a[1] 3 of min 1 max 3 -> 1; a[2] 6 of 2..6 -> 1
        assert_eq!(out, vec![0.0, 0.0, 1.0, 1.0, 1.0]);
        out.clear();
        p.transform(&x[12..16], &mut out).unwrap();
        assert_eq!(&out[1..3], &[0.0, 0.0], "unseen category: no hot column");
        assert!(!p.is_identity());
        // round trip through the catalog's JSON
        let back: Pipeline = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn target_encoding_and_unseen_categories() {
        let mut p = pipeline();
        p.set_rules(&json!({"c": {"encode": "target"}})).unwrap();
        let mut x = raw();
        p.fit(&mut x, 0..3, &dicts(), &[10.0, 20.0, 30.0], 1)
            .unwrap();
        // "a" (row 2) -> 20; "z" (rows 1 and 3) -> 20; unseen -> overall mean 20
        assert_eq!(p.columns[1].target_means, vec![20.0, 20.0, 20.0]);
        let mut p = pipeline();
        p.set_rules(&json!({"c": {"encode": "target"}})).unwrap();
        let mut x = raw();
        let encodings = p
            .fit(&mut x, 0..3, &dicts(), &[10.0, 40.0, 30.0], 1)
            .unwrap();
        // scikit-learn 1.9.1: TargetEncoder(smooth="auto").fit([[1], [0], [1]], [10, 40, 30])
        // .encodings_ == [40.0, 21.62162162], target_mean_ 26.666666666666668
        let want = [40.0, 21.621_622, 26.666_666];
        for (got, want) in p.columns[1].target_means.iter().zip(want) {
            assert!((got - want).abs() < 1e-4, "{got} {want}");
        }
        // Training rows get out-of-fold values (3 rows: 3 folds), the test row the full fit's.
        assert_eq!(encodings.0[1].len(), 3);
        let mut out = vec![];
        p.transform(&x[12..16], &mut out).unwrap();
        assert!(
            (out[1] - 26.666_666).abs() < 1e-4,
            "unseen: the overall mean"
        );
        // The stored pipeline holds only the full fit's encoding.
        let back: Pipeline = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn target_encoding_matches_scikit_learn_on_200_rows() {
        // Every 13th row in categories 0..2, the rest (7i + 3) mod 11; labels in f32.
        let rows: Vec<(usize, f32)> = (0..200)
            .map(|i: usize| {
                let c = if !i.is_multiple_of(13) {
                    (i * 7 + 3) % 11
                } else {
                    i % 3
                };
                (c, (((i * 37) % 101) as f64 / 10.0 + c as f64) as f32)
            })
            .collect();
        // scikit-learn 1.9.1, TargetEncoder(smooth="auto", target_type="continuous")
        // .fit(c, y): encodings_[0] and target_mean_.
        let want = [
            5.118983, 5.760278, 5.921688, 5.811401, 7.716591, 9.414918, 10.892772, 12.652882,
            14.338855, 16.212912, 16.390751, 9.704500,
        ];
        let got = target_encoding(&rows, 11, |_| true);
        for (g, w) in got.iter().zip(want) {
            assert!((f64::from(*g) - w).abs() < 1e-5, "{got:?}");
        }
    }

    #[test]
    fn a_unique_category_per_row_encodes_as_the_other_folds_mean_not_its_label() {
        // Every row its own category: in-sample means would be the labels themselves.
        let rows: Vec<(usize, f32)> = (0..1000).map(|i| (i, (i % 97) as f32)).collect();
        let oof = out_of_fold(&rows, 1000, 7);
        let labels: Vec<f32> = rows.iter().map(|r| r.1).collect();
        let mean = labels.iter().sum::<f32>() / 1000.0;
        assert!(
            oof.iter().all(|v| (v - mean).abs() < 2.0),
            "near the mean: {:?}",
            &oof[..5]
        );
        assert!(oof.iter().zip(&labels).filter(|(o, l)| o == l).count() < 20);
        // Seeded: the same folds again, another seed other folds.
        assert_eq!(oof, out_of_fold(&rows, 1000, 7));
        assert_ne!(oof, out_of_fold(&rows, 1000, 8));
    }

    #[test]
    fn impute_error_and_bad_rules() {
        let mut p = pipeline();
        p.set_rules(&json!({"n": {"impute": "error"}})).unwrap();
        let mut x = raw();
        assert_eq!(
            p.fit(&mut x, 0..3, &dicts(), &[0.0; 3], 1),
            Err(PreprocessError::NullNotAllowed {
                column: "n".into(),
                count: 1
            })
        );
        let mut p = pipeline();
        assert!(matches!(
            p.set_rules(&json!({"nope": {}})),
            Err(PreprocessError::UnknownColumn { .. })
        ));
        assert!(matches!(
            p.set_rules(&json!({"n": {"impute": "avg"}})),
            Err(PreprocessError::BadRule { .. })
        ));
        assert!(matches!(
            p.set_rules(&json!({"n": {"encode": "one_hot"}})),
            Err(PreprocessError::BadRule { .. })
        ));
        assert!(matches!(
            p.set_rules(&json!({"n": {"colour": 1}})),
            Err(PreprocessError::BadRule { .. })
        ));
        assert!(matches!(
            p.set_rules(&json!([1])),
            Err(PreprocessError::NotObject(_))
        ));
    }

    #[test]
    fn statistics() {
        assert_eq!(
            fill_value(Impute::Mode, &mut [3.0, 1.0, 3.0, 1.0, 2.0]),
            1.0
        );
        assert_eq!(fill_value(Impute::Median, &mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(
            scale_stats(Scale::Robust, &mut [1.0, 2.0, 3.0, 4.0, 5.0]),
            (3.0, 0.5)
        );
        assert_eq!(scale_stats(Scale::MaxAbs, &mut [-4.0, 2.0]), (0.0, 0.25));
        assert_eq!(scale_stats(Scale::Standard, &mut [7.0, 7.0]), (7.0, 1.0));
    }
}
