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
/// every release frozen in sql/releases/ and checks that each one is served.
pub const SERVED: &[&str] = &["0.2.0", "0.3.0"];

/// This library's version.
pub const LIBRARY: &str = env!("CARGO_PKG_VERSION");

thread_local! {
    /// The start time of the last transaction in which the check passed: RLS policies call
    /// catalog functions per row, and one pg_extension read per transaction is enough
    /// (an ALTER EXTENSION in another session is seen by the next transaction).
    static CHECKED_IN: Cell<i64> = const { Cell::new(i64::MIN) };
}

/// The `extversion` of pgml in the current database, None where the extension is not created.
pub fn installed() -> Result<Option<String>> {
    // A read-only SPI select: pgrx's Spi::get_one goes through `update`, which assigns a
    // transaction id, and a hot standby refuses that.
    Spi::connect(|client| {
        let table = client.select(
            "SELECT extversion FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pgml'",
            Some(1),
            &[],
        )?;
        if table.is_empty() {
            return Ok(None);
        }
        Ok(table.first().get_one::<String>()?)
    })
}

/// Ok where this database's pgml SQL is at a release this library serves; called before
/// every catalog statement.
pub fn check() -> Result<()> {
    // SAFETY: a backend global that CREATE/ALTER EXTENSION set while their scripts run; the
    // SQL is between versions then by design, and the scripts may call pgml's functions.
    if unsafe { pg_sys::creating_extension } {
        return Ok(());
    }
    // SAFETY: inside a transaction (a SQL function is running).
    let started = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    if CHECKED_IN.get() == started {
        return Ok(());
    }
    match installed()? {
        Some(v) if !SERVED.contains(&v.as_str()) => Err(Error::SqlVersion {
            installed: v,
            library: LIBRARY,
            oldest: SERVED[0],
        }),
        _ => {
            CHECKED_IN.set(started);
            Ok(())
        }
    }
}
