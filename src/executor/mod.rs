//! Executors: the [`Executor`] trait, [`LocalExecutor`], [`ThreadPool`],
//! [`Strand`],
//! [`block_on`], the [`run_async`] trampoline and [`JoinSet`].
//!
//! Thread safety is typed through the executor's [`Executor::Affinity`]:
//! [`Local`] executors run every task on the thread that owns them, so they
//! accept `!Send` futures and allocators that are `Send` but not `Sync`
//! (e.g. `bumpalo::Bump`); [`Shared`] (multi-threaded) executors require
//! `Send` futures and `Send + Sync` allocators. The bounds are the sealed
//! traits [`SpawnableOn`] and [`ResourceFor`], so `run_async` is one generic
//! function and a local-only allocator cannot reach a thread pool
//! (rule 4).
//!
//! While an executor runs a task, a thread-local *current scheduler* says
//! where [`spawn`] and [`spawn_local`] put new tasks; the current frame
//! resource (set around every poll) says where their cells come from.
//!
//! # Nesting: running an executor inside another's work
//!
//! | inside …                          | `block_on` | `ex.run_until` (other `ex`) | same `ex`'s `run_until`/`run` | `pool.block_on` |
//! |-----------------------------------|-----------|-----------------------------|-------------------------------|-----------------|
//! | `block_on`'s future               | yes       | yes                         | —                             | yes             |
//! | a `LocalExecutor` task            | yes ¹     | yes                         | panics at once                | yes ¹           |
//! | a `ThreadPool` task               | yes ¹     | yes                         | —                             | panics at once  |
//! | a stackful task                   | yes ¹     | yes                         | panics at once (own executor) | as its executor |
//!
//! `ex.run(future)` is a future: await it anywhere a future may be awaited
//! (in `block_on`, in another executor's task), except in a task of `ex`
//! itself, where its first poll panics. A nested loop runs on the calling
//! thread until its future completes; the nested executor's tasks and
//! timers work, and the context of the outer one (current executor, frame
//! resource, event loop) is restored afterwards.
//!
//! ¹ Allowed, but it blocks the thread: the enclosing executor's other
//! tasks on this thread (for a pool: on this worker) wait meanwhile, so the
//! nested future must not wait for them (on a one-worker pool, a
//! `block_on` inside a task that awaits another pool task deadlocks).
//! `.await` instead where possible; `spawn_blocking` runs blocking code
//! off the executor. Each row is a test in `runtime-tests/nesting.rs`.
//!
//! # Adding an executor (thread pool, `Strand<E>`)
//!
//! The crate-internal contract every executor implements:
//! - implement the `unsafe` trait `task::Schedule` for the executor's
//!   shared state, kept in an `Arc`: `schedule` (any thread: queue the
//!   `Runnable`; once shut down, forget it with `Runnable::into_raw`, never
//!   drop it off the owner), `bind` (a new task: put it on the executor's
//!   live-task list, `task::LocalTasks`, `SharedTasks` or `ShardedTasks`,
//!   then queue it), `release` (completion, on the thread that ran it:
//!   unlink it), `is_local`, `pinning` (how it keeps a stackful task on
//!   one thread: `executor/pinning.rs`); every cell holds a `task::SchedRef` to it (one
//!   `Arc` strong count unless `credits` says otherwise);
//! - implement `sealed::Executor` (return that state as `&dyn Schedule`) and
//!   [`Executor`] with `Affinity = Shared` for anything that may run a task on
//!   more than one thread: [`SpawnableOn`] then demands `Send` futures and
//!   [`ResourceFor`] `Send + Sync` allocators;
//! - run tasks with `Runnable::run` (polls through `safe_resume_with` with the
//!   task's own resource) or `run_once` (the caller re-queues a task woken
//!   while it ran), inside an `EnterGuard` so `spawn` finds the executor;
//!   `spawn` on a non-local scheduler takes `SyncResourceHandle::current()`,
//!   which falls back to the default resource when the slot holds a
//!   local-only one (rule 4);
//! - on drop: mark closed, forget queued `Runnable`s, close the live-task
//!   list and cancel what is on it (`cancel_where`, on a thread allowed to
//!   drop the futures: each task exactly once), then release the executor's
//!   own reference.

