//! Tasks: the one-allocation task cell, its state word, its waker, the
//! [`JoinHandle`] and the `Runnable` executors queue.
//!
//! A task is ONE allocation from the frame resource that was current when it
//! was spawned: a header (state word, vtable, awaiter waker, scheduler
//! reference, the resource handle it came from, the executor's list links)
//! followed by a stage in which the future and its output share bytes. The
//! cell records its resource and is freed through it, on whatever thread
//! drops the last reference (rule 1); a cell allocated from a
//! `run_async` root holds a count on that root, so the allocator outlives it
//! (rule 2).
//!
//! Files, one concept each: `state.rs` (the state word), `raw.rs` (the cell
//! and the run/complete/cancel transitions), `waker.rs` (the waker vtable),
//! `join.rs` ([`JoinHandle`], [`JoinError`]), `runnable.rs` (`Runnable` and
//! the executor interface), `list.rs` (the live-task list executors cancel
//! at shutdown), `sched_ref.rs` (`SchedRef`, a counted reference
//! to a scheduler), `yield_now.rs` ([`yield_now`]).
//!
//! # Safety
//!
//! The protocol below is what makes the `unsafe` in this module sound. The
//! state word (`state.rs`) holds six flags — `SCHEDULED`, `RUNNING`,
//! `COMPLETED`, `CLOSED`, `HANDLE`, `AWAITER` — and a reference count. Every
//! transition is a single compare-and-swap (or fetch-op) on it with
//! acquire/release ordering, so each transition sees everything the
//! previous holder of a right wrote.
//!
//! **References.** The cell is alive while the count is non-zero. Counted
//! references: the owning executor's (taken at spawn, dropped at
//! completion), the `JoinHandle`'s (with the `HANDLE` bit), and one per
//! `Waker`. A `Runnable` is *not* counted: at most one exists (`SCHEDULED`),
//! only while the task is not `COMPLETED`, and completion happens only by
//! consuming it — so the executor's reference always covers it. Whoever
//! drops the count to zero frees the cell, through the resource handle
//! recorded in it, never through the thread-local slot. One shortcut: a
//! `JoinHandle` dropped after `COMPLETED` that sees (acquire load) a count
//! of one frees the cell without a read-modify-write — with the executor's
//! reference gone, references can only be cloned from existing ones, so
//! none can appear.
//!
//! **The scheduler reference.** A cell holds one `SchedRef` to its
//! scheduler from its allocation to its free: `dealloc` drops it last,
//! after the block went back to its resource. So the scheduler outlives
//! every task it ever had: a waker or a handle on any thread can reach
//! `schedule`, and a completion always finds the live list its `release`
//! unlinks from. `SchedRef` is the only shape a count on a scheduler takes
//! in the crate (cells, the local executor's own, its wakers and
//! spawners): made from an `Arc` the spawner hands over (adopting its
//! strong count), from a borrow, or by `Clone`; its `Drop` frees the
//! scheduler with the last one. How it counts is the scheduler's to say
//! (`Schedule::credits`): one `Arc` strong count each, or the local
//! executor's credits, which its owner thread spends and takes back
//! without atomics (`sched_ref.rs`). `Schedule` is an `unsafe trait`: the
//! task layer trusts its implementors to keep runnables on the threads
//! allowed to poll and drop their futures (`is_local`), to register and
//! release every task, and to report `credits_here` truthfully.
//!
//! **The future** (stage `Running`) is accessed only by whoever set
//! `RUNNING`: `Runnable::run` (CAS `SCHEDULED -> RUNNING`), or the
//! executor's shutdown (`cancel_now`, only on a task that is not running).
//! Both happen on the executor's thread, which is what lets `!Send` futures
//! live in a task of a `LocalExecutor`: wakers and handles on other threads
//! never touch the future, they only queue the `Runnable` for the owner.
//! When the future finishes (or is dropped because `CLOSED` is set), the
//! runner writes the result into the stage and publishes `COMPLETED` in the
//! same CAS that clears `RUNNING`.
//!
//! **The result** (stage `Finished`) belongs, from `COMPLETED` on, to the
//! `JoinHandle`: it alone takes or drops it. If `HANDLE` was already clear
//! when `COMPLETED` was published, the completer drops it immediately (on
//! the executor's thread). Exactly one side sees the other's bit, because
//! `COMPLETED` and clearing `HANDLE` are both CASes on the same word. Hence
//! when the count reaches zero the stage is `Consumed`, and freeing the cell
//! on any thread drops only `Send` data (the awaiter waker, the scheduler
//! reference, the resource handle).
//!
//! **The awaiter slot.** While `AWAITER` is clear and the task is not
//! `COMPLETED`, the handle has exclusive access and may write a waker; it
//! then publishes it by CAS-setting `AWAITER` (failing if `COMPLETED`
//! appeared meanwhile, in which case it just takes the result). To replace
//! the waker it first CAS-clears `AWAITER` (again failing on `COMPLETED`).
//! The completer reads the slot (`wake_by_ref`) only if `AWAITER` was set in
//! the state it replaced with `COMPLETED`; from then on the handle never
//! writes the slot, and the waker is dropped with the cell.
//!
//! **Waking** sets `SCHEDULED` unless one of `SCHEDULED`, `COMPLETED`,
//! `CLOSED` is set. If the task was not `RUNNING`, the waker created the
//! task's only `Runnable` and hands it to the scheduler; if it was running,
//! the runner, when the poll returns `Pending`, clears `RUNNING`, sees
//! `SCHEDULED` and re-queues the `Runnable` itself (so a task never runs
//! twice at once and a wake during a poll is never lost).
//!
//! **Cancellation.** `abort` sets `CLOSED`. If the task was idle it also sets
//! `SCHEDULED` and queues the `Runnable`, so the future is dropped promptly
//! on the executor's thread; if it was scheduled, the queued run drops it;
//! if it was running, the runner drops it when the poll returns. Dropping a
//! `Runnable` cancels the task on the spot. Executor shutdown marks itself
//! closed (later `schedule` calls forget their `Runnable`), forgets its
//! queues, closes its live-task list and cancels every task on it, each
//! exactly once (`list.rs` argues it; binds after the close cancel their
//! task at once). Panics in `poll` and in
//! the future's destructor are caught (`catch_unwind`) and become
//! a panic [`JoinError`]; the one exception is a destructor on the stack of
//! a suspended stackful task that panics while the task's cancellation
//! unwinds that stack, which Rust itself turns into an abort
//! (ARCHITECTURE.md, "User code cannot break the runtime").

