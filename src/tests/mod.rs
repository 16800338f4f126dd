//! `#[pg_test]`s: each SQL function and each error, in a real backend, by topic; and the
//! fuzzing of what reaches pgml's parsers from outside its control (plain `#[test]`s).
//!
//! pgrx runs a `#[pg_test]` as the SQL function `tests.<name>`: its schema is the name of
//! the `#[pg_schema]` module around it, so each topic file holds its tests in a
//! `#[pgrx::pg_schema] mod tests` of its own (they all land in the one schema `tests`). The
//! helpers below are shared by them all.

use pgrx::prelude::*;

mod algorithms;
mod errors;
#[cfg(test)]
mod fuzz;
mod serving;
mod training;
mod vectors;

/// Marks a pg_test build's library. cargo keeps one libpgml.so for the test and the release
/// feature sets, and a build whose inputs did not change leaves the other set's library in
/// place: scripts/install.sh and scripts/package.sh look for this symbol so that a test build
/// is never installed as the release or packaged.
#[no_mangle]
pub extern "C" fn pgml_pg_test_build() {}

fn one<T: FromDatum + IntoDatum>(sql: &str) -> T {
    Spi::get_one::<T>(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: NULL"))
}

fn run(sql: &str) {
    Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// (SQLSTATE, message, hint) raised by `sql`, caught in a subtransaction.
fn error_of(sql: &str) -> (String, String, String) {
    run(
        r#"CREATE OR REPLACE FUNCTION pg_temp.err(q text, OUT state text, OUT msg text, OUT hint text)
               LANGUAGE plpgsql AS $$
               BEGIN EXECUTE q; state := 'OK'; msg := ''; hint := '';
               EXCEPTION WHEN OTHERS THEN
                 GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
               END $$"#,
    );
    let (s, m, h) = Spi::get_three_with_args::<String, String, String>(
        "SELECT state, msg, hint FROM pg_temp.err($1)",
        &[sql.into()],
    )
    .unwrap();
    (
        s.unwrap_or_default(),
        m.unwrap_or_default(),
        h.unwrap_or_default(),
    )
}

fn assert_error(sql: &str, state: &str, names: &str) {
    let (s, m, h) = error_of(sql);
    assert_eq!(s, state, "{sql}: {m}");
    assert!(
        m.contains(names),
        "{sql}: message {m:?} should name {names:?}"
    );
    assert!(!h.is_empty(), "{sql}: no HINT for {m}");
}

fn metric(project: &str, key: &str) -> f64 {
    one::<f64>(&format!(
        "SELECT (m.metrics ->> '{key}')::float8 FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
              WHERE p.name = '{project}' ORDER BY m.id DESC LIMIT 1"
    ))
}