mod block_on;
pub(crate) mod blocking;
mod join_set;
pub(crate) mod local;
pub(crate) mod pinning;
pub(crate) mod pool;
mod run_async;
pub(crate) mod stackful;
pub(crate) mod strand;

pub use block_on::block_on;
pub use join_set::JoinSet;
pub use local::{LocalEnterGuard, LocalExecutor, LocalExecutorBuilder, LocalSpawner};
pub use pool::{
    BuildError, PoolEnterGuard, PoolHandle, PoolMetrics, ThreadPool, ThreadPoolBuilder,
};
pub use run_async::{run_async, try_run_async};
pub use strand::{HandlerFor, Strand, WeakStrand};

use crate::frame::AllocError;
use crate::frame::{ResourceHandle, SyncResourceHandle};
use crate::task::{JoinHandle, Schedule};
use std::future::Future;
use std::ptr::NonNull;
use std::sync::Arc;

/// What an executor does when one of its tasks panics
/// ([`ThreadPoolBuilder::unhandled_panic`],
/// [`LocalExecutorBuilder::unhandled_panic`]).
///
/// ```
/// use coframe::executor::UnhandledPanic;
/// assert_eq!(UnhandledPanic::default(), UnhandledPanic::Ignore);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnhandledPanic {
    /// The panic goes to the task's handle as a panic
    /// [`JoinError`](crate::JoinError) and the executor runs on (the
    /// default, as tokio's).
    #[default]
    Ignore,
    /// The panic also shuts the executor down: every unfinished task is
    /// cancelled and later spawns are cancelled at once. A `LocalExecutor`
    /// does so in the `run_until`/`run_until_stalled`/`run` that ran the
    /// task, which then panics saying so; a `ThreadPool` on the worker that
    /// ran it (as [`ThreadPool::shutdown`] from inside a task).
    ShutDown,
}

/// Marker: the executor runs all its tasks on one thread.
///
/// ```
/// fn local<E: coframe::Executor<Affinity = coframe::executor::Local>>(_: &E) {}
/// local(&coframe::LocalExecutor::new());
/// ```
#[derive(Debug)]
pub enum Local {}

/// Marker: the executor may run a task on any of several threads.
///
/// ```
/// use coframe::executor::{Affinity, Shared};
/// fn is_affinity<A: Affinity>() {}
/// is_affinity::<Shared>();
/// ```
#[derive(Debug)]
pub enum Shared {}

/// The thread affinity of an executor's tasks: [`Local`] or [`Shared`].
///
/// ```
/// use coframe::executor::{Affinity, Local};
/// fn is_affinity<A: Affinity>() {}
/// is_affinity::<Local>();
/// ```
pub trait Affinity: sealed::Affinity {}
impl Affinity for Local {}
impl Affinity for Shared {}

/// Futures that may be spawned on an executor of affinity `A`: any
/// `'static` future on [`Local`], `Send` futures with `Send` output on
/// [`Shared`].
///
/// ```
/// use coframe::executor::{Local, SpawnableOn};
/// fn check<F: SpawnableOn<Local>>(_: F) {}
/// let not_send = std::rc::Rc::new(1);
/// check(async move { *not_send });
/// ```
///
/// A `!Send` future cannot reach a multi-threaded executor:
///
/// ```compile_fail,E0277
/// use coframe::executor::{Shared, SpawnableOn};
/// fn check<F: SpawnableOn<Shared>>(_: F) {}
/// let not_send = std::rc::Rc::new(1);
/// check(async move { *not_send });
/// ```
///
/// Something that is not a `'static` future says so:
///
/// ```compile_fail,E0277
/// // error: `{integer}` is not a future (required for `SpawnableOn<Local>`)
/// let ex = coframe::LocalExecutor::new();
/// coframe::run_async(&ex, coframe::frame::System, 5);
/// ```
///
/// (rustc names the first unmet requirement when it has its own message, as
/// `Future` and `Send` do: "future cannot be sent between threads safely"
/// for a `!Send` future given to a pool; this trait's message covers the
/// rest.)
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be spawned on this executor (`SpawnableOn<{A}>`)",
    label = "not a task for this executor",
    note = "a task is a `Future + 'static`; on a `ThreadPool` (or a `Strand` over one) \
            the future and its output must also be `Send`: spawn a future that is not \
            on a `LocalExecutor`"
)]
pub trait SpawnableOn<A: Affinity>: sealed::Spawn<A> {}
impl<A: Affinity, F: sealed::Spawn<A>> SpawnableOn<A> for F {}

