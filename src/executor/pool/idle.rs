//! Idle workers: who is searching for work, who sleeps, and who to wake.
//!
//! The protocol is tokio's (`multi_thread/idle.rs`), written out:
//!
//! - One atomic word packs the number of *searching* workers (low 16 bits)
//!   and the number of *unparked* workers (the rest). Sleepers' indices sit
//!   in a `Vec` under a mutex; the word is only decremented for a sleeper
//!   and incremented for a wake-up while that mutex is held, so
//!   `unparked < workers` exactly when the list is non-empty.
//! - **Searching cap**: a worker out of local work may start stealing only if
//!   `2 * searching < workers` ([`Idle::try_start_searching`]). No
//!   thundering herd: at most half the workers spin on the queues.
//! - **Notify**: whoever makes work available (a push to the injector, or a
//!   worker pushing to its local queue past the LIFO slot) calls
//!   [`Idle::worker_to_notify`]: it wakes ONE sleeper, and only if nobody is
//!   searching (a searcher will find the work) and somebody sleeps. The woken
//!   worker is counted as searching on its behalf.
//! - **The last searcher that finds work wakes another**
//!   ([`Idle::stop_searching`] returns `true`): there may be more work
//!   behind the task it found, and pushers skipped the notify while it
//!   searched.
//! - **No lost wake-up**: a worker going to sleep first registers as a
//!   sleeper (one `SeqCst` read-modify-write), then, if it was the last
//!   searcher, re-checks every queue. A pusher publishes its task, then reads
//!   the word with a `SeqCst` read-modify-write (`fetch_add(0)`, a full
//!   barrier, as in tokio). Either the pusher sees the sleeper (and wakes
//!   one), or the sleeper's re-check sees the task. A non-searching worker
//!   may sleep without a re-check because somebody else was searching when
//!   it decided, and that searcher re-checks when it sleeps.
//! - [`Parker`] is the per-worker sleep itself: a three-state word plus a
//!   mutex and condition variable, so an `unpark` that comes before the
//!   `park` is kept (a token), and a spurious wake is told apart by asking
//!   [`Idle::is_parked`].
//!
//! All of it goes through `crate::loom` (the event loop's mutex through
//! `crate::loom::lock`, its waker through the driver's loom stand-in), and
//! `loom_tests.rs` model-checks it: park/unpark with a racing push, and the
//! event loop's owner asleep in it (`PARKED_IN_LOOP`) woken by a remote
//! spawn or by another worker.

use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::{Condvar, Mutex};

const SEARCH_MASK: usize = (1 << 16) - 1;
const UNPARK: usize = 1 << 16;

#[inline]
fn searching(state: usize) -> usize {
    state & SEARCH_MASK
}

#[inline]
fn unparked(state: usize) -> usize {
    state >> 16
}

/// The pool's idle bookkeeping (see the module docs).
pub(crate) struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    workers: usize,
}

impl Idle {
    pub(crate) fn new(workers: usize) -> Self {
        assert!(workers < SEARCH_MASK, "coframe: too many pool workers");
        Idle {
            state: AtomicUsize::new(workers * UNPARK),
            sleepers: Mutex::new(Vec::with_capacity(workers)),
            workers,
        }
    }

    #[inline]
    fn lock(&self) -> crate::loom::sync::MutexGuard<'_, Vec<usize>> {
        self.sleepers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a pusher should wake somebody: nobody searching and somebody
    /// asleep. A full barrier (`fetch_add(0)`): it orders the caller's push
    /// before this read (see the module docs).
    #[inline]
    fn should_notify(&self) -> bool {
        let s = self.state.fetch_add(0, SeqCst);
        searching(s) == 0 && unparked(s) < self.workers
    }

