//! Every pgml.* setting, registered in one place.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Most deployed models one backend keeps deserialized; the least recently loaded goes first.
pub static CACHE_MAX_MODELS: GucSetting<i32> = GucSetting::<i32>::new(64);

pub fn init() {
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
