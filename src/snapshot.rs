//! Reads a user's relation into one dense f32 buffer through SPI, in chunks.

use crate::data::{DataError, Dataset, DenseBuilder};
use crate::error::{Error, Result};
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;
use serde_json::{json, Value};

/// Rows fetched per SPI round trip: large enough to amortize the call, small enough that
/// the tuple table stays a few MB.
const FETCH_ROWS: i64 = 10_000;

#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub type_oid: pg_sys::Oid,
    pub type_name: String,
}

impl Column {
    fn is_numeric(&self) -> bool {
        [
            pg_sys::INT2OID,
            pg_sys::INT4OID,
            pg_sys::INT8OID,
            pg_sys::FLOAT4OID,
            pg_sys::FLOAT8OID,
            pg_sys::NUMERICOID,
            pg_sys::BOOLOID,
        ]
        .contains(&self.type_oid)
    }

    /// The column as a `real` expression.
    fn as_real(&self) -> String {
        let ident = quote_identifier(&self.name);
        if self.type_oid == pg_sys::BOOLOID {
            format!("{ident}::pg_catalog.int4::pg_catalog.float4")
        } else {
            format!("{ident}::pg_catalog.float4")
        }
    }

    pub fn describe(&self) -> Value {
        json!({"name": self.name, "type": self.type_name})
    }
}

pub struct Relation {
    /// Quoted and schema-qualified: safe to splice into SQL, unaffected by search_path.
    pub name: String,
    pub columns: Vec<Column>,
}

/// Finds a table, view or materialized view by the name a user typed: exactly as written
/// (any case, dots or spaces) first, then as a possibly qualified SQL name.
pub fn resolve(name: &str) -> Result<Relation> {
    let found = Spi::connect(|client| -> Result<Option<(pg_sys::Oid, String, String)>> {
        let t = client.select(
            "SELECT c.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
                    c.relkind::pg_catalog.text
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.oid = COALESCE(pg_catalog.to_regclass(pg_catalog.quote_ident($1)),
                                     pg_catalog.to_regclass($1))",
            Some(1),
            &[name.into()],
        )?;
        if t.is_empty() {
            return Ok(None);
        }
        let (oid, text, kind) = t.first().get_three::<pg_sys::Oid, String, String>()?;
        Ok(Some((
            oid.unwrap_or(pg_sys::InvalidOid),
            text.unwrap_or_default(),
            kind.unwrap_or_default(),
        )))
    })?;
    let (oid, regclass, kind) = found.ok_or_else(|| Error::UnknownRelation(name.to_string()))?;
    let kind_name = match kind.as_str() {
        "r" | "v" | "m" | "p" | "f" => None,
        "i" | "I" => Some("index"),
        "S" => Some("sequence"),
        "c" => Some("composite type"),
        "t" => Some("TOAST table"),
        _ => Some("relation of another kind"),
    };
    if let Some(k) = kind_name {
        return Err(Error::WrongRelationKind {
            relation: regclass,
            kind: k.into(),
        });
    }
    let columns = Spi::connect(|client| -> Result<Vec<Column>> {
        let t = client.select(
            "SELECT a.attname::pg_catalog.text, a.atttypid, pg_catalog.format_type(a.atttypid, a.atttypmod)
               FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum",
            None,
            &[oid.into()],
        )?;
        let mut cols = Vec::new();
        for row in t {
            cols.push(Column {
                name: row.get::<String>(1)?.unwrap_or_default(),
                type_oid: row.get::<pg_sys::Oid>(2)?.unwrap_or(pg_sys::InvalidOid),
                type_name: row.get::<String>(3)?.unwrap_or_default(),
            });
        }
        Ok(cols)
    })?;
    Ok(Relation {
        name: regclass,
        columns,
    })
}

pub struct Snapshot {
    pub relation: String,
    /// The label columns: one, several for a joint regression, none when unsupervised.
    pub labels: Vec<Column>,
    pub features: Vec<Column>,
    pub data: Dataset,
}

impl Relation {
    /// The label column: as written, else as an unquoted identifier would fold (lower case).
    fn label(&self, y: &str) -> Result<&Column> {
        self.columns
            .iter()
            .find(|c| c.name == y)
            .or_else(|| self.columns.iter().find(|c| c.name == y.to_lowercase()))
            .ok_or_else(|| Error::UnknownColumn {
                relation: self.name.clone(),
                column: y.to_string(),
                available: self.columns.iter().map(|c| c.name.clone()).collect(),
            })
    }

    /// Reads every row: features in column order, then the labels in the order given.
    /// Without labels (clustering, decomposition) every column is a feature.
    pub fn read(self, y: &[String]) -> Result<Snapshot> {
        let labels: Vec<Column> = y
            .iter()
            .map(|y| self.label(y).cloned())
            .collect::<Result<_>>()?;
        if let Some(l) = labels.iter().find(|l| !l.is_numeric()) {
            return Err(Error::UnsupportedColumnType {
                column: l.name.clone(),
                type_name: l.type_name.clone(),
                role: "label",
            });
        }
        let features: Vec<Column> = self
            .columns
            .iter()
            .filter(|c| !labels.iter().any(|l| l.name == c.name))
            .cloned()
            .collect();
        if features.is_empty() {
            return Err(Error::NoFeatures(self.name));
        }
        if let Some(bad) = features.iter().find(|c| !c.is_numeric()) {
            return Err(Error::UnsupportedColumnType {
                column: bad.name.clone(),
                type_name: bad.type_name.clone(),
                role: "feature",
            });
        }
        let select: Vec<String> = features
            .iter()
            .chain(&labels)
            .map(Column::as_real)
            .collect();
        let query = format!("SELECT {} FROM {}", select.join(", "), self.name);
        let count = format!("SELECT pg_catalog.count(*) FROM {}", self.name);
        let nf = features.len();
        let data = Spi::connect(
            |client| -> Result<std::result::Result<Dataset, DataError>> {
                let expected = client
                    .select(&count, Some(1), &[])?
                    .first()
                    .get_one::<i64>()?
                    .unwrap_or(0);
                let rows = expected.max(0) as usize;
                let k = labels.len();
                let mut builder = match k {
                    0 => DenseBuilder::unlabeled(rows, nf),
                    _ => DenseBuilder::joint(rows, nf, k),
                };
                let mut targets = Vec::with_capacity(k.max(1));
                let mut cursor = client.try_open_cursor(&query, &[])?;
                let mut features = Vec::with_capacity(nf);
                let mut reporter = crate::train::Reporter::new("snapshot");
                loop {
                    pg_sys::check_for_interrupts!();
                    reporter.rows(builder.rows(), expected.max(0) as usize, &self.name);
                    let table = cursor.fetch(FETCH_ROWS)?;
                    if table.is_empty() {
                        break;
                    }
                    for row in table {
                        for i in 1..=nf {
                            features.push(row.get::<f32>(i)?);
                        }
                        for i in nf + 1..=nf + k {
                            targets.push(row.get::<f32>(i)?);
                        }
                        if k == 0 {
                            targets.push(None);
                        }
                        builder.push_row_joint(features.drain(..), targets.drain(..));
                    }
                }
                Ok(builder.finish())
            },
        )?;
        let data = data.map_err(|source| Error::Data {
            relation: self.name.clone(),
            source,
        })?;
        Ok(Snapshot {
            relation: self.name,
            labels,
            features,
            data,
        })
    }
}
