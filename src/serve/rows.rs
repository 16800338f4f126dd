//! Row decoding for `pgml.predict(project, row)` and the PgmlPredict scan: a table row (or any
//! composite) read as training read the table, its columns matched to the model's training
//! columns by name (by position for an anonymous `ROW(...)`), with a plan per row type kept
//! per call site.

use crate::error::{Error, Result};
use crate::serve::cache::Served;
use pgml_core::data::preprocess::Kind;
use pgrx::prelude::*;

/// One attribute of a row, decoded by its own type.
enum Attribute {
    Null,
    Number(f32),
    Text(String),
    Numbers(Vec<f32>),
}

/// Seconds since 1970-01-01 of Postgres's date (days) and timestamp (µs) since 2000-01-01.
const PG_EPOCH_SECONDS: f64 = 946_684_800.0;

/// A non-null value of a type passed by value that reads as one number (the numeric,
/// boolean, date and timestamp types), decoded in place; None for any other type.
fn number(d: pg_sys::Datum, oid: pg_sys::Oid) -> Option<f32> {
    let v = d.value();
    Some(match oid {
        pg_sys::FLOAT4OID => f32::from_bits(v as u32),
        // float8 and int8 are passed by value on 64-bit platforms, the only ones pgrx
        // supports.
        pg_sys::FLOAT8OID => f64::from_bits(v as u64) as f32,
        pg_sys::INT2OID => f32::from(v as i16),
        pg_sys::INT4OID => v as i32 as f32,
        pg_sys::INT8OID => v as i64 as f32,
        pg_sys::BOOLOID => (v != 0) as u8 as f32,
        pg_sys::DATEOID => match v as i32 {
            i32::MIN => f32::NEG_INFINITY,
            i32::MAX => f32::INFINITY,
            days => (f64::from(days) * 86_400.0 + PG_EPOCH_SECONDS) as f32,
        },
        pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID => match v as i64 {
            i64::MIN => f32::NEG_INFINITY,
            i64::MAX => f32::INFINITY,
            // As Postgres computes date_part('epoch', ...): whole µs first, then seconds.
            micros => ((micros as f64 + PG_EPOCH_SECONDS * 1e6) / 1e6) as f32,
        },
        _ => return None,
    })
}

/// A non-null attribute value of type `oid`, decoded; None for a type pgml does not read.
///
/// # Safety
/// `d` is a valid datum of type `oid`.
unsafe fn attribute(d: pg_sys::Datum, oid: pg_sys::Oid) -> Option<Attribute> {
    macro_rules! arr {
        ($t:ty, $f:expr) => {{
            let a = Array::<$t>::from_polymorphic_datum(d, false, pg_sys::InvalidOid)?;
            Some(Attribute::Numbers(
                a.iter().map(|v| v.map_or(f32::NAN, $f)).collect(),
            ))
        }};
    }
    if let Some(v) = number(d, oid) {
        return Some(Attribute::Number(v));
    }
    match oid {
        pg_sys::NUMERICOID => {
            let v = AnyNumeric::from_polymorphic_datum(d, false, oid)?;
            Some(Attribute::Number(f32::try_from(v).unwrap_or(f32::NAN)))
        }
        pg_sys::FLOAT4ARRAYOID => arr!(f32, |v| v),
        pg_sys::FLOAT8ARRAYOID => arr!(f64, |v| v as f32),
        pg_sys::INT2ARRAYOID => arr!(i16, f32::from),
        pg_sys::INT4ARRAYOID => arr!(i32, |v| v as f32),
        pg_sys::INT8ARRAYOID => arr!(i64, |v| v as f32),
        _ => {
            // Text-like and enum values by their output function, as training read them
            // (col::text); char(n)'s padding is not part of the value.
            let category = pg_sys::get_typtype(oid) as u8 as char;
            let text_like = category == 'e'
                || [
                    pg_sys::TEXTOID,
                    pg_sys::VARCHAROID,
                    pg_sys::BPCHAROID,
                    pg_sys::NAMEOID,
                ]
                .contains(&oid);
            if !text_like {
                return None;
            }
            let (mut func, mut varlena) = (pg_sys::InvalidOid, false);
            pg_sys::getTypeOutputInfo(oid, &mut func, &mut varlena);
            let text = pg_sys::OidOutputFunctionCall(func, d);
            let mut s = std::ffi::CStr::from_ptr(text)
                .to_string_lossy()
                .into_owned();
            if oid == pg_sys::BPCHAROID {
                s.truncate(s.trim_end_matches(' ').len());
            }
            Some(Attribute::Text(s))
        }
    }
}

