//! Vector arithmetic on slices of f32 or f64 (no pgrx: unit-tested alone). The SQL layer
//! (src/api/vector.rs) reads arrays in place and calls these.
//!
//! Reductions keep LANES partial sums so the compiler can vectorize them (one running sum
//! is a dependency chain it may not reorder); the rounding therefore differs from a plain
//! left-to-right sum in the last bits, as BLAS's does. LLVM packs these lanes two at a time
//! (SLP), not four or eight: explicit SIMD could do better, and OpenBLAS's hand-written
//! kernels do (crates/pgml-core/src/blas.rs; benches/vectors/KERNELS.md measures both).

use std::ops::{Add, Div, Mul, Sub};

const LANES: usize = 8;

/// The element types: f32 (`real[]`) and f64 (`double precision[]`).
pub trait Real:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
{
    const ZERO: Self;
    const NAN: Self;
    fn abs(self) -> Self;
    fn sqrt(self) -> Self;
    fn from_usize(n: usize) -> Self;
    fn is_nan(self) -> bool;
}

macro_rules! real {
    ($t:ty) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const NAN: Self = <$t>::NAN;
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    };
}
real!(f32);
real!(f64);

/// Sum of `f(a[i], b[i])` over i, in LANES partial sums.
#[inline(always)]
fn reduce2<T: Real>(a: &[T], b: &[T], f: impl Fn(T, T) -> T) -> T {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [T::ZERO; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] = acc[k] + f(x[k], y[k]);
        }
    }
    let mut tail = T::ZERO;
    for (x, y) in ra.iter().zip(rb) {
        tail = tail + f(*x, *y);
    }
    fold(acc) + tail
}

/// The lanes' sum, pairwise: three levels of adds rather than a chain of seven.
#[inline(always)]
#[allow(clippy::assertions_on_constants)]
fn fold<T: Real>(acc: [T; LANES]) -> T {
    const { assert!(LANES == 8) };
    let quad = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    (quad[0] + quad[2]) + (quad[1] + quad[3])
}

#[inline(always)]
fn reduce<T: Real>(a: &[T], f: impl Fn(T) -> T) -> T {
    reduce2(a, a, |x, _| f(x))
}

pub fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    reduce2(a, b, |x, y| x * y)
}

/// Non-zero elements (NaN counts: it is not zero).
pub fn norm_l0<T: Real>(a: &[T]) -> T {
    T::from_usize(a.iter().filter(|v| **v != T::ZERO).count())
}

pub fn norm_l1<T: Real>(a: &[T]) -> T {
    reduce(a, |x| x.abs())
}

pub fn norm_l2<T: Real>(a: &[T]) -> T {
    reduce(a, |x| x * x).sqrt()
}

/// Largest absolute value; 0 for an empty array, NaN if any element is NaN.
pub fn norm_max<T: Real>(a: &[T]) -> T {
    let mut m = T::ZERO;
    for v in a {
        let v = v.abs();
        if v > m || v.is_nan() {
            m = v;
            if m.is_nan() {
                return m;
            }
        }
    }
    m
}

pub fn distance_l1<T: Real>(a: &[T], b: &[T]) -> T {
    reduce2(a, b, |x, y| (x - y).abs())
}

pub fn distance_l2<T: Real>(a: &[T], b: &[T]) -> T {
    reduce2(a, b, |x, y| (x - y) * (x - y)).sqrt()
}

/// NaN when either vector is all zeros (the angle is undefined), as pgvector.
pub fn cosine_similarity<T: Real>(a: &[T], b: &[T]) -> T {
    // Three separate accumulators: the vectorizer packs lanes of one array at a time.
    let (mut ab, mut aa, mut bb) = ([T::ZERO; LANES], [T::ZERO; LANES], [T::ZERO; LANES]);
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            ab[k] = ab[k] + x[k] * y[k];
            aa[k] = aa[k] + x[k] * x[k];
            bb[k] = bb[k] + y[k] * y[k];
        }
    }
    let (mut s_ab, mut s_aa, mut s_bb) = (fold(ab), fold(aa), fold(bb));
    for (x, y) in ra.iter().zip(rb) {
        s_ab = s_ab + *x * *y;
        s_aa = s_aa + *x * *x;
        s_bb = s_bb + *y * *y;
    }
    cosine(s_ab, s_aa, s_bb)
}

