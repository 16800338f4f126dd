//! Every pgml.* setting, registered in one place.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};

/// Most deployed models one backend keeps deserialized; the least recently loaded goes first.
pub static CACHE_MAX_MODELS: GucSetting<i32> = GucSetting::<i32>::new(64);

/// Threads a training may use; 0: half the cores (pgml_core::bindings::default_threads).
pub static TRAIN_THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);

/// The most threads one training or one batch may use, whatever pgml.train_threads,
/// pgml.predict_threads or a hyperparameter asks (0: the machine's cores). Library thread pools run inside the backend, uncounted by
/// max_parallel_workers, so the server (postgresql.conf, SIGHUP) decides, not the user.
pub static MAX_TRAIN_THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);

/// `pgml.max_train_threads` as a count (0 read as the machine's cores): the most threads
/// any pool pgml starts in a backend may have, training's and the tree evaluator's. A
/// server setting (SIGHUP): no user can raise it.
pub fn max_train_threads() -> usize {
    match MAX_TRAIN_THREADS.get() {
        n if n > 0 => n as usize,
        _ => pgml_core::bindings::cores(),
    }
}

/// Threads a training is given when its hyperparameters do not say: `pgml.train_threads`
/// (0: half the cores), never more than `pgml.max_train_threads`.
pub fn train_threads() -> usize {
    let max = max_train_threads();
    match TRAIN_THREADS.get() {
        n if n > 0 => (n as usize).min(max),
        _ => pgml_core::bindings::default_threads().min(max),
    }
}

/// `pgml.max_train_memory` in MB (0: a quarter of the machine's memory).
pub static MAX_TRAIN_MEMORY: GucSetting<i32> = GucSetting::<i32>::new(0);

/// The bytes one training or one `predict_batch` may use (pgml.max_train_memory; 0 read as
/// a quarter of the machine's physical memory: room for shared_buffers, the page cache and
/// other backends).
pub fn train_memory_limit() -> usize {
    match MAX_TRAIN_MEMORY.get() {
        n if n > 0 => (n as usize).saturating_mul(pgml_core::memory::MB),
        _ => {
            // SAFETY: sysconf reads system constants.
            let (pages, size) = unsafe {
                (
                    libc::sysconf(libc::_SC_PHYS_PAGES),
                    libc::sysconf(libc::_SC_PAGESIZE),
                )
            };
            (pages.max(0) as usize).saturating_mul(size.max(0) as usize) / 4
        }
    }
}

/// `pgml.max_uninterruptible_rows`: the most training rows for an algorithm whose library
/// offers no interrupt point (svm); 0: no limit.
pub static MAX_UNINTERRUPTIBLE_ROWS: GucSetting<i32> = GucSetting::<i32>::new(5_000);

/// `pgml.max_uninterruptible_rows` as a count (0: no limit).
pub fn max_uninterruptible_rows() -> usize {
    MAX_UNINTERRUPTIBLE_ROWS.get().max(0) as usize
}

/// Whether long trainings report progress as INFO messages (at most one every few seconds).
pub static TRAINING_PROGRESS: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Whether XGBoost and LightGBM models covered by pgml's tree evaluator are served by it
/// (else always through the library's C API: for comparison, or as an escape hatch).
pub static NATIVE_TREES: GucSetting<bool> = GucSetting::<bool>::new(true);

/// `pgml.native_trees` read without `GucSetting::get`'s active-thread check: that check reads
/// a thread-local, which in a shared library is a call into the dynamic loader
/// (`__tls_get_addr`) on every warm predict (serve::predict_warm).
#[inline(always)]
pub fn native_trees() -> bool {
    // SAFETY: a plain read of the bool Postgres writes the setting to; SQL functions and
    // GUC assignment both run on the backend's main thread only (pgrx checks that on its
    // own entry points), so nothing writes it concurrently.
    unsafe { *NATIVE_TREES.as_ptr() }
}

/// How models evaluate, read per call at the SQL boundary and passed down as a value (the
/// core keeps no copy of a setting): `pgml.native_trees`, `pgml.predict_threads` and its cap.
#[inline(always)]
pub fn evaluation() -> pgml_core::bindings::Evaluation {
    // SAFETY: as native_trees: a plain read of the int Postgres writes the setting to, on
    // the backend's main thread.
    let (threads, max) = unsafe { (*PREDICT_THREADS.as_ptr(), *MAX_TRAIN_THREADS.as_ptr()) };
    pgml_core::bindings::Evaluation {
        native_trees: native_trees(),
        threads: threads.max(0) as usize,
        max_threads: max.max(0) as usize,
    }
}

/// Size of the shared model cache in kB (src/serve/shared.rs); 0 turns it off. Read at server
/// start: shared memory is sized once.
pub static SHARED_CACHE_SIZE: GucSetting<i32> = GucSetting::<i32>::new(64 * 1024);

