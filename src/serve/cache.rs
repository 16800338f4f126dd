//! Deployed models, deserialized once per backend and kept.
//!
//! Coherence comes from Postgres's own transactional invalidation: a statement trigger on
//! pgml.deployments (sql/finalize.sql) calls `CacheInvalidateRelcacheByRelid` on it, and the
//! relcache callback registered here bumps a generation counter when that invalidation is
//! processed: in other backends after the deploying transaction commits, in this backend at
//! once and again if it rolls back. An entry is served only while its generation is current.
//! The generation is read *before* the catalog is, so an invalidation that arrives while a
//! model is being loaded leaves that entry stale rather than trusted.

use crate::catalog;
use crate::error::{Error, Result};
use crate::serve::shared;
use pgml_core::bindings::{self, BindingError, Model, ModelShape, Task};
use pgml_core::data::preprocess::Pipeline;
use pgrx::pg_sys;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(1);
static DEPLOYMENTS_OID: AtomicU32 = AtomicU32::new(0);
/// Bumped by any change of a role or a role membership (roles_callback). A cached model is
/// served to a user only after a check of their privilege on its project at the current
/// value (catalog::Acl, kept with the model; a change of the project's grants or owner is a
/// change of the catalog, which reloads the model with them).
static PRIVILEGES: AtomicU64 = AtomicU64::new(1);
static LOADED_FROM_SHARED: AtomicU64 = AtomicU64::new(0);
static LOADED_FROM_CATALOG: AtomicU64 = AtomicU64::new(0);

pub struct Served {
    pub task: Task,
    pub num_features: usize,
    pub classes: Vec<f32>,
    pub class_labels: Vec<String>,
    /// Values predicted per row (joint regressions predict several).
    pub num_targets: usize,
    /// How a raw row (array form, or a table row read by column) becomes model features.
    pub pipeline: Pipeline,
    /// The pipeline changes nothing: raw values go to the model as they are.
    pub identity: bool,
    /// A row of `num_features` raw values is the model's row as it is, and the model gives
    /// one value: the row may take `Model::predict_one` (serve::predict).
    pub one_row: bool,
    /// The algorithm takes NaN as a missing value (else a NULL left after preprocessing is
    /// an error).
    pub handles_missing: bool,
    pub model: Box<dyn Model>,
    /// Who may be served it.
    acl: catalog::Acl,
    generation: u64,
    /// (user, PRIVILEGES) at which that user's predict privilege on the project was last checked.
    checked: Cell<(pg_sys::Oid, u64)>,
    /// Insertion order, for eviction; unique to this load of a model in this backend.
    stamp: u64,
    /// Buffers the per-row paths reuse (see [`Served::scratch`]).
    scratch: RefCell<Scratch>,
}

/// A loaded model's per-row buffers: a row's raw values and the model's outputs.
#[derive(Default)]
pub struct Scratch {
    pub raw: Vec<f32>,
    pub out: Vec<f32>,
}

impl Served {
    /// Identifies this loaded model among every one this backend loads (for caches keyed
    /// on it, such as how rows of a type are read for it).
    pub fn stamp(&self) -> u64 {
        self.stamp
    }

    /// Runs `f` on this model's per-row buffers, emptied: a warm predict allocated its
    /// outputs (and the row form its raw values) on every call, ~1% of a warm predict and
    /// more per row of a scan. Fresh buffers if they are in use (a nested call).
    pub fn scratch<R>(&self, f: impl FnOnce(&mut Scratch) -> R) -> R {
        match self.scratch.try_borrow_mut() {
            Ok(mut s) => {
                s.raw.clear();
                s.out.clear();
                f(&mut s)
            }
            Err(_) => f(&mut Scratch::default()),
        }
    }
}

/// `GetUserId()` called directly: pgrx's binding wraps every Postgres function in a
/// setjmp-based ERROR guard (with a thread check), which cost more than the call itself on
/// the warm predict path. GetUserId only returns a backend variable and cannot raise one.
fn current_user() -> pg_sys::Oid {
    unsafe extern "C" {
        #[link_name = "GetUserId"]
        fn get_user_id() -> pg_sys::Oid;
    }
    // SAFETY: a plain read of backend state, in the backend's main thread (the only one
    // that runs SQL functions); it never raises an ERROR.
    unsafe { get_user_id() }
}

