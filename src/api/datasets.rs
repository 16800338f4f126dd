use crate::error::OrReport;
use crate::train::datasets;
use pgrx::prelude::*;

/// Creates and fills pgml.<name> with one of scikit-learn's toy datasets.
#[pg_extern(volatile, parallel_unsafe)]
fn load_dataset(
    name: &str,
) -> TableIterator<'static, (name!(table_name, String), name!(rows, i64))> {
    TableIterator::once(datasets::load(name).or_report())
}
