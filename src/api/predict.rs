//! pgml.predict, predict_proba and predict_batch, with array overloads for every numeric
//! element type users type (ARRAY[5.1, 3.5] is numeric[], ARRAY[1, 2] integer[]), and
//! pgml.predict(project, row) for a table row.

use crate::error::{Error, OrReport, Result};
use crate::pg::fmgr::Refused;
use crate::serve;
use crate::serve::rows::{row_raw, RowSite};
use pgrx::datum::AnyElement;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::prelude::*;

fn null_at(i: usize) -> Error {
    Error::NullFeature {
        feature: format!("feature {} of the array", i + 1),
    }
}

/// Calls `f` on the array's values as f32: in place for real[], converted otherwise.
trait Features {
    fn with_f32<R>(self, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R>;
}

impl Features for Array<'_, f32> {
    fn with_f32<R>(self, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
        match self.as_slice() {
            Ok(slice) => f(slice),
            Err(_) => Err(null_at(self.iter().position(|v| v.is_none()).unwrap_or(0))),
        }
    }
}

macro_rules! convert_features {
    ($t:ty, $conv:expr) => {
        impl Features for Array<'_, $t> {
            fn with_f32<R>(self, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
                let conv = $conv;
                let mut v = Vec::with_capacity(self.len());
                for (i, x) in self.iter().enumerate() {
                    v.push(conv(x.ok_or_else(|| null_at(i))?));
                }
                f(&v)
            }
        }
    };
}

convert_features!(f64, |x: f64| x as f32);
convert_features!(i32, |x: i32| x as f32);
convert_features!(i64, |x: i64| x as f32);
convert_features!(AnyNumeric, |x: AnyNumeric| f32::try_from(x)
    .unwrap_or(f32::NAN));

/// The array and, when it has two or more dimensions, the length of its last one (the
/// number of features per row).
fn with_row_width<'a, T: pgrx::datum::UnboxDatum>(
    arr: Array<'a, T>,
) -> (Array<'a, T>, Option<usize>) {
    let ptr = arr.into_array_type();
    // SAFETY: `ptr` is the detoasted array Postgres passed us; RawArray only reads its
    // header, and the Array is rebuilt from the same datum (no copy, no free).
    unsafe {
        let raw = pgrx::array::RawArray::from_ptr(std::ptr::NonNull::new_unchecked(ptr as *mut _));
        let dims = raw.dims();
        let width = if dims.len() >= 2 {
            dims.last().map(|d| *d as usize)
        } else {
            None
        };
        let arr =
            Array::<T>::from_polymorphic_datum(pg_sys::Datum::from(ptr), false, pg_sys::InvalidOid)
                .expect("a non-null array datum");
        (arr, width)
    }
}

/// `arr` itself when it has at most one dimension: the one-row forms refuse a matrix, which
/// flattened would be predicted as one long row (`predict_batch` takes matrices).
fn one_row<'a, T: pgrx::datum::UnboxDatum>(
    function: &'static str,
    arr: Array<'a, T>,
) -> Result<Array<'a, T>> {
    let ptr = arr.into_array_type();
    // SAFETY: as in with_row_width: the header is read, the Array rebuilt from the same datum.
    unsafe {
        let ndim = (*ptr).ndim as usize;
        if ndim > 1 {
            return Err(Error::NotOneRow { function, ndim });
        }
        Ok(
            Array::<T>::from_polymorphic_datum(pg_sys::Datum::from(ptr), false, pg_sys::InvalidOid)
                .expect("a non-null array datum"),
        )
    }
}

/// A `real[]` result built in one copy: pgrx's conversion of a `Vec` appends element by
/// element (~30 ms for a million predictions, a sixth of a 25-tree batch).
pub struct RealArray(pub Vec<f32>);

impl IntoDatum for RealArray {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        let values = &self.0;
        crate::pg::fmgr::build(values.len(), |out| {
            out.copy_from_slice(values);
            Ok(())
        })
        .ok()
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::FLOAT4ARRAYOID
    }
}

// SAFETY: into_datum returns a valid float4[] datum.
unsafe impl pgrx::callconv::BoxRet for RealArray {
    unsafe fn box_into<'fcx>(
        self,
        fcinfo: &mut pgrx::callconv::FcInfo<'fcx>,
    ) -> pgrx::datum::Datum<'fcx> {
        match self.into_datum() {
            // SAFETY: as the trait says, the datum is returned from the function.
            Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
            None => fcinfo.return_null(),
        }
    }
}

