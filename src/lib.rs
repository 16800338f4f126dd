//! pgml: train and serve machine learning models inside PostgreSQL.
//!
//! Wiring only: modules, the module magic, and process start-up.

use pgrx::prelude::*;

mod api;
pub mod bindings;
pub mod blas;
mod cache;
mod catalog;
pub mod data;
mod datasets;
mod deploy;
mod error;
#[cfg(test)]
mod fuzz;
mod gucs;
pub mod metrics;
mod scan;
pub mod search;
mod serve;
mod shared_models;
mod shmem;
mod snapshot;
mod train;
pub mod vector;

#[cfg(any(test, feature = "pg_test"))]
mod tests;

::pgrx::pg_module_magic!();

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    blas::single_threaded();
    gucs::init();
    shmem::init();
    shared_models::init();
    cache::register_invalidation_callback();
    scan::init();
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        // Shared memory (pgml.training_progress) is only there when preloaded.
        vec!["shared_preload_libraries = 'pgml'"]
    }
}
