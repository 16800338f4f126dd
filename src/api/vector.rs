//! Vector functions on `real[]` and `double precision[]`: element-wise arithmetic, norms,
//! distances, similarity, and element-wise aggregates. The arithmetic is in crate::vector;
//! here arrays are read in place (no per-element conversion when they have no NULLs).

use crate::error::{Error, OrReport, Result};
use crate::vector::{self, Real};
use pgrx::array::Scalar;
use pgrx::prelude::*;

/// `a`, or an ERROR if it has more than one dimension: element-wise results are
/// one-dimensional, and a matrix read flat would silently lose its shape.
fn flat<T: pgrx::datum::UnboxDatum>(a: Array<'_, T>) -> Array<'_, T> {
    match super::predict::with_row_width(a) {
        (a, None) => a,
        (_, Some(_)) => Error::VectorShape.report(),
    }
}

/// The values of an array without NULLs, in place.
fn values<'a, T: Scalar + pgrx::datum::UnboxDatum>(a: &'a Array<'_, T>) -> Result<&'a [T]> {
    a.as_slice().map_err(|_| Error::VectorNull {
        position: (0..a.len())
            .find(|i| a.get(*i).flatten().is_none())
            .unwrap_or(0)
            + 1,
    })
}

fn same_length(a: usize, b: usize) -> Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(Error::VectorDimensions { left: a, right: b })
    }
}

fn pair<'a, T: Scalar + pgrx::datum::UnboxDatum>(
    a: &'a Array<'_, T>,
    b: &'a Array<'_, T>,
) -> Result<(&'a [T], &'a [T])> {
    let (x, y) = (values(a)?, values(b)?);
    same_length(x.len(), y.len())?;
    Ok((x, y))
}

fn divide<T: Real>(x: T, y: T) -> Result<T> {
    if y == T::ZERO {
        Err(Error::DivisionByZero)
    } else {
        Ok(x / y)
    }
}

