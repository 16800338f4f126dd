use crate::error::OrReport;
use crate::train::datasets;
use pgrx::prelude::*;

/// Creates and fills <schema>.<name> with one of scikit-learn's toy datasets (schema: pgml
/// for the extension's owner, else the first schema on the caller's search_path where it may create).
#[pg_extern(volatile, parallel_unsafe)]
fn load_dataset(
    name: &str,
    schema: default!(Option<&str>, "NULL"),
) -> TableIterator<'static, (name!(table_name, String), name!(rows, i64))> {
    TableIterator::once(datasets::load(name, schema).or_report())
}
