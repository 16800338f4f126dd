//! The SQL surface. Each function parses its arguments, calls the core, and reports errors.

mod datasets;
mod deploy;
mod predict;
mod train;

use pgrx::prelude::*;

/// The extension's version.
#[pg_extern(immutable, parallel_safe)]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// This backend's model cache: how many invalidations it has seen, which relation it
/// watches (pgml.deployments), and how many deployed models it holds.
#[pg_extern(volatile, parallel_safe)]
fn cache_info() -> TableIterator<
    'static,
    (
        name!(generation, i64),
        name!(watched_relation, i64),
        name!(models, i64),
    ),
> {
    TableIterator::once(crate::cache::info())
}
