//! `pgml.load_dataset`: scikit-learn's toy datasets, compiled into the extension so loading
//! needs neither network nor files at run time (see datasets/LICENSE.scikit-learn).

use crate::error::{Error, Result};
use pgrx::pg_sys;
use pgrx::spi::Spi;

/// SQL identifier quoting (only when needed), in plain Rust so the unit tests need no
/// Postgres symbols.
fn quote_identifier(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

pub struct Dataset {
    pub name: &'static str,
    csv: &'static str,
    /// The label column and its SQL type; every other column is a `real` feature.
    label: Option<(&'static str, &'static str)>,
}

macro_rules! dataset {
    ($name:literal, $label:expr) => {
        Dataset {
            name: $name,
            csv: include_str!(concat!("../../datasets/", $name, ".csv")),
            label: $label,
        }
    };
}

pub static DATASETS: &[Dataset] = &[
    dataset!("iris", Some(("target", "integer"))),
    dataset!("diabetes", Some(("target", "real"))),
    dataset!("digits", Some(("target", "integer"))),
    dataset!("breast_cancer", Some(("target", "integer"))),
    dataset!("wine", Some(("target", "integer"))),
    // Multi-target (exercise and physiology columns): no single label column.
    dataset!("linnerud", None),
];

pub fn names() -> Vec<&'static str> {
    DATASETS.iter().map(|d| d.name).collect()
}

/// Rows are inserted this many at a time: one statement per batch keeps the SQL small.
const BATCH: usize = 500;

impl Dataset {
    fn header(&self) -> Vec<&'static str> {
        self.csv
            .lines()
            .next()
            .unwrap_or_default()
            .split(',')
            .collect()
    }

    fn rows(&self) -> impl Iterator<Item = &'static str> {
        self.csv.lines().skip(1).filter(|l| !l.trim().is_empty())
    }

    fn create_sql(&self, table: &str) -> String {
        let cols: Vec<String> = self
            .header()
            .into_iter()
            .map(|c| {
                let ty = match self.label {
                    Some((label, ty)) if label == c => ty,
                    _ => "real",
                };
                format!("{} {ty}", quote_identifier(c))
            })
            .collect();
        format!("CREATE TABLE {table} ({})", cols.join(", "))
    }

    /// INSERT statements with every value re-formatted from a parsed number, so nothing in
    /// the data file is ever spliced into SQL as text.
    fn insert_sql(&self, table: &str) -> Vec<String> {
        let rows: Vec<String> = self
            .rows()
            .map(|line| {
                let values: Vec<String> = line
                    .split(',')
                    .map(|v| {
                        v.trim()
                            .parse::<f64>()
                            .map(|f| f.to_string())
                            .unwrap_or_else(|_| "NULL".into())
                    })
                    .collect();
                format!("({})", values.join(","))
            })
            .collect();
        rows.chunks(BATCH)
            .map(|chunk| format!("INSERT INTO {table} VALUES {}", chunk.join(",")))
            .collect()
    }
}

