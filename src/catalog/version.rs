//! Which releases' SQL this library serves (README.md, section Upgrading).
//!
//! A package upgrade replaces the library under every database at once, while each database's
//! SQL stays at the release it was created or last updated at until someone runs
//! `ALTER EXTENSION pgml UPDATE`. The library keeps every C symbol that a served release's SQL
//! names (tests/upgrade.sh checks the exports), so such a database goes on serving. A database
//! whose SQL this library was not built for (a development build, or a newer release's) gets
//! [`Error::SqlVersion`] from its first catalog statement, with a HINT that says what to run,
//! rather than reading tables whose shape it does not know.

use crate::error::{Error, Result};
use pgrx::prelude::*;
use std::cell::Cell;

/// The releases whose SQL this library serves, oldest first. The last is this library's own
/// (a test checks that it is the crate's version); tests/upgrade.sh creates a database at
/// every release frozen in sql/releases/ and trains in it, which fails unless it is served.
pub const SERVED: &[&str] = &["0.2.0", "0.3.0"];

/// This library's version.
pub const LIBRARY: &str = env!("CARGO_PKG_VERSION");

thread_local! {
    /// The local transaction in which the check last passed: RLS policies call catalog
    /// functions per row, and one pg_extension read per transaction is enough (an ALTER
    /// EXTENSION in another session is seen by the next transaction).
    static CHECKED_IN: Cell<Option<u32>> = const { Cell::new(None) };
}

/// This backend's local transaction id: a new one for every transaction, read-only ones too
/// (their start time is not: transactions of one simple-query message share it).
fn local_transaction() -> u32 {
    // SAFETY: MyProc is this backend's PGPROC, set before any SQL function can run.
    unsafe {
        #[cfg(not(feature = "pg17"))]
        {
            (*pg_sys::MyProc).lxid
        }
        #[cfg(feature = "pg17")]
        {
            (*pg_sys::MyProc).vxid.lxid
        }
    }
}

/// One text value from a read-only select, under the catalog's pinned search_path as every
/// catalog statement. Not Spi::get_one: pgrx runs that through `update`, which assigns a
/// transaction id, and a hot standby refuses that.
fn select_text(sql: &str, args: &[pgrx::datum::DatumWithOid]) -> Result<Option<String>> {
    super::pinned_search_path(|| {
        Spi::connect(|client| {
            let table = client.select(sql, Some(1), args)?;
            if table.is_empty() {
                return Ok(None);
            }
            Ok(table.first().get_one::<String>()?)
        })
    })
}

/// The `extversion` of pgml in the current database, None where the extension is not created.
pub fn installed() -> Result<Option<String>> {
    select_text(
        "SELECT extversion FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pgml'",
        &[],
    )
}

/// Whether the installed scripts lead from SQL version `from` to this library's.
pub fn update_path_to_library(from: &str) -> Result<bool> {
    if from == LIBRARY {
        return Ok(false);
    }
    Ok(select_text(
        "SELECT path FROM pg_catalog.pg_extension_update_paths('pgml')
          WHERE source OPERATOR(pg_catalog.=) $1 AND target OPERATOR(pg_catalog.=) $2",
        &[from.into(), LIBRARY.into()],
    )?
    .is_some())
}

/// Ok where this database's pgml SQL is at a release this library serves; called before
/// every catalog statement.
pub fn check() -> Result<()> {
    // SAFETY: a backend global that CREATE/ALTER EXTENSION set while their scripts run; the
    // SQL is between versions then by design, and the scripts may call pgml's functions.
    if unsafe { pg_sys::creating_extension } {
        return Ok(());
    }
    let transaction = local_transaction();
    if CHECKED_IN.get() == Some(transaction) {
        return Ok(());
    }
    match installed()? {
        Some(v) if !SERVED.contains(&v.as_str()) => {
            let updatable = update_path_to_library(&v)?;
            Err(Error::SqlVersion {
                installed: v,
                library: LIBRARY,
                updatable,
            })
        }
        _ => {
            CHECKED_IN.set(Some(transaction));
            Ok(())
        }
    }
}