// SAFETY: the SQL type is real[], as for Vec<f32>.
unsafe impl SqlTranslatable for RealArray {
    const TYPE_IDENT: &'static str = <Vec<f32> as SqlTranslatable>::TYPE_IDENT;
    const TYPE_ORIGIN: TypeOrigin = <Vec<f32> as SqlTranslatable>::TYPE_ORIGIN;
    const ARGUMENT_SQL: std::result::Result<SqlMappingRef, ArgumentError> =
        <Vec<f32> as SqlTranslatable>::ARGUMENT_SQL;
    const RETURN_SQL: std::result::Result<ReturnsRef, ReturnsError> =
        <Vec<f32> as SqlTranslatable>::RETURN_SQL;
}

/// pgml.predict(project, array) for the element types converted to f32 (real[] has its
/// own entry point, [`pgml_predict_real`]).
macro_rules! predict_overload {
    ($t:ty, $predict:ident) => {
        /// Predicts one row given as an array of feature values, in training column order.
        #[pg_extern(stable, parallel_safe, strict, name = "predict")]
        fn $predict(project_name: &str, features: Array<$t>) -> f32 {
            one_row("pgml.predict", features)
                .and_then(|f| f.with_f32(|x| serve::predict(project_name, x)))
                .or_report()
        }
    };
}

predict_overload!(f64, predict_double);
predict_overload!(AnyNumeric, predict_numeric);
predict_overload!(i32, predict_int);
predict_overload!(i64, predict_bigint);

crate::pg::fmgr::fmgr_function!(
    /// `pgml.predict(text, real[])`, the serving hot path: the two arguments read in place,
    /// the array's header checked, the model's arithmetic (see api::fmgr for why this is not
    /// `#[pg_extern]`: a warm predict should cost little more than the query that carries
    /// it, issue 5).
    pgml_predict_real(args) {
        // The warm lane first: everything it needs is in place, or it declines.
        let warm = (args.text_in_place(0))
            .zip(args.vector_in_place::<f32>(1))
            .and_then(|(name, x)| serve::predict_warm(name, x));
        let value = match warm {
            Some(v) => v,
            None => predict_real(&args),
        };
        pg_sys::Datum::from(value.to_bits())
    }
);

/// pgml_predict_real beyond the warm lane: any array, a model to load or check, errors.
#[inline(never)]
fn predict_real(args: &crate::pg::fmgr::Args) -> f32 {
    args.project(0)
        .and_then(|project| {
            let array = args.array(1);
            // SAFETY: a detoasted array that lives as long as the call.
            let ndim = unsafe { (*array).ndim } as usize;
            if ndim > 1 {
                return Err(Error::NotOneRow {
                    function: "pgml.predict",
                    ndim,
                });
            }
            // SAFETY: as above.
            let x = unsafe { real_array(array)? };
            serve::predict(project, x)
        })
        .or_report()
}

/// The values of a detoasted real[] (any number of dimensions, flattened), in place.
///
/// # Safety
/// `array` points to a detoasted ArrayType that outlives the returned slice.
#[inline(always)]
unsafe fn real_array<'a>(array: *mut pg_sys::ArrayType) -> Result<&'a [f32]> {
    // SAFETY: as the contract.
    unsafe { crate::pg::fmgr::elements::<f32>(array) }.map_err(not_real)
}

/// Why an array is not a row of reals, as an error (cold: off the warm predict path).
#[cold]
#[inline(never)]
fn not_real(refused: Refused) -> Error {
    match refused {
        Refused::Type(oid) => Error::NotARow(format!("an array of element type OID {oid}")),
        Refused::Null(i) => null_at(i),
    }
}

extension_sql!(
    r#"
CREATE FUNCTION pgml."predict"("project_name" TEXT, "features" real[]) RETURNS real
    STABLE STRICT PARALLEL SAFE LANGUAGE c
    AS 'MODULE_PATHNAME', 'pgml_predict_real';
COMMENT ON FUNCTION pgml."predict"(TEXT, real[]) IS
    'Predicts one row given as an array of feature values, in training column order.';
"#,
    name = "predict_real",
);

