//! Threads started by pgml or its libraries never take the server's signals.
//!
//! Postgres's handlers (SIGINT for cancel, SIGALRM for statement_timeout, SIGUSR1, SIGTERM)
//! set flags and latches that only the backend's main thread may touch, and the kernel
//! delivers a process-directed signal to any thread that has it unblocked. A new thread
//! inherits its creator's signal mask, so every call that may start threads (OpenMP pools in
//! XGBoost and LightGBM, the tree evaluator's scoped threads) runs inside [`Blocked`]: the
//! threads are born with every asynchronous signal blocked and keep it so; the main thread
//! unblocks when the call returns, and a signal that arrived meanwhile is delivered to it
//! then (pending, not lost), before the next interrupt check.

/// Every signal blocked on this thread until dropped, except the synchronous faults (a
/// blocked SIGSEGV on a fault kills the process instead of reaching a handler).
pub struct Blocked {
    old: libc::sigset_t,
}

impl Blocked {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Blocked {
        // SAFETY: plain libc calls on sigset_t values owned here; pthread_sigmask changes
        // only the calling thread's mask.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            for sig in [
                libc::SIGSEGV,
                libc::SIGBUS,
                libc::SIGFPE,
                libc::SIGILL,
                libc::SIGABRT,
            ] {
                libc::sigdelset(&mut all, sig);
            }
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
            Blocked { old }
        }
    }
}

impl Blocked {
    /// Opens this thread to signals for a moment and blocks them again: those that arrived
    /// meanwhile run their handlers now, on this thread, and set the server's flags. For a
    /// library's callback on the calling thread in the middle of a long call, where nothing
    /// else runs in parallel (XGBoost asking for the next batch); threads the library started
    /// keep their own, blocked, masks.
    pub fn breathe(&self) {
        // SAFETY: as in new() and drop(); only this thread's mask changes.
        unsafe {
            let mut blocked: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, &mut blocked);
            libc::pthread_sigmask(libc::SIG_SETMASK, &blocked, std::ptr::null_mut());
        }
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by new(); guards live in one function's scope, on
        // the thread that made them.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

/// `f` with every asynchronous signal blocked on this thread (and on the threads it starts).
pub fn blocked<R>(f: impl FnOnce() -> R) -> R {
    let _blocked = Blocked::new();
    f()
}

/// Whether `sig` is blocked on the calling thread.
pub fn is_blocked(sig: i32) -> bool {
    // SAFETY: reads this thread's mask.
    unsafe {
        let mut now: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut now);
        libc::sigismember(&now, sig) == 1
    }
}

/// Creates rayon's global pool (what ndarray's and linfa's parallel loops use) once per
/// process, with `threads` workers born with every signal blocked. Called before a pure-Rust
/// fit, which then runs with the main thread's signals unblocked (crate::interrupt): the
/// pool's threads must already exist by then, or rayon would start them lazily from the
/// main thread's mask. Its size is the first training's thread count in this backend, which
/// `pgml.max_train_threads` caps; left to itself rayon would take every core.
pub fn rayon_pool(threads: usize) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        blocked(|| {
            // An error means a pool exists already (made by a library before us, under the
            // blocked predict paths): nothing to do.
            let _ = rayon::ThreadPoolBuilder::new()
                .num_threads(threads.max(1))
                .thread_name(|i| format!("pgml-rayon-{i}"))
                .build_global();
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_started_inside_are_born_blocked_and_the_caller_is_restored() {
        assert!(!is_blocked(libc::SIGINT));
        let inside = blocked(|| {
            std::thread::scope(|s| {
                s.spawn(|| {
                    (
                        is_blocked(libc::SIGINT),
                        is_blocked(libc::SIGALRM),
                        is_blocked(libc::SIGSEGV),
                    )
                })
                .join()
                .unwrap()
            })
        });
        assert_eq!(inside, (true, true, false));
        assert!(!is_blocked(libc::SIGINT));
    }
}