/// Creates (or refills) `<schema>.<name>` and fills it, as the caller. Returns the table
/// name and rows. The schema: as given, else pgml for a role that may create there (the
/// extension's owner), else the first schema on the caller's search_path it may create in. A table that exists is refilled
/// only when the caller is its owner itself (not a member of it, nor a superuser): another
/// role's table could carry triggers that would run with the caller's privileges.
pub fn load(name: &str, schema: Option<&str>) -> Result<(String, i64)> {
    let ds = DATASETS
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| Error::UnknownDataset {
            name: name.to_string(),
            valid: names(),
        })?;
    let user = crate::catalog::current_user();
    let may_create = |schema: &str| -> Option<bool> {
        let c = std::ffi::CString::new(schema).ok()?;
        // SAFETY: syscache and ACL reads.
        unsafe {
            let oid = pg_sys::get_namespace_oid(c.as_ptr(), true);
            (oid != pg_sys::InvalidOid).then(|| {
                pg_sys::pg_namespace_aclcheck(oid, user, pg_sys::ACL_CREATE as pg_sys::AclMode)
                    == pg_sys::AclResult::ACLCHECK_OK
            })
        }
    };
    let schema = match schema {
        Some(s) => s.to_string(),
        None if may_create("pgml") == Some(true) => "pgml".to_string(),
        // Read before the search_path is pinned, and qualified: it is the caller's own.
        None => Spi::get_one::<String>(
            "SELECT s::pg_catalog.text FROM pg_catalog.unnest(pg_catalog.current_schemas(false)) s
              WHERE pg_catalog.has_schema_privilege(s, 'CREATE') LIMIT 1",
        )
        .ok()
        .flatten()
        .ok_or_else(|| Error::SchemaPrivilege("(none on the search_path)".into()))?,
    };
    match may_create(&schema) {
        Some(true) => {}
        Some(false) => return Err(Error::SchemaPrivilege(schema)),
        None => return Err(Error::UnknownSchema(schema)),
    }
    crate::catalog::pinned_search_path(|| load_pinned(ds, &schema, user))
}

fn load_pinned(ds: &Dataset, schema: &str, user: pg_sys::Oid) -> Result<(String, i64)> {
    let table = pgrx::spi::quote_qualified_identifier(schema, ds.name);
    // Two sessions creating the same table at once would deadlock: take turns.
    Spi::run("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgml.load_dataset'))")?;
    // Refill an existing table rather than dropping it: views, grants and comments on it stay.
    let owner = Spi::get_one_with_args::<pg_sys::Oid>(
        "SELECT (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1))",
        &[table.as_str().into()],
    )?;
    match owner {
        Some(owner) if !crate::catalog::acts_as(user, owner) => {
            return Err(Error::NotTableOwner {
                table,
                owner: crate::catalog::role_name(owner),
            })
        }
        Some(_) => Spi::run(&format!("TRUNCATE {table}"))?,
        None => {
            Spi::run(&ds.create_sql(&table))?;
            // Scikit-learn's public toy data: the extension owner's copies in schema pgml
            // are there for every role that may use pgml to train on.
            if schema == "pgml" {
                Spi::run(&format!("GRANT SELECT ON {table} TO PUBLIC"))?;
            }
        }
    }
    for stmt in ds.insert_sql(&table) {
        Spi::run(&stmt)?;
    }
    Ok((table, ds.rows().count() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dataset_parses_and_has_its_shape() {
        let expect = [
            ("iris", 150, 5),
            ("diabetes", 442, 11),
            ("digits", 1797, 65),
            ("breast_cancer", 569, 31),
            ("wine", 178, 14),
            ("linnerud", 20, 6),
        ];
        for (name, rows, cols) in expect {
            let d = DATASETS.iter().find(|d| d.name == name).unwrap();
            assert_eq!(d.rows().count(), rows, "{name}");
            assert_eq!(d.header().len(), cols, "{name}");
            for r in d.rows() {
                assert_eq!(r.split(',').count(), cols, "{name}: {r}");
                assert!(
                    r.split(',').all(|v| v.trim().parse::<f64>().is_ok()),
                    "{name}: {r}"
                );
            }
        }
    }

    #[test]
    fn sql_is_built_from_numbers() {
        let d = &DATASETS[0];
        assert!(d.create_sql("pgml.iris").contains("target integer"));
        assert_eq!(quote_identifier("pixel_0_1"), "pixel_0_1");
        assert_eq!(quote_identifier("Odd Name"), "\"Odd Name\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
        let ins = d.insert_sql("pgml.iris");
        assert_eq!(ins.len(), 1);
        assert!(ins[0].starts_with("INSERT INTO pgml.iris VALUES (5.1,3.5,1.4,0.2,0)"));
    }
}
