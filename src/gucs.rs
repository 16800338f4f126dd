//! Every pgml.* setting, registered in one place.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Most deployed models one backend keeps deserialized; the least recently loaded goes first.
pub static CACHE_MAX_MODELS: GucSetting<i32> = GucSetting::<i32>::new(64);

/// Threads a training may use; 0 lets the library decide (all cores). Prediction is always
/// single-threaded: a backend serves one query at a time.
pub static TRAIN_THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);

/// Whether long trainings report progress as INFO messages (at most one every few seconds).
pub static TRAINING_PROGRESS: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Whether XGBoost and LightGBM models covered by pgml's tree evaluator are served by it
/// (else always through the library's C API: for comparison, or as an escape hatch).
pub static NATIVE_TREES: GucSetting<bool> = GucSetting::<bool>::new(true);

pub fn init() {
    GucRegistry::define_bool_guc(
        c"pgml.native_trees",
        c"Serve XGBoost and LightGBM models with pgml's native tree evaluator.",
        c"Off: every prediction goes through the library's C API. pgml.models.evaluator says which models the evaluator covers.",
        &NATIVE_TREES,
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
