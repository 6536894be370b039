//! The pool's shared state: queues, idle bookkeeping, the remote gate, the
//! live-task list, metrics, and the shutdown protocol. It is the pool's
//! [`Schedule`] implementation (every task cell holds it).
//!
//! # Where a scheduled task goes
//!
//! `schedule` on a worker thread of this pool goes to that worker's LIFO
//! slot or local queue (`worker.rs`); from anywhere else it goes through the
//! *remote gate* to the global injector, then wakes one idle worker
//! (`idle.rs`). Pinned tasks (`schedule_on`) go through the same gate to one
//! worker's inbox and wake that worker.
//!
//! # The remote gate (spawn/wake racing with shutdown)
//!
//! One word: bit 0 is `CLOSED`, the rest counts pushes in flight. A remote
//! push adds 2; if `CLOSED` was set it backs out and *forgets* its
//! `Runnable`; otherwise it pushes, then subtracts 2. Shutdown sets
//! `CLOSED`, and whoever drains the injector and inboxes first waits until
//! the count is zero. So every `Runnable` pushed remotely is either in a
//! queue when it is drained, or forgotten by its pusher — never pushed
//! after the drain (where it would be stale once its task is cancelled).
//!
//! # The live list and shutdown
//!
//! Every task spawned on the pool is linked, from `bind` until `release`
//! (its completion), on the task layer's live-task list, sharded by cell
//! address (`task::ShardedTasks`, each shard under its own mutex). A `bind`
//! after the list closed does not link the task and cancels it on the spot
//! (its `JoinHandle` sees `Cancelled`), so a spawn racing with shutdown is
//! run or cancelled, never leaked; the list's module docs argue that its
//! cancelling pass cancels every task exactly once.
//!
//! Shutdown, in order:
//! 1. close the remote gate, close every shard, set `closed` (workers check
//!    it between tasks; local `schedule`s after it forget their `Runnable`),
//!    and wake every worker;
//! 2. each worker, after its current poll, forgets its LIFO slot and local
//!    queue, waits for the gate to drain, forgets its inbox, cancels the
//!    live tasks *pinned* to it (on its own thread), and exits;
//! 3. the last of {the workers, the thread that started the shutdown} to
//!    finish (a countdown from `workers + 1`) forgets the injector and
//!    inboxes and cancels every remaining live task (`cancel_now`: none is
//!    running any more). Their futures are dropped, their handles resolve
//!    to `Cancelled`, cells without a handle are freed, and with the last
//!    frame of a `run_async` tree its allocator root is dropped.
//!
//! Forgetting a `Runnable` leaves its task `SCHEDULED` with no runnable;
//! `cancel_now` accepts that (it clears the bit), exactly as for
//! `LocalExecutor`.

use super::idle::{Idle, Parker};
use super::queue::{Injector, Local, Stealer};
use super::worker;
use crate::context::PooledStack;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::task::{Header, Runnable, Schedule, ShardedTasks};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

/// Aligns to a cache-line pair (as crossbeam's `CachePadded` on x86_64), so
/// per-worker counters and hot words do not share lines.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Per-worker statistics, written only by their worker (relaxed: they are
/// statistics, not synchronisation, so they use `std` atomics even under
/// loom).
#[derive(Default)]
pub(crate) struct WorkerStats {
    pub(crate) polls: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) spawned: AtomicU64,
}

/// Increments a counter that only the calling thread writes (a load and a
/// store: no read-modify-write on the hot path).
#[inline(always)]
pub(crate) fn bump(c: &AtomicU64) {
    use std::sync::atomic::Ordering::Relaxed;
    c.store(c.load(Relaxed) + 1, Relaxed);
}

const GATE_CLOSED: usize = 1;
const GATE_ONE: usize = 2;