    /// The sleeper to wake after new work was published, if any; it is
    /// removed from the sleepers and counted as unparked and searching.
    #[inline]
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_notify() {
            return None;
        }
        self.notify_slow()
    }

    #[cold]
    fn notify_slow(&self) -> Option<usize> {
        let mut sleepers = self.lock();
        if !self.should_notify() {
            return None;
        }
        let w = sleepers.pop()?;
        self.state.fetch_add(1 | UNPARK, SeqCst);
        Some(w)
    }

    /// Wakes `worker` specifically if it sleeps (work was pushed to its
    /// pinned inbox). Returns whether it was asleep.
    pub(crate) fn unpark_worker(&self, worker: usize) -> bool {
        let mut sleepers = self.lock();
        match sleepers.iter().position(|&w| w == worker) {
            Some(i) => {
                sleepers.swap_remove(i);
                self.state.fetch_add(1 | UNPARK, SeqCst);
                true
            }
            None => false,
        }
    }

    /// `worker` itself stops sleeping because the event loop it turned woke
    /// tasks into its own queue: counted as awake, not as searching (it has
    /// work; it does not wake another searcher when it starts on it).
    /// Returns whether it was still registered as a sleeper.
    pub(crate) fn unpark_self(&self, worker: usize) -> bool {
        let mut sleepers = self.lock();
        match sleepers.iter().position(|&w| w == worker) {
            Some(i) => {
                sleepers.swap_remove(i);
                self.state.fetch_add(UNPARK, SeqCst);
                true
            }
            None => false,
        }
    }

    /// A worker out of local work asks to search (steal). Refused when half
    /// the workers already search.
    #[inline]
    pub(crate) fn try_start_searching(&self) -> bool {
        let s = self.state.load(SeqCst);
        if 2 * searching(s) >= self.workers {
            return false;
        }
        self.state.fetch_add(1, SeqCst);
        true
    }

    /// A searching worker found work. Returns `true` if it was the last
    /// searcher: the caller must then wake another worker.
    #[inline]
    pub(crate) fn stop_searching(&self) -> bool {
        let prev = self.state.fetch_sub(1, SeqCst);
        debug_assert!(searching(prev) > 0);
        searching(prev) == 1
    }

    /// Registers `worker` as a sleeper. Returns `true` if it was the last
    /// searcher: the caller must then re-check every queue before sleeping.
    pub(crate) fn park(&self, worker: usize, is_searching: bool) -> bool {
        let mut sleepers = self.lock();
        let dec = UNPARK + usize::from(is_searching);
        let prev = self.state.fetch_sub(dec, SeqCst);
        sleepers.push(worker);
        is_searching && searching(prev) == 1
    }

    /// Whether `worker` is still registered as a sleeper (`false` once a
    /// notifier picked it).
    pub(crate) fn is_parked(&self, worker: usize) -> bool {
        self.lock().contains(&worker)
    }
}

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;
/// Asleep in the pool's event loop (which it owns for that time).
const PARKED_IN_LOOP: usize = 3;

/// One worker's sleep: an `unpark` before the `park` is not lost.
///
/// The one idle worker that gets the pool's event loop (`try_lock`) sleeps
/// in it, not on the condition variable (rule 10: no reactor thread); an
/// `unpark` then interrupts the loop through its `eventfd`. A sleep in the
/// loop also ends when an I/O event or a timer woke a task, so the worker
/// looks at its own queues before it sleeps again (`worker.rs`).
pub(crate) struct Parker {
    state: AtomicUsize,
    lock: Mutex<()>,
    cvar: Condvar,
    /// The pool's event loop, to interrupt a worker asleep in it.
    reactor: Option<crate::reactor::Handle>,
}

impl Parker {
    pub(crate) fn new(reactor: Option<crate::reactor::Handle>) -> Self {
        Parker {
            state: AtomicUsize::new(EMPTY),
            lock: Mutex::new(()),
            cvar: Condvar::new(),
            reactor,
        }
    }

    /// Blocks until [`unpark`](Self::unpark) is (or was already) called;
    /// in the pool's event loop if this worker can take it, where the
    /// sleep also ends after an I/O event or a timer.
    pub(crate) fn park(
        &self,
        event_loop: Option<&crate::loom::lock::Mutex<crate::reactor::Driver>>,
    ) {
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return;
        }
        if let Some(mut driver) = event_loop.and_then(|l| l.try_lock()) {
            match self
                .state
                .compare_exchange(EMPTY, PARKED_IN_LOOP, SeqCst, SeqCst)
            {
                Ok(_) => {}
                Err(_) => {
                    self.state.swap(EMPTY, SeqCst);
                    return;
                }
            }
            driver.turn(None);
            // Notified or not (an event ended the sleep): awake now.
            self.state.swap(EMPTY, SeqCst);
            return;
        }
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        match self.state.compare_exchange(EMPTY, PARKED, SeqCst, SeqCst) {
            Ok(_) => {}
            Err(NOTIFIED) => {
                // A swap, not a store: it reads the latest unpark (and
                // acquires what that unparker wrote, e.g. the shutdown
                // flag). A plain store can read-from an older unpark and
                // miss a later one's writes; loom found that lost wake-up.
                let old = self.state.swap(EMPTY, SeqCst);
                debug_assert_eq!(old, NOTIFIED);
                return;
            }
            Err(s) => unreachable!("coframe: parker in state {s}"),
        }
        loop {
            guard = self.cvar.wait(guard).unwrap_or_else(|e| e.into_inner());
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Wakes the parked thread, or makes its next `park` return at once.
    pub(crate) fn unpark(&self) {
        match self.state.swap(NOTIFIED, SeqCst) {
            PARKED => {
                // Taking the lock orders this notify after the parker's wait
                // began.
                drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()));
                self.cvar.notify_one();
            }
            PARKED_IN_LOOP => {
                if let Some(r) = &self.reactor {
                    r.unpark();
                }
            }
            _ => {}
        }
    }
}