/// The functions for one element type `$t`; `$m` (`real` or `double`) suffixes their Rust
/// names, which pgrx's exported wrappers need distinct.
macro_rules! vector_functions {
    ($m:ident, $t:ty) => {
        paste::paste! {

            #[pg_extern(immutable, strict, parallel_safe, name = "add")]
            fn [<add_ $m>](a: Array<$t>, b: Array<$t>) -> Vec<$t> {
                let a = flat(a);
                let b = flat(b);
                pair(&a, &b)
                    .map(|(x, y)| vector::zip_map(x, y, |p, q| p + q))
                    .or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "add")]
            fn [<add_scalar_ $m>](a: Array<$t>, b: $t) -> Vec<$t> {
                let a = flat(a);
                values(&a).map(|x| vector::map(x, |p| p + b)).or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "subtract")]
            fn [<subtract_ $m>](a: Array<$t>, b: Array<$t>) -> Vec<$t> {
                let a = flat(a);
                let b = flat(b);
                pair(&a, &b)
                    .map(|(x, y)| vector::zip_map(x, y, |p, q| p - q))
                    .or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "subtract")]
            fn [<subtract_scalar_ $m>](a: Array<$t>, b: $t) -> Vec<$t> {
                let a = flat(a);
                values(&a).map(|x| vector::map(x, |p| p - b)).or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "multiply")]
            fn [<multiply_ $m>](a: Array<$t>, b: Array<$t>) -> Vec<$t> {
                let a = flat(a);
                let b = flat(b);
                pair(&a, &b)
                    .map(|(x, y)| vector::zip_map(x, y, |p, q| p * q))
                    .or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "multiply")]
            fn [<multiply_scalar_ $m>](a: Array<$t>, b: $t) -> Vec<$t> {
                let a = flat(a);
                values(&a).map(|x| vector::map(x, |p| p * b)).or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "divide")]
            fn [<divide_arrays_ $m>](a: Array<$t>, b: Array<$t>) -> Vec<$t> {
                let a = flat(a);
                let b = flat(b);
                pair(&a, &b)
                    .and_then(|(x, y)| x.iter().zip(y).map(|(p, q)| divide(*p, *q)).collect())
                    .or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "divide")]
            fn [<divide_scalar_ $m>](a: Array<$t>, b: $t) -> Vec<$t> {
                let a = flat(a);
                // Zero is refused even for an empty array, as Postgres refuses x / 0.
                divide(1.0, b)
                    .and_then(|_| values(&a))
                    .map(|x| vector::map(x, |p| p / b))
                    .or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "norm_l0")]
            fn [<norm_l0_ $m>](a: Array<$t>) -> $t {
                let a = flat(a);
                values(&a).map(vector::norm_l0).or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "norm_l1")]
            fn [<norm_l1_ $m>](a: Array<$t>) -> $t {
                let a = flat(a);
                values(&a).map(vector::norm_l1).or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "norm_l2")]
            fn [<norm_l2_ $m>](a: Array<$t>) -> $t {
                let a = flat(a);
                values(&a).map(vector::norm_l2).or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "norm_max")]
            fn [<norm_max_ $m>](a: Array<$t>) -> $t {
                let a = flat(a);
                values(&a).map(vector::norm_max).or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "normalize_l1")]
            fn [<normalize_l1_ $m>](a: Array<$t>) -> Vec<$t> {
                let a = flat(a);
                values(&a)
                    .map(|x| vector::normalize(x, vector::norm_l1(x)))
                    .or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "normalize_l2")]
            fn [<normalize_l2_ $m>](a: Array<$t>) -> Vec<$t> {
                let a = flat(a);
                values(&a)
                    .map(|x| vector::normalize(x, vector::norm_l2(x)))
                    .or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "normalize_max")]
            fn [<normalize_max_ $m>](a: Array<$t>) -> Vec<$t> {
                let a = flat(a);
                values(&a)
                    .map(|x| vector::normalize(x, vector::norm_max(x)))
                    .or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "distance_l1")]
            fn [<distance_l1_ $m>](a: Array<$t>, b: Array<$t>) -> $t {
                let a = flat(a);
                let b = flat(b);
                pair(&a, &b)
                    .map(|(x, y)| vector::distance_l1(x, y))
                    .or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "distance_l2")]
            fn [<distance_l2_ $m>](a: Array<$t>, b: Array<$t>) -> $t {
                let a = flat(a);
                let b = flat(b);
                pair(&a, &b)
                    .map(|(x, y)| vector::distance_l2(x, y))
                    .or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "dot_product")]
            fn [<dot_product_ $m>](a: Array<$t>, b: Array<$t>) -> $t {
                let a = flat(a);
                let b = flat(b);
                pair(&a, &b).map(|(x, y)| vector::dot(x, y)).or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "cosine_similarity")]
            fn [<cosine_similarity_ $m>](a: Array<$t>, b: Array<$t>) -> $t {
                let a = flat(a);
                let b = flat(b);
                pair(&a, &b)
                    .map(|(x, y)| vector::cosine_similarity(x, y))
                    .or_report()
            }

            #[pg_extern(immutable, strict, parallel_safe, name = "cosine_distance")]
            fn [<cosine_distance_ $m>](a: Array<$t>, b: Array<$t>) -> $t {
                let a = flat(a);
                let b = flat(b);
                pair(&a, &b)
                    .map(|(x, y)| 1.0 - vector::cosine_similarity(x, y))
                    .or_report()
            }

            /// Element-wise minimum: pgml.min's transition function, usable on its own.
            #[pg_extern(immutable, strict, parallel_safe, name = "minimum")]
            fn [<minimum_ $m>](a: Array<$t>, b: Array<$t>) -> Vec<$t> {
                let a = flat(a);
                let b = flat(b);
                pair(&a, &b).map(|(x, y)| vector::minimum(x, y)).or_report()
            }

            /// Element-wise maximum: pgml.max's transition function, usable on its own.
            #[pg_extern(immutable, strict, parallel_safe, name = "maximum")]
            fn [<maximum_ $m>](a: Array<$t>, b: Array<$t>) -> Vec<$t> {
                let a = flat(a);
                let b = flat(b);
                pair(&a, &b).map(|(x, y)| vector::maximum(x, y)).or_report()
            }

            /// pgml.avg's state: [rows, sum of each element...] in double precision.
            #[pg_extern(immutable, parallel_safe, name = "avg_accum")]
            fn [<avg_accum_ $m>](state: Option<Array<f64>>, value: Option<Array<$t>>) -> Option<Vec<f64>> {
                let Some(value) = value else {
                    return state.map(|s| s.iter().map(|v| v.unwrap_or(0.0)).collect());
                };
                let x = values(&value).or_report();
                let mut s: Vec<f64> = match state {
                    Some(s) => s.iter().map(|v| v.unwrap_or(0.0)).collect(),
                    None => vec![0.0; x.len() + 1],
                };
                same_length(s.len() - 1, x.len()).or_report();
                s[0] += 1.0;
                for (acc, v) in s[1..].iter_mut().zip(x) {
                    *acc += *v as f64;
                }
                Some(s)
            }

            /// Not STRICT: FINALFUNC_EXTRA passes a NULL of the input type as its second
            /// argument (so the result's type follows the input's).
            #[pg_extern(immutable, parallel_safe, name = "avg_final")]
            fn [<avg_final_ $m>](state: Option<Array<f64>>, _type: Option<Array<$t>>) -> Option<Vec<$t>> {
                let s: Vec<f64> = state?.iter().map(|v| v.unwrap_or(0.0)).collect();
                let n = s.first().copied().filter(|n| *n > 0.0)?;
                Some(s[1..].iter().map(|v| (v / n) as $t).collect())
            }
        }
    };
}

