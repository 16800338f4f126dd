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
//!
//! The parts: `xgboost.rs` and `lightgbm.rs` parse each library's model into `layout.rs`'s
//! flat trees, which `walk.rs` walks by each library's rule; `forest.rs` scores rows with them
//! and `one_row.rs` (with `quick.rs`) serves a single row; here, the model that serves by the
//! compiled forest or the library.

mod forest;
mod layout;
pub mod lightgbm;
mod one_row;
#[cfg(any(test, feature = "testing"))]
pub mod parity;
mod quick;
#[cfg(test)]
mod tests;
mod walk;
pub mod xgboost;

use super::{
    outputs_per_row, raw_to_predictions, raw_to_proba, BindingError, Evaluation, Model, ModelShape,
};
pub use forest::Forest;
// What the format parsers (xgboost.rs, lightgbm.rs) and the one-row layout name as `super::`.
use forest::Family;
use layout::{feature, Node, Trees, DEFAULT_LEFT, LANES, MISSING_SHIFT};
use walk::{is_zero, prefetch_trees, LightGBMRule, XGBoostRule, GROUPS};

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
/// the call's [`Evaluation`] asks for native trees (`pgml.native_trees` on), else by the
/// library.
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
    fn raw_into(&self, x: &[f32], how: Evaluation, raw: &mut Vec<f32>) -> super::Result<()> {
        let expected = x.len() / self.shape.num_features.max(1) * outputs_per_row(self.shape);
        let before = raw.len();
        match self.evaluator.native().filter(|_| how.native_trees) {
            Some(forest) => forest.predict(x, how.batch_threads(), raw),
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

    fn raw(&self, x: &[f32], how: Evaluation) -> super::Result<Vec<f32>> {
        let mut raw = vec![];
        self.raw_into(x, how, &mut raw)?;
        Ok(raw)
    }
}

impl<L: Library> Model for TreeModel<L> {
    fn predict_one(&self, x: &[f32], how: Evaluation) -> Option<f32> {
        let v = self
            .evaluator
            .native()
            .filter(|_| how.native_trees)?
            .one_value(x)?;
        // One output: a regression's value, or a binary classifier's P(class 1).
        Some(match self.shape.task {
            super::Task::Classification => super::class_of(v),
            _ => v,
        })
    }

    fn predict(&self, x: &[f32], how: Evaluation, out: &mut Vec<f32>) -> super::Result<()> {
        if self.shape.task != super::Task::Classification {
            // The library's values are the predictions: no intermediate buffer.
            return self.raw_into(x, how, out);
        }
        raw_to_predictions(self.shape, &self.raw(x, how)?, out);
        Ok(())
    }

    fn predict_proba(&self, x: &[f32], how: Evaluation, out: &mut Vec<f32>) -> super::Result<()> {
        raw_to_proba(self.shape, &self.raw(x, how)?, out);
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