struct Models {
    /// A fixed-key hasher: project names are the user's own, not an attacker's, and a
    /// const-constructible map can live in a plain static.
    by_project: HashMap<String, Rc<Served>, BuildHasherDefault<DefaultHasher>>,
    /// The last project looked up: a query predicting row after row with one project
    /// compares its name instead of hashing it (SipHash was ~3% of a warm predict).
    last: Option<(String, Rc<Served>)>,
    /// Insertion counter, for eviction.
    loads: u64,
}

/// State of this backend's main thread, the only thread that runs SQL functions (pgrx checks
/// it on every call). A plain static rather than `thread_local!`: in a shared library every
/// thread-local access is a `__tls_get_addr` call, on the path of every predict.
pub(crate) struct Backend<T>(pub(crate) T);

// SAFETY: only the backend's main thread touches it (see above); the libraries' worker
// threads never call into pgml.
unsafe impl<T> Sync for Backend<T> {}

impl<T> Backend<T> {
    pub(crate) fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0)
    }
}

/// Never dropped (statics are not): at backend exit, C++ libraries (XGBoost, OpenMP) have
/// already run their static destructors, and freeing a booster then segfaults. The OS
/// reclaims the memory.
static MODELS: Backend<RefCell<Models>> = Backend(RefCell::new(Models {
    by_project: HashMap::with_hasher(BuildHasherDefault::new()),
    last: None,
    loads: 0,
}));

/// Registered once per process in `_PG_init`.
pub fn register_invalidation_callback() {
    // SAFETY: called from _PG_init in a backend; the callbacks only touch atomics.
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(relcache_callback), pg_sys::Datum::from(0));
        // The privilege check rests on role membership (a grant held through a role) and
        // role attributes (superuser), whose changes touch no relation: they invalidate these
        // two syscaches, which Postgres's own cache of memberships listens to as well.
        for cache in [
            pg_sys::SysCacheIdentifier::AUTHMEMROLEMEM,
            pg_sys::SysCacheIdentifier::AUTHOID,
        ] {
            pg_sys::CacheRegisterSyscacheCallback(
                cache as std::ffi::c_int,
                Some(roles_callback),
                pg_sys::Datum::from(0),
            );
        }
    };
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn roles_callback(
    _arg: pg_sys::Datum,
    _cache: std::ffi::c_int,
    _hash: u32,
) {
    PRIVILEGES.fetch_add(1, Ordering::Relaxed);
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn relcache_callback(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    let watched = DEPLOYMENTS_OID.load(Ordering::Relaxed);
    // InvalidOid means "all relations" (e.g. after an invalidation queue overflow).
    if relid == pg_sys::InvalidOid || u32::from(relid) == watched {
        // This backend's cache only: the shared cache's epoch is bumped once per change, by
        // the transaction that committed it (serve::shared), not again by every backend
        // that processes its invalidation.
        GENERATION.fetch_add(1, Ordering::Relaxed);
    }
}

/// The current user and privilege epoch, checked: serving a model (from the catalog, this
/// backend's cache or shared memory) takes the predict privilege on its project.
fn check_privileges(project: &str, acl: &catalog::Acl) -> Result<(pg_sys::Oid, u64)> {
    // Read before the check, so that a REVOKE processed meanwhile leaves the result stale.
    let epoch = PRIVILEGES.load(Ordering::Relaxed);
    acl.check(project, catalog::Privilege::Predict, "predict with")?;
    Ok((current_user(), epoch))
}

/// Whether two project names are equal, compared inline a word at a time: `==` on slices
/// calls libc's memcmp, and a byte loop unrolls to a line of code per few bytes, both on
/// every warm predict (see with_warm).
#[inline(always)]
fn same_name(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        // Short names: both zero-padded into one word.
        let word = |s: &[u8]| {
            let mut w = [0u8; 8];
            w[..n].copy_from_slice(s);
            u64::from_ne_bytes(w)
        };
        return word(a) == word(b);
    }
    let word = |s: &[u8], i: usize| u64::from_ne_bytes(s[i..i + 8].try_into().unwrap_or([0; 8]));
    // Whole words, then the last eight bytes (overlapping the last whole word).
    (0..n - 8).step_by(8).all(|i| word(a, i) == word(b, i)) && word(a, n - 8) == word(b, n - 8)
}