/// Allocators that may own the frames of an executor of affinity `A`:
/// `Send` resources on [`Local`], `Send + Sync` ones on [`Shared`].
///
/// ```
/// use coframe::executor::{Local, ResourceFor};
/// fn check<R: ResourceFor<Local>>(_: R) {}
/// check(coframe::frame::System);
/// ```
///
/// A local-only allocator (`Send` but not `Sync`, like `bumpalo::Bump`)
/// cannot own the frames of a multi-threaded executor (rule 4):
///
/// ```compile_fail,E0277
/// use coframe::executor::{ResourceFor, Shared};
/// use coframe::frame::{AllocError, MemoryResource};
/// use std::{alloc::Layout, cell::Cell, ptr::NonNull};
/// struct LocalOnly(Cell<usize>); // Send, !Sync
/// impl MemoryResource for LocalOnly {
///     fn allocate(&self, _: Layout) -> Result<NonNull<u8>, AllocError> { Err(AllocError) }
///     unsafe fn deallocate(&self, _: NonNull<u8>, _: Layout) {}
/// }
/// fn check<R: ResourceFor<Shared>>(_: R) {}
/// check(LocalOnly(Cell::new(0)));
/// ```
///
/// A type that is no frame allocator at all names [`MemoryResource`] and
/// the `allocator-api2` adapter
/// `frame::Allocator2` (`bumpalo::Bump` is used as
/// `Allocator2(Bump::new())`, on a [`LocalExecutor`]):
///
/// ```compile_fail,E0277
/// // error: `String` cannot be the frame allocator of this executor (`ResourceFor<Local>`)
/// let ex = coframe::LocalExecutor::new();
/// coframe::run_async(&ex, String::new(), async {});
/// ```
///
/// (Passing a resource that is not `Sync` to a [`ThreadPool`] makes rustc
/// name the field that is not `Sync` first; its notes end with "required
/// for `...` to implement `ResourceFor<Shared>`": run such an allocator on a
/// [`LocalExecutor`].)
///
/// [`MemoryResource`]: crate::frame::MemoryResource
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the frame allocator of this executor (`ResourceFor<{A}>`)",
    label = "not a frame allocator for this executor",
    note = "a frame allocator implements `coframe::frame::MemoryResource` and is `Send + 'static`; \
            on a `ThreadPool` (or a `Strand` over one) it must also be `Sync`: \
            run an allocator that is not `Sync` on a `LocalExecutor`",
    note = "an `allocator_api2` allocator (`bumpalo::Bump`, ...) becomes one wrapped in \
            `coframe::frame::Allocator2` (feature `allocator-api2`)"
)]
pub trait ResourceFor<A: Affinity>: sealed::Resource<A> {}
impl<A: Affinity, R: sealed::Resource<A>> ResourceFor<A> for R {}

/// What `run_async`, strands and stackful tasks need from an executor.
///
/// To queue work on an executor, spawn a future on it
/// ([`LocalExecutor::spawn`], [`ThreadPool::spawn`], [`run_async`]) or post
/// a closure to a [`Strand`] over it ([`Strand::post`],
/// [`Strand::dispatch`]). The queue entries executors pass around are
/// crate-internal:
///
/// ```compile_fail,E0603
/// fn requeue(_: coframe::task::Runnable) {}
/// ```
///
/// Implemented by [`LocalExecutor`] (and by the thread pool and `Strand<E>`);
/// sealed, because [`Affinity`] is a promise about where tasks run that the
/// task cell's soundness relies on.
///
/// ```
/// use coframe::{Executor, LocalExecutor};
/// fn on<E: Executor>(ex: &E) -> bool { ex.running_in_this_thread() }
/// let ex = LocalExecutor::new();
/// assert!(!on(&ex));
/// ```
pub trait Executor: sealed::Executor {
    /// [`Local`] or [`Shared`]: which futures and allocators it accepts.
    type Affinity: Affinity;

    /// Whether the calling thread is currently running this executor's
    /// work.
    fn running_in_this_thread(&self) -> bool;
}