/// State shared by the pool handle, its workers and every task cell.
pub(crate) struct PoolState {
    /// Set when shutdown begins; workers check it between tasks.
    pub(crate) closed: Padded<AtomicBool>,
    /// The remote gate (module docs).
    gate: Padded<AtomicUsize>,
    pub(crate) injector: Injector,
    pub(crate) inboxes: Box<[Padded<Injector>]>,
    pub(crate) stealers: Box<[Stealer]>,
    pub(crate) parkers: Box<[Padded<Parker>]>,
    pub(crate) idle: Idle,
    /// Tasks bound and not completed (shutdown cancels them).
    live: ShardedTasks,
    /// Countdown to the final cleanup: workers + the shutdown's starter.
    remaining: AtomicUsize,
    shutdown_started: AtomicBool,
    /// Whether any task was ever pinned (skips the pinned pass otherwise).
    pinned_used: AtomicBool,
    /// Live pinned tasks per worker (`pinning.rs` places a new one on the
    /// least loaded).
    pinned_load: Box<[Padded<AtomicUsize>]>,
    pub(crate) stats: Box<[Padded<WorkerStats>]>,
    pub(crate) remote_spawned: Padded<AtomicU64>,
    pub(crate) injector_pushes: Padded<AtomicU64>,
    /// The stack allocator of stackful tasks spawned on this pool.
    stacks: PooledStack,
    /// The pool's event loop (none if it could not be made, nor under loom
    /// unless a model passes one to `with_event_loop`): one idle worker at a time sleeps in it; busy workers check
    /// it without blocking every `GLOBAL_INTERVAL` ticks (`worker.rs`).
    pub(crate) event_loop: Option<crate::loom::lock::Mutex<crate::reactor::Driver>>,
    pub(crate) reactor: Option<crate::reactor::Handle>,
    /// The threads of `spawn_blocking` (none started until used).
    pub(crate) blocking: crate::executor::blocking::BlockingPool,
    /// `UnhandledPanic::ShutDown`: a task's panic shuts the pool down.
    pub(crate) shutdown_on_panic: bool,
}

