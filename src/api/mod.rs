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
