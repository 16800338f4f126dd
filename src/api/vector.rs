//! Vector functions on `real[]` and `double precision[]`: element-wise arithmetic, norms,
//! distances, similarity, and element-wise aggregates. The arithmetic is in pgml_core::vector;
//! here arrays are read in place and results built in one allocation (see api::fmgr for
//! why these are fmgr functions rather than `#[pg_extern]`), and the aggregates' steps
//! update their state in place.

use crate::error::{Error, OrReport, Result};
use crate::gucs::{VectorKernels, VECTOR_KERNELS};
use crate::pg::fmgr::{build, fmgr_function, Args, Element};
use pgml_core::vector;
use pgrx::prelude::*;

/// Whether a function with both a Rust loop and a BLAS form runs on BLAS. `blas_faster`:
/// what benches/vectors/KERNELS.md measured for it here (cargo bench --bench kernels), at
/// 128 and 1536 dimensions in f32 and f64; `pgml.vector_kernels` may force either side.
fn on_blas(blas_faster: bool) -> bool {
    match VECTOR_KERNELS.get() {
        VectorKernels::Auto => blas_faster,
        VectorKernels::Blas => true,
        VectorKernels::Rust => false,
    }
}

/// BLAS won for f32 at both sizes (0.36-0.58x the Rust loop's time) and for f64 at 1536
/// (0.73x); f64 at 128 is a tie (0.8-1.05x across runs). Its hand-written kernels sum in
/// more lanes and wider registers than LLVM packs our loop into.
fn dot<T: Element>(x: &[T], y: &[T]) -> T {
    if on_blas(true) {
        T::dot(x, y)
    } else {
        vector::dot(x, y)
    }
}

/// BLAS (asum) won at both sizes and types.
fn norm_l1<T: Element>(x: &[T]) -> T {
    if on_blas(true) {
        T::asum(x)
    } else {
        vector::norm_l1(x)
    }
}

/// As √(x·x) through BLAS's dot: 0.3-0.6x for f32 and at 1536 dimensions, f64 at 128 a tie
/// (0.86-1.24x across runs). Not BLAS's nrm2: it rescales against overflow element by
/// element and took 1.2-4.3x the Rust loop's time.
fn norm_l2<T: Element>(x: &[T]) -> T {
    if on_blas(true) {
        T::dot(x, x).sqrt()
    } else {
        vector::norm_l2(x)
    }
}

/// As three BLAS dots (0.24-0.65x the fused Rust loop's time; dot and two nrm2s lost for f64).
fn cosine_similarity<T: Element>(x: &[T], y: &[T]) -> T {
    if on_blas(true) {
        vector::cosine(T::dot(x, y), T::dot(x, x), T::dot(y, y))
    } else {
        vector::cosine_similarity(x, y)
    }
}

/// Rust: BLAS needs the difference in a buffer first (copy, axpy, then dot or nrm2), which
/// lost everywhere (1.1-4.6x).
fn distance_l2<T: Element>(x: &[T], y: &[T]) -> T {
    if on_blas(false) {
        let mut d = x.to_vec();
        T::axpy(T::from_f64(-1.0), y, &mut d);
        T::dot(&d, &d).sqrt()
    } else {
        vector::distance_l2(x, y)
    }
}

/// `out += alpha·y`, for add (1) and subtract (-1), pgml.sum's step included. BLAS's axpy
/// won at 1536 dimensions (0.6-0.85x; one run of f64 add 1.3x) and tied at 128 (0.9-1.1x
/// across runs). Both sides give the same bits: alpha·y is exact for ±1.
fn axpy<T: Element>(alpha: T, y: &[T], out: &mut [T]) {
    if on_blas(true) {
        T::axpy(alpha, y, out)
    } else {
        vector::zip_with(out, y, |p, q| p + alpha * q)
    }
}

fn same_length(a: usize, b: usize) -> Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(Error::VectorDimensions { left: a, right: b })
    }
}

/// The two array arguments, of equal length.
fn pair<'a, T: Element>(args: &Args) -> Result<(&'a [T], &'a [T])> {
    let (x, y) = (args.vector::<T>(0)?, args.vector::<T>(1)?);
    same_length(x.len(), y.len())?;
    Ok((x, y))
}

