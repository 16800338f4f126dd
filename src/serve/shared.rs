//! The shared model cache (issue 5, item 3 a and b), when pgml is in
//! `shared_preload_libraries` and `pgml.shared_cache_size` is above 0: a fixed area of
//! Postgres shared memory holding
//! - each project's deployed model id, tagged with the epoch it was read at, and
//! - a bounded ring of serialized models (everything `cache::get` needs to serve one: the
//!   catalog row and the bytes of pgml.files), keyed by model id,
//!
//! so that a new connection's first predict reads no catalog table at all.
//!
//! Both are keyed by the [`Scope`] too, the database and the OID of its pgml.deployments:
//! the area is one for the whole cluster, and project names and model ids repeat across
//! databases and across a `DROP EXTENSION pgml` / `CREATE EXTENSION pgml` (ids restart at 1).
//!
//! Coherence. The shared `epoch` is bumped once per commit that changed pgml.deployments or
//! pgml.files, or changed served rows of pgml.projects, pgml.snapshots or pgml.models by hand
//! (api/deploy.rs's trigger, which fires under session_replication_role = replica too): by the
//! committing backend's commit callback below, which runs once the commit is visible, or, for
//! a transaction committed by COMMIT PREPARED (which may run in another session), by the
//! utility hook below once that statement has made it visible; nothing is bumped at PREPARE,
//! when the change is not visible yet. The backends that process the relcache invalidation
//! the trigger also sends drop their own caches (cache.rs) without bumping again, so one
//! deployment costs the shared cache one epoch. An entry is trusted only while its epoch is
//! current. A backend that missed publishes what it read only if the epoch did not move
//! between reading it and publishing, and it reads the catalog with a snapshot taken *after*
//! reading the epoch: a deployment committed before that snapshot is in what it read, and one
//! committed after bumps the epoch after the snapshot, so the publish is dropped. Nothing is
//! published from a transaction that changed deployments itself (its view is not committed
//! yet), nor read or published on a standby (its backends may never see a replayed invalidation
//! that would bump the epoch); standbys still use the per-backend cache, kept coherent by
//! replayed invalidations (tests/replica.sh). A model id's bytes stay the same unless its rows
//! are edited by hand, so the ring is keyed by model id; a publish compares the bytes it read
//! with the copy held and replaces a copy that differs, and since every lookup passes through a
//! project entry of the current epoch, which only a publish after the edit's commit creates, an
//! edited model is never served from an old copy.

use crate::catalog::Deployed;
use pgml_core::bindings::Task;
use pgml_core::data::preprocess::Pipeline;
use pgrx::{pg_guard, pg_sys};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, Ordering};

const NAME: &CStr = c"pgml_shared_models";
/// Projects whose deployment is kept; more are served by reading the catalog.
const PROJECTS: usize = 128;
/// Models kept at once (each also needs room in the ring).
const MODELS: usize = 256;
/// Longest project name kept (bytes); longer names are read from the catalog.
const PROJECT_NAME: usize = 64;

/// Where a slot's project name and model id mean something: a database, and the
/// incarnation of the extension in it (the OID of its pgml.deployments table).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Scope {
    database: u32,
    deployments: u32,
}

impl Scope {
    /// This backend's database and the pgml.deployments it sees now (None before the
    /// extension exists). Two syscache lookups: called only when a model is loaded.
    pub fn current() -> Option<Scope> {
        // SAFETY: syscache reads in a backend inside a transaction (predict runs in one).
        let deployments = unsafe {
            let schema = pg_sys::get_namespace_oid(c"pgml".as_ptr(), true);
            if schema == pg_sys::InvalidOid {
                return None;
            }
            pg_sys::get_relname_relid(c"deployments".as_ptr(), schema)
        };
        Self::of(deployments)
    }

    /// The scope of a model read from the catalog through `deployments`.
    pub fn of(deployments: pg_sys::Oid) -> Option<Scope> {
        if deployments == pg_sys::InvalidOid {
            return None;
        }
        // SAFETY: a plain read of a backend global.
        let database = unsafe { pg_sys::MyDatabaseId };
        Some(Scope {
            database: u32::from(database),
            deployments: u32::from(deployments),
        })
    }
}

#[repr(C)]
struct ProjectSlot {
    used: bool,
    scope: Scope,
    name_len: u8,
    name: [u8; PROJECT_NAME],
    model_id: i64,
    epoch: u64,
}

