//! [`Runnable`]: the queue entry executors hold for a scheduled task, and the
//! crate-internal [`Schedule`] interface a task uses to reach its executor.
//!
//! Invariant: at most one `Runnable` exists per task (the `SCHEDULED` bit
//! says whether it does). It is not reference counted: it only exists while
//! the task is not completed, and the executor's reference (held from spawn
//! to completion) keeps the cell alive. Running it polls the task once;
//! dropping it without running cancels the task on the spot (shutdown).

use super::raw::{self, Header};
use super::sched_ref::Credits;
use std::fmt;
use std::ptr::NonNull;

/// A scheduled task, ready to be polled once.
///
/// Executors receive `Runnable`s from their tasks' wakers and from spawns,
/// queue them, and call [`run`](Runnable::run) on the thread the task
/// belongs to. Dropping a `Runnable` instead of running it cancels the task:
/// its future is dropped and its `JoinHandle` resolves to
/// a cancelled [`JoinError`](crate::JoinError).
///
/// Crate-internal (not exported): users spawn futures, never handle a
/// `Runnable`.
pub struct Runnable {
    ptr: NonNull<Header>,
}

// SAFETY: a Runnable is only a pointer to the cell; the executors that own
// `!Send` tasks never let the Runnable be run or dropped off their thread
// (remote wakes only *queue* it for the owner thread).
unsafe impl Send for Runnable {}

impl Runnable {
    /// Wraps the task's only runnable.
    pub(crate) fn from_raw(ptr: NonNull<Header>) -> Self {
        Self { ptr }
    }

    /// The cell pointer (the runnable stays).
    pub(crate) fn as_ptr(&self) -> NonNull<Header> {
        self.ptr
    }

    /// The raw cell pointer, without running or cancelling.
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        let ptr = self.ptr;
        std::mem::forget(self);
        ptr
    }

    /// Polls the task once (or drops its future if it was aborted), with the
    /// task's own frame resource as the current one.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let h = ex.spawn(async { "ran" });
    /// assert_eq!(ex.run_until(h).unwrap(), "ran");
    /// ```
    #[inline]
    pub(crate) fn run(self) {
        if let Some(again) = self.run_once() {
            // SAFETY: the task is scheduled, hence alive.
            let hd = unsafe { raw::header(again.ptr) };
            hd.scheduler().schedule(again);
        }
    }

    /// The pool worker the task's scheduler pins it to, if any (a
    /// re-queued pinned task must go back to that worker's inbox, never to
    /// a stealable queue).
    pub(crate) fn pinned_worker(&self) -> Option<usize> {
        // SAFETY: the task is scheduled, hence alive.
        unsafe { raw::header(self.ptr) }.scheduler().pinned_worker()
    }

    /// Runs the task once; if it was woken while running, returns its
    /// `Runnable` for the caller (the task's executor) to queue.
    #[inline]
    pub(crate) fn run_once(self) -> Option<Runnable> {
        let ptr = self.into_raw();
        // SAFETY: this was the task's only Runnable; executors run it on the
        // thread the task belongs to.
        unsafe { raw::run(ptr, false) }.then(|| Runnable::from_raw(ptr))
    }

    /// [`run_once`](Self::run_once) for executor batch loops: the task's
    /// resource is made current without saving and restoring the slot.
    ///
    /// # Safety
    /// The caller runs inside a `frame::safe_resume` and, until it returns,
    /// only runs tasks through this method (nothing reads the slot between
    /// two runs).
    #[inline]
    pub(crate) unsafe fn run_batched(self) -> Option<Runnable> {
        let ptr = self.into_raw();
        // SAFETY: as `run_once`; the slot discipline is the caller's.
        unsafe { raw::run(ptr, true) }.then(|| Runnable::from_raw(ptr))
    }
}

impl Drop for Runnable {
    fn drop(&mut self) {
        // SAFETY: the Runnable proves the task is scheduled and not running
        // or completed; executors drop Runnables on the owner thread.
        unsafe { raw::cancel_now(self.ptr) }
    }
}

