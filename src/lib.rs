//! pgml: train and serve machine learning models inside PostgreSQL.
//!
//! Wiring only: modules, the module magic, and process start-up.

use pgrx::prelude::*;

mod api;
mod catalog;
mod error;
mod gucs;
mod pg;
mod serve;
mod train;

#[cfg(any(test, feature = "pg_test"))]
mod tests;

::pgrx::pg_module_magic!();

// The catalog's tables and types first; the view and triggers over pgml's C functions last.
extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    pgml_core::blas::single_threaded();
    // SAFETY: the server's cancel and terminate flags, process-lifetime ints that its
    // signal handlers set; pgml_core only reads them.
    unsafe {
        pgml_core::interrupt::watch(
            &raw const pg_sys::QueryCancelPending,
            &raw const pg_sys::ProcDiePending,
        )
    };
    gucs::init();
    pg::preload::init();
    train::progress::init();
    serve::shared::init();
    serve::cache::register_invalidation_callback();
    serve::scan::init();
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
