//! BLAS level-1 kernels from the system's OpenBLAS (linked through blas-src / openblas-src,
//! declared by cblas-sys), for the vector functions where they beat crate::vector's loops.
//! Which ones do is measured by crates/pgml-core/benches/kernels.rs; src/api/vector.rs picks per
//! function (and `pgml.vector_kernels` can force either side, for that benchmark).
//!
//! OpenBLAS runs on the backend's own thread only. The system's default build (Debian's
//! pthread one) starts a pool of one thread per core, minus one, the moment a process loads
//! it: in every backend, and in the postmaster when pgml is preloaded. A backend is
//! single-threaded by design (Postgres's signal handlers run on whichever thread does not
//! block the signal), and hundreds of connections on a 64-core machine would carry thousands
//! of idle threads. `single_threaded` (from _PG_init) sets OpenBLAS to one thread and stops
//! that pool. pgml links the same libopenblas.so.0 as everything else in the process:
//! loading a private serial build instead broke NumPy in PL/Python in the same backend (its
//! libblas.so.3 then bound to the serial library and missed the pthread build's symbols).

// The link itself: cblas-sys only declares the functions.
use blas_src as _;

use crate::vector::Real;
use std::os::raw::c_int;

extern "C" {
    // OpenBLAS's own (not CBLAS), in each of its builds (serial, pthreads, OpenMP).
    fn openblas_set_num_threads(n: c_int);
    fn openblas_get_num_threads() -> c_int;
}

/// One thread for OpenBLAS in this process, and the pthread build's pool stopped.
pub fn single_threaded() {
    // SAFETY: sets a counter the library reads before it splits work.
    unsafe { openblas_set_num_threads(1) };
    // blas_thread_shutdown_ (what OpenBLAS runs before a fork) joins the pool's threads; the
    // pool is started again only by a call that wants more than one thread, which no longer
    // happens. Only the pthread build has it, so it is looked up, not linked: a machine whose
    // libopenblas.so.0 is the serial or OpenMP build still loads pgml.
    // SAFETY: dlopen with RTLD_NOLOAD only finds the already loaded library (pgml.so links
    // it); the symbol, when present, is `int blas_thread_shutdown_(void)`.
    unsafe {
        let lib = libc::dlopen(
            c"libopenblas.so.0".as_ptr(),
            libc::RTLD_NOW | libc::RTLD_NOLOAD,
        );
        if lib.is_null() {
            return;
        }
        let f = libc::dlsym(lib, c"blas_thread_shutdown_".as_ptr());
        if !f.is_null() {
            let shutdown: unsafe extern "C" fn() -> c_int = std::mem::transmute(f);
            shutdown();
        }
        libc::dlclose(lib);
    }
}

/// The threads OpenBLAS would use for one call (1 after `single_threaded`).
pub fn threads() -> i32 {
    // SAFETY: reads a counter.
    unsafe { openblas_get_num_threads() }
}

/// CBLAS counts elements in a C int. A Postgres array holds at most 1 GB, so an f32 array
/// has under 2^28 elements and this cannot fail; checked all the same, because a wrong count
/// would read past the slice.
fn count(n: usize) -> c_int {
    c_int::try_from(n).expect("a Postgres array has fewer than 2^31 elements")
}

/// The level-1 routines, for f32 (`cblas_s*`) and f64 (`cblas_d*`). Each takes whole
/// contiguous slices (stride 1).
pub trait Blas: Real {
    /// Σ a[i]·b[i]; `a` and `b` of equal length.
    fn dot(a: &[Self], b: &[Self]) -> Self;
    /// Σ |a[i]|.
    fn asum(a: &[Self]) -> Self;
    /// √(Σ a[i]²), scaled against overflow and underflow.
    fn nrm2(a: &[Self]) -> Self;
    /// y += alpha·x; `x` and `y` of equal length.
    fn axpy(alpha: Self, x: &[Self], y: &mut [Self]);
    /// x *= alpha.
    fn scal(alpha: Self, x: &mut [Self]);
}

macro_rules! blas {
    ($t:ty, $dot:ident, $asum:ident, $nrm2:ident, $axpy:ident, $scal:ident) => {
        impl Blas for $t {
            fn dot(a: &[Self], b: &[Self]) -> Self {
                assert_eq!(a.len(), b.len());
                // SAFETY: both pointers are valid for a.len() reads at stride 1.
                unsafe { cblas_sys::$dot(count(a.len()), a.as_ptr(), 1, b.as_ptr(), 1) }
            }
            fn asum(a: &[Self]) -> Self {
                // SAFETY: valid for a.len() reads.
                unsafe { cblas_sys::$asum(count(a.len()), a.as_ptr(), 1) }
            }
            fn nrm2(a: &[Self]) -> Self {
                // SAFETY: valid for a.len() reads.
                unsafe { cblas_sys::$nrm2(count(a.len()), a.as_ptr(), 1) }
            }
            fn axpy(alpha: Self, x: &[Self], y: &mut [Self]) {
                assert_eq!(x.len(), y.len());
                // SAFETY: x valid for reads and y (exclusively borrowed, so not aliasing
                // x) for writes of x.len() elements.
                unsafe { cblas_sys::$axpy(count(x.len()), alpha, x.as_ptr(), 1, y.as_mut_ptr(), 1) }
            }
            fn scal(alpha: Self, x: &mut [Self]) {
                // SAFETY: valid for x.len() reads and writes.
                unsafe { cblas_sys::$scal(count(x.len()), alpha, x.as_mut_ptr(), 1) }
            }
        }
    };
}
blas!(
    f32,
    cblas_sdot,
    cblas_sasum,
    cblas_snrm2,
    cblas_saxpy,
    cblas_sscal
);
blas!(
    f64,
    cblas_ddot,
    cblas_dasum,
    cblas_dnrm2,
    cblas_daxpy,
    cblas_dscal
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector;

    #[test]
    fn agrees_with_the_rust_loops() {
        for n in [0usize, 1, 7, 128, 1536] {
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos() - 0.5).collect();
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * (1.0 + y.abs());
            assert!(close(f64::dot(&a, &b), vector::dot(&a, &b)), "dot {n}");
            assert!(close(f64::asum(&a), vector::norm_l1(&a)), "asum {n}");
            assert!(close(f64::nrm2(&a), vector::norm_l2(&a)), "nrm2 {n}");
            let mut y = b.clone();
            f64::axpy(-1.0, &a, &mut y);
            for i in 0..n {
                assert_eq!(y[i], b[i] - a[i], "axpy {n} {i}");
            }
            f64::scal(0.5, &mut y);
            for i in 0..n {
                assert_eq!(y[i], (b[i] - a[i]) * 0.5, "scal {n} {i}");
            }
            let f: Vec<f32> = a.iter().map(|v| *v as f32).collect();
            let g: Vec<f32> = b.iter().map(|v| *v as f32).collect();
            assert!(
                (f32::dot(&f, &g) - vector::dot(&f, &g)).abs() < 1e-3,
                "sdot {n}"
            );
        }
    }
}