mod join;
mod list;
mod raw;
mod runnable;
mod sched_ref;
mod state;
mod waker;
mod yield_now;

#[cfg(all(test, loom))]
mod loom_tests;

pub use join::{Id, JoinError, JoinHandle};
pub(crate) use runnable::Runnable;
pub use yield_now::{yield_now, YieldNow};

pub(crate) use list::{LocalTasks, ShardedTasks, SharedTasks};
pub(crate) use raw::{cancel_now, Header, SpawnError};
pub(crate) use runnable::Schedule;
pub(crate) use sched_ref::{Credits, SchedRef};

use crate::frame::{AllocError, ResourceHandle};
use std::convert::Infallible;
use std::future::Future;
use std::ptr::NonNull;
use std::sync::Arc;

/// Allocates a task for `future` from `resource`, registers it with
/// `scheduler` and queues its first run. The cell's scheduler reference
/// is `scheduler`'s count ([`SchedRef::from_arc`]).
///
/// # Safety
///
/// As [`raw::allocate`]: if `F` or `F::Output` is not `Send`, the scheduler
/// must run the task only on the current thread, and the handle must stay on
/// it when the output is not `Send` (the handle's own `Send` bound ensures
/// that). As [`SchedRef::from_arc`]: a credits-counted scheduler is its
/// owner thread's.
pub(crate) unsafe fn try_spawn_unchecked<F: Future>(
    future: F,
    scheduler: Arc<dyn Schedule>,
    resource: ResourceHandle,
) -> Result<JoinHandle<F::Output>, AllocError> {
    // SAFETY: forwarded contract.
    unsafe { try_spawn_unchecked_with(move || Ok::<F, Infallible>(future), scheduler, resource) }
        .map_err(SpawnError::into_alloc)
}

/// [`try_spawn_unchecked`] with the future built by `init` inside the
/// freshly allocated cell (see [`raw::allocate`]); a failing `init` gives
/// the cell back and returns its error.
///
/// # Safety
///
/// As [`try_spawn_unchecked`].
#[inline(always)]
pub(crate) unsafe fn try_spawn_unchecked_with<F: Future, E>(
    init: impl FnOnce() -> Result<F, E>,
    scheduler: Arc<dyn Schedule>,
    resource: ResourceHandle,
) -> Result<JoinHandle<F::Output>, SpawnError<E>> {
    // SAFETY: forwarded contract.
    unsafe { spawn_with(init, SchedRef::from_arc(scheduler), resource) }
}

/// Like [`try_spawn_unchecked`] with a borrowed scheduler: the cell takes
/// a new reference ([`SchedRef::from_ref`]: on the local executor a credit,
/// no atomic). Generic over the scheduler's type, so a caller that knows it
/// (the local executor's own spawns) counts and binds without a virtual
/// call; `&dyn Schedule` works too.
///
/// # Safety
///
/// As [`try_spawn_unchecked`], and `scheduler` lives in an `Arc` with a
/// strong count held for the call.
#[inline(always)]
pub(crate) unsafe fn try_spawn_ref<F: Future, S: ErasedSched + ?Sized>(
    future: F,
    scheduler: &S,
    resource: ResourceHandle,
) -> Result<JoinHandle<F::Output>, AllocError> {
    // SAFETY: forwarded contract.
    unsafe { try_spawn_ref_with(move || Ok::<F, Infallible>(future), scheduler, resource) }
        .map_err(SpawnError::into_alloc)
}

