//! [`PoolHandle`]: a cloneable, `Send + Sync` handle to a [`ThreadPool`]
//! that spawns from any thread and can make the pool current on a thread
//! ([`PoolHandle::enter`]).
//!
//! It holds the pool's shared state (one strong count), not the pool: the
//! workers stop when the `ThreadPool` is dropped or shut down, after which
//! what a handle spawns is cancelled at once.

use super::{PoolState, ThreadPool};
use crate::executor::EnterGuard;
use crate::frame::SyncResourceHandle;
use crate::task::{JoinHandle, Schedule};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

/// A handle to a [`ThreadPool`]: `Clone + Send + Sync`, spawns onto the pool
/// from any thread ([`ThreadPool::handle`], [`PoolHandle::current`]).
///
/// ```
/// let pool = coframe::ThreadPool::builder().worker_threads(2).build().unwrap();
/// let handle = pool.handle();
/// let t = std::thread::spawn(move || handle.spawn(async { 6 * 7 }));
/// let h = t.join().unwrap();
/// assert_eq!(pool.block_on(h).unwrap(), 42);
/// ```
#[derive(Clone)]
pub struct PoolHandle {
    shared: Arc<PoolState>,
    sched: Arc<dyn Schedule>,
}

impl fmt::Debug for PoolHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolHandle")
            .field("shut_down", &self.shared.is_closed())
            .finish_non_exhaustive()
    }
}

impl ThreadPool {
    /// A handle to this pool, to spawn on it from anywhere.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
    /// let h = pool.handle().spawn(async { 1 });
    /// assert_eq!(pool.block_on(h).unwrap(), 1);
    /// ```
    pub fn handle(&self) -> PoolHandle {
        PoolHandle {
            shared: self.shared.clone(),
            sched: self.sched.clone(),
        }
    }
}

impl PoolHandle {
    /// The pool the current task runs on (or that [`enter`](Self::enter)
    /// or [`ThreadPool::block_on`] made current on this thread).
    ///
    /// # Panics
    ///
    /// If no thread pool is current here (see
    /// [`try_current`](Self::try_current)).
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
    /// let inner = pool.block_on(pool.spawn(async {
    ///     coframe::executor::PoolHandle::current().spawn(async { 5 }).await.unwrap()
    /// }));
    /// assert_eq!(inner.unwrap(), 5);
    /// ```
    #[track_caller]
    pub fn current() -> PoolHandle {
        Self::try_current().unwrap_or_else(|| {
            panic!("coframe: PoolHandle::current called where no ThreadPool is current")
        })
    }

    /// The current pool's handle, or `None` where no thread pool is
    /// current (outside any executor, or in a `LocalExecutor`'s task).
    ///
    /// ```
    /// assert!(coframe::executor::PoolHandle::try_current().is_none());
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
    /// assert!(pool.block_on(async { coframe::executor::PoolHandle::try_current().is_some() }));
    /// ```
    pub fn try_current() -> Option<PoolHandle> {
        let from_scheduler = crate::executor::current_scheduler().and_then(|sched| {
            let shared: &PoolState = sched.as_any()?.downcast_ref()?;
            let ptr: *const PoolState = shared;
            // SAFETY: a pool's `PoolState` lives in an `Arc` (`build` makes
            // it so, and `as_any` reaches it only through that `Arc`'s
            // schedulers), alive while `sched` is: take one more count.
            let shared = unsafe {
                Arc::increment_strong_count(ptr);
                Arc::from_raw(ptr)
            };
            Some(shared)
        });
        // A worker running a strand's drain: its pool is still current.
        let shared = from_scheduler.or_else(|| super::current_worker().map(|(s, _)| s))?;
        let sched: Arc<dyn Schedule> = shared.clone();
        Some(PoolHandle { shared, sched })
    }

    /// Spawns a `Send` future on the pool, as [`ThreadPool::spawn`]: its
    /// cell comes from the current frame resource (outside a task, the
    /// default one); after shutdown it is cancelled at once.
    ///
    /// # Panics
    ///
    /// If the resource refuses the allocation.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
    /// let handle = pool.handle();
    /// assert_eq!(pool.block_on(handle.spawn(async { 3 })).unwrap(), 3);
    /// ```
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send,
    {
        use crate::executor::sealed::Spawn;
        Spawn::<crate::executor::Shared>::spawn_task(
            future,
            self.sched.clone(),
            SyncResourceHandle::current().into(),
        )
        .unwrap_or_else(|e| crate::executor::refused(e))
    }

    /// Runs a blocking closure on the pool's blocking threads, as
    /// [`ThreadPool::spawn_blocking`].
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
    /// let h = pool.handle().spawn_blocking(|| 2 + 2);
    /// assert_eq!(pool.block_on(h).unwrap(), 4);
    /// ```
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn(crate::executor::blocking::blocking_future(
            &self.shared.blocking,
            f,
        ))
    }

    /// Spawns a stackful task on the pool, as
    /// [`ThreadPool::spawn_stackful`] (a stack from the pool's allocator;
    /// pinned to the worker of its first poll).
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
    /// let h = pool.handle().spawn_stackful(|| coframe::stackful::wait(async { 8 }));
    /// assert_eq!(pool.block_on(h).unwrap(), 8);
    /// ```
    pub fn spawn_stackful<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        crate::executor::pinning::spawn_on_pool(
            self.shared.clone(),
            self.shared.stacks().clone(),
            f,
        )
    }

    /// Makes the pool current on this thread until the guard is dropped:
    /// [`coframe::spawn`](crate::spawn), [`spawn_blocking`](crate::spawn_blocking)
    /// and [`PoolHandle::current`] then reach it. Guards are dropped in
    /// the reverse order of their creation, on the thread that made them
    /// (they are `!Send`).
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
    /// let handle = pool.handle();
    /// let h = {
    ///     let _entered = handle.enter();
    ///     coframe::spawn(async { 9 }) // onto the pool
    /// };
    /// assert!(coframe::try_spawn(async {}).is_err()); // no longer entered
    /// assert_eq!(pool.block_on(h).unwrap(), 9);
    /// ```
    pub fn enter(&self) -> PoolEnterGuard<'_> {
        PoolEnterGuard {
            // SAFETY: `self.sched` outlives the guard (it borrows `self`).
            _enter: unsafe { EnterGuard::new(&self.sched) },
            _handle: PhantomData,
        }
    }

    /// Runs `future` to completion on the calling thread with the pool
    /// current, as [`ThreadPool::block_on`].
    ///
    /// # Panics
    ///
    /// On a worker thread of a coframe pool, as `ThreadPool::block_on`.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
    /// let handle = pool.handle();
    /// assert_eq!(handle.block_on(async { coframe::spawn(async { 4 }).await.unwrap() }), 4);
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if super::worker::on_any_worker() {
            panic!(
                "coframe: PoolHandle::block_on called on a pool worker thread (inside a task): \
                 blocking a worker can deadlock the pool; .await the future instead"
            );
        }
        let _enter = self.enter();
        crate::executor::block_on(future)
    }
}

/// The pool is current on this thread while this lives
/// ([`PoolHandle::enter`]).
#[must_use = "the pool is current only while the guard lives"]
pub struct PoolEnterGuard<'a> {
    _enter: EnterGuard,
    _handle: PhantomData<(&'a PoolHandle, *const ())>,
}

impl fmt::Debug for PoolEnterGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolEnterGuard").finish_non_exhaustive()
    }
}