/// `f` on the project's model when it is the last one this backend looked up, current, and
/// checked for this user at the current privileges; None, `f` not called, otherwise (then
/// `get` loads or checks it). The warm predict's whole lookup: a name compared in place (no
/// UTF-8 check: equal bytes to a `String` are UTF-8), no reference count.
///
/// `f` runs while the cache is borrowed: it must not look a model up (it computes on the
/// model only).
#[inline(always)]
pub fn with_warm<R>(name: &[u8], f: impl FnOnce(&Served) -> Option<R>) -> Option<R> {
    let generation = GENERATION.load(Ordering::Relaxed);
    MODELS.with(|m| {
        let models = m.try_borrow().ok()?;
        let (last, s) = models.last.as_ref()?;
        let current = s.generation == generation
            && same_name(last.as_bytes(), name)
            && s.checked.get() == (current_user(), PRIVILEGES.load(Ordering::Relaxed));
        if current {
            f(s)
        } else {
            None
        }
    })
}

/// The project's model if it is cached and current: the last one looked up is compared
/// inline, any other found in the map.
fn current(project: &str, generation: u64) -> Option<Rc<Served>> {
    let last = MODELS.with(|m| match &m.borrow().last {
        Some((name, s))
            if same_name(name.as_bytes(), project.as_bytes()) && s.generation == generation =>
        {
            Some(s.clone())
        }
        _ => None,
    });
    last.or_else(|| current_in_map(project, generation))
}

/// current's other half: another project than the last one, found by hash.
#[inline(never)]
fn current_in_map(project: &str, generation: u64) -> Option<Rc<Served>> {
    MODELS.with(|m| {
        let models = &mut *m.borrow_mut();
        let s = (models.by_project.get(project))
            .filter(|s| s.generation == generation)
            .cloned()?;
        models.last = Some((project.to_string(), s.clone()));
        Some(s)
    })
}

/// The project's deployed model: from the cache when current, else from the catalog. The
/// load and a privilege check again are functions of their own, off the cached path.
pub fn get(project: &str) -> Result<Rc<Served>> {
    let generation = GENERATION.load(Ordering::Relaxed);
    if let Some(s) = current(project, generation) {
        let now = (current_user(), PRIVILEGES.load(Ordering::Relaxed));
        if s.checked.get() != now {
            recheck(project, &s)?;
        }
        return Ok(s);
    }
    load_served(project, generation)
}

/// The privileges of a cached model's user, checked again (another user, or a GRANT,
/// REVOKE or role change since).
#[cold]
#[inline(never)]
fn recheck(project: &str, s: &Served) -> Result<()> {
    s.checked.set(check_privileges(project, &s.acl)?);
    Ok(())
}

/// get's cold half: the model loaded, kept, and returned.
#[cold]
#[inline(never)]
fn load_served(project: &str, generation: u64) -> Result<Rc<Served>> {
    if !crate::pg::preload::preloaded() {
        crate::pg::preload::notice_once();
    }
    let (d, checked, publish, model) = match load(project, true)? {
        // A copy from the shared cache whose bytes do not load: dropped there, and the
        // model read from the catalog instead, so that one bad copy fails no other
        // connection (a cancel or an allocation refused while loading leaves it).
        (d, _, Source::Shared(scope), Err(Error::Binding(BindingError::Corrupt { .. })))
        | (d, _, Source::Shared(scope), Err(Error::Binding(BindingError::Library { .. }))) => {
            shared::forget(scope, project, d.model_id);
            load(project, false)?
        }
        (d, checked, publish, model) => (d, checked, publish, model),
    };
    let model = model?;
    // Published only once it has loaded: bytes that do not (a hand-edited pgml.files, read
    // in the transaction that edited it) are never offered to other connections.
    if let Source::Catalog(Some((scope, epoch, blob))) = publish {
        shared::publish(scope, project, epoch, d.model_id, &blob);
    }
    DEPLOYMENTS_OID.store(u32::from(d.deployments_oid), Ordering::Relaxed);
    let backend = backend_of(&d)?;
    let max = crate::gucs::CACHE_MAX_MODELS.get().max(1) as usize;
    let served = MODELS.with(|m| {
        let models = &mut *m.borrow_mut();
        models.loads += 1;
        models.last = None;
        let (map, stamp) = (&mut models.by_project, models.loads);
        map.retain(|_, s| s.generation == generation);
        if map.len() >= max && !map.contains_key(project) {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.stamp)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let identity = d.pipeline.is_identity() && d.pipeline.out_width() == d.num_features;
        let served = Rc::new(Served {
            task: d.task,
            num_features: d.num_features,
            classes: d.classes,
            num_targets: d.num_targets,
            class_labels: d.class_labels,
            identity,
            one_row: identity && d.pipeline.raw_width() == d.num_features && d.num_targets <= 1,
            pipeline: d.pipeline,
            handles_missing: backend.handles_missing(),
            model,
            acl: d.acl,
            generation,
            checked: Cell::new(checked),
            stamp,
            scratch: RefCell::default(),
        });
        map.insert(project.to_string(), served.clone());
        served
    });
    Ok(served)
}