/// Whether this session uses the shared model cache (off: every first load reads the
/// catalog, for comparison).
pub static SHARED_CACHE: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Threads pgml.predict_batch scores a large batch with on a native tree model; 0: half the
/// cores; never more than pgml.max_train_threads.
pub static PREDICT_THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);

/// Whether the planner scores `pgml.predict(project, row)` over a table scan in blocks of
/// rows (src/serve/scan/) rather than calling the function row by row.
pub static PREDICT_SCAN: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Which implementation runs a vector function that has both a Rust loop and a BLAS form.
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum VectorKernels {
    /// The one benches/vectors/KERNELS.md measured faster, per function.
    #[name = c"auto"]
    Auto,
    #[name = c"rust"]
    Rust,
    #[name = c"blas"]
    Blas,
}

/// `auto`, or one side forced (for the benchmark's Rust-against-BLAS lines).
pub static VECTOR_KERNELS: GucSetting<VectorKernels> =
    GucSetting::<VectorKernels>::new(VectorKernels::Auto);

pub fn init() {
    // A postmaster-level setting may only be defined while preloading (later is FATAL).
    if crate::pg::preload::loading() {
        GucRegistry::define_int_guc(
            c"pgml.shared_cache_size",
            c"Shared memory for deployed models, so a new connection's first predict reads no catalog table.",
            c"In kB (units accepted, e.g. '256MB'); 0 turns the shared model cache off. Needs pgml in shared_preload_libraries; takes effect at server start.",
            &SHARED_CACHE_SIZE,
            0,
            i32::MAX / 2,
            GucContext::Postmaster,
            GucFlags::UNIT_KB,
        );
    }
    GucRegistry::define_int_guc(
        c"pgml.predict_threads",
        c"Threads a large pgml.predict_batch uses on XGBoost and LightGBM models (0: half the cores; at most pgml.max_train_threads).",
        c"Batches of 32768 rows or more served by the native tree evaluator are split across this many threads; single-row predictions always run on one.",
        &PREDICT_THREADS,
        0,
        1024,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"pgml.shared_cache",
        c"Use the shared model cache (when pgml.shared_cache_size is above 0).",
        c"Off: a backend's first load of a model reads the catalog (pgml.files) even when the model is in shared memory.",
        &SHARED_CACHE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"pgml.predict_scan",
        c"Score pgml.predict(project, row) over a table scan in blocks of rows.",
        c"A custom scan node (PgmlPredict in EXPLAIN) over a sequential scan reads a block of rows and scores it with the model's batch path. Off: the function is called row by row; the results are the same.",
        &PREDICT_SCAN,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"pgml.native_trees",
        c"Serve XGBoost and LightGBM models with pgml's native tree evaluator.",
        c"Off: every prediction goes through the library's C API. pgml.models.evaluator says which models the evaluator covers.",
        &NATIVE_TREES,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"pgml.vector_kernels",
        c"Run vector functions on pgml's Rust loops, OpenBLAS, or whichever was measured faster (auto).",
        c"Applies to the functions with a BLAS form: dot_product, norm_l1, norm_l2, cosine_similarity / distance, distance_l2, add and subtract of two arrays, pgml.sum and normalize_l1 / l2.",
        &VECTOR_KERNELS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pgml.train_threads",
        c"Threads a training may use (0: the library's default, all cores).",
        c"Applies to xgboost (nthread) and lightgbm (num_threads) unless hyperparams set them.",
        &TRAIN_THREADS,
        0,
        1024,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"pgml.training_progress",
        c"Report training progress as INFO messages.",
        c"Rows read and boosting rounds done, at most one message every few seconds.",
        &TRAINING_PROGRESS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pgml.max_train_threads",
        c"The most threads one training or one predict_batch may use (0: the machine's cores).",
        c"Caps pgml.train_threads, pgml.predict_threads and the libraries' thread hyperparameters (nthread, num_threads, n_jobs); set in postgresql.conf.",
        &MAX_TRAIN_THREADS,
        0,
        1024,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pgml.max_train_memory",
        c"The most memory, in MB, one training or one predict_batch may use (0: a quarter of the machine's memory).",
        c"Estimated before a training reads its rows (pgml's buffer plus the library's copy and working structures); past it, or past what the machine gives, the statement fails with 53200. Only a superuser changes it.",
        &MAX_TRAIN_MEMORY,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MB,
    );
    GucRegistry::define_int_guc(
        c"pgml.max_uninterruptible_rows",
        c"The most training rows for an algorithm that cannot be interrupted while it fits (svm); 0: no limit.",
        c"Such a fit is one library call that neither query cancel, statement_timeout nor pg_terminate_backend can stop; past this many rows it is refused (54000) before it starts. Only a superuser changes it.",
        &MAX_UNINTERRUPTIBLE_ROWS,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pgml.cache_max_models",
        c"Most deployed models a backend keeps deserialized in memory.",
        c"When full, the model loaded longest ago is dropped and reloaded on its next use.",
        &CACHE_MAX_MODELS,
        1,
        100_000,
        GucContext::Userset,
        GucFlags::default(),
    );
}
