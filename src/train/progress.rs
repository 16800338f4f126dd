//! Postgres shared memory, when pgml is in `shared_preload_libraries`: the live state of
//! every running training, read by the view `pgml.training_progress` (like
//! `pg_stat_progress_*`).
//!
//! Progress is not transactional (a training's rows and rounds are facts of the moment, not
//! of a commit), so slots are written as training goes. A slot belongs to one backend: it is
//! freed when its training returns or unwinds with an error, and at backend exit. After a
//! crash the postmaster reinitializes shared memory, so no slot outlives its backend.

use pgrx::lwlock::PgLwLock;
use pgrx::shmem::PGRXSharedMemory;
// pg_shmem_init! expands to code naming pg_guard and pg_sys.
use crate::pg::preload;
use pgrx::{pg_guard, pg_sys};
use std::cell::Cell;
use std::time::Instant;

/// Trainings shown at once; more run unseen (a training never waits for a slot).
const SLOTS: usize = 64;
const NAME: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Reading = 1,
    Training = 2,
}

impl Phase {
    fn as_str(code: u8) -> &'static str {
        match code {
            1 => "reading rows",
            2 => "training",
            _ => "starting",
        }
    }
}

#[derive(Clone, Copy)]
#[repr(C)]
struct Slot {
    /// 0 when free.
    pid: i32,
    /// Whose training it is, and where: `pgml.training_progress` shows a role the slots of
    /// its own database, and other roles' only with pg_read_all_stats (as
    /// pg_stat_progress_* shows details).
    database: pg_sys::Oid,
    role: pg_sys::Oid,
    phase: u8,
    project: [u8; NAME],
    algorithm: [u8; NAME],
    rows_read: i64,
    rows_total: i64,
    iteration: i64,
    iterations: i64,
    started_at: pg_sys::TimestampTz,
}

#[derive(Clone, Copy)]
pub struct Progress {
    slots: [Slot; SLOTS],
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            slots: [Slot {
                pid: 0,
                database: pg_sys::InvalidOid,
                role: pg_sys::InvalidOid,
                phase: 0,
                project: [0; NAME],
                algorithm: [0; NAME],
                rows_read: 0,
                rows_total: 0,
                iteration: 0,
                iterations: 0,
                started_at: 0,
            }; SLOTS],
        }
    }
}

// SAFETY: plain data with no pointers, the same in every process.
unsafe impl PGRXSharedMemory for Progress {}

static PROGRESS: PgLwLock<Progress> = unsafe { PgLwLock::new(c"pgml_training_progress") };