pub(crate) mod sealed {
    use super::*;

    pub trait Affinity {
        const LOCAL: bool;
    }
    impl Affinity for super::Local {
        const LOCAL: bool = true;
    }
    impl Affinity for super::Shared {
        const LOCAL: bool = false;
    }

    pub trait Executor {
        /// The executor's scheduler, counted by every task cell.
        fn scheduler(&self) -> &Arc<dyn Schedule>;
    }

    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be spawned on this executor (`SpawnableOn<{A}>`)",
        label = "not a task for this executor",
        note = "a task is a `Future + 'static`; on a `ThreadPool` (or a `Strand` over one) \
                the future and its output must also be `Send`: spawn a future that is not \
                on a `LocalExecutor`"
    )]
    pub trait Spawn<A>: Future + 'static + Sized {
        fn spawn_task(
            self,
            scheduler: Arc<dyn Schedule>,
            resource: ResourceHandle,
        ) -> Result<JoinHandle<Self::Output>, AllocError>;
    }

    impl<F: Future + 'static> Spawn<super::Local> for F {
        fn spawn_task(
            self,
            scheduler: Arc<dyn Schedule>,
            resource: ResourceHandle,
        ) -> Result<JoinHandle<F::Output>, AllocError> {
            debug_assert!(scheduler.is_local());
            // SAFETY: executors of affinity Local (sealed: crate-internal)
            // run every task on the thread that owns them, which is this one
            // (they are !Send); the handle is Send only if the output is.
            unsafe { crate::task::try_spawn_unchecked(self, scheduler, resource) }
        }
    }

    impl<F: Future + Send + 'static> Spawn<super::Shared> for F
    where
        F::Output: Send,
    {
        fn spawn_task(
            self,
            scheduler: Arc<dyn Schedule>,
            resource: ResourceHandle,
        ) -> Result<JoinHandle<F::Output>, AllocError> {
            // SAFETY: the future and its output are Send.
            unsafe { crate::task::try_spawn_unchecked(self, scheduler, resource) }
        }
    }

    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be the frame allocator of this executor (`ResourceFor<{A}>`)",
        label = "not a frame allocator for this executor",
        note = "a frame allocator implements `coframe::frame::MemoryResource` and is \
                `Send + 'static`; on a `ThreadPool` (or a `Strand` over one) it must also be \
                `Sync`: run an allocator that is not `Sync` on a `LocalExecutor`",
        note = "an `allocator_api2` allocator (`bumpalo::Bump`, ...) becomes one wrapped in \
                `coframe::frame::Allocator2` (feature `allocator-api2`)"
    )]
    pub trait Resource<A> {
        fn into_root(self) -> ResourceHandle;
    }

    impl<R: crate::frame::MemoryResource + Send + 'static> Resource<super::Local> for R {
        fn into_root(self) -> ResourceHandle {
            ResourceHandle::owning_local(self)
        }
    }

    impl<R: crate::frame::MemoryResource + Send + Sync + 'static> Resource<super::Shared> for R {
        fn into_root(self) -> ResourceHandle {
            SyncResourceHandle::owning(self).into()
        }
    }
}

/// Entering an executor: saves the whole per-thread context (rule 11) and
/// makes `sched` the current scheduler; everything is restored on drop,
/// also when unwinding. Executors set their own fields of the context
/// (`local`, `worker`, `strand`) after entering.
pub(crate) struct EnterGuard {
    _saved: crate::thread_context::Saved,
}

impl EnterGuard {
    /// # Safety
    /// `sched` outlives the guard.
    #[inline(always)]
    pub(crate) unsafe fn new(sched: &Arc<dyn Schedule>) -> Self {
        let saved = crate::thread_context::Saved::new();
        let sched: &dyn Schedule = &**sched;
        crate::thread_context::with(|cx| cx.scheduler.set(Some(NonNull::from(sched))));
        Self { _saved: saved }
    }

    /// Saves the context without naming a scheduler (`block_on`).
    #[inline(always)]
    pub(crate) fn saving() -> Self {
        Self {
            _saved: crate::thread_context::Saved::new(),
        }
    }
}