/// How rows of one composite type are read for one loaded model: a copy of the type's
/// descriptor and, per training column, the attribute it comes from. Built on a type's first
/// row and kept while the row type (its typcache identifier, which changes with ALTER TABLE)
/// and the model stay the same, so a row costs one deform and the conversions: looking each
/// attribute up by number (the descriptor found again for each) cost ~2.6 µs a row.
struct RowPlan {
    identifier: u64,
    stamp: u64,
    /// In TopMemoryContext, freed when the plan is dropped (replaced, or its site goes).
    tupdesc: pg_sys::TupleDesc,
    /// Where each training column comes from.
    attributes: Sources,
    /// The deformed row, reused from row to row (natts each).
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
}

impl Drop for RowPlan {
    fn drop(&mut self) {
        // SAFETY: the plan's own copy, referenced nowhere else.
        unsafe { pg_sys::FreeTupleDesc(self.tupdesc) };
    }
}

/// What a call site of a row predict keeps between rows (api::fmgr::Args::site): its
/// argument's type and the plan for the rows it last read. Per site, so that a query with
/// two such calls (two projects, two row types) does not rebuild a plan on every row.
pub(crate) struct RowSite {
    arg_type: pg_sys::Oid,
    plan: Option<RowPlan>,
}

impl RowSite {
    /// This call's site, for a row argument at position 1.
    ///
    /// # Safety
    /// As Args::site: only the row predicts ask for a RowSite.
    pub(crate) unsafe fn of<'a>(args: &crate::pg::fmgr::Args) -> &'a mut RowSite {
        // SAFETY: the contract.
        unsafe {
            args.site(|a| RowSite {
                arg_type: a.arg_type(1),
                plan: None,
            })
        }
    }
}

fn type_name(oid: pg_sys::Oid) -> String {
    // SAFETY: format_type_be accepts any OID (it names unknown ones "???").
    unsafe { std::ffi::CStr::from_ptr(pg_sys::format_type_be(oid)) }
        .to_string_lossy()
        .into_owned()
}

/// The attributes of a row type as (name, type, dropped), in attribute order.
///
/// # Safety
/// `tupdesc` is a valid descriptor.
pub(crate) unsafe fn tupdesc_attributes(
    tupdesc: pg_sys::TupleDesc,
) -> Vec<(String, pg_sys::Oid, bool)> {
    // SAFETY: a valid descriptor of natts attributes (the contract).
    unsafe {
        (0..(*tupdesc).natts as usize)
            .map(|i| {
                let a = &*(*tupdesc).attrs.as_ptr().add(i);
                let name = std::ffi::CStr::from_ptr(a.attname.data.as_ptr());
                (
                    name.to_string_lossy().into_owned(),
                    a.atttypid,
                    a.attisdropped,
                )
            })
            .collect()
    }
}

/// Per training column of a model: the index of the row attribute it comes from, the
/// attribute's type and name, and whether it is read as one number in place (see
/// [`number`]).
pub(crate) struct Sources {
    pub columns: Vec<(usize, pg_sys::Oid, String, bool)>,
    /// Every column is read in place: the common all-numeric row takes a tight loop, which
    /// calls nothing in Postgres.
    pub all_in_place: bool,
    /// Every column is a real (float4), the most common feature type: their indexes, read
    /// by the tightest loop (no per-value type dispatch).
    float4: Option<Vec<usize>>,
}

