//! Reads a user's relation into one dense f32 buffer through SPI, in chunks.

use crate::catalog;
use crate::error::{Error, Result};
use pgml_core::data::preprocess::{Kind, Pipeline};
use pgml_core::data::{DataError, Dataset, DenseBuilder};
use pgrx::prelude::*;
use pgrx::spi::quote_identifier;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Rows fetched per SPI round trip: large enough to amortize the call, small enough that
/// the tuple table stays a few MB.
const FETCH_ROWS: i64 = 10_000;

#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub type_oid: pg_sys::Oid,
    pub type_name: String,
    /// pg_type.typcategory, and that of the element type for arrays ("" otherwise).
    category: String,
    element_category: String,
}

impl Column {
    /// How pgml reads the column, or None for a type it cannot use.
    pub fn kind(&self) -> Option<Kind> {
        let numeric = [
            pg_sys::INT2OID,
            pg_sys::INT4OID,
            pg_sys::INT8OID,
            pg_sys::FLOAT4OID,
            pg_sys::FLOAT8OID,
            pg_sys::NUMERICOID,
        ];
        Some(match self.type_oid {
            pg_sys::BOOLOID => Kind::Boolean,
            t if numeric.contains(&t) => Kind::Numeric,
            pg_sys::DATEOID | pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID => Kind::Timestamp,
            _ if self.category == "S" || self.category == "E" => Kind::Categorical,
            _ if self.category == "A" && self.element_category == "N" => Kind::Array,
            _ => return None,
        })
    }