/// A new array: `x` copied, then changed in place by `f`.
fn derived<T: Element>(x: &[T], f: impl FnOnce(&mut [T]) -> Result<()>) -> Result<pg_sys::Datum> {
    build(x.len(), |out| {
        out.copy_from_slice(x);
        f(out)
    })
}

/// How a function combines two arrays element by element.
enum Zip<T, F> {
    /// `x + alpha·y` (add and subtract): BLAS's axpy or the Rust loop, see `axpy`.
    Axpy(T),
    /// Any other `f(x, y)`, in Rust.
    With(F),
}

impl<T: Element, F: Fn(T, T) -> T> Zip<T, F> {
    fn apply(&self, out: &mut [T], y: &[T]) {
        match self {
            Zip::Axpy(alpha) => axpy(*alpha, y, out),
            Zip::With(f) => vector::zip_with(out, y, f),
        }
    }
}

/// `zip` element-wise over the two array arguments: into the first when it is an
/// aggregate's state (pgml.sum / min / max and pgml.avg's combine step), else a new array.
fn zip_args<T: Element, F: Fn(T, T) -> T>(args: &Args, zip: Zip<T, F>) -> Result<pg_sys::Datum> {
    if let Some(state) = args.state_in_place::<T>(0)? {
        let y = args.vector::<T>(1)?;
        same_length(state.len(), y.len())?;
        zip.apply(state, y);
        return Ok(args.datum(0));
    }
    let (x, y) = pair::<T>(args)?;
    derived(x, |out| {
        zip.apply(out, y);
        Ok(())
    })
}

/// `Zip::Axpy` with no closure for its other variant's type.
fn axpy_by<T: Element>(alpha: f64) -> Zip<T, fn(T, T) -> T> {
    Zip::Axpy(T::from_f64(alpha))
}

/// `f` on each element of the array argument with the scalar argument.
fn scalar_args<T: Element>(args: &Args, f: impl Fn(T, T) -> T) -> Result<pg_sys::Datum> {
    let (x, b) = (args.vector::<T>(0)?, args.scalar::<T>(1));
    derived(x, |out| {
        vector::map_with(out, |p| f(p, b));
        Ok(())
    })
}

/// A number from the array argument.
fn reduce_arg<T: Element>(args: &Args, f: impl Fn(&[T]) -> T) -> Result<pg_sys::Datum> {
    args.vector::<T>(0).map(|x| f(x).datum())
}

/// A number from the two array arguments.
fn reduce_args<T: Element>(args: &Args, f: impl Fn(&[T], &[T]) -> T) -> Result<pg_sys::Datum> {
    pair::<T>(args).map(|(x, y)| f(x, y).datum())
}

/// The array argument divided by its `norm`.
fn normalized<T: Element>(args: &Args, norm: impl Fn(&[T]) -> T) -> Result<pg_sys::Datum> {
    let x = args.vector::<T>(0)?;
    derived(x, |out| {
        vector::normalize(out, norm(x));
        Ok(())
    })
}

fn divide_arrays<T: Element>(args: &Args) -> Result<pg_sys::Datum> {
    let (x, y) = pair::<T>(args)?;
    derived(x, |out| {
        for (p, q) in out.iter_mut().zip(y) {
            if *q == T::ZERO {
                return Err(Error::DivisionByZero);
            }
            *p = *p / *q;
        }
        Ok(())
    })
}

fn divide_scalar<T: Element>(args: &Args) -> Result<pg_sys::Datum> {
    // Zero is refused even for an empty array, as Postgres refuses x / 0; checked before
    // the array is read so that this error wins over a NULL element's.
    if args.scalar::<T>(1) == T::ZERO {
        return Err(Error::DivisionByZero);
    }
    scalar_args::<T>(args, |p, q| p / q)
}

/// pgml.avg's state is [rows, sum of each element...] in double precision; `s` is a state
/// and `x` the next value.
fn avg_fits<T>(s: &[f64], x: &[T]) -> Result<()> {
    match s.len() {
        0 => Err(Error::VectorDimensions {
            left: 0,
            right: x.len(),
        }),
        n => same_length(n - 1, x.len()),
    }
}

fn avg_add<T: Element>(s: &mut [f64], x: &[T]) {
    s[0] += 1.0;
    for (acc, v) in s[1..].iter_mut().zip(x) {
        *acc += v.to_f64();
    }
}