/// How rows with attributes `attrs` (see [`tupdesc_attributes`]) are read for the model `s`:
/// matched by name, or by position (an anonymous ROW(...)); an error names a missing column.
pub(crate) fn row_sources(attrs: &[(String, pg_sys::Oid, bool)], s: &Served) -> Result<Sources> {
    // Dropped columns keep their place in the descriptor but have no name to match.
    let names: Vec<String> = attrs
        .iter()
        .map(|(n, _, dropped)| if *dropped { String::new() } else { n.clone() })
        .collect();
    let columns: Vec<String> = s.pipeline.columns.iter().map(|c| c.name.clone()).collect();
    let order = crate::serve::row_order(&columns, &names)?;
    let columns: Vec<_> = order
        .into_iter()
        .zip(&s.pipeline.columns)
        .map(|(i, column)| {
            let oid = attrs[i].1;
            // Categories and arrays take the general path; so does a type read otherwise
            // (number() decides by the type alone).
            let in_place = !matches!(column.kind, Kind::Categorical | Kind::Array)
                && number(pg_sys::Datum::from(0), oid).is_some();
            (i, oid, attrs[i].0.clone(), in_place)
        })
        .collect();
    let all_in_place = columns.iter().all(|c| c.3);
    let float4 = all_in_place && columns.iter().all(|c| c.1 == pg_sys::FLOAT4OID);
    Ok(Sources {
        all_in_place,
        float4: float4.then(|| columns.iter().map(|c| c.0).collect()),
        columns,
    })
}

/// A plan for rows of the type that the detoasted `header` names, and the loaded model `s`.
fn row_plan(identifier: u64, header: pg_sys::HeapTupleHeader, s: &Served) -> Result<RowPlan> {
    // SAFETY: the header is a detoasted composite datum; its type and typmod name a
    // registered row type, whose descriptor is copied into TopMemoryContext.
    let tupdesc = unsafe {
        let (typid, typmod) = (
            pgrx::heap_tuple_header_get_type_id(header),
            pgrx::heap_tuple_header_get_typmod(header),
        );
        pgrx::PgMemoryContexts::TopMemoryContext
            .switch_to(|_| pg_sys::lookup_rowtype_tupdesc_copy(typid, typmod))
    };
    // SAFETY: the descriptor just copied.
    let attrs = unsafe { tupdesc_attributes(tupdesc) };
    let plan = row_sources(&attrs, s).map(|attributes| RowPlan {
        identifier,
        stamp: s.stamp(),
        tupdesc,
        attributes,
        values: vec![pg_sys::Datum::from(0); attrs.len()],
        nulls: vec![true; attrs.len()],
    });
    if plan.is_err() {
        // SAFETY: our own copy, referenced nowhere else.
        unsafe { pg_sys::FreeTupleDesc(tupdesc) };
    }
    plan
}

/// Appends to `raw` the raw values of a row (a non-null composite datum of the site's
/// argument type, or of any other type: refused) for the model `s`: its columns matched by
/// name (by position for an anonymous ROW(...)), read as training read them. NULL is NaN (a
/// missing value).
pub(crate) fn row_raw(
    row: pg_sys::Datum,
    site: &mut RowSite,
    s: &Served,
    raw: &mut Vec<f32>,
) -> Result<()> {
    let arg_type = site.arg_type;
    // SAFETY: reading the type catalog for the argument's own type.
    if site.plan.is_none() && !unsafe { pg_sys::type_is_rowtype(arg_type) } {
        return Err(Error::NotARow(type_name(arg_type)));
    }
    // SAFETY: the datum is a composite (checked above, or when the site's plan was made);
    // detoasting gives a plain tuple header (a copy if it was toasted). The identifier is
    // looked up on every row: a row type changes under ALTER TABLE, and a caller such as
    // PL/pgSQL may pass rows of both layouts through one call site.
    let (header, identifier) = unsafe {
        let header = crate::pg::fmgr::detoast(row).0 as pg_sys::HeapTupleHeader;
        let identifier = pg_sys::assign_record_type_identifier(
            pgrx::heap_tuple_header_get_type_id(header),
            pgrx::heap_tuple_header_get_typmod(header),
        );
        (header, identifier)
    };
    let current =
        (site.plan.as_ref()).is_some_and(|p| p.identifier == identifier && p.stamp == s.stamp());
    if !current {
        // The old plan (and its descriptor) goes first: a failed new one leaves none.
        site.plan = None;
        site.plan = Some(row_plan(identifier, header, s)?);
    }
    let plan = site.plan.as_mut().expect("a plan was just made");
    read_row(plan, header, s, raw)
}