    /// The SQL expression that reads the column as pgml stores it.
    fn select(&self) -> String {
        let ident = quote_identifier(&self.name);
        match self.kind() {
            Some(Kind::Boolean) => format!("{ident}::pg_catalog.int4::pg_catalog.float4"),
            Some(Kind::Categorical) => format!("{ident}::pg_catalog.text"),
            // Seconds since 1970-01-01 00:00 UTC (a timestamp without time zone as if UTC).
            Some(Kind::Timestamp) => {
                format!("pg_catalog.date_part('epoch', {ident})::pg_catalog.float4")
            }
            Some(Kind::Array) => format!("{ident}::pg_catalog.float4[]"),
            _ => format!("{ident}::pg_catalog.float4"),
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

/// Finds a table, view or materialized view by the name a user typed. A name with a dot or
/// a double quote is an SQL name (`schema.table`, `"Odd.Name"`); any other is tried exactly
/// as written first (any case, spaces), then as an SQL name. Never a dotted name as one
/// exact identifier first: a role that may create in a schema on the search_path could
/// otherwise plant `public."public.secret"` and take over every read of `public.secret`,
/// the stored names of snapshots included.
pub fn resolve(name: &str) -> Result<Relation> {
    // The name resolves through the caller's search_path (it is theirs), in a statement with
    // no operator or unqualified function a hostile schema could stand in for; the catalog
    // reads after it run under catalog::pinned_search_path.
    let sql = if name.contains('.') || name.contains('"') {
        "SELECT pg_catalog.to_regclass($1)::pg_catalog.oid"
    } else {
        "SELECT COALESCE(pg_catalog.to_regclass(pg_catalog.quote_ident($1)),
                         pg_catalog.to_regclass($1))::pg_catalog.oid"
    };
    let oid = Spi::get_one_with_args::<pg_sys::Oid>(sql, &[name.into()])?;
    let found = match oid {
        None => None,
        Some(oid) => catalog::pinned_search_path(|| {
            Spi::connect(|client| -> Result<Option<(pg_sys::Oid, String, String)>> {
                let t = client.select(
                    "SELECT c.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
                            c.relkind::pg_catalog.text
                       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                      WHERE c.oid = $1",
                    Some(1),
                    &[oid.into()],
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
            })
        })?,
    };
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
    let columns = catalog::pinned_search_path(|| {
        Spi::connect(|client| -> Result<Vec<Column>> {
            let t = client.select(
            "SELECT a.attname::pg_catalog.text, a.atttypid, pg_catalog.format_type(a.atttypid, a.atttypmod),
                    t.typcategory::pg_catalog.text, COALESCE(e.typcategory::pg_catalog.text, '')
               FROM pg_catalog.pg_attribute a
               JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
               LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
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
                    category: row.get::<String>(4)?.unwrap_or_default(),
                    element_category: row.get::<String>(5)?.unwrap_or_default(),
                });
            }
            Ok(cols)
        })
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
    /// The feature columns as the pipeline sees them (kinds and widths; rules and
    /// statistics are added by training).
    pub pipeline: Pipeline,
    /// Each categorical feature's values in the order first read (the raw codes).
    pub dictionaries: HashMap<String, Vec<String>>,
    /// A text label's values in the order first read (its raw codes); None for numbers.
    pub label_dictionary: Option<Vec<String>>,
    pub data: Dataset,
}

/// What one pass over the relation gives: the data (or why it is unusable), each feature's
/// width, each feature's dictionary (used by categorical ones) and the label's.
type Read = (
    std::result::Result<Dataset, DataError>,
    Vec<usize>,
    Vec<Dictionary>,
    Dictionary,
);

/// Codes of text values in the order they are first seen.
#[derive(Default)]
struct Dictionary {
    codes: HashMap<String, u32>,
    values: Vec<String>,
}

impl Dictionary {
    fn code(&mut self, v: String) -> f32 {
        if let Some(c) = self.codes.get(&v) {
            return *c as f32;
        }
        let c = self.values.len() as u32;
        self.values.push(v.clone());
        self.codes.insert(v, c);
        c as f32
    }
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
    /// Without labels (clustering, decomposition) every column is a feature. A text label
    /// is allowed only when `text_label` (classification) and only alone.
    /// `backend`: the algorithm to be trained, whose working set counts against
    /// pgml.max_train_memory with the rows (None for a snapshot alone).
    pub fn read(
        self,
        y: &[String],
        text_label: bool,
        backend: Option<&'static dyn pgml_core::bindings::Backend>,
    ) -> Result<Snapshot> {
        let labels: Vec<Column> = y
            .iter()
            .map(|y| self.label(y).cloned())
            .collect::<Result<_>>()?;
        let label_is_text =
            labels.len() == 1 && text_label && labels[0].kind() == Some(Kind::Categorical);
        if let Some(l) = labels
            .iter()
            .find(|l| !matches!(l.kind(), Some(Kind::Numeric | Kind::Boolean)) && !label_is_text)
        {
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
        if let Some(bad) = features.iter().find(|c| c.kind().is_none()) {
            return Err(Error::UnsupportedColumnType {
                column: bad.name.clone(),
                type_name: bad.type_name.clone(),
                role: "feature",
            });
        }
        let kinds: Vec<Kind> = features.iter().filter_map(Column::kind).collect();
        let select: Vec<String> = features
            .iter()
            .chain(&labels)
            .map(|c| {
                if label_is_text && labels.iter().any(|l| l.name == c.name) {
                    format!("{}::pg_catalog.text", quote_identifier(&c.name))
                } else {
                    c.select()
                }
            })
            .collect();
        let query = format!("SELECT {} FROM {}", select.join(", "), self.name);
        // One pass for the row count and every array column's length (fixed per column).
        let arrays: Vec<&Column> = features
            .iter()
            .filter(|c| c.kind() == Some(Kind::Array))
            .collect();
        let mut count = String::from("SELECT pg_catalog.count(*)");
        for a in &arrays {
            let ident = quote_identifier(&a.name);
            count.push_str(&format!(
                ", pg_catalog.min(pg_catalog.cardinality({ident})), pg_catalog.max(pg_catalog.cardinality({ident}))"
            ));
        }
        count.push_str(&format!(" FROM {}", self.name));
        let k = labels.len();
        let relation = self.name.clone();
        let (data, widths, dictionaries, label_dictionary) =
            Spi::connect(|client| -> Result<Read> {
                let stats = client.select(&count, Some(1), &[])?;
                let stats = stats.first();
                let expected = stats.get::<i64>(1)?.unwrap_or(0).max(0) as usize;
                let mut array_width = Vec::with_capacity(arrays.len());
                for (i, a) in arrays.iter().enumerate() {
                    let lo = stats.get::<i32>(2 + 2 * i)?;
                    let hi = stats.get::<i32>(3 + 2 * i)?;
                    match (lo, hi) {
                        (Some(lo), Some(hi)) if lo == hi && lo > 0 => array_width.push(lo as usize),
                        _ => {
                            return Err(Error::ArrayLength {
                                column: a.name.clone(),
                                shortest: lo.unwrap_or(0).max(0) as usize,
                                longest: hi.unwrap_or(0).max(0) as usize,
                            })
                        }
                    }
                }
                let mut next_array = array_width.iter();
                let widths: Vec<usize> = kinds
                    .iter()
                    .map(|k| {
                        if *k == Kind::Array {
                            *next_array.next().unwrap_or(&1)
                        } else {
                            1
                        }
                    })
                    .collect();
                let raw_width: usize = widths.iter().sum();
                // The whole working set, checked before a row is read: this buffer, then
                // what the library will copy and build (memory::Budget).
                let limit = crate::gucs::train_memory_limit();
                let own = expected
                    .saturating_mul(raw_width.saturating_add(k.max(1)))
                    .saturating_mul(4);
                let library = backend.map_or(0, |b| b.working_set(expected, raw_width));
                pgml_core::memory::Budget { limit }
                    .check("this training", own.saturating_add(library))?;
                let mut builder = DenseBuilder::bounded(expected, raw_width, k, limit)?;
                let mut dicts: Vec<Dictionary> =
                    kinds.iter().map(|_| Dictionary::default()).collect();
                let mut label_dict = Dictionary::default();
                let mut cursor = client.try_open_cursor(&query, &[])?;
                let mut values: Vec<Option<f32>> = Vec::with_capacity(raw_width);
                let mut targets = Vec::with_capacity(k.max(1));
                let mut reporter = crate::train::progress::Reporter::new("snapshot");
                loop {
                    pg_sys::check_for_interrupts!();
                    reporter.rows(builder.rows(), expected, &relation);
                    let table = cursor.fetch(FETCH_ROWS)?;
                    if table.is_empty() {
                        break;
                    }
                    for row in table {
                        for (i, kind) in kinds.iter().enumerate() {
                            let ordinal = i + 1;
                            match kind {
                                Kind::Categorical => values
                                    .push(row.get::<String>(ordinal)?.map(|v| dicts[i].code(v))),
                                Kind::Array => match row.get::<Vec<Option<f32>>>(ordinal)? {
                                    Some(a) if a.len() == widths[i] => values.extend(a),
                                    _ => values.extend(std::iter::repeat_n(None, widths[i])),
                                },
                                _ => values.push(row.get::<f32>(ordinal)?),
                            }
                        }
                        let first_label = kinds.len() + 1;
                        for ordinal in first_label..first_label + k {
                            targets.push(if label_is_text {
                                row.get::<String>(ordinal)?.map(|v| label_dict.code(v))
                            } else {
                                row.get::<f32>(ordinal)?
                            });
                        }
                        if k == 0 {
                            targets.push(None);
                        }
                        builder.try_push_row_joint(values.drain(..), targets.drain(..))?;
                    }
                    // pgrx keeps every fetched tuple table until the SPI connection ends:
                    // freeing each batch once copied keeps a 10M-row read at one batch of
                    // tuples, not all of them (1.5 GB of 10M x 10 measured before).
                    // SAFETY: the table was consumed above; nothing refers to it.
                    unsafe {
                        pg_sys::SPI_freetuptable(pg_sys::SPI_tuptable);
                        pg_sys::SPI_tuptable = std::ptr::null_mut();
                    }
                }
                Ok((builder.finish(), widths, dicts, label_dict))
            })?;
        let data = data.map_err(|source| Error::Data {
            relation: self.name.clone(),
            source,
        })?;
        let columns = features
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                pgml_core::data::preprocess::Column::new(
                    &c.name,
                    &c.type_name,
                    c.kind().unwrap_or(Kind::Numeric),
                    *w,
                )
            })
            .collect();
        let dictionaries = features
            .iter()
            .zip(dictionaries)
            .filter(|(c, _)| c.kind() == Some(Kind::Categorical))
            .map(|(c, d)| (c.name.clone(), d.values))
            .collect();
        Ok(Snapshot {
            relation: self.name,
            labels,
            pipeline: Pipeline::new(columns),
            dictionaries,
            label_dictionary: label_is_text.then_some(label_dictionary.values),
            data,
        })
    }
}