/// [`try_spawn_ref`] with the future built in the cell by `init`.
///
/// # Safety
///
/// As [`try_spawn_ref`].
#[inline(always)]
pub(crate) unsafe fn try_spawn_ref_with<F: Future, E, S: ErasedSched + ?Sized>(
    init: impl FnOnce() -> Result<F, E>,
    scheduler: &S,
    resource: ResourceHandle,
) -> Result<JoinHandle<F::Output>, SpawnError<E>> {
    // SAFETY: forwarded contract (the reference is a new count on
    // `scheduler`, so the cell may be bound through the borrow).
    let sched = S::erase(unsafe { SchedRef::from_ref(scheduler) });
    // SAFETY: forwarded contract.
    let ptr = unsafe { raw::allocate(init, sched, resource) }?;
    // SAFETY: a fresh cell: its HANDLE bit and reference go to the handle.
    let handle = unsafe { JoinHandle::from_raw(ptr) };
    scheduler.bind(Runnable::from_raw(ptr));
    Ok(handle)
}

/// A scheduler type whose [`SchedRef`] can be made a `SchedRef<dyn
/// Schedule>` (every sized scheduler, and `dyn Schedule` itself).
pub(crate) trait ErasedSched: Schedule {
    /// The same reference, type-erased.
    fn erase(r: SchedRef<Self>) -> SchedRef;
}

impl<S: Schedule> ErasedSched for S {
    #[inline(always)]
    fn erase(r: SchedRef<S>) -> SchedRef {
        r.into_dyn()
    }
}

impl ErasedSched for dyn Schedule {
    #[inline(always)]
    fn erase(r: SchedRef) -> SchedRef {
        r
    }
}

/// Allocates a task whose cell holds `scheduler`, builds its future with
/// `init`, and hands it to the scheduler's `bind`.
///
/// # Safety
///
/// As [`raw::allocate`].
#[inline(always)]
unsafe fn spawn_with<F: Future, E>(
    init: impl FnOnce() -> Result<F, E>,
    scheduler: SchedRef,
    resource: ResourceHandle,
) -> Result<JoinHandle<F::Output>, SpawnError<E>> {
    // SAFETY: forwarded contract.
    let ptr = unsafe { raw::allocate(init, scheduler, resource) }?;
    // SAFETY: a fresh cell holding its scheduler reference.
    Ok(unsafe { bind(ptr) })
}

/// Allocates a task for `future` with `scheduler` as its executor but
/// does not register it: returns its handle and its first `Runnable`,
/// which the caller hands to the scheduler's `bind` on the executor's
/// thread (a spawn from another thread onto a local executor).
///
/// # Safety
///
/// As [`raw::allocate`]; on success the caller hands the runnable to
/// `bind` on the executor's thread, or cancels the task there.
pub(crate) unsafe fn allocate_unbound<F: Future>(
    future: F,
    scheduler: SchedRef,
    resource: ResourceHandle,
) -> Result<(JoinHandle<F::Output>, Runnable), AllocError> {
    // SAFETY: forwarded contract.
    let ptr = unsafe { raw::allocate(move || Ok::<F, Infallible>(future), scheduler, resource) }
        .map_err(SpawnError::into_alloc)?;
    // SAFETY: a fresh cell: its HANDLE bit and reference go to the handle.
    let handle = unsafe { JoinHandle::from_raw(ptr) };
    Ok((handle, Runnable::from_raw(ptr)))
}

/// Hands a fresh cell to its scheduler: the `HANDLE` bit and one reference
/// go to the returned handle, the first `Runnable` to `Schedule::bind`.
///
/// # Safety
/// `ptr` is a fresh cell from [`raw::allocate`] holding its scheduler
/// reference.
#[inline(always)]
unsafe fn bind<T>(ptr: NonNull<Header>) -> JoinHandle<T> {
    // SAFETY: the fresh cell's HANDLE bit and reference go to the handle.
    let handle = unsafe { JoinHandle::from_raw(ptr) };
    // SAFETY: the cell is alive (the executor's reference, taken at spawn).
    let hd = unsafe { raw::header(ptr) };
    hd.scheduler().bind(Runnable::from_raw(ptr));
    handle
}

impl SpawnError<Infallible> {
    #[inline(always)]
    fn into_alloc(self) -> AllocError {
        match self {
            SpawnError::Alloc(e) => e,
            SpawnError::Init(never) => match never {},
        }
    }
}