/// The cosine from the three dot products a·b, a·a and b·b: NaN when a or b is all zeros.
pub fn cosine<T: Real>(ab: T, aa: T, bb: T) -> T {
    let denominator = (aa * bb).sqrt();
    if denominator == T::ZERO {
        T::NAN
    } else {
        ab / denominator
    }
}

/// `a[i] = f(a[i], b[i])`: element-wise, in place (results go straight into the array
/// being built, or into an aggregate's state).
pub fn zip_with<T: Real>(a: &mut [T], b: &[T], f: impl Fn(T, T) -> T) {
    debug_assert_eq!(a.len(), b.len());
    for (x, y) in a.iter_mut().zip(b) {
        *x = f(*x, *y);
    }
}

/// `a[i] = f(a[i])`, in place.
pub fn map_with<T: Real>(a: &mut [T], f: impl Fn(T) -> T) {
    for x in a.iter_mut() {
        *x = f(*x);
    }
}

/// `a` divided by `norm` in place, or left as it is when the norm is 0 (a zero vector has
/// no direction; scikit-learn's normalize leaves it as it is).
pub fn normalize<T: Real>(a: &mut [T], norm: T) {
    if norm != T::ZERO {
        map_with(a, |x| x / norm);
    }
}

/// The smaller / larger of two elements; NaN wins (as in Postgres, where NaN sorts above
/// every number, but here for both: an element that is NaN stays visible).
pub fn min<T: Real>(x: T, y: T) -> T {
    if x.is_nan() || y.is_nan() {
        T::NAN
    } else if y < x {
        y
    } else {
        x
    }
}

pub fn max<T: Real>(x: T, y: T) -> T {
    if x.is_nan() || y.is_nan() {
        T::NAN
    } else if y > x {
        y
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn reductions_match_plain_loops() {
        for n in [0, 1, 7, 8, 9, 128, 1000] {
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos() - 0.5).collect();
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * (1.0 + y.abs());
            assert!(close(dot(&a, &b), naive_dot(&a, &b)), "dot {n}");
            assert!(
                close(norm_l1(&a), a.iter().map(|v| v.abs()).sum()),
                "l1 {n}"
            );
            assert!(close(norm_l2(&a), naive_dot(&a, &a).sqrt()), "l2 {n}");
            let d: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
            assert!(
                close(distance_l2(&a, &b), naive_dot(&d, &d).sqrt()),
                "dist {n}"
            );
            assert!(close(distance_l1(&a, &b), norm_l1(&d)), "dist l1 {n}");
            let f: Vec<f32> = a.iter().map(|v| *v as f32).collect();
            let g: Vec<f32> = b.iter().map(|v| *v as f32).collect();
            assert!(
                (dot(&f, &g) as f64 - naive_dot(&a, &b)).abs() < 1e-3,
                "f32 dot {n}"
            );
        }
    }

    #[test]
    fn edge_cases() {
        assert_eq!(norm_l0(&[0.0f32, 1.0, -2.0, 0.0, f32::NAN]), 3.0);
        assert_eq!(norm_max(&[1.0f64, -3.0, 2.0]), 3.0);
        assert_eq!(norm_max::<f32>(&[]), 0.0);
        assert!(norm_max(&[1.0f32, f32::NAN, 5.0]).is_nan());
        let mut zero = [0.0f32, 0.0];
        normalize(&mut zero, 0.0);
        assert_eq!(zero, [0.0, 0.0]);
        let mut v = [3.0f64, 4.0];
        normalize(&mut v, norm_l2(&[3.0, 4.0]));
        assert_eq!(v, [0.6, 0.8]);
        assert!(cosine_similarity(&[0.0f32, 0.0], &[1.0, 2.0]).is_nan());
        let c = cosine_similarity(&[1.0f64, 2.0, 3.0], &[2.0, 4.0, 6.0]);
        assert!((c - 1.0).abs() < 1e-15);
        let mut a = [1.0f32, 5.0];
        zip_with(&mut a, &[2.0, 3.0], min);
        assert_eq!(a, [1.0, 3.0]);
        let mut b = [1.0f64, 5.0];
        zip_with(&mut b, &[2.0, 3.0], max);
        assert_eq!(b, [2.0, 5.0]);
        assert!(max(f64::NAN, 1.0).is_nan() && min(1.0, f32::NAN).is_nan());
        let mut c = [1.0f32, -2.0];
        map_with(&mut c, |x| x * 3.0);
        assert_eq!(c, [3.0, -6.0]);
    }
}
