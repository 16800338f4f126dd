//! Whether pgml was loaded through `shared_preload_libraries`. Shared memory (training
//! progress, the shared model cache) and postmaster-level settings exist only then, so
//! training and serving both ask here rather than each other.

use pgrx::pg_sys;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set in the postmaster when preloaded; inherited by every backend it forks.
static PRELOADED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static NOTICED: Cell<bool> = const { Cell::new(false) };
}

/// True only inside `_PG_init` while Postgres loads `shared_preload_libraries`: the one
/// moment shared memory may be requested and postmaster settings defined.
pub fn loading() -> bool {
    // SAFETY: a flag Postgres sets while it loads shared_preload_libraries.
    unsafe { pg_sys::process_shared_preload_libraries_in_progress }
}

/// From `_PG_init`.
pub fn init() {
    if loading() {
        PRELOADED.store(true, Ordering::Relaxed);
    }
}

/// Whether this process's pgml was preloaded (so shared memory is there).
pub fn preloaded() -> bool {
    PRELOADED.load(Ordering::Relaxed)
}

/// Once per backend, the first time shared memory would have been used.
pub fn notice_once() {
    if !NOTICED.with(|n| n.replace(true)) {
        pgrx::notice!(
            "pgml is not in shared_preload_libraries: models are cached per connection and pgml.training_progress stays empty"
        );
    }
}