/// The scheduler of the executor running on this thread, if any. Valid
/// until the caller returns to that executor (set only by an `EnterGuard`,
/// which its executor outlives).
#[inline]
pub(crate) fn current_scheduler_ref() -> Option<NonNull<dyn Schedule>> {
    crate::thread_context::with(|cx| cx.scheduler.get())
}

/// A counted (`Arc`) copy of the current scheduler, if an executor is
/// running here.
#[inline]
pub(crate) fn current_scheduler() -> Option<Arc<dyn Schedule>> {
    let p = current_scheduler_ref()?;
    // SAFETY: the pointer is set only by an `EnterGuard` from an
    // `Arc<dyn Schedule>` whose executor is still alive (the guard is
    // dropped before it): it is that `Arc`'s value, so a new strong count
    // on it makes an `Arc` of its own.
    Some(unsafe {
        Arc::increment_strong_count(p.as_ptr());
        Arc::from_raw(p.as_ptr())
    })
}

#[cold]
pub(crate) fn refused(e: AllocError) -> ! {
    panic!("coframe: frame memory resource refused the allocation of a task cell ({e})")
}

/// Spawns a `Send` future on the executor running the current task, with
/// its cell allocated from the current frame resource (so a task started by
/// [`run_async`] passes its allocator on to its children). On a
/// multi-threaded executor a local-only current resource is replaced by the
/// default one.
///
/// # Panics
///
/// Outside a task (no executor is running on this thread), or if the
/// resource refuses the allocation.
///
/// ```
/// let ex = coframe::LocalExecutor::new();
/// let out = ex.run_until(async {
///     let child = coframe::spawn(async { 20 });
///     child.await.unwrap() + 1
/// });
/// assert_eq!(out, 21);
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    let sched = current_scheduler_ref().unwrap_or_else(|| {
        panic!("coframe::spawn called outside a task: no executor is running on this thread")
    });
    if let Some(inner) = running_local(sched) {
        // SAFETY: the local executor running here runs the task on this
        // thread; the future and its output are Send anyway.
        return unsafe { crate::task::try_spawn_ref(future, inner, ResourceHandle::current()) }
            .unwrap_or_else(|e| refused(e));
    }
    // SAFETY: the running executor outlives this call.
    let sched = unsafe { sched.as_ref() };
    let resource = if sched.is_local() {
        ResourceHandle::current()
    } else {
        SyncResourceHandle::current().into()
    };
    // SAFETY: the future and its output are Send.
    unsafe { crate::task::try_spawn_ref(future, sched, resource) }.unwrap_or_else(|e| refused(e))
}

/// The `LocalExecutor` whose loop runs on this thread, if `sched` is its
/// scheduler: spawns then count and bind on it directly (a credit and a
/// queue push, no virtual call), as its own `spawn` does.
#[inline(always)]
fn running_local<'a>(sched: NonNull<dyn Schedule>) -> Option<&'a local::Inner> {
    let running = local::running();
    // SAFETY: a non-null `running()` is the state of the LocalExecutor
    // running on this thread, alive while it runs (beyond the caller's
    // spawn, made from one of its tasks).
    (!running.is_null() && std::ptr::eq(running.cast::<u8>(), sched.as_ptr().cast::<u8>()))
        .then(|| unsafe { &*running })
}

/// Runs the blocking closure `f` on a blocking thread of the executor
/// running the current task ([`ThreadPool::spawn_blocking`],
/// [`LocalExecutor::spawn_blocking`]: a bounded pool of threads started on
/// demand, whose idle threads exit after a keep-alive) and returns a
/// handle to its result, awaited like any task's. A panic in `f` becomes
/// the handle's panic [`JoinError`](crate::JoinError). Where the current
/// executor has no blocking threads of its own (a [`Strand`]'s tasks, a
/// thread inside [`ThreadPool::block_on`]) a process-wide blocking pool with
/// the same defaults runs it.
///
/// # Panics
///
/// Outside a task (no executor is running on this thread).
///
/// ```
/// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
/// let len = pool.block_on(pool.spawn(async {
///     // A blocking call, off the worker thread.
///     coframe::spawn_blocking(|| std::fs::read_dir(".").map(|d| d.count()).unwrap_or(0))
///         .await
///         .unwrap()
/// }));
/// assert!(len.unwrap() > 0);
/// ```
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let sched = current_scheduler_ref().unwrap_or_else(|| {
        panic!(
            "coframe::spawn_blocking called outside a task: no executor is running on this thread"
        )
    });
    let sched_ptr = sched.as_ptr() as *const ();
    let local = local::running();
    let pool = if !local.is_null() && std::ptr::eq(local as *const (), sched_ptr) {
        // SAFETY: a non-null `running()` is the state of the LocalExecutor
        // running on this thread, alive while it runs (beyond this call).
        let inner = unsafe { &*local };
        &inner.blocking
    } else {
        match pool::current_worker() {
            Some((shared, _)) if std::ptr::eq(Arc::as_ptr(&shared) as *const (), sched_ptr) => {
                return spawn(blocking::blocking_future(&shared.blocking, f));
            }
            _ => blocking::fallback_pool(),
        }
    };
    spawn(blocking::blocking_future(pool, f))
}

