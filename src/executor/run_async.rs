//! The trampoline: [`run_async`] / [`try_run_async`].
//!
//! capy's trampoline, made true for unstructured spawns: the allocator is
//! moved into a refcounted owner root; the root's handle is made the current
//! resource *before* the task cell is allocated, so the cell comes from the
//! allocator and records (and counts) the root; the trampoline's own count
//! is dropped on return. Every child spawned inside the task inherits the
//! resource (executors set it around every poll), and each of their cells
//! holds a count too, so the allocator is dropped only after the last frame
//! from it is freed — whether handles are detached, tasks cancelled or the
//! executor dropped.

use super::{Executor, ResourceFor, SpawnableOn};
use crate::frame::{set_current, AllocError, ResourceHandle};
use crate::task::JoinHandle;

/// Starts `future` as a task on `executor` with its frames (its own cell and
/// those of every task it spawns, transitively) allocated from `allocator`,
/// which is owned by the task tree and dropped after the last frame.
///
/// The allocator is any [`MemoryResource`](crate::frame::MemoryResource)
/// (bound [`ResourceFor`](super::ResourceFor)); an `allocator_api2`
/// allocator such as `bumpalo::Bump` is one once wrapped in
/// [`frame::Allocator2`](crate::frame) (feature `allocator-api2`). On a
/// [`LocalExecutor`](crate::LocalExecutor) the future may be `!Send` and
/// the allocator need only be `Send` (a `Bump` arena); on a
/// [`ThreadPool`](crate::ThreadPool) both must be thread-safe, so a `Bump`
/// there is a compile error: run it on a `LocalExecutor`.
///
/// ```
/// # #[cfg(feature = "allocator-api2")] {
/// // Cargo.toml: coframe = { version = "0.1", features = ["allocator-api2"] }
/// use coframe::{frame::Allocator2, run_async, spawn_local, LocalExecutor};
/// let ex = LocalExecutor::new();
/// let root = run_async(&ex, Allocator2(bumpalo::Bump::new()), async {
///     // This task's cell and its children's come from the arena.
///     spawn_local(async { 20 }).await.unwrap() + 1
/// });
/// assert_eq!(ex.run_until(root).unwrap(), 21);
/// # }
/// ```
///
/// # Panics
///
/// If the allocator refuses the task cell (see [`try_run_async`]).
///
/// ```
/// use coframe::{frame::System, run_async, LocalExecutor};
/// let ex = LocalExecutor::new();
/// let h = run_async(&ex, System, async { coframe::spawn(async { 2 }).await.unwrap() * 3 });
/// assert_eq!(ex.run_until(h).unwrap(), 6);
/// ```
pub fn run_async<E, A, F>(executor: &E, allocator: A, future: F) -> JoinHandle<F::Output>
where
    E: Executor,
    A: ResourceFor<E::Affinity>,
    F: SpawnableOn<E::Affinity>,
{
    try_run_async(executor, allocator, future).unwrap_or_else(|e| {
        panic!(
            "coframe: run_async: the allocator refused the allocation of the root task cell ({e})"
        )
    })
}

/// Like [`run_async`], but an allocator that refuses the root task cell is
/// reported as an error (the future and the allocator are dropped; nothing
/// leaks).
///
/// ```
/// use coframe::frame::{AllocError, MemoryResource};
/// use std::{alloc::Layout, ptr::NonNull};
/// struct Refuse;
/// impl MemoryResource for Refuse {
///     fn allocate(&self, _: Layout) -> Result<NonNull<u8>, AllocError> { Err(AllocError) }
///     unsafe fn deallocate(&self, _: NonNull<u8>, _: Layout) {}
/// }
/// let ex = coframe::LocalExecutor::new();
/// assert!(coframe::try_run_async(&ex, Refuse, async {}).is_err());
/// ```
pub fn try_run_async<E, A, F>(
    executor: &E,
    allocator: A,
    future: F,
) -> Result<JoinHandle<F::Output>, AllocError>
where
    E: Executor,
    A: ResourceFor<E::Affinity>,
    F: SpawnableOn<E::Affinity>,
{
    let root = allocator.into_root();
    let _current = set_current(&root);
    future.spawn_task(executor.scheduler().clone(), ResourceHandle::current())
}