vector_functions!(real, f32);
vector_functions!(double, f64);

extension_sql!(
    r#"
CREATE AGGREGATE pgml.sum(real[]) (SFUNC = pgml.add, STYPE = real[], COMBINEFUNC = pgml.add, PARALLEL = SAFE);
CREATE AGGREGATE pgml.sum(double precision[]) (SFUNC = pgml.add, STYPE = double precision[], COMBINEFUNC = pgml.add, PARALLEL = SAFE);
CREATE AGGREGATE pgml.min(real[]) (SFUNC = pgml.minimum, STYPE = real[], COMBINEFUNC = pgml.minimum, PARALLEL = SAFE);
CREATE AGGREGATE pgml.min(double precision[]) (SFUNC = pgml.minimum, STYPE = double precision[], COMBINEFUNC = pgml.minimum, PARALLEL = SAFE);
CREATE AGGREGATE pgml.max(real[]) (SFUNC = pgml.maximum, STYPE = real[], COMBINEFUNC = pgml.maximum, PARALLEL = SAFE);
CREATE AGGREGATE pgml.max(double precision[]) (SFUNC = pgml.maximum, STYPE = double precision[], COMBINEFUNC = pgml.maximum, PARALLEL = SAFE);
CREATE AGGREGATE pgml.avg(real[]) (SFUNC = pgml.avg_accum, STYPE = double precision[], FINALFUNC = pgml.avg_final, FINALFUNC_EXTRA, COMBINEFUNC = pgml.add, PARALLEL = SAFE);
CREATE AGGREGATE pgml.avg(double precision[]) (SFUNC = pgml.avg_accum, STYPE = double precision[], FINALFUNC = pgml.avg_final, FINALFUNC_EXTRA, COMBINEFUNC = pgml.add, PARALLEL = SAFE);
"#,
    name = "vector_aggregates",
    requires = [
        add_real,
        add_double,
        minimum_real,
        minimum_double,
        maximum_real,
        maximum_double,
        avg_accum_real,
        avg_accum_double,
        avg_final_real,
        avg_final_double,
    ],
);