thread_local! {
    /// This backend's slot while it trains.
    static MINE: Cell<Option<usize>> = const { Cell::new(None) };
    static EXIT_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// From `_PG_init`: shared memory can only be requested while preloading.
// pgrx's macro tests a `pg18` feature this crate does not declare.
#[allow(unexpected_cfgs)]
pub fn init() {
    if preload::loading() {
        pgrx::pg_shmem_init!(PROGRESS);
    }
}

fn copy_name(to: &mut [u8; NAME], from: &str) {
    // Cut at a character boundary so the stored bytes stay UTF-8.
    let mut end = from.len().min(NAME - 1);
    while !from.is_char_boundary(end) {
        end -= 1;
    }
    *to = [0; NAME];
    to[..end].copy_from_slice(&from.as_bytes()[..end]);
}

fn name_of(bytes: &[u8; NAME]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(NAME);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[pg_guard]
unsafe extern "C-unwind" fn release_at_exit(_code: i32, _arg: pg_sys::Datum) {
    release();
}

fn release() {
    if let Some(i) = MINE.with(|m| m.take()) {
        let mut p = PROGRESS.exclusive();
        p.slots[i].pid = 0;
    }
}

/// The live state of one training; the slot is freed when this is dropped (also when an
/// error unwinds the training).
pub struct Live(());

impl Drop for Live {
    fn drop(&mut self) {
        if preload::preloaded() {
            release();
        }
    }
}

/// Claims a slot for a training that starts now.
pub fn begin(project: &str, algorithm: &str) -> Live {
    if !preload::preloaded() {
        preload::notice_once();
        return Live(());
    }
    release(); // a nested or leftover claim of this backend
    if !EXIT_HOOK.with(|h| h.replace(true)) {
        // SAFETY: registers a plain callback for this backend's exit.
        unsafe { pg_sys::before_shmem_exit(Some(release_at_exit), pg_sys::Datum::from(0)) };
    }
    // SAFETY: plain reads of backend globals.
    let (pid, now, database, role) = unsafe {
        (
            pg_sys::MyProcPid,
            pg_sys::GetCurrentTimestamp(),
            pg_sys::MyDatabaseId,
            pg_sys::GetUserId(),
        )
    };
    let mut p = PROGRESS.exclusive();
    if let Some(i) = p.slots.iter().position(|s| s.pid == 0) {
        let s = &mut p.slots[i];
        s.pid = pid;
        s.database = database;
        s.role = role;
        s.phase = 0;
        copy_name(&mut s.project, project);
        copy_name(&mut s.algorithm, algorithm);
        s.rows_read = 0;
        s.rows_total = 0;
        s.iteration = 0;
        s.iterations = 0;
        s.started_at = now;
        MINE.with(|m| m.set(Some(i)));
    }
    Live(())
}

fn update(f: impl FnOnce(&mut Slot)) {
    if !preload::preloaded() {
        return;
    }
    if let Some(i) = MINE.with(|m| m.get()) {
        let mut p = PROGRESS.exclusive();
        f(&mut p.slots[i]);
    }
}

pub fn rows(read: usize, total: usize) {
    update(|s| {
        s.phase = Phase::Reading as u8;
        s.rows_read = read as i64;
        s.rows_total = total as i64;
    });
}

pub fn iteration(done: usize, total: usize) {
    update(|s| {
        s.phase = Phase::Training as u8;
        s.iteration = done as i64;
        s.iterations = total as i64;
    });
}

/// One row of `pgml.training_progress`.
pub struct Row {
    pub pid: i32,
    pub project: String,
    pub algorithm: String,
    pub phase: &'static str,
    pub rows_read: i64,
    pub rows_total: i64,
    pub iteration: i64,
    pub iterations: i64,
    pub started_at: pg_sys::TimestampTz,
}

/// The running trainings this role may see (none without shared memory): those of this
/// database that it runs, or all of this database's with the privileges of
/// pg_read_all_stats (superusers have them).
pub fn snapshot() -> Vec<Row> {
    if !preload::preloaded() {
        preload::notice_once();
        return vec![];
    }
    // SAFETY: backend globals and a role-membership lookup in the syscache.
    let (database, me, all_roles) = unsafe {
        let me = pg_sys::GetUserId();
        let stats = pg_sys::Oid::from(pg_sys::ROLE_PG_READ_ALL_STATS);
        (
            pg_sys::MyDatabaseId,
            me,
            pg_sys::has_privs_of_role(me, stats),
        )
    };
    let p = PROGRESS.share();
    p.slots
        .iter()
        .filter(|s| s.pid != 0 && s.database == database && (all_roles || s.role == me))
        .map(|s| Row {
            pid: s.pid,
            project: name_of(&s.project),
            algorithm: name_of(&s.algorithm),
            phase: Phase::as_str(s.phase),
            rows_read: s.rows_read,
            rows_total: s.rows_total,
            iteration: s.iteration,
            iterations: s.iterations,
            started_at: s.started_at,
        })
        .collect()
}

/// The hook backends call between iterations during `pgml.train`.
pub struct TrainProgress(pub Reporter);

impl pgml_core::bindings::ProgressHook for TrainProgress {
    fn step_with(
        &mut self,
        done: usize,
        total: usize,
        metric: &dyn Fn() -> Option<String>,
    ) -> pgml_core::bindings::Result<()> {
        // Raises query cancel / statement_timeout as an ERROR between iterations, never
        // inside the library.
        pg_sys::check_for_interrupts!();
        self.0.iteration(done, total, metric);
        Ok(())
    }
}

/// INFO messages about a long training, at most one every [`Reporter::EVERY`].
pub struct Reporter {
    algorithm: &'static str,
    last: Instant,
}

impl Reporter {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(5);

    pub fn new(algorithm: &'static str) -> Self {
        Reporter {
            algorithm,
            last: Instant::now(),
        }
    }

    fn due(&mut self) -> bool {
        if !crate::gucs::TRAINING_PROGRESS.get() || self.last.elapsed() < Self::EVERY {
            return false;
        }
        self.last = Instant::now();
        true
    }

    pub fn rows(&mut self, read: usize, total: usize, relation: &str) {
        rows(read, total);
        if self.due() {
            pgrx::info!("pgml: read {read} of {total} rows from {relation}");
        }
    }

    pub fn iteration(&mut self, done: usize, total: usize, metric: &dyn Fn() -> Option<String>) {
        iteration(done, total);
        if done < total && self.due() {
            match metric() {
                Some(m) => pgrx::info!("pgml: {} iteration {done} of {total}, {m}", self.algorithm),
                None => pgrx::info!("pgml: {} iteration {done} of {total}", self.algorithm),
            }
        }
    }
}
