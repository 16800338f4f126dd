//! The SQL surface. Each function parses its arguments, calls the core, and reports errors.

mod datasets;
mod deploy;
pub(crate) mod predict;
mod projects;
mod train;
mod vector;

use crate::error::OrReport;
use pgrx::prelude::*;

/// The library's version (the SQL's may be older: see [`versions`]).
#[pg_extern(immutable, parallel_safe)]
fn version() -> &'static str {
    crate::catalog::version::LIBRARY
}

/// The library's version, this database's SQL version, the SQL versions the library serves,
/// and whether `ALTER EXTENSION pgml UPDATE` has a newer SQL to install: what a DBA checks
/// after replacing the package (README.md, section Upgrading).
#[pg_extern(stable, parallel_safe)]
fn versions() -> TableIterator<
    'static,
    (
        name!(library, &'static str),
        name!(extension, Option<String>),
        name!(served, Vec<&'static str>),
        name!(update_available, bool),
    ),
> {
    use crate::catalog::version::{installed, update_path_to_library, LIBRARY, SERVED};
    let sql = installed().or_report();
    let update = match sql.as_deref() {
        Some(v) => update_path_to_library(v).or_report(),
        None => false,
    };
    TableIterator::once((LIBRARY, sql, SERVED.to_vec(), update))
}

/// Every hyperparameter pgml accepts, per algorithm, with the kind of value it takes (a
/// string is one word: no whitespace, '=', quote or path separator) and the library's name
/// where it is an alias.
#[pg_extern(immutable, parallel_safe)]
fn hyperparameters() -> TableIterator<
    'static,
    (
        name!(algorithm, String),
        name!(name, String),
        name!(kind, String),
        name!(alias_of, Option<String>),
    ),
> {
    let rows: Vec<_> = pgml_core::bindings::BACKENDS
        .iter()
        .flat_map(|b| {
            b.params().iter().map(move |p| {
                (
                    b.name().to_string(),
                    p.name.to_string(),
                    p.kind.name().to_string(),
                    p.canonical.map(str::to_string),
                )
            })
        })
        .collect();
    TableIterator::new(rows)
}

/// This backend's model cache: how many invalidations it has seen, which relation it
/// watches (pgml.deployments), how many deployed models it holds and where it loaded them
/// from; then the shared model cache (NULL when off): projects and models in it, bytes used
/// of its capacity.
#[allow(clippy::type_complexity)] // pgrx's name! columns cannot go in a type alias
#[pg_extern(volatile, parallel_safe)]
fn cache_info() -> TableIterator<
    'static,
    (
        name!(generation, i64),
        name!(watched_relation, i64),
        name!(models, i64),
        name!(loaded_from_shared, i64),
        name!(loaded_from_catalog, i64),
        name!(shared_projects, Option<i64>),
        name!(shared_models, Option<i64>),
        name!(shared_bytes, Option<i64>),
        name!(shared_capacity, Option<i64>),
        name!(shared_epoch, Option<i64>),
    ),
> {
    let (generation, watched, models, from_shared, from_catalog) = crate::serve::cache::info();
    let shared = crate::serve::shared::usage();
    TableIterator::once((
        generation,
        watched,
        models,
        from_shared,
        from_catalog,
        shared.map(|s| s.0),
        shared.map(|s| s.1),
        shared.map(|s| s.2),
        shared.map(|s| s.3),
        crate::serve::shared::current_epoch().map(|e| e as i64),
    ))
}
