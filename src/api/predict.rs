//! pgml.predict, predict_proba and predict_batch, with array overloads for every numeric
//! element type users type (ARRAY[5.1, 3.5] is numeric[], ARRAY[1, 2] integer[]), and
//! pgml.predict(project, row) for a table row.

use crate::error::{Error, OrReport, Result};
use crate::serve;
use pgrx::datum::AnyElement;
use pgrx::prelude::*;
use std::num::NonZeroUsize;

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

macro_rules! array_overloads {
    ($t:ty, $predict:ident, $proba:ident, $batch:ident, $decompose:ident, $joint:ident) => {
        /// Predicts one row given as an array of feature values, in training column order.
        #[pg_extern(stable, parallel_safe, strict, name = "predict")]
        fn $predict(project_name: &str, features: Array<$t>) -> f32 {
            features
                .with_f32(|x| serve::predict(project_name, x))
                .or_report()
        }

        /// Class probabilities for one row, in the order of pgml.models.classes.
        #[pg_extern(stable, parallel_safe, strict, name = "predict_proba")]
        fn $proba(project_name: &str, features: Array<$t>) -> Vec<f32> {
            features
                .with_f32(|x| serve::predict_proba(project_name, x))
                .or_report()
        }

        /// Every target of one row of a joint regression, in y_column_name order.
        #[pg_extern(stable, parallel_safe, strict, name = "predict_joint")]
        fn $joint(project_name: &str, features: Array<$t>) -> Vec<f32> {
            features
                .with_f32(|x| serve::predict_joint(project_name, x))
                .or_report()
        }

        /// The principal components of one row (decomposition projects).
        #[pg_extern(stable, parallel_safe, strict, name = "decompose")]
        fn $decompose(project_name: &str, features: Array<$t>) -> Vec<f32> {
            features
                .with_f32(|x| serve::decompose(project_name, x))
                .or_report()
        }

        /// Predicts many rows given as one flattened or 2-D array, one result per row.
        #[pg_extern(stable, parallel_safe, strict, name = "predict_batch")]
        fn $batch(project_name: &str, features: Array<$t>) -> SetOfIterator<'static, f32> {
            let (features, width) = with_row_width(features);
            SetOfIterator::new(
                features
                    .with_f32(|x| serve::predict_batch(project_name, x, width))
                    .or_report(),
            )
        }
    };
}

array_overloads!(
    f32,
    predict_real,
    predict_proba_real,
    predict_batch_real,
    decompose_real,
    predict_joint_real
);
array_overloads!(
    f64,
    predict_double,
    predict_proba_double,
    predict_batch_double,
    decompose_double,
    predict_joint_double
);
array_overloads!(
    AnyNumeric,
    predict_numeric,
    predict_proba_numeric,
    predict_batch_numeric,
    decompose_numeric,
    predict_joint_numeric
);
array_overloads!(
    i32,
    predict_int,
    predict_proba_int,
    predict_batch_int,
    decompose_int,
    predict_joint_int
);
array_overloads!(
    i64,
    predict_bigint,
    predict_proba_bigint,
    predict_batch_bigint,
    decompose_bigint,
    predict_joint_bigint
);

/// One numeric or boolean attribute of a row as f32 (None: NULL).
fn attribute(
    tuple: &PgHeapTuple<'_, pgrx::AllocatedByRust>,
    i: NonZeroUsize,
    type_oid: pg_sys::Oid,
) -> Option<std::result::Result<Option<f32>, ()>> {
    let v = match type_oid {
        pg_sys::FLOAT4OID => tuple.get_by_index::<f32>(i),
        pg_sys::FLOAT8OID => tuple.get_by_index::<f64>(i).map(|v| v.map(|x| x as f32)),
        pg_sys::INT2OID => tuple.get_by_index::<i16>(i).map(|v| v.map(f32::from)),
        pg_sys::INT4OID => tuple.get_by_index::<i32>(i).map(|v| v.map(|x| x as f32)),
        pg_sys::INT8OID => tuple.get_by_index::<i64>(i).map(|v| v.map(|x| x as f32)),
        pg_sys::BOOLOID => tuple
            .get_by_index::<bool>(i)
            .map(|v| v.map(|b| b as u8 as f32)),
        pg_sys::NUMERICOID => tuple
            .get_by_index::<AnyNumeric>(i)
            .map(|v| v.map(|n| f32::try_from(n).unwrap_or(f32::NAN))),
        _ => return None,
    };
    Some(v.map_err(|_| ()))
}

fn row_features(row: &AnyElement, features: &[String]) -> Result<Vec<f32>> {
    let type_oid = row.oid();
    // SAFETY: reading the type catalog for the argument's own type.
    if !unsafe { pg_sys::type_is_rowtype(type_oid) } {
        let name = unsafe { pgrx::pg_sys::format_type_be(type_oid) };
        let name = unsafe { std::ffi::CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned();
        return Err(Error::NotARow(name));
    }
    // SAFETY: the datum is a composite of the type Postgres told us.
    let tuple = unsafe { PgHeapTuple::from_composite_datum(row.datum()) };
    let attrs: Vec<(String, pg_sys::Oid)> = tuple
        .attributes()
        .map(|(_, a)| (a.name().to_string(), a.type_oid().value()))
        .collect();
    let names: Vec<String> = attrs.iter().map(|(n, _)| n.clone()).collect();
    let order = serve::row_order(features, &names)?;
    let mut x = Vec::with_capacity(order.len());
    for idx in order {
        let (name, oid) = &attrs[idx];
        let i = NonZeroUsize::new(idx + 1).expect("index + 1 is non-zero");
        match attribute(&tuple, i, *oid) {
            None => {
                return Err(Error::UnsupportedColumnType {
                    column: name.clone(),
                    type_name: format!("oid {}", u32::from(*oid)),
                    role: "feature",
                })
            }
            Some(Ok(Some(v))) => x.push(v),
            Some(Ok(None)) => {
                return Err(Error::NullFeature {
                    feature: format!("column \"{name}\""),
                })
            }
            Some(Err(())) => return Err(Error::Spi(format!("could not read column \"{name}\""))),
        }
    }
    Ok(x)
}

/// Predicts from a table row (or any composite): columns are matched to the training
/// features by name, so `pgml.predict('iris', iris) FROM pgml.iris` ignores the label.
#[pg_extern(stable, parallel_safe, strict, name = "predict")]
fn predict_row(project_name: &str, row: AnyElement) -> f32 {
    serve::predict_row(project_name, |features| row_features(&row, features)).or_report()
}
