//! Interrupt points inside library code that has none of its own.
//!
//! linfa's and smartcore's fits are single calls with no callback: a kmeans on a million rows
//! ran 22 s, a smartcore tree 13 s, and a knn's test-split scoring did not end in ten minutes,
//! all deaf to query cancel, statement_timeout, pg_terminate_backend and fast shutdown. Each
//! of those libraries does call code of ours in its inner loop, though: the distance it is
//! given (linfa's kmeans and dbscan, smartcore's nearest neighbours) or the matrix it reads
//! (smartcore's trees). pgml passes wrappers there ([`PolledL2`], the smartcore binding's
//! `Polled` matrix) that call [`poll`].
//!
//! [`poll`] reads the server's own flags, which its signal handlers set (Postgres's
//! `QueryCancelPending` and `ProcDiePending`, registered by the extension with [`watch`]),
//! and when one is set it unwinds out of the library with an [`Interrupted`] payload, from
//! whichever thread it runs on (rayon's workers carry the panic back to the caller).
//! [`catching`] turns that into [`BindingError::Interrupted`] at the fit's boundary, where the
//! extension's main thread raises the real error (57014, or FATAL for a terminate) itself.
//! Only flags are read here: Postgres's interrupt processing runs on the main thread, never
//! inside a library. The libraries are pure Rust, so unwinding through them is sound; their
//! state is dropped on the way out.
//!
//! For this the handlers must run while the library works: the backend's main thread keeps
//! its signals unblocked during a pure-Rust fit, and the threads the library uses (rayon's
//! pool) are created with every signal blocked beforehand (crate::signals::rayon_pool).

use crate::bindings::{BindingError, Result};
use std::os::raw::c_int;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};

static CANCEL: AtomicPtr<c_int> = AtomicPtr::new(null_mut());
static DIE: AtomicPtr<c_int> = AtomicPtr::new(null_mut());

/// The payload [`poll`] unwinds with.
pub struct Interrupted;

/// Registers the server's flags: nonzero means "stop now". Until this is called (unit tests,
/// tools), [`poll`] never fires.
///
/// # Safety
/// Both point at `int`s that live as long as the process and that are only ever written
/// with plain stores (signal handlers' `sig_atomic_t` flags).
pub unsafe fn watch(cancel: *const c_int, die: *const c_int) {
    CANCEL.store(cancel.cast_mut(), Ordering::Relaxed);
    DIE.store(die.cast_mut(), Ordering::Relaxed);
}

#[inline]
fn raised(flag: &AtomicPtr<c_int>) -> bool {
    let p = flag.load(Ordering::Relaxed);
    // SAFETY: null or a flag registered by `watch`; volatile, since a signal handler writes
    // it behind the compiler's back.
    !p.is_null() && unsafe { std::ptr::read_volatile(p) } != 0
}

/// Whether the server asked this backend to stop its statement (or its session).
#[inline]
pub fn pending() -> bool {
    raised(&CANCEL) || raised(&DIE)
}

/// An interrupt point: unwinds with [`Interrupted`] when [`pending`]. Two loads and two
/// compares, cheap enough for a library's inner loop. `resume_unwind` skips the panic hook:
/// a cancel is not a bug, and nothing is printed.
#[inline]
pub fn poll() {
    if pending() {
        std::panic::resume_unwind(Box::new(Interrupted));
    }
}

/// [`pending`] as an error, for pgml's own loops between library calls.
#[inline]
pub fn check() -> Result<()> {
    if pending() {
        Err(BindingError::Interrupted)
    } else {
        Ok(())
    }
}

/// Rows per call when pgml's own code feeds a model a large matrix (the test split's
/// scoring): an interrupt point between calls, and the library's own inside each.
pub const CHUNK_ROWS: usize = 16_384;

/// `f` over `x` (rows of `width` values) in pieces of [`CHUNK_ROWS`] rows, each inside
/// [`catching`], with [`check`] between: for outputs that `f` appends row by row.
pub fn in_chunks(x: &[f32], width: usize, mut f: impl FnMut(&[f32]) -> Result<()>) -> Result<()> {
    for piece in x.chunks(CHUNK_ROWS * width.max(1)) {
        check()?;
        catching(|| f(piece))?;
    }
    Ok(())
}

/// Runs `f`, turning an unwind from [`poll`] into [`BindingError::Interrupted`]; any other
/// panic goes on unwinding.
pub fn catching<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) if payload.is::<Interrupted>() => Err(BindingError::Interrupted),
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// linfa's squared-Euclidean distance (what kmeans and dbscan use by default), with an
/// interrupt point in each evaluation: the same numbers, and a cancel heard within one
/// distance computation.
#[derive(Clone, Copy, Debug, Default)]
pub struct PolledL2;

impl<F: linfa::Float> linfa_nn::distance::Distance<F> for PolledL2 {
    #[inline]
    fn distance<D: ndarray::Dimension>(
        &self,
        a: ndarray::ArrayView<F, D>,
        b: ndarray::ArrayView<F, D>,
    ) -> F {
        poll();
        linfa_nn::distance::L2Dist.distance(a, b)
    }
    #[inline]
    fn rdistance<D: ndarray::Dimension>(
        &self,
        a: ndarray::ArrayView<F, D>,
        b: ndarray::ArrayView<F, D>,
    ) -> F {
        poll();
        linfa_nn::distance::L2Dist.rdistance(a, b)
    }
    #[inline]
    fn rdist_to_dist(&self, rdist: F) -> F {
        linfa_nn::distance::L2Dist.rdist_to_dist(rdist)
    }
    #[inline]
    fn dist_to_rdist(&self, dist: F) -> F {
        linfa_nn::distance::L2Dist.dist_to_rdist(dist)
    }
}