macro_rules! array_overloads {
    ($t:ty, $proba:ident, $batch:ident, $decompose:ident, $joint:ident, $label:ident) => {
        /// The predicted label of one row given as raw values (as the array form of predict).
        #[pg_extern(stable, parallel_safe, strict, name = "predict_label")]
        fn $label(project_name: &str, features: Array<$t>) -> String {
            one_row("pgml.predict_label", features)
                .and_then(|f| {
                    f.with_f32(|x| {
                        serve::predict_label(project_name, |_, raw| {
                            raw.extend_from_slice(x);
                            Ok(())
                        })
                    })
                })
                .or_report()
        }

        /// Class probabilities for one row, in the order of pgml.models.classes.
        #[pg_extern(stable, parallel_safe, strict, name = "predict_proba")]
        fn $proba(project_name: &str, features: Array<$t>) -> Vec<f32> {
            one_row("pgml.predict_proba", features)
                .and_then(|f| f.with_f32(|x| serve::predict_proba(project_name, x)))
                .or_report()
        }

        /// Every target of one row of a joint regression, in y_column_name order.
        #[pg_extern(stable, parallel_safe, strict, name = "predict_joint")]
        fn $joint(project_name: &str, features: Array<$t>) -> Vec<f32> {
            one_row("pgml.predict_joint", features)
                .and_then(|f| f.with_f32(|x| serve::predict_joint(project_name, x)))
                .or_report()
        }

        /// The principal components of one row (decomposition projects).
        #[pg_extern(stable, parallel_safe, strict, name = "decompose")]
        fn $decompose(project_name: &str, features: Array<$t>) -> Vec<f32> {
            one_row("pgml.decompose", features)
                .and_then(|f| f.with_f32(|x| serve::decompose(project_name, x)))
                .or_report()
        }

        /// Predicts many rows given as one flattened or 2-D array: one result per row, in
        /// one array. An array, not a set of rows: a set costs a tuplestore row per result,
        /// more than a tree model's whole prediction (`unnest` makes rows when wanted).
        #[pg_extern(stable, parallel_safe, strict, name = "predict_batch")]
        fn $batch(project_name: &str, features: Array<$t>) -> RealArray {
            let (features, width) = with_row_width(features);
            RealArray(
                features
                    .with_f32(|x| serve::predict_batch(project_name, x, width))
                    .or_report(),
            )
        }
    };
}

array_overloads!(
    f32,
    predict_proba_real,
    predict_batch_real,
    decompose_real,
    predict_joint_real,
    predict_label_real
);
array_overloads!(
    f64,
    predict_proba_double,
    predict_batch_double,
    decompose_double,
    predict_joint_double,
    predict_label_double
);
array_overloads!(
    AnyNumeric,
    predict_proba_numeric,
    predict_batch_numeric,
    decompose_numeric,
    predict_joint_numeric,
    predict_label_numeric
);
array_overloads!(
    i32,
    predict_proba_int,
    predict_batch_int,
    decompose_int,
    predict_joint_int,
    predict_label_int
);
array_overloads!(
    i64,
    predict_proba_bigint,
    predict_batch_bigint,
    decompose_bigint,
    predict_joint_bigint,
    predict_label_bigint
);

/// The predicted label of a classification project as text (a text label's own value).
#[pg_extern(stable, parallel_safe, strict, name = "predict_label")]
fn predict_label_row(
    project_name: &str,
    row: AnyElement,
    fcinfo: pg_sys::FunctionCallInfo,
) -> String {
    // SAFETY: this call's fcinfo; only the row predicts ask for a RowSite.
    let site = unsafe { RowSite::of(&crate::pg::fmgr::Args::new(fcinfo)) };
    serve::predict_label(project_name, |s, raw| row_raw(row.datum(), site, s, raw)).or_report()
}

crate::pg::fmgr::fmgr_function!(
    /// `pgml.predict(text, anyelement)` on a table row, the per-row path of
    /// `SELECT pgml.predict('p', t) FROM t` (issue 5, item 6): the argument type kept per
    /// call site, the row deformed into the plan's buffers and read into the model's (see
    /// api::fmgr for why this is not `#[pg_extern]`).
    pgml_predict_row(args) {
        predict_row(&args)
    }
);

crate::pg::fmgr::fmgr_function!(
    /// The same, under the symbol that catalogs made by earlier builds (a `#[pg_extern]`)
    /// name, so that an installed extension keeps working with this library.
    predict_row_wrapper(args) {
        predict_row(&args)
    }
);

fn predict_row(args: &crate::pg::fmgr::Args) -> pg_sys::Datum {
    let value = args
        .project(0)
        .and_then(|project| {
            let row = args.datum(1);
            // SAFETY: only the row predicts ask for a RowSite.
            let site = unsafe { RowSite::of(args) };
            serve::predict_row(project, |s, raw| row_raw(row, site, s, raw))
        })
        .or_report();
    pg_sys::Datum::from(value.to_bits())
}

extension_sql!(
    r#"
CREATE FUNCTION pgml."predict"("project_name" TEXT, "row" anyelement) RETURNS real
    STABLE STRICT PARALLEL SAFE LANGUAGE c
    AS 'MODULE_PATHNAME', 'pgml_predict_row';
COMMENT ON FUNCTION pgml."predict"(TEXT, anyelement) IS
    'Predicts from a table row (or any composite): columns are matched to the training features by name, so pgml.predict(''iris'', iris) FROM pgml.iris ignores the label.';
"#,
    name = "predict_row",
);