/// Like [`spawn`], but outside a task (no executor running on this thread)
/// or when the frame resource refuses the cell it returns an error instead
/// of panicking (the future is dropped).
///
/// ```
/// use coframe::executor::TrySpawnError;
/// assert!(matches!(coframe::try_spawn(async {}), Err(TrySpawnError::NoExecutor)));
/// let ex = coframe::LocalExecutor::new();
/// let out = ex.run_until(async { coframe::try_spawn(async { 3 }).unwrap().await.unwrap() });
/// assert_eq!(out, 3);
/// ```
pub fn try_spawn<F>(future: F) -> Result<JoinHandle<F::Output>, TrySpawnError>
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    let sched = current_scheduler_ref().ok_or(TrySpawnError::NoExecutor)?;
    // SAFETY: the running executor outlives this call.
    let sched = unsafe { sched.as_ref() };
    let resource = if sched.is_local() {
        ResourceHandle::current()
    } else {
        SyncResourceHandle::current().into()
    };
    // SAFETY: the future and its output are Send.
    unsafe { crate::task::try_spawn_ref(future, sched, resource) }.map_err(TrySpawnError::Refused)
}

/// Why [`try_spawn`] did not spawn.
///
/// ```
/// let err = coframe::try_spawn(async {}).unwrap_err();
/// assert_eq!(err.to_string(), "coframe: no executor is running on this thread");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrySpawnError {
    /// Not inside a task: no executor is running on this thread.
    NoExecutor,
    /// The current frame resource refused the task cell.
    Refused(AllocError),
}

impl std::fmt::Display for TrySpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrySpawnError::NoExecutor => {
                f.write_str("coframe: no executor is running on this thread")
            }
            TrySpawnError::Refused(e) => write!(f, "coframe: {e}"),
        }
    }
}

impl std::error::Error for TrySpawnError {}

/// Spawns a `!Send` future on the [`LocalExecutor`] running the current task,
/// with its cell allocated from the current frame resource.
///
/// # Panics
///
/// Outside a task, inside a task of a multi-threaded executor, or if the
/// resource refuses the allocation.
///
/// ```
/// use std::rc::Rc;
/// let ex = coframe::LocalExecutor::new();
/// let out = ex.run_until(async {
///     let shared = Rc::new(5);
///     let s = shared.clone();
///     coframe::spawn_local(async move { *s * 2 }).await.unwrap()
/// });
/// assert_eq!(out, 10);
/// ```
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
{
    let sched = current_scheduler_ref().unwrap_or_else(|| {
        panic!("coframe::spawn_local called outside a task: no executor is running on this thread")
    });
    if let Some(inner) = running_local(sched) {
        // SAFETY: the local executor running here runs the task on this
        // thread.
        return unsafe { crate::task::try_spawn_ref(future, inner, ResourceHandle::current()) }
            .unwrap_or_else(|e| refused(e));
    }
    // SAFETY: the running executor outlives this call.
    let sched = unsafe { sched.as_ref() };
    assert!(
        sched.is_local(),
        "coframe::spawn_local called from a task of a multi-threaded executor: use coframe::spawn"
    );
    // SAFETY: the scheduler is local: it runs the task on this thread.
    unsafe { crate::task::try_spawn_ref(future, sched, ResourceHandle::current()) }
        .unwrap_or_else(|e| refused(e))
}