impl PoolState {
    /// The shared state for `workers` workers, and their local queues.
    pub(crate) fn new(
        workers: usize,
        stacks: PooledStack,
        blocking: crate::executor::blocking::BlockingPool,
    ) -> (Self, Vec<Local>) {
        #[cfg(not(loom))]
        let driver = match crate::reactor::Driver::new() {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("coframe: ThreadPool: cannot make its event loop: {e}");
                None
            }
        };
        #[cfg(loom)]
        let driver: Option<crate::reactor::Driver> = None;
        Self::with_event_loop(workers, stacks, blocking, driver)
    }

    /// [`PoolState::new`] with `driver` as the pool's event loop (`None`:
    /// workers park on their condition variables only). The loom models
    /// that check the driver's hand-off pass one in.
    pub(crate) fn with_event_loop(
        workers: usize,
        stacks: PooledStack,
        blocking: crate::executor::blocking::BlockingPool,
        driver: Option<crate::reactor::Driver>,
    ) -> (Self, Vec<Local>) {
        let (locals, stealers): (Vec<_>, Vec<_>) = (0..workers).map(|_| Local::new()).unzip();
        let reactor = driver.as_ref().map(|d| d.handle().clone());
        let shared = PoolState {
            closed: Padded(AtomicBool::new(false)),
            gate: Padded(AtomicUsize::new(0)),
            injector: Injector::new(),
            inboxes: (0..workers).map(|_| Padded(Injector::new())).collect(),
            stealers: stealers.into_boxed_slice(),
            parkers: (0..workers)
                .map(|_| Padded(Parker::new(reactor.clone())))
                .collect(),
            idle: Idle::new(workers),
            live: ShardedTasks::new((workers * 4).clamp(4, 1024)),
            remaining: AtomicUsize::new(workers + 1),
            shutdown_started: AtomicBool::new(false),
            pinned_used: AtomicBool::new(false),
            pinned_load: (0..workers).map(|_| Padded::default()).collect(),
            stats: (0..workers).map(|_| Padded::default()).collect(),
            remote_spawned: Padded::default(),
            injector_pushes: Padded::default(),
            stacks,
            event_loop: driver.map(crate::loom::lock::Mutex::new),
            reactor,
            blocking,
            shutdown_on_panic: false,
        };
        (shared, locals)
    }

    /// The stack allocator of stackful tasks on this pool (reached through
    /// `current_worker()` by `spawn_stackful` inside a pool task).
    pub(crate) fn stacks(&self) -> &PooledStack {
        &self.stacks
    }

    pub(crate) fn workers(&self) -> usize {
        self.parkers.len()
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Enters the remote gate; `false` if the pool is shut down.
    #[inline]
    fn gate_enter(&self) -> bool {
        let prev = self.gate.fetch_add(GATE_ONE, Ordering::SeqCst);
        if prev & GATE_CLOSED != 0 {
            self.gate.fetch_sub(GATE_ONE, Ordering::SeqCst);
            return false;
        }
        true
    }

    #[inline]
    fn gate_exit(&self) {
        self.gate.fetch_sub(GATE_ONE, Ordering::SeqCst);
    }

    /// Waits until no remote push is in flight (the gate is closed, so none
    /// can start).
    pub(crate) fn gate_wait_drained(&self) {
        while self.gate.load(Ordering::SeqCst) != GATE_CLOSED {
            crate::loom::thread::yield_now();
        }
    }

    /// Wakes one sleeping worker if nobody is searching.
    #[inline]
    pub(crate) fn notify_parked(&self) {
        if let Some(w) = self.idle.worker_to_notify() {
            self.parkers[w].unpark();
        }
    }

    /// Queues `r` on the injector from a thread that is not one of this
    /// pool's running workers.
    pub(crate) fn schedule_remote(&self, r: Runnable) {
        if !self.gate_enter() {
            r.into_raw();
            return;
        }
        self.injector.push(r);
        self.gate_exit();
        self.injector_pushes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.notify_parked();
    }

    /// The worker a new pinned task goes to: the one with the fewest live
    /// pinned tasks, the calling worker on a tie (its caches are warm);
    /// counted until [`unplace_pinned`](Self::unplace_pinned). The counts
    /// are read without a lock: concurrent placements may both pick the
    /// same worker, never one out of range.
    pub(crate) fn place_pinned(&self, here: Option<usize>) -> usize {
        let load = |w: usize| self.pinned_load[w].load(Ordering::Relaxed);
        let mut best = here.unwrap_or(0);
        for w in 0..self.workers() {
            if load(w) < load(best) {
                best = w;
            }
        }
        self.count_pinned(best);
        best
    }

    /// A pinned task is now on `worker` (counted until
    /// [`unplace_pinned`](Self::unplace_pinned)).
    pub(crate) fn count_pinned(&self, worker: usize) {
        self.pinned_load[worker].fetch_add(1, Ordering::Relaxed);
    }

    /// A pinned task placed on `worker` is gone.
    pub(crate) fn unplace_pinned(&self, worker: usize) {
        self.pinned_load[worker].fetch_sub(1, Ordering::Relaxed);
    }

    /// Registers a newly spawned task and queues its first runnable: on
    /// `pinned`'s inbox if it is placed on a worker, else where a spawn
    /// from this thread goes (`Schedule::bind`).
    pub(crate) fn bind_on(&self, pinned: Option<usize>, runnable: Runnable) {
        let core = worker::current_for(self);
        match core {
            Some(c) => bump(&self.stats[c.index].spawned),
            None => {
                self.remote_spawned
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        // SAFETY: pool futures are `Send` (a pinned one has not run yet),
        // so a task bound after shutdown may be cancelled on this thread;
        // completion releases it (`release`).
        let Some(runnable) = (unsafe { self.live.bind(runnable) }) else {
            return; // shut down: cancelled on the spot
        };
        match (pinned, core) {
            (Some(w), _) => self.schedule_on(w, runnable),
            (None, Some(c)) => c.schedule_local(runnable),
            (None, None) => self.schedule_remote(runnable),
        }
    }

    /// Queues `r` on worker `worker`'s pinned inbox (never stolen), from
    /// any thread, and wakes that worker if it sleeps. For tasks that must
    /// stay on one worker (stackful tasks, rule 7).
    ///
    /// # Panics
    /// If `worker` is not a worker index of this pool.
    pub(crate) fn schedule_on(&self, worker: usize, r: Runnable) {
        assert!(
            worker < self.workers(),
            "coframe: schedule_on: worker {worker} out of range"
        );
        if !self.pinned_used.load(Ordering::Relaxed) {
            self.pinned_used.store(true, Ordering::SeqCst);
        }
        if !self.gate_enter() {
            r.into_raw();
            return;
        }
        self.inboxes[worker].push(r);
        self.gate_exit();
        if self.idle.unpark_worker(worker) {
            self.parkers[worker].unpark();
        }
    }

    /// Whether any queue a sleeping worker could serve holds work (the last
    /// searcher's re-check before it sleeps).
    pub(crate) fn has_stealable_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// Starts the shutdown (step 1). Returns `false` if it had already
    /// started.
    pub(crate) fn begin_shutdown(&self) -> bool {
        if self.shutdown_started.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.gate.fetch_or(GATE_CLOSED, Ordering::SeqCst);
        self.live.close();
        self.closed.store(true, Ordering::SeqCst);
        for p in self.parkers.iter() {
            p.unpark();
        }
        true
    }

    /// Cancels the live tasks pinned to `worker` (step 2; on that worker's
    /// thread, after it forgot its queues and inbox).
    pub(crate) fn cancel_pinned(&self, worker: usize) {
        if !self.pinned_used.load(Ordering::SeqCst) {
            return;
        }
        // SAFETY: pinned tasks run only on their worker, which is this
        // thread and is no longer running tasks; their runnables were
        // forgotten (inbox) or are forgotten on push (gate closed).
        unsafe {
            self.live
                .cancel_where(|hd| hd.scheduler().pinned_worker() == Some(worker))
        }
    }

    /// One of the `workers + 1` participants is done; the last runs the
    /// final cleanup (step 3).
    pub(crate) fn finish_participant(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        self.gate_wait_drained();
        self.injector.forget_all();
        for inbox in self.inboxes.iter() {
            inbox.forget_all();
        }
        // SAFETY: every worker has exited (they are participants), so no
        // task is running or will run; all queues were forgotten and the
        // closed gate and `closed` flag make later schedules forget.
        unsafe { self.live.cancel_where(|_| true) }
    }
}

// SAFETY: lives in an `Arc`; pool tasks are `Send` (pinned ones stay on
// their worker, which also cancels them); runnables are forgotten after
// shutdown (closed gate, `closed`); `bind` links every task on the live
// list or cancels it, completion unlinks it.
unsafe impl Schedule for PoolState {
    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        Some(self)
    }

    /// `UnhandledPanic::ShutDown`: as `ThreadPool::shutdown` from inside a
    /// task (this runs on the worker that ran the panicking task): start
    /// the shutdown and take part as its starter, without joining.
    fn task_panicked(&self) {
        if self.shutdown_on_panic {
            self.blocking.shutdown();
            if self.begin_shutdown() {
                self.finish_participant();
            }
        }
    }

    fn stacks(&self) -> Option<crate::context::PooledStack> {
        Some(self.stacks.clone())
    }

    #[inline]
    fn schedule(&self, runnable: Runnable) {
        match worker::current_for(self) {
            Some(core) => core.schedule_local(runnable),
            None => self.schedule_remote(runnable),
        }
    }

    #[inline]
    fn bind(&self, runnable: Runnable) {
        self.bind_on(None, runnable)
    }

    #[inline]
    fn release(&self, task: NonNull<Header>) {
        // SAFETY: a task of this pool (bound by `bind_on`), completing.
        unsafe { self.live.release(task) }
    }

    fn is_local(&self) -> bool {
        false
    }

    fn pinning(self: std::sync::Arc<Self>) -> crate::executor::pinning::Pinning {
        crate::executor::pinning::Pinning::Worker(self)
    }
}