/// Where [`load`] found a model: in the shared cache (under this scope), or in the catalog,
/// with what to publish to the shared cache once the model has loaded.
enum Source {
    Shared(shared::Scope),
    Catalog(Option<(shared::Scope, u64, Vec<u8>)>),
}

/// The library a deployment's algorithm names.
fn backend_of(d: &catalog::Deployed) -> Result<&'static dyn bindings::Backend> {
    bindings::find(&d.algorithm).ok_or_else(|| Error::UnknownAlgorithm(d.algorithm.clone()))
}

/// The model of a deployment, deserialized.
fn model_of(d: &catalog::Deployed) -> Result<Box<dyn Model>> {
    let backend = backend_of(d)?;
    let shape = ModelShape {
        task: d.task,
        num_features: d.num_features,
        num_classes: d.classes.len(),
        num_targets: d.num_targets,
    };
    Ok(bindings::load(backend, &d.bytes, shape)?)
}

/// The loaded deployment, the caller's privilege check, where it came from, and its model.
type Loaded = (
    catalog::Deployed,
    (pg_sys::Oid, u64),
    Source,
    Result<Box<dyn Model>>,
);

/// The project's deployed model from the shared model cache when it holds a current copy
/// (and `shared` allows it), else from the catalog (then offered to the shared cache by the
/// caller once it loads; src/serve/shared.rs says when it is taken), with the caller's
/// predict privilege checked on it: before the model is deserialized or published, so a
/// role without it makes the server do neither.
fn load(project: &str, shared: bool) -> Result<Loaded> {
    let with_check = |d: catalog::Deployed, source: Source| {
        let checked = check_privileges(project, &d.acl)?;
        let model = model_of(&d);
        Ok((d, checked, source, model))
    };
    let Some(epoch) = shared::epoch() else {
        LOADED_FROM_CATALOG.fetch_add(1, Ordering::Relaxed);
        return with_check(catalog::deployed(project)?, Source::Catalog(None));
    };
    let scope = shared::Scope::current();
    if shared {
        let found = scope.and_then(|s| Some((s, shared::lookup(s, project, epoch)?)));
        if let Some((scope, d)) = found.and_then(|(s, b)| Some((s, shared::decode(b)?))) {
            LOADED_FROM_SHARED.fetch_add(1, Ordering::Relaxed);
            return with_check(d, Source::Shared(scope));
        }
    }
    LOADED_FROM_CATALOG.fetch_add(1, Ordering::Relaxed);
    // SAFETY: a plain read of backend state.
    if unsafe { pg_sys::IsInParallelMode() } {
        // A parallel worker may not take a new snapshot: read, publish nothing.
        return with_check(catalog::deployed(project)?, Source::Catalog(None));
    }
    // A snapshot taken after the epoch was read: see serve::shared on why that order.
    let d = catalog::with_latest_snapshot(|| catalog::deployed(project))?;
    // Keyed by the pgml.deployments the catalog was read through, which is the one the
    // next lookup's Scope::current() finds until the extension is dropped.
    let publish = shared::Scope::of(d.deployments_oid)
        .and_then(|scope| Some((scope, epoch, shared::encode(&d)?)));
    with_check(d, Source::Catalog(publish))
}

/// (invalidation generation, watched relation OID, models held, loads from the shared
/// cache, loads from the catalog) of this backend.
pub fn info() -> (i64, i64, i64, i64, i64) {
    (
        GENERATION.load(Ordering::Relaxed) as i64,
        DEPLOYMENTS_OID.load(Ordering::Relaxed) as i64,
        MODELS.with(|m| m.borrow().by_project.len() as i64),
        LOADED_FROM_SHARED.load(Ordering::Relaxed) as i64,
        LOADED_FROM_CATALOG.load(Ordering::Relaxed) as i64,
    )
}

#[cfg(test)]
mod tests {
    use super::same_name;

    #[test]
    fn names_compare_equal_exactly_when_their_bytes_do() {
        let name: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for n in 0..name.len() {
            let a = &name[..n];
            let copy = a.to_vec();
            assert!(same_name(a, &copy), "{n}");
            // Every byte changed in turn, and one byte more or less.
            for i in 0..n {
                let mut b = a.to_vec();
                b[i] ^= 1;
                assert!(!same_name(a, &b), "{n} at {i}");
            }
            assert!(!same_name(a, &name[..n + 1]), "{n} + 1");
        }
    }
}