/// Deforms one row by its plan and appends the training columns' raw values to `x`.
fn read_row(
    plan: &mut RowPlan,
    header: pg_sys::HeapTupleHeader,
    s: &Served,
    x: &mut Vec<f32>,
) -> Result<()> {
    let (values, nulls) = (&mut plan.values, &mut plan.nulls);
    // SAFETY: the plan's descriptor is this row's (same typcache identifier), and values
    // and nulls have its natts entries; heap_deform_tuple reads at most natts attributes
    // (fewer when the row has fewer: those it sets NULL).
    unsafe {
        let mut tuple = pg_sys::HeapTupleData {
            t_len: pgrx::varlena::varsize_any(header as *const pg_sys::varlena) as u32,
            t_self: pg_sys::ItemPointerData::default(),
            t_tableOid: pg_sys::InvalidOid,
            t_data: header,
        };
        pg_sys::heap_deform_tuple(
            &mut tuple,
            plan.tupdesc,
            values.as_mut_ptr(),
            nulls.as_mut_ptr(),
        );
    }
    // SAFETY: the values were just deformed by the row's own descriptor.
    unsafe { read_values(&plan.attributes, values, nulls, s, x) }
}

/// Appends to `x` the training columns' raw values of one deformed row (`values` and
/// `nulls` by attribute, at least up to the highest index in `sources`), read by `sources`.
///
/// # Safety
/// Each non-null `values[i]` named by `sources` is a valid datum of the type recorded there
/// (the row's own descriptor).
pub(crate) unsafe fn read_values(
    sources: &Sources,
    values: &[pg_sys::Datum],
    nulls: &[bool],
    s: &Served,
    x: &mut Vec<f32>,
) -> Result<()> {
    if let Some(float4) = &sources.float4 {
        x.extend(float4.iter().map(|&idx| {
            if nulls[idx] {
                f32::NAN
            } else {
                f32::from_bits(values[idx].value() as u32)
            }
        }));
        return Ok(());
    }
    if sources.all_in_place {
        // One number per column (number() reads every type marked in place).
        x.extend(sources.columns.iter().map(|&(idx, oid, _, _)| {
            if nulls[idx] {
                f32::NAN
            } else {
                number(values[idx], oid).unwrap_or(f32::NAN)
            }
        }));
        return Ok(());
    }
    x.reserve(s.pipeline.raw_width());
    for (column, (idx, oid, name, in_place)) in s.pipeline.columns.iter().zip(&sources.columns) {
        let (idx, oid) = (*idx, *oid);
        if *in_place && !nulls[idx] {
            // number() reads every type the plan marked in place.
            x.push(number(values[idx], oid).unwrap_or(f32::NAN));
            continue;
        }
        let value = if nulls[idx] {
            Attribute::Null
        } else {
            // SAFETY: attribute idx of this row has type `oid` (the row's own descriptor).
            unsafe { attribute(values[idx], oid) }.ok_or_else(|| Error::UnsupportedColumnType {
                column: name.clone(),
                type_name: type_name(oid),
                role: "feature",
            })?
        };
        let mismatch = |got: &str| Error::RowColumnType {
            column: name.clone(),
            expected: column.type_name.clone(),
            got: got.into(),
        };
        match (column.kind, value) {
            (_, Attribute::Null) => x.extend(std::iter::repeat_n(f32::NAN, column.width)),
            (Kind::Categorical, Attribute::Text(t)) => x.push(column.category_index(&t)),
            (Kind::Categorical, Attribute::Number(v)) => {
                x.push(column.category_index(&v.to_string()))
            }
            (Kind::Array, Attribute::Numbers(v)) if v.len() == column.width => x.extend(v),
            (Kind::Array, Attribute::Numbers(v)) => {
                return Err(Error::ArrayLength {
                    column: name.clone(),
                    shortest: v.len().min(column.width),
                    longest: v.len().max(column.width),
                })
            }
            (Kind::Array, _) => return Err(mismatch("a scalar")),
            (_, Attribute::Number(v)) => x.push(v),
            (_, Attribute::Text(_)) => return Err(mismatch("text")),
            (_, Attribute::Numbers(_)) => return Err(mismatch("an array")),
        }
    }
    Ok(())
}