impl fmt::Debug for Runnable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runnable").field("task", &self.ptr).finish()
    }
}

/// What a task needs from its executor. Implemented by each executor's
/// shared state, which lives in a `std::sync::Arc`; every task cell holds a
/// [`SchedRef`](super::SchedRef) to it.
///
/// # Safety
///
/// Implementors uphold what the task layer relies on and cannot check:
///
/// - the scheduler lives in a `std::sync::Arc` (a `SchedRef` frees it
///   through one);
/// - a `Runnable` is run or dropped only on a thread allowed to poll or
///   drop its future: with [`is_local`](Self::is_local), only on the thread
///   that owns the executor (the spawns that accept `!Send` futures rely on
///   it); after shutdown `schedule` forgets it (`into_raw`);
/// - a task passed to `bind` is registered so that shutdown cancels it
///   (or it is cancelled at once), and `release` unregisters it (a live
///   list never names a freed cell);
/// - [`credits_here`](Self::credits_here) names the same [`Credits`] as
///   [`credits`](Self::credits), and says "owner here" only on the thread
///   that owns them, while the owner's own reference is held.
pub unsafe trait Schedule: Send + Sync + 'static {
    /// Queues a woken task. Called from any thread (wakers are `Send`).
    /// Implementations that can no longer run tasks (shut down) must
    /// `forget` the runnable (via `into_raw`), never drop it: the task is
    /// then cancelled by the shutdown's pass over live tasks.
    fn schedule(&self, runnable: Runnable);

    /// How references to this scheduler are counted (`SchedRef` only
    /// asks): `None`, each is one strong count of its `Arc` (the default);
    /// `Some`, the scheduler counts them in its [`Credits`] (the local
    /// executor). One word, returned in a register: it is asked on every
    /// spawn and every free.
    #[inline(always)]
    fn credits(&self) -> Option<&Credits> {
        None
    }

    /// [`credits`](Self::credits), and with them whether the calling
    /// thread owns them and the owner holds its own reference until the
    /// call returns (the local executor: its loop runs on this thread), so
    /// a reference may be given back as a credit. Asked when a reference is
    /// dropped or cloned: one call, its answer in a register pair. Default:
    /// the credits, never the owner.
    #[inline(always)]
    fn credits_here(&self) -> Option<(&Credits, bool)> {
        self.credits().map(|c| (c, false))
    }

    /// Registers a newly spawned task and queues its first runnable.
    /// Called on the spawning thread.
    fn bind(&self, runnable: Runnable);

    /// The task completed (on the thread that ran it): forget it.
    fn release(&self, task: NonNull<Header>);

    /// Whether the executor runs every task on one thread (so `!Send`
    /// futures may be spawned on it).
    fn is_local(&self) -> bool;

    /// The pool worker this task is pinned to, if any (stackful tasks must
    /// stay on one thread). A pool's shutdown cancels pinned tasks on their
    /// own worker thread. Default: not pinned.
    fn pinned_worker(&self) -> Option<usize> {
        None
    }

    /// The executor's stack allocator for stackful tasks spawned from its
    /// tasks (`coframe::spawn_stackful`), if it has its own. Default: none,
    /// the process-wide default stacks are used.
    fn stacks(&self) -> Option<crate::context::PooledStack> {
        None
    }

    /// The executor's shared state as `Any`, for the executor layer to
    /// recognise its own (a pool's handle). Default: none.
    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        None
    }

    /// A task's poll panicked (on the thread that ran it, after its result
    /// was stored): the executor applies its unhandled-panic policy.
    /// Default: nothing.
    fn task_panicked(&self) {}

    /// How this scheduler keeps a stackful task on one thread
    /// (`executor/pinning.rs`). Required: an executor that cannot say does
    /// not compile. (`Schedule` is public only as a sealed trait's
    /// supertrait; nothing outside the crate can name or call it.)
    #[allow(private_interfaces)]
    fn pinning(self: std::sync::Arc<Self>) -> crate::executor::pinning::Pinning;
}
