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
//! the executor interface), `yield_now.rs` ([`yield_now`]).
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
//! queues and cancels every task on its live list. Panics in `poll` and in
//! the future's destructor are caught (`catch_unwind`) and become
//! a panic [`JoinError`].

mod join;
mod raw;
mod runnable;
mod state;
mod waker;
mod yield_now;

#[cfg(all(test, loom))]
mod loom_tests;

pub use join::{Id, JoinError, JoinHandle};
pub(crate) use runnable::Runnable;
pub use yield_now::{yield_now, YieldNow};

pub(crate) use raw::{cancel_now, Header, SpawnError};
pub(crate) use runnable::{free_scheduler, Schedule};

use crate::frame::{AllocError, ResourceHandle};
use std::convert::Infallible;
use std::future::Future;
use std::mem;
use std::ptr::NonNull;
use std::sync::Arc;

/// Allocates a task for `future` from `resource`, registers it with
/// `scheduler` and queues its first run.
///
/// # Safety
///
/// As [`raw::allocate`]: if `F` or `F::Output` is not `Send`, the scheduler
/// must run the task only on the current thread, and the handle must stay on
/// it when the output is not `Send` (the handle's own `Send` bound ensures
/// that).
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
    // SAFETY: forwarded contract; the cell gets its count below.
    let ptr = unsafe { raw::allocate(init, NonNull::from(&*scheduler), resource) }?;
    if scheduler.arc_counted() {
        // The cell adopts the caller's strong count.
        mem::forget(scheduler);
    } else {
        scheduler.acquire_ref();
    }
    // SAFETY: a fresh cell holding its scheduler reference.
    Ok(unsafe { bind(ptr) })
}

/// Like [`try_spawn_unchecked`] with a borrowed scheduler: the cell takes
/// its own reference with [`Schedule::acquire_ref`] (the local executor
/// hands out pre-counted credits, no atomic).
///
/// # Safety
///
/// As [`try_spawn_unchecked`].
#[inline(always)]
pub(crate) unsafe fn try_spawn_ref<F: Future>(
    future: F,
    scheduler: &dyn Schedule,
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
/// As [`try_spawn_unchecked`].
#[inline(always)]
pub(crate) unsafe fn try_spawn_ref_with<F: Future, E>(
    init: impl FnOnce() -> Result<F, E>,
    scheduler: &dyn Schedule,
    resource: ResourceHandle,
) -> Result<JoinHandle<F::Output>, SpawnError<E>> {
    // SAFETY: forwarded contract; the cell gets its count just below.
    let ptr = unsafe { raw::allocate(init, NonNull::from(scheduler), resource) }?;
    scheduler.acquire_ref();
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
/// As [`try_spawn_unchecked`]; on success the caller gives the cell its
/// scheduler reference (the executor's own count protocol) and hands the
/// runnable to `bind` on the executor's thread, or cancels the task there.
pub(crate) unsafe fn allocate_unbound<F: Future>(
    future: F,
    scheduler: &dyn Schedule,
    resource: ResourceHandle,
) -> Result<(JoinHandle<F::Output>, Runnable), AllocError> {
    // SAFETY: forwarded contract.
    let ptr = unsafe {
        raw::allocate(
            move || Ok::<F, Infallible>(future),
            NonNull::from(scheduler),
            resource,
        )
    }
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