#[repr(C)]
struct ModelSlot {
    used: bool,
    scope: Scope,
    model_id: i64,
    offset: usize,
    len: usize,
    /// A hash of the bytes, computed before the lock is taken (see store_model).
    hash: u64,
}

/// The area's header; the ring of `capacity` bytes follows it.
#[repr(C)]
struct Header {
    /// Bumped by every change of pgml.deployments; read without the lock.
    epoch: AtomicU64,
    /// COMMIT PREPAREDs running now (see `utility`): while any is, nothing is looked up or
    /// published.
    committing_prepared: std::sync::atomic::AtomicU32,
    capacity: usize,
    /// Where the next model is written in the ring.
    head: usize,
    projects: [ProjectSlot; PROJECTS],
    models: [ModelSlot; MODELS],
}

struct Area {
    header: *mut Header,
    lock: *mut pg_sys::LWLock,
}

// Set in the postmaster's shmem_startup_hook and inherited by every backend it forks.
static mut AREA: Area = Area {
    header: std::ptr::null_mut(),
    lock: std::ptr::null_mut(),
};
static mut PREV_REQUEST: pg_sys::shmem_request_hook_type = None;
static mut PREV_STARTUP: pg_sys::shmem_startup_hook_type = None;

thread_local! {
    /// This transaction changed pgml.deployments (set by the statement trigger).
    static CHANGED: Cell<bool> = const { Cell::new(false) };
    /// This backend counts in `committing_prepared` (until its COMMIT PREPARED returns or
    /// its transaction aborts).
    static COMMITTING_PREPARED: Cell<bool> = const { Cell::new(false) };
}

