//! Pinning: how each executor keeps a stackful task on one thread, in one
//! place.
//!
//! Stackful tasks never migrate between threads (rule 7). What that takes
//! depends on the scheduler a task is spawned on, and every scheduler says
//! which of three kinds it is through [`Schedule::pinning`] (a required
//! method: a new executor does not compile until it says how it pins):
//!
//! | [`Pinning`] | schedulers | a stackful task spawned on it |
//! |---|---|---|
//! | `Thread` | `LocalExecutor`, a strand over one | runs on that thread; nothing to pin |
//! | `Worker` | `ThreadPool` | gets its own [`Pinned`] scheduler, [placed](Pinned::placed) on a worker |
//! | `Drain` | a strand over a pool, and a strand over such a strand | stays on the strand; the [lazy](Pinned::lazy) `Pinned` of the innermost strand's drain is pinned by the task's first run |
//!
//! [`spawn_stackful_on`] is the one function that acts on it; every way of
//! spawning a stackful task (`coframe::spawn_stackful`, `Strand::`,
//! `ThreadPool::` and `PoolHandle::spawn_stackful`) ends there. So every
//! combination of executors can run stackful tasks: a strand over a strand
//! over a pool runs inside its inner strand's drain, which runs inside the
//! innermost drain, so pinning that one drain pins them all.
//!
//! # `Pinned`
//!
//! On a [`ThreadPool`](super::ThreadPool) a stackful task gets a `Pinned`
//! scheduler instead of the pool's own. A stackful task's is
//! [placed](Pinned::placed) when it is made, before its first poll: on the
//! worker with the fewest live pinned tasks, the spawning worker on a tie.
//! So an accept loop on one worker spreads its connections' stackful tasks
//! over all of them (pinning each where it was first polled put nearly all
//! on the accepting worker). A strand's drain gets a [lazy](Pinned::lazy)
//! one: scheduled like any task (so any worker may run it) until a stackful
//! task bound to the strand first runs, which pins it to that worker.
//! Once pinned, every schedule goes to that worker's pinned inbox, which no
//! other worker steals from. Registration and release go to the pool's live
//! list as for every task, and [`Schedule::pinned_worker`] lets the pool's
//! shutdown cancel the task on its own worker, so even its unwinding runs
//! on its thread (a strand's tasks are cancelled by its drain's
//! destructor, on the drain's worker). Each pinned scheduler counts in its
//! worker's load until it is dropped (with its task's cell).
//!
//! Ordering (lazy): [`Pinned::pin_here`] runs inside the first poll of the
//! pinned task (the drain), while it is `RUNNING`; wakes during that poll
//! do not reach `schedule` (the runner re-queues after the poll, through
//! this scheduler, after the store). So every `schedule` call that can
//! happen after the first poll began sees the worker index.

use super::pool::{current_worker, PoolState};
use super::stackful::{spawn_failed, Stackful};
use crate::context::{StackAllocator, StackError};
use crate::frame::{ResourceHandle, SyncResourceHandle};
use crate::task::{Header, JoinHandle, Runnable, Schedule};
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// How a scheduler keeps a stackful task on one thread (see the module
/// docs). Each carries what spawning needs.
pub(crate) enum Pinning {
    /// Every task of this scheduler runs on the current thread.
    Thread(Arc<dyn Schedule>),
    /// A thread pool: each stackful task gets its own placed [`Pinned`].
    Worker(Arc<PoolState>),
    /// Tasks run inside a drain that `pin` pins at their first run; they
    /// are spawned on `sched`.
    Drain {
        /// Where the task is spawned (the strand).
        sched: Arc<dyn Schedule>,
        /// The innermost drain's scheduler.
        pin: Arc<Pinned>,
    },
}