/// pgml.avg's transition (not STRICT: the first row's state is NULL, and a NULL row is
/// skipped).
fn avg_accum<T: Element>(args: &Args) -> Result<pg_sys::Datum> {
    if args.is_null(1) {
        return Ok(if args.is_null(0) {
            args.null()
        } else {
            args.datum(0)
        });
    }
    let x = args.vector::<T>(1)?;
    if args.is_null(0) {
        return build(x.len() + 1, |s| {
            avg_add(s, x);
            Ok(())
        });
    }
    if let Some(s) = args.state_in_place::<f64>(0)? {
        avg_fits(s, x)?;
        avg_add(s, x);
        return Ok(args.datum(0));
    }
    let s = args.vector::<f64>(0)?;
    avg_fits(s, x)?;
    derived(s, |out| {
        avg_add(out, x);
        Ok(())
    })
}

/// pgml.avg's final step: the sums divided by the rows, in the input's element type; NULL
/// without rows. Not STRICT: FINALFUNC_EXTRA passes a NULL of the input type as its second
/// argument (so the result's type follows the input's).
fn avg_final<T: Element>(args: &Args) -> Result<pg_sys::Datum> {
    if args.is_null(0) {
        return Ok(args.null());
    }
    let s = args.vector::<f64>(0)?;
    match s.first() {
        Some(n) if *n > 0.0 => build(s.len() - 1, |out| {
            for (o, v) in out.iter_mut().zip(&s[1..]) {
                *o = T::from_f64(v / n);
            }
            Ok(())
        }),
        _ => Ok(args.null()),
    }
}

/// The functions for one element type `$t`; `$m` (`real` or `double`) suffixes their C
/// names (`pgml_add_real`, as the SQL below declares them).
macro_rules! vector_functions {
    ($m:ident, $t:ty) => {
        paste::paste! {
            fmgr_function!([<pgml_add_ $m>](args) {
                zip_args::<$t, _>(&args, axpy_by(1.0)).or_report()
            });
            fmgr_function!([<pgml_add_scalar_ $m>](args) {
                scalar_args::<$t>(&args, |p, q| p + q).or_report()
            });
            fmgr_function!([<pgml_subtract_ $m>](args) {
                zip_args::<$t, _>(&args, axpy_by(-1.0)).or_report()
            });
            fmgr_function!([<pgml_subtract_scalar_ $m>](args) {
                scalar_args::<$t>(&args, |p, q| p - q).or_report()
            });
            fmgr_function!([<pgml_multiply_ $m>](args) {
                zip_args::<$t, _>(&args, Zip::With(|p, q| p * q)).or_report()
            });
            fmgr_function!([<pgml_multiply_scalar_ $m>](args) {
                scalar_args::<$t>(&args, |p, q| p * q).or_report()
            });
            fmgr_function!([<pgml_divide_arrays_ $m>](args) {
                divide_arrays::<$t>(&args).or_report()
            });
            fmgr_function!([<pgml_divide_scalar_ $m>](args) {
                divide_scalar::<$t>(&args).or_report()
            });
            fmgr_function!(
                /// Element-wise minimum: pgml.min's transition and combine step.
                [<pgml_minimum_ $m>](args) {
                    zip_args::<$t, _>(&args, Zip::With(vector::min)).or_report()
                }
            );
            fmgr_function!(
                /// Element-wise maximum: pgml.max's transition and combine step.
                [<pgml_maximum_ $m>](args) {
                    zip_args::<$t, _>(&args, Zip::With(vector::max)).or_report()
                }
            );
            fmgr_function!([<pgml_norm_l0_ $m>](args) {
                reduce_arg::<$t>(&args, vector::norm_l0).or_report()
            });
            fmgr_function!([<pgml_norm_l1_ $m>](args) {
                reduce_arg::<$t>(&args, norm_l1).or_report()
            });
            fmgr_function!([<pgml_norm_l2_ $m>](args) {
                reduce_arg::<$t>(&args, norm_l2).or_report()
            });
            fmgr_function!([<pgml_norm_max_ $m>](args) {
                reduce_arg::<$t>(&args, vector::norm_max).or_report()
            });
            fmgr_function!([<pgml_normalize_l1_ $m>](args) {
                normalized::<$t>(&args, norm_l1).or_report()
            });
            fmgr_function!([<pgml_normalize_l2_ $m>](args) {
                normalized::<$t>(&args, norm_l2).or_report()
            });
            fmgr_function!([<pgml_normalize_max_ $m>](args) {
                normalized::<$t>(&args, vector::norm_max).or_report()
            });
            fmgr_function!([<pgml_distance_l1_ $m>](args) {
                reduce_args::<$t>(&args, vector::distance_l1).or_report()
            });
            fmgr_function!([<pgml_distance_l2_ $m>](args) {
                reduce_args::<$t>(&args, distance_l2).or_report()
            });
            fmgr_function!([<pgml_dot_product_ $m>](args) {
                reduce_args::<$t>(&args, dot).or_report()
            });
            fmgr_function!([<pgml_cosine_similarity_ $m>](args) {
                reduce_args::<$t>(&args, cosine_similarity).or_report()
            });
            fmgr_function!([<pgml_cosine_distance_ $m>](args) {
                reduce_args::<$t>(&args, |x, y| 1.0 - cosine_similarity(x, y)).or_report()
            });
            fmgr_function!([<pgml_avg_accum_ $m>](args) {
                avg_accum::<$t>(&args).or_report()
            });
            fmgr_function!([<pgml_avg_final_ $m>](args) {
                avg_final::<$t>(&args).or_report()
            });
        }
    };
}

