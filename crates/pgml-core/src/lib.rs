//! pgml's machine learning, with no Postgres in it: the compiler keeps this crate pure (it
//! does not depend on pgrx), and `cargo test -p pgml-core` runs without a server.
//!
//! - [`bindings`]: one [`bindings::Backend`] / [`bindings::Model`] trait pair and one folder
//!   per library family; `bindings::trees` is the native tree evaluator that serves XGBoost
//!   and LightGBM models.
//! - [`data`]: the dense training buffer, the seeded split, class encoding and preprocessing.
//! - [`fit`]: the pure phase of a training (classes, split, preprocessing, search, fit,
//!   score); [`search`]: hyperparameter search and cross-validation; [`metrics`]: scores.
//! - [`vector`] and [`blas`]: the vector functions' kernels (Rust loops and OpenBLAS).
//!
//! The extension crate (the repository's root) reads Postgres into these types and calls in.

pub mod bindings;
pub mod blas;
pub mod data;
pub mod fit;
pub mod interrupt;
pub mod memory;
pub mod metrics;
pub mod search;
pub mod signals;
pub mod vector;