/// Spawns a stackful task running `f` on a stack from `stacks`, on
/// `sched`, kept on one thread the way `sched`'s [`Pinning`] says, with
/// its cell from the current frame resource.
pub(crate) fn spawn_stackful_on<F, R, S>(sched: Arc<dyn Schedule>, stacks: S, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
    S: StackAllocator + Send + 'static,
{
    match sched.pinning() {
        Pinning::Thread(sched) => {
            // SAFETY: a `Thread` scheduler runs (and cancels) the task on
            // this thread only, so the coroutine never leaves it.
            unsafe {
                crate::task::try_spawn_unchecked_with(
                    move || Stackful::new(stacks, f),
                    sched,
                    ResourceHandle::current(),
                )
            }
            .unwrap_or_else(|e| spawn_failed(e))
        }
        Pinning::Worker(pool) => spawn_on_pool(pool, stacks, f),
        Pinning::Drain { sched, pin } => {
            let resource: ResourceHandle = SyncResourceHandle::current().into();
            let init = move || PinnedStackful::new(stacks, pin, f);
            // SAFETY: `PinnedStackful` is `Send` (see there): every poll of
            // the task runs inside the drain that its first run pins.
            unsafe { crate::task::try_spawn_unchecked_with(init, sched, resource) }
                .unwrap_or_else(|e| spawn_failed(e))
        }
    }
}

/// Spawns a stackful task on `pool` with its own [`Pinned`] scheduler,
/// placed on a worker now, its cell from the current (thread-safe) frame
/// resource.
pub(crate) fn spawn_on_pool<F, R, S>(pool: Arc<PoolState>, stacks: S, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
    S: StackAllocator + Send + 'static,
{
    let pinned = Pinned::placed(pool);
    let pin = pinned.clone();
    let init = move || PinnedStackful::new(stacks, pin, f);
    let resource: ResourceHandle = SyncResourceHandle::current().into();
    // SAFETY: `PinnedStackful` is `Send` (see there) and so is `R`.
    unsafe { crate::task::try_spawn_unchecked_with(init, pinned, resource) }
        .unwrap_or_else(|e| spawn_failed(e))
}

/// A stackful task kept on one pool worker by a [`Pinned`] (its own, or a
/// strand drain's).
struct PinnedStackful<R>(Stackful<R>);

impl<R> PinnedStackful<R> {
    /// A stackful task that, first thing in its first run, pins `pin` to
    /// the worker running it (a no-op for a placed `Pinned`, already
    /// pinned). The coroutine's first run happens inside the task's first
    /// poll, as [`Pinned::pin_here`] requires; keeping `pin` in the closure
    /// on the stack, not in the cell, keeps the cell in the frame
    /// allocator's 128-byte class.
    #[inline(always)]
    fn new<F, S>(stacks: S, pin: Arc<Pinned>, f: F) -> Result<Self, StackError>
    where
        F: FnOnce() -> R + 'static,
        S: StackAllocator + 'static,
    {
        let task = Stackful::new(stacks, move || {
            pin.pin_here();
            drop(pin);
            f()
        })?;
        Ok(PinnedStackful(task))
    }
}

// SAFETY: the coroutine (and everything on its stack) is touched only by
// `poll` and `drop`. Before the first poll it has not run, so only the
// closure (which is `Send`, as is the scheduler it captures to pin) crosses
// threads. From the first poll on, its `Pinned` scheduler (its own, or the
// one of the drain every poll of it runs in) queues it only on the worker
// that polled it, and the pool cancels pinned tasks on that worker (abort
// schedules it there; shutdown cancels it there before the worker exits; a
// strand's tasks are cancelled by its drain's destructor, inside the
// pinned drain); the output is `Send`.
unsafe impl<R: Send> Send for PinnedStackful<R> {}

impl<R> Future for PinnedStackful<R> {
    type Output = R;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        // SAFETY: structural pinning of the only field.
        unsafe { self.map_unchecked_mut(|s| &mut s.0) }.poll(cx)
    }
}

const UNPINNED: usize = usize::MAX;

/// A per-task scheduler that keeps the task on one pool worker.
pub(crate) struct Pinned {
    pool: Arc<PoolState>,
    worker: AtomicUsize,
}

impl Pinned {
    /// A scheduler for a new stackful task of `pool`, placed on a worker
    /// now (see the module docs).
    pub(crate) fn placed(pool: Arc<PoolState>) -> Arc<Self> {
        let here = current_worker()
            .filter(|(p, _)| Arc::ptr_eq(p, &pool))
            .map(|(_, w)| w);
        let worker = pool.place_pinned(here);
        Arc::new(Pinned {
            pool,
            worker: AtomicUsize::new(worker),
        })
    }

    /// A scheduler that pins its task to the worker of the first
    /// [`pin_here`](Self::pin_here) (a strand's drain).
    pub(crate) fn lazy(pool: Arc<PoolState>) -> Arc<Self> {
        Arc::new(Pinned {
            pool,
            worker: AtomicUsize::new(UNPINNED),
        })
    }

    /// Pins the task to the worker running the current poll (first call
    /// only; a placed one is pinned already). Called inside a poll of the
    /// task this schedules (see the module docs on ordering).
    pub(crate) fn pin_here(&self) {
        if self.worker.load(Ordering::Relaxed) != UNPINNED {
            return;
        }
        let (pool, index) =
            current_worker().expect("coframe: a pinned task was polled outside its pool's workers");
        assert!(
            Arc::ptr_eq(&pool, &self.pool),
            "coframe: a pinned task was polled by another pool"
        );
        self.pool.count_pinned(index);
        self.worker.store(index, Ordering::Release);
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        match *self.worker.get_mut() {
            UNPINNED => {}
            w => self.pool.unplace_pinned(w),
        }
    }
}

// SAFETY: lives in an `Arc`; forwards to the pool (its live list, its
// queues and inboxes), whose contract it shares.
unsafe impl Schedule for Pinned {
    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        Some(&*self.pool)
    }

    fn task_panicked(&self) {
        self.pool.task_panicked()
    }

    fn schedule(&self, runnable: Runnable) {
        match self.worker.load(Ordering::Acquire) {
            UNPINNED => self.pool.schedule(runnable),
            w => self.pool.schedule_on(w, runnable),
        }
    }

    fn bind(&self, runnable: Runnable) {
        self.pool.bind_on(self.pinned_worker(), runnable)
    }

    fn release(&self, task: NonNull<Header>) {
        self.pool.release(task)
    }

    fn is_local(&self) -> bool {
        false
    }

    fn pinning(self: Arc<Self>) -> Pinning {
        Pinning::Worker(self.pool.clone())
    }

    fn stacks(&self) -> Option<crate::context::PooledStack> {
        Some(self.pool.stacks().clone())
    }

    fn pinned_worker(&self) -> Option<usize> {
        match self.worker.load(Ordering::Acquire) {
            UNPINNED => None,
            w => Some(w),
        }
    }
}