vector_functions!(real, f32);
vector_functions!(double, f64);

extension_sql!(
    r#"
CREATE FUNCTION pgml.add(a real[], b real[]) RETURNS real[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_add_real';
CREATE FUNCTION pgml.add(a real[], b real) RETURNS real[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_add_scalar_real';
CREATE FUNCTION pgml.subtract(a real[], b real[]) RETURNS real[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_subtract_real';
CREATE FUNCTION pgml.subtract(a real[], b real) RETURNS real[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_subtract_scalar_real';
CREATE FUNCTION pgml.multiply(a real[], b real[]) RETURNS real[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_multiply_real';
CREATE FUNCTION pgml.multiply(a real[], b real) RETURNS real[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_multiply_scalar_real';
CREATE FUNCTION pgml.divide(a real[], b real[]) RETURNS real[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_divide_arrays_real';
CREATE FUNCTION pgml.divide(a real[], b real) RETURNS real[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_divide_scalar_real';
CREATE FUNCTION pgml.minimum(a real[], b real[]) RETURNS real[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_minimum_real';
CREATE FUNCTION pgml.maximum(a real[], b real[]) RETURNS real[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_maximum_real';
CREATE FUNCTION pgml.norm_l0(a real[]) RETURNS real
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_norm_l0_real';
CREATE FUNCTION pgml.norm_l1(a real[]) RETURNS real
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_norm_l1_real';
CREATE FUNCTION pgml.norm_l2(a real[]) RETURNS real
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_norm_l2_real';
CREATE FUNCTION pgml.norm_max(a real[]) RETURNS real
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_norm_max_real';
CREATE FUNCTION pgml.normalize_l1(a real[]) RETURNS real[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_normalize_l1_real';
CREATE FUNCTION pgml.normalize_l2(a real[]) RETURNS real[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_normalize_l2_real';
CREATE FUNCTION pgml.normalize_max(a real[]) RETURNS real[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_normalize_max_real';
CREATE FUNCTION pgml.distance_l1(a real[], b real[]) RETURNS real
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_distance_l1_real';
CREATE FUNCTION pgml.distance_l2(a real[], b real[]) RETURNS real
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_distance_l2_real';
CREATE FUNCTION pgml.dot_product(a real[], b real[]) RETURNS real
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_dot_product_real';
CREATE FUNCTION pgml.cosine_similarity(a real[], b real[]) RETURNS real
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_cosine_similarity_real';
CREATE FUNCTION pgml.cosine_distance(a real[], b real[]) RETURNS real
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_cosine_distance_real';
CREATE FUNCTION pgml.avg_accum(state double precision[], value real[]) RETURNS double precision[]
    IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_avg_accum_real';
CREATE FUNCTION pgml.avg_final(state double precision[], _type real[]) RETURNS real[]
    IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_avg_final_real';
CREATE FUNCTION pgml.add(a double precision[], b double precision[]) RETURNS double precision[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_add_double';
CREATE FUNCTION pgml.add(a double precision[], b double precision) RETURNS double precision[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_add_scalar_double';
CREATE FUNCTION pgml.subtract(a double precision[], b double precision[]) RETURNS double precision[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_subtract_double';
CREATE FUNCTION pgml.subtract(a double precision[], b double precision) RETURNS double precision[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_subtract_scalar_double';
CREATE FUNCTION pgml.multiply(a double precision[], b double precision[]) RETURNS double precision[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_multiply_double';
CREATE FUNCTION pgml.multiply(a double precision[], b double precision) RETURNS double precision[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_multiply_scalar_double';
CREATE FUNCTION pgml.divide(a double precision[], b double precision[]) RETURNS double precision[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_divide_arrays_double';
CREATE FUNCTION pgml.divide(a double precision[], b double precision) RETURNS double precision[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_divide_scalar_double';
CREATE FUNCTION pgml.minimum(a double precision[], b double precision[]) RETURNS double precision[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_minimum_double';
CREATE FUNCTION pgml.maximum(a double precision[], b double precision[]) RETURNS double precision[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_maximum_double';
CREATE FUNCTION pgml.norm_l0(a double precision[]) RETURNS double precision
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_norm_l0_double';
CREATE FUNCTION pgml.norm_l1(a double precision[]) RETURNS double precision
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_norm_l1_double';
CREATE FUNCTION pgml.norm_l2(a double precision[]) RETURNS double precision
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_norm_l2_double';
CREATE FUNCTION pgml.norm_max(a double precision[]) RETURNS double precision
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_norm_max_double';
CREATE FUNCTION pgml.normalize_l1(a double precision[]) RETURNS double precision[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_normalize_l1_double';
CREATE FUNCTION pgml.normalize_l2(a double precision[]) RETURNS double precision[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_normalize_l2_double';
CREATE FUNCTION pgml.normalize_max(a double precision[]) RETURNS double precision[]
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_normalize_max_double';
CREATE FUNCTION pgml.distance_l1(a double precision[], b double precision[]) RETURNS double precision
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_distance_l1_double';
CREATE FUNCTION pgml.distance_l2(a double precision[], b double precision[]) RETURNS double precision
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_distance_l2_double';
CREATE FUNCTION pgml.dot_product(a double precision[], b double precision[]) RETURNS double precision
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_dot_product_double';
CREATE FUNCTION pgml.cosine_similarity(a double precision[], b double precision[]) RETURNS double precision
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_cosine_similarity_double';
CREATE FUNCTION pgml.cosine_distance(a double precision[], b double precision[]) RETURNS double precision
    IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_cosine_distance_double';
CREATE FUNCTION pgml.avg_accum(state double precision[], value double precision[]) RETURNS double precision[]
    IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_avg_accum_double';
CREATE FUNCTION pgml.avg_final(state double precision[], _type double precision[]) RETURNS double precision[]
    IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'pgml_avg_final_double';
CREATE AGGREGATE pgml.sum(real[]) (SFUNC = pgml.add, STYPE = real[], COMBINEFUNC = pgml.add, PARALLEL = SAFE);
CREATE AGGREGATE pgml.sum(double precision[]) (SFUNC = pgml.add, STYPE = double precision[], COMBINEFUNC = pgml.add, PARALLEL = SAFE);
CREATE AGGREGATE pgml.min(real[]) (SFUNC = pgml.minimum, STYPE = real[], COMBINEFUNC = pgml.minimum, PARALLEL = SAFE);
CREATE AGGREGATE pgml.min(double precision[]) (SFUNC = pgml.minimum, STYPE = double precision[], COMBINEFUNC = pgml.minimum, PARALLEL = SAFE);
CREATE AGGREGATE pgml.max(real[]) (SFUNC = pgml.maximum, STYPE = real[], COMBINEFUNC = pgml.maximum, PARALLEL = SAFE);
CREATE AGGREGATE pgml.max(double precision[]) (SFUNC = pgml.maximum, STYPE = double precision[], COMBINEFUNC = pgml.maximum, PARALLEL = SAFE);
CREATE AGGREGATE pgml.avg(real[]) (SFUNC = pgml.avg_accum, STYPE = double precision[], FINALFUNC = pgml.avg_final, FINALFUNC_EXTRA, COMBINEFUNC = pgml.add, PARALLEL = SAFE);
CREATE AGGREGATE pgml.avg(double precision[]) (SFUNC = pgml.avg_accum, STYPE = double precision[], FINALFUNC = pgml.avg_final, FINALFUNC_EXTRA, COMBINEFUNC = pgml.add, PARALLEL = SAFE);
"#,
    name = "vector_functions",
);