/// Enters or leaves this backend's count in `committing_prepared`.
fn committing_prepared(on: bool) {
    let Some(h) = header() else {
        return;
    };
    if COMMITTING_PREPARED.with(|c| c.replace(on)) != on {
        if on {
            h.committing_prepared.fetch_add(1, Ordering::SeqCst);
        } else {
            h.committing_prepared.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Whether a COMMIT PREPARED is making changes visible right now.
fn prepared_commit_running(h: &Header) -> bool {
    h.committing_prepared.load(Ordering::SeqCst) != 0
}

fn ring_size() -> usize {
    crate::gucs::SHARED_CACHE_SIZE.get().max(0) as usize * 1024
}

fn area_size() -> usize {
    std::mem::size_of::<Header>() + ring_size()
}

/// From `_PG_init` while preloading (after the settings are defined).
pub fn init() {
    if !crate::pg::preload::loading() || ring_size() == 0 {
        return;
    }
    // SAFETY: _PG_init runs once, single-threaded, in the postmaster; the hooks chain to
    // whatever was installed before.
    unsafe {
        PREV_REQUEST = pg_sys::shmem_request_hook;
        pg_sys::shmem_request_hook = Some(request);
        PREV_STARTUP = pg_sys::shmem_startup_hook;
        pg_sys::shmem_startup_hook = Some(startup);
        pg_sys::RegisterXactCallback(Some(xact_callback), std::ptr::null_mut());
        PREV_UTILITY = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(utility);
    }
}

static mut PREV_UTILITY: pg_sys::ProcessUtility_hook_type = None;

unsafe extern "C-unwind" {
    /// Declared here unguarded (see `utility`).
    #[link_name = "standard_ProcessUtility"]
    fn standard_process_utility(
        pstmt: *mut pg_sys::PlannedStmt,
        query_string: *const std::ffi::c_char,
        read_only_tree: bool,
        context: pg_sys::ProcessUtilityContext::Type,
        params: pg_sys::ParamListInfo,
        query_env: *mut pg_sys::QueryEnvironment,
        dest: *mut pg_sys::DestReceiver,
        qc: *mut pg_sys::QueryCompletion,
    );
}

/// Bumps the epoch after a COMMIT PREPARED: the prepared transaction's changes are visible
/// once it returns, and the session running it is not the one whose trigger saw them (its
/// PREPARE bumped nothing). Any prepared transaction: whether it changed a deployment is not
/// known here, and a bump costs only a reread of the catalog. While it runs (its changes
/// visible and its invalidations sent before the bump), `committing_prepared` keeps every
/// backend from looking up or publishing a copy: one that processed the invalidation in
/// that window would otherwise take the copy published before the commit, under the old
/// epoch, and keep it. An ERROR leaves the count at the transaction's abort (xact_callback).
///
/// Every utility statement passes here, so it is not behind pgrx's guard: an ERROR of the
/// statement passes through untouched (a guard would turn it into a panic and raise it again,
/// losing its cursor position; a guard around pgrx's own guarded standard_ProcessUtility
/// aborted the backend). Nothing here owns anything to drop, and nothing of ours can fail.
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    // SAFETY: the arguments are the executor's, passed on to the previous hook or the
    // standard function (C, which may longjmp through this frame: it holds no Rust value
    // with a destructor). The statement is read by its node tag and, for a
    // TransactionStmt, its kind.
    unsafe {
        let stmt = (*pstmt).utilityStmt;
        let commit_prepared = !stmt.is_null()
            && (*stmt).type_ == pg_sys::NodeTag::T_TransactionStmt
            && (*(stmt as *mut pg_sys::TransactionStmt)).kind
                == pg_sys::TransactionStmtKind::TRANS_STMT_COMMIT_PREPARED;
        if commit_prepared {
            committing_prepared(true);
        }
        let next = PREV_UTILITY.unwrap_or(standard_process_utility);
        next(
            pstmt,
            query_string,
            read_only_tree,
            context,
            params,
            query_env,
            dest,
            qc,
        );
        if commit_prepared {
            bump();
            committing_prepared(false);
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn request() {
    // SAFETY: called by the postmaster in its shmem request phase.
    unsafe {
        if let Some(prev) = PREV_REQUEST {
            prev();
        }
        pg_sys::RequestAddinShmemSpace(area_size());
        pg_sys::RequestNamedLWLockTranche(NAME.as_ptr(), 1);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn startup() {
    // SAFETY: called by the postmaster (again after a crash restart) with shared memory
    // created, before it forks any backend (no EXEC_BACKEND on the platforms pgml builds
    // for, so no other process initializes the area concurrently).
    unsafe {
        if let Some(prev) = PREV_STARTUP {
            prev();
        }
        let mut found = false;
        let header = pg_sys::ShmemInitStruct(NAME.as_ptr(), area_size(), &mut found) as *mut Header;
        if !found {
            // All zeroes is an empty cache: no slot used, epoch 0, head 0.
            std::ptr::write_bytes(header as *mut u8, 0, std::mem::size_of::<Header>());
            (*header).capacity = ring_size();
        }
        AREA.header = header;
        AREA.lock = &raw mut (*pg_sys::GetNamedLWLockTranche(NAME.as_ptr())).lock;
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn xact_callback(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::XactEvent::*;
    match event {
        // After the commit is visible to new snapshots (see the module's comment).
        XACT_EVENT_COMMIT | XACT_EVENT_PARALLEL_COMMIT if CHANGED.with(|c| c.replace(false)) => {
            bump()
        }
        // A prepared transaction is not visible until COMMIT PREPARED (the utility hook).
        XACT_EVENT_PREPARE => CHANGED.with(|c| c.set(false)),
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => {
            CHANGED.with(|c| c.set(false));
            // A COMMIT PREPARED that failed: its count goes (the epoch moves too, in case
            // it failed after its changes became visible).
            if COMMITTING_PREPARED.with(|c| c.get()) {
                bump();
                committing_prepared(false);
            }
        }
        _ => {}
    }
}

fn header_ptr() -> *mut Header {
    // SAFETY: set once before any backend exists; points into shared memory for the life of
    // the process (null when the cache is off).
    unsafe { AREA.header }
}

fn header() -> Option<&'static Header> {
    // SAFETY: as header_ptr; shared reads go to the atomic epoch only.
    unsafe { header_ptr().as_ref() }
}

/// Called by the deployments trigger: this transaction's reads of the deployment are its
/// own until it commits.
pub fn changed_in_transaction() {
    CHANGED.with(|c| c.set(true));
}

/// Invalidates every project entry (a deployment changed somewhere).
pub fn bump() {
    if let Some(h) = header() {
        h.epoch.fetch_add(1, Ordering::SeqCst);
    }
}

/// The shared epoch now (pgml.cache_info), None without a shared cache.
pub fn current_epoch() -> Option<u64> {
    Some(header()?.epoch.load(Ordering::SeqCst))
}

/// Drops `project`'s entry in `scope` when it names `model_id`: a copy that did not load,
/// which the next lookup then reads from the catalog (and publishes only once it loads).
pub fn forget(scope: Scope, project: &str, model_id: i64) {
    locked(true, |h| {
        if let Some(slot) = project_slot(h, scope, project) {
            if slot.model_id == model_id {
                slot.used = false;
            }
        }
        if let Some(i) = model_slot(h, scope, model_id) {
            h.models[i].used = false;
        }
    });
}

/// The epoch to read the catalog under, when this backend may use the shared cache now.
pub fn epoch() -> Option<u64> {
    let h = header()?;
    // SAFETY: plain reads of Postgres's state in a backend.
    let standby = unsafe { pg_sys::RecoveryInProgress() };
    if standby || CHANGED.with(|c| c.get()) || !crate::gucs::SHARED_CACHE.get() {
        return None;
    }
    Some(h.epoch.load(Ordering::SeqCst))
}

/// Runs `f` with the lock held in `mode`, released on return and on unwinding.
fn locked<R>(exclusive: bool, f: impl FnOnce(&mut Header) -> R) -> Option<R> {
    struct Release(*mut pg_sys::LWLock);
    impl Drop for Release {
        fn drop(&mut self) {
            // SAFETY: acquired below by this backend.
            unsafe { pg_sys::LWLockRelease(self.0) };
        }
    }
    let header = header_ptr();
    if header.is_null() {
        return None;
    }
    // SAFETY: the lock guards every field but the atomic epoch; `header` is the shared area.
    unsafe {
        let lock = AREA.lock;
        let mode = if exclusive {
            pg_sys::LWLockMode::LW_EXCLUSIVE
        } else {
            pg_sys::LWLockMode::LW_SHARED
        };
        pg_sys::LWLockAcquire(lock, mode);
        let _release = Release(lock);
        Some(f(&mut *header))
    }
}

fn ring(h: &mut Header) -> &mut [u8] {
    // SAFETY: the ring of `capacity` bytes follows the header in the area.
    unsafe {
        std::slice::from_raw_parts_mut(
            (h as *mut Header as *mut u8).add(std::mem::size_of::<Header>()),
            h.capacity,
        )
    }
}

fn project_slot<'a>(h: &'a mut Header, scope: Scope, project: &str) -> Option<&'a mut ProjectSlot> {
    h.projects.iter_mut().find(|s| {
        s.used && s.scope == scope && &s.name[..s.name_len as usize] == project.as_bytes()
    })
}

/// Where the ring holds `model_id` of `scope`, if it does.
fn model_slot(h: &Header, scope: Scope, model_id: i64) -> Option<usize> {
    h.models
        .iter()
        .position(|m| m.used && m.scope == scope && m.model_id == model_id)
}

/// The serialized model deployed for `project` in `scope`, if the entry is current at
/// `epoch` and the model is in the ring.
pub fn lookup(scope: Scope, project: &str, epoch: u64) -> Option<Vec<u8>> {
    locked(false, |h| {
        if prepared_commit_running(h) {
            return None;
        }
        let slot = project_slot(h, scope, project)?;
        if slot.epoch != epoch {
            return None;
        }
        let model_id = slot.model_id;
        let m = &h.models[model_slot(h, scope, model_id)?];
        let (offset, len) = (m.offset, m.len);
        Some(ring(h)[offset..offset + len].to_vec())
    })
    .flatten()
}

/// Publishes what a backend read from the catalog at `epoch` (see the module's comment).
pub fn publish(scope: Scope, project: &str, epoch: u64, model_id: i64, blob: &[u8]) {
    // SAFETY: a plain read of a backend global.
    let read_committed = unsafe { pg_sys::XactIsoLevel } == pg_sys::XACT_READ_COMMITTED as i32;
    if project.len() > PROJECT_NAME || !read_committed {
        return;
    }
    // Hashed outside the exclusive lock: under it, "are these the bytes already held?" is
    // then one comparison, not a pass over up to 64 MB while every other backend waits.
    let hash = blob_hash(blob);
    locked(true, |h| {
        if h.epoch.load(Ordering::SeqCst) != epoch || prepared_commit_running(h) {
            return;
        }
        store_model(h, scope, model_id, blob, hash);
        let slot = match project_slot(h, scope, project) {
            Some(s) => s,
            None => match h.projects.iter_mut().find(|s| !s.used || s.epoch != epoch) {
                Some(s) => s,
                None => return,
            },
        };
        slot.used = true;
        slot.scope = scope;
        slot.name_len = project.len() as u8;
        slot.name[..project.len()].copy_from_slice(project.as_bytes());
        slot.model_id = model_id;
        slot.epoch = epoch;
    });
}

/// Copies `blob` into the ring unless it is there already, evicting the models it
/// overwrites (the ring's oldest) and, when every slot is taken, the one stored next.
fn store_model(h: &mut Header, scope: Scope, model_id: i64, blob: &[u8], hash: u64) {
    let len = blob.len();
    if len == 0 || len > h.capacity {
        return;
    }
    if let Some(i) = model_slot(h, scope, model_id) {
        // The same bytes unless the model's catalog rows were edited by hand (see the
        // module's comment): then the copy just read from the catalog replaces the old one.
        // Compared by length and a 64-bit hash of every byte, taken before the lock.
        let held = &h.models[i];
        if held.len == blob.len() && held.hash == hash {
            return;
        }
        h.models[i].used = false;
    }
    let start = if h.head + len > h.capacity { 0 } else { h.head };
    for m in h.models.iter_mut() {
        if m.used && m.offset < start + len && start < m.offset + m.len {
            m.used = false;
        }
    }
    let slot = match h.models.iter().position(|m| !m.used) {
        Some(i) => i,
        // Every slot holds a model: drop the one stored right after the write position,
        // the oldest by ring order.
        None => (0..MODELS)
            .min_by_key(|i| (h.models[*i].offset + h.capacity - start) % h.capacity.max(1))
            .unwrap_or(0),
    };
    ring(h)[start..start + len].copy_from_slice(blob);
    h.models[slot] = ModelSlot {
        used: true,
        scope,
        model_id,
        offset: start,
        len,
        hash,
    };
    h.head = start + len;
}

/// A hash of every byte of a blob (SipHash with fixed keys: the same in every backend).
fn blob_hash(b: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

/// (projects, models, bytes used, capacity) for pgml.cache_info.
pub fn usage() -> Option<(i64, i64, i64, i64)> {
    locked(false, |h| {
        let projects = h.projects.iter().filter(|s| s.used).count() as i64;
        let used = h.models.iter().filter(|m| m.used);
        let (models, bytes) = used.fold((0, 0), |(n, b), m| (n + 1, b + m.len as i64));
        (projects, models, bytes, h.capacity as i64)
    })
}

/// The catalog's part of a served model, as stored in the ring ahead of the model bytes.
#[derive(Serialize, Deserialize)]
struct Meta {
    model_id: i64,
    algorithm: String,
    task: Task,
    num_features: usize,
    classes: Vec<f32>,
    class_labels: Vec<String>,
    num_targets: usize,
    pipeline: Pipeline,
    deployments_oid: u32,
    acl: crate::catalog::Acl,
}

/// A deployed model as the ring stores it: the length of the metadata (8 bytes), the
/// metadata as JSON, then the model's bytes.
pub fn encode(d: &Deployed) -> Option<Vec<u8>> {
    let meta = serde_json::to_vec(&Meta {
        model_id: d.model_id,
        algorithm: d.algorithm.clone(),
        task: d.task,
        num_features: d.num_features,
        classes: d.classes.clone(),
        class_labels: d.class_labels.clone(),
        num_targets: d.num_targets,
        pipeline: d.pipeline.clone(),
        deployments_oid: u32::from(d.deployments_oid),
        acl: d.acl.clone(),
    })
    .ok()?;
    let mut blob = Vec::with_capacity(8 + meta.len() + d.bytes.len());
    blob.extend_from_slice(&(meta.len() as u64).to_le_bytes());
    blob.extend_from_slice(&meta);
    blob.extend_from_slice(&d.bytes);
    Some(blob)
}

/// The inverse of [`encode`]; None if the blob does not parse (then the catalog is read).
/// The model's bytes stay in `blob` (no second copy).
pub fn decode(mut blob: Vec<u8>) -> Option<Deployed> {
    let len = u64::from_le_bytes(blob.get(..8)?.try_into().ok()?) as usize;
    let header = 8usize.checked_add(len)?;
    let meta: Meta = serde_json::from_slice(blob.get(8..header)?).ok()?;
    meta.pipeline.check_stored().ok()?;
    blob.drain(..header);
    Some(Deployed {
        model_id: meta.model_id,
        algorithm: meta.algorithm,
        task: meta.task,
        num_features: meta.num_features,
        classes: meta.classes,
        class_labels: meta.class_labels,
        num_targets: meta.num_targets,
        pipeline: meta.pipeline,
        bytes: blob,
        deployments_oid: pg_sys::Oid::from(meta.deployments_oid),
        acl: meta.acl,
    })
}
