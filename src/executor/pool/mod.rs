//! [`ThreadPool`]: a work-stealing multi-threaded executor.
//!
//! Files, one responsibility each: `queue.rs` (local queues, stealers,
//! injector and pinned inboxes over `crossbeam-deque`), `idle.rs` (parking:
//! searching cap, no lost wake-ups), `worker.rs` (the worker loop, the LIFO
//! slot, stealing), `shared.rs` (the shared state, the live-task list, the
//! remote gate and the shutdown protocol), and this file (the handle, its
//! builder, the [`Executor`](crate::Executor) impl and the metrics).
//!
//! Scheduling is tokio's multi-thread design on crossbeam-deque: a FIFO
//! local queue per worker, a global injector for spawns and wakes from
//! outside, a capped LIFO slot, stealing of about half a victim's queue,
//! and a bounded searcher count with "the last searcher that finds work
//! wakes another" (module docs of `worker.rs` and `idle.rs`). crossbeam's
//! `Worker` grows, so unlike tokio's 256-slot ring nothing overflows to the
//! injector; idle workers steal instead.
//!
//! Frames: every poll goes through `safe_resume_with` with the task's own
//! resource (the task cell does it), so a stolen task allocates its
//! children from its own allocator and its cell is freed to the resource it
//! came from, on whichever worker drops it. Worker threads live as long as
//! the pool, so the default [`Recycling`](crate::frame::Recycling) caches of
//! each worker stay warm.
//!
//! Shutdown is described in `shared.rs`; the user-facing contract is on
//! [`ThreadPool::shutdown`].

mod handle;
mod idle;
mod queue;
mod shared;
mod worker;

#[cfg(all(test, loom))]
mod loom_tests;

pub use handle::{PoolEnterGuard, PoolHandle};
pub(crate) use shared::PoolState;
pub(crate) use worker::{current_worker, Core};

use super::{EnterGuard, Executor, Shared as SharedAffinity};
use crate::context::PooledStack;
use crate::frame::SyncResourceHandle;
use crate::task::{JoinHandle, Schedule};
use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::thread;

/// Configures and builds a [`ThreadPool`].
///
/// ```
/// let pool = coframe::ThreadPool::builder()
///     .worker_threads(2)
///     .thread_name("my-worker")
///     .thread_stack_size(1 << 20)
///     .build()
///     .unwrap();
/// assert_eq!(pool.worker_threads(), 2);
/// assert_eq!(pool.block_on(pool.spawn(async { 6 * 7 })).unwrap(), 42);
/// ```
#[derive(Debug, Clone)]
pub struct ThreadPoolBuilder {
    workers: Option<usize>,
    name: String,
    thread_stack_size: Option<usize>,
    stacks: Option<PooledStack>,
    stackful_stack_size: Option<usize>,
    max_blocking_threads: Option<usize>,
    blocking_keep_alive: Option<std::time::Duration>,
    on_thread_start: Option<Hook>,
    on_thread_stop: Option<Hook>,
    unhandled_panic: super::UnhandledPanic,
}

/// A thread start or stop hook of the builder.
#[derive(Clone)]
struct Hook(Arc<dyn Fn() + Send + Sync + 'static>);

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hook(..)")
    }
}

impl Hook {
    /// Runs the hook; a panic in it is contained (the standard panic hook
    /// has printed it) so the worker runs on or exits as planned.
    fn call(&self) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.0)()));
    }
}

/// Why a [`ThreadPoolBuilder`] could not build a pool.
///
/// ```
/// let err = coframe::ThreadPool::builder().worker_threads(0).build().unwrap_err();
/// assert!(matches!(err, coframe::executor::BuildError::ZeroWorkers));
/// assert!(err.to_string().contains("at least one worker"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// `worker_threads(0)`: a pool needs at least one worker.
    ZeroWorkers,
    /// The stackful-task stack pool could not be created (size too small).
    Stack(crate::context::StackError),
    /// The operating system refused to start a worker thread.
    Spawn(std::io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroWorkers => {
                f.write_str("coframe: a ThreadPool needs at least one worker thread (got 0)")
            }
            BuildError::Stack(e) => write!(f, "coframe: stackful stack allocator: {e}"),
            BuildError::Spawn(e) => write!(f, "coframe: could not start a pool worker: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}

impl Default for ThreadPoolBuilder {
    fn default() -> Self {
        ThreadPoolBuilder {
            workers: None,
            name: "coframe-worker".into(),
            thread_stack_size: None,
            stacks: None,
            stackful_stack_size: None,
            max_blocking_threads: None,
            blocking_keep_alive: None,
            on_thread_start: None,
            on_thread_stop: None,
            unhandled_panic: super::UnhandledPanic::Ignore,
        }
    }
}

impl ThreadPoolBuilder {
    /// Number of worker threads (default: the available parallelism).
    /// Zero makes [`build`](Self::build) fail with
    /// [`BuildError::ZeroWorkers`].
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
    /// assert_eq!(pool.worker_threads(), 1);
    /// ```
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Prefix of the worker threads' names (`prefix-0`, `prefix-1`, …;
    /// default `coframe-worker`).
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).thread_name("io").build().unwrap();
    /// let name = pool.block_on(pool.spawn(async {
    ///     std::thread::current().name().map(str::to_owned)
    /// }));
    /// assert_eq!(name.unwrap().as_deref(), Some("io-0"));
    /// ```
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.name = prefix.into();
        self
    }

    /// Stack size of the worker threads themselves (default: std's).
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1)
    ///     .thread_stack_size(8 << 20).build().unwrap();
    /// assert_eq!(pool.block_on(pool.spawn(async { 1 })).unwrap(), 1);
    /// ```
    pub fn thread_stack_size(mut self, bytes: usize) -> Self {
        self.thread_stack_size = Some(bytes);
        self
    }

    /// The stack allocator stackful tasks spawned on this pool will use
    /// (default: a [`PooledStack`] of
    /// [`stackful::DEFAULT_STACK_SIZE`](crate::stackful::DEFAULT_STACK_SIZE)
    /// stacks, the size stackful tasks get wherever they run, none mapped up
    /// front).
    ///
    /// ```
    /// use coframe::context::PooledStack;
    /// let stacks = PooledStack::builder().stack_size(128 * 1024).build().unwrap();
    /// let pool = coframe::ThreadPool::builder().worker_threads(1)
    ///     .stack_allocator(stacks).build().unwrap();
    /// assert!(pool.stack_allocator().stack_size() >= 128 * 1024);
    /// ```
    pub fn stack_allocator(mut self, stacks: PooledStack) -> Self {
        self.stacks = Some(stacks);
        self
    }

    /// Stack size of the default stack allocator (ignored when
    /// [`stack_allocator`](Self::stack_allocator) is given). A size below
    /// the platform minimum makes `build` fail with [`BuildError::Stack`].
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1)
    ///     .stackful_stack_size(256 * 1024).build().unwrap();
    /// assert!(pool.stack_allocator().stack_size() >= 256 * 1024);
    /// assert!(coframe::ThreadPool::builder().stackful_stack_size(1).build().is_err());
    /// ```
    pub fn stackful_stack_size(mut self, bytes: usize) -> Self {
        self.stackful_stack_size = Some(bytes);
        self
    }

    /// Most threads [`spawn_blocking`](ThreadPool::spawn_blocking) runs
    /// closures on at once (default 512; at least 1): more closures wait
    /// for a free thread.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1)
    ///     .max_blocking_threads(4).build().unwrap();
    /// assert_eq!(pool.block_on(pool.spawn_blocking(|| 1)).unwrap(), 1);
    /// ```
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        self.max_blocking_threads = Some(n);
        self
    }

    /// How long an idle blocking thread waits for another closure before
    /// it exits (default 10 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = coframe::ThreadPool::builder().worker_threads(1)
    ///     .blocking_keep_alive(Duration::from_secs(1)).build().unwrap();
    /// assert_eq!(pool.block_on(pool.spawn_blocking(|| 1)).unwrap(), 1);
    /// ```
    pub fn blocking_keep_alive(mut self, keep_alive: std::time::Duration) -> Self {
        self.blocking_keep_alive = Some(keep_alive);
        self
    }

    /// Runs `f` on each worker thread when it starts, before it runs any
    /// task (say, to pin the thread to a core or name it in a profiler). A
    /// panic in `f` is contained: the standard panic hook prints it and the
    /// worker starts anyway.
    ///
    /// ```
    /// use std::sync::{atomic::{AtomicUsize, Ordering}, Arc};
    /// let (started, stopped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    /// let (s, t) = (started.clone(), stopped.clone());
    /// let pool = coframe::ThreadPool::builder()
    ///     .worker_threads(2)
    ///     .on_thread_start(move || { s.fetch_add(1, Ordering::SeqCst); })
    ///     .on_thread_stop(move || { t.fetch_add(1, Ordering::SeqCst); })
    ///     .build()
    ///     .unwrap();
    /// pool.block_on(pool.spawn(async {})).unwrap();
    /// drop(pool); // joins the workers
    /// assert_eq!((started.load(Ordering::SeqCst), stopped.load(Ordering::SeqCst)), (2, 2));
    /// ```
    pub fn on_thread_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_thread_start = Some(Hook(Arc::new(f)));
        self
    }

    /// Runs `f` on each worker thread when it stops, after its last task
    /// (at shutdown). A panic in `f` is contained, as in
    /// [`on_thread_start`](Self::on_thread_start).
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1)
    ///     .on_thread_stop(|| println!("worker stopping")).build().unwrap();
    /// drop(pool);
    /// ```
    pub fn on_thread_stop(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_thread_stop = Some(Hook(Arc::new(f)));
        self
    }

    /// What the pool does when a task panics (default
    /// [`UnhandledPanic::Ignore`](super::UnhandledPanic::Ignore): the
    /// panic goes to the task's handle only).
    ///
    /// ```
    /// use coframe::executor::UnhandledPanic;
    /// let pool = coframe::ThreadPool::builder().worker_threads(1)
    ///     .unhandled_panic(UnhandledPanic::ShutDown).build().unwrap();
    /// let waiting = pool.spawn(std::future::pending::<()>());
    /// let bad = pool.spawn(async { panic!("boom") });
    /// assert!(pool.block_on(bad).unwrap_err().is_panic());
    /// // The panic shut the pool down: the other task is cancelled.
    /// assert!(coframe::block_on(waiting).unwrap_err().is_cancelled());
    /// ```
    pub fn unhandled_panic(mut self, policy: super::UnhandledPanic) -> Self {
        self.unhandled_panic = policy;
        self
    }

    /// Starts the workers.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(2).build().unwrap();
    /// assert_eq!(pool.worker_threads(), 2);
    /// ```
    pub fn build(self) -> Result<ThreadPool, BuildError> {
        let workers = match self.workers {
            Some(0) => return Err(BuildError::ZeroWorkers),
            Some(n) => n,
            None => thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let stacks = match self.stacks {
            Some(s) => s,
            None => PooledStack::new(
                self.stackful_stack_size
                    .unwrap_or(crate::stackful::DEFAULT_STACK_SIZE),
            )
            .map_err(BuildError::Stack)?,
        };
        let blocking = super::blocking::BlockingPool::new(
            self.max_blocking_threads
                .unwrap_or(super::blocking::DEFAULT_MAX_BLOCKING_THREADS),
            self.blocking_keep_alive
                .unwrap_or(super::blocking::DEFAULT_BLOCKING_KEEP_ALIVE),
            format!("{}-blocking", self.name),
        );
        let (mut shared, locals) = PoolState::new(workers, stacks, blocking);
        shared.shutdown_on_panic = self.unhandled_panic == super::UnhandledPanic::ShutDown;
        let shared = Arc::new(shared);
        let sched: Arc<dyn Schedule> = shared.clone();
        let mut threads = Vec::with_capacity(workers);
        for (index, local) in locals.into_iter().enumerate() {
            let mut b = thread::Builder::new().name(format!("{}-{index}", self.name));
            if let Some(size) = self.thread_stack_size {
                b = b.stack_size(size);
            }
            let s = shared.clone();
            let (start, stop) = (self.on_thread_start.clone(), self.on_thread_stop.clone());
            let main = move || {
                if let Some(h) = start {
                    h.call();
                }
                worker::worker_main(s, index, local);
                if let Some(h) = stop {
                    h.call();
                }
            };
            match b.spawn(main) {
                Ok(t) => threads.push(t),
                Err(e) => {
                    // Stop the workers already started (the rest of the
                    // locals are dropped empty).
                    let pool = ThreadPool {
                        shared,
                        sched,
                        threads: Mutex::new(threads),
                    };
                    // Workers never started still count as participants.
                    for _ in index..workers {
                        pool.shared.finish_participant();
                    }
                    drop(pool);
                    return Err(BuildError::Spawn(e));
                }
            }
        }
        Ok(ThreadPool {
            shared,
            sched,
            threads: Mutex::new(threads),
        })
    }
}

/// A snapshot of a pool's counters ([`ThreadPool::metrics`]).
///
/// ```
/// let pool = coframe::ThreadPool::builder().worker_threads(2).build().unwrap();
/// pool.block_on(pool.spawn(async {})).unwrap();
/// let m = pool.metrics();
/// assert_eq!(m.worker_threads, 2);
/// assert_eq!(m.tasks_spawned, 1);
/// assert!(m.polls >= 1);
/// assert_eq!(m.injector_pushes, 1); // spawned from outside
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolMetrics {
    /// Number of worker threads (as [`ThreadPool::worker_threads`]).
    pub worker_threads: usize,
    /// Tasks spawned on the pool (from workers and from outside).
    pub tasks_spawned: u64,
    /// Tasks spawned from inside the pool (on a worker thread).
    pub tasks_spawned_local: u64,
    /// Task polls (including the final run that drops an aborted future).
    pub polls: u64,
    /// Successful steals (each moves about half of a victim's queue).
    pub steals: u64,
    /// Times a worker went to sleep.
    pub parks: u64,
    /// Runnables pushed to the global injector (spawns and wakes from
    /// threads that are not workers of this pool).
    pub injector_pushes: u64,
    /// Blocking threads alive ([`ThreadPool::spawn_blocking`]), busy or
    /// idle.
    pub blocking_threads: usize,
}

/// A work-stealing thread pool: runs `Send` futures on a fixed set of
/// worker threads.
///
/// - [`spawn`](Self::spawn) from anywhere (from a worker the task goes to
///   that worker's queue, from outside to the global injector);
///   [`coframe::spawn`](crate::spawn) inside a task spawns on the same pool
///   with the task's frame resource;
/// - [`block_on`](Self::block_on) runs a future on the calling thread with
///   the pool as the current executor;
/// - [`run_async`](crate::run_async) starts a task tree whose frames come
///   from a `Send + Sync` allocator;
/// - dropping the pool (or [`shutdown`](Self::shutdown)) cancels what is
///   left.
///
/// ```
/// use coframe::{run_async, frame::Counting, frame::Recycling, ThreadPool};
/// use std::sync::Arc;
/// let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
/// let counting = Arc::new(Counting::new(Recycling));
/// let root = run_async(&pool, counting.clone(), async {
///     let children: Vec<_> = (0..10u64).map(|i| coframe::spawn(async move { i * i })).collect();
///     let mut sum = 0;
///     for c in children { sum += c.await.unwrap(); }
///     sum
/// });
/// assert_eq!(pool.block_on(root).unwrap(), 285);
/// assert_eq!(counting.total_allocations(), 11); // the root and its 10 children
/// drop(pool); // joins the workers: the last cells are freed by now
/// assert_eq!(counting.live_frames(), 0);
/// ```
pub struct ThreadPool {
    shared: Arc<PoolState>,
    sched: Arc<dyn Schedule>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("worker_threads", &self.worker_threads())
            .field("shut_down", &self.shared.is_closed())
            .finish_non_exhaustive()
    }
}

impl Default for ThreadPool {
    fn default() -> Self {
        Self::new()
    }
}

impl ThreadPool {
    /// A pool with one worker per available CPU
    /// ([`std::thread::available_parallelism`]).
    ///
    /// # Panics
    ///
    /// If the operating system refuses to start the threads.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::new();
    /// assert!(pool.worker_threads() >= 1);
    /// ```
    pub fn new() -> Self {
        Self::builder()
            .build()
            .unwrap_or_else(|e| panic!("coframe: ThreadPool::new: {e}"))
    }

    /// A [`ThreadPoolBuilder`] with the defaults.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(3).build().unwrap();
    /// assert_eq!(pool.worker_threads(), 3);
    /// ```
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::default()
    }

    /// The pool's shared state (for pinned stackful tasks).
    pub(crate) fn shared(&self) -> &Arc<PoolState> {
        &self.shared
    }

    /// Number of worker threads: what
    /// [`ThreadPoolBuilder::worker_threads`] set (or the default).
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(2).build().unwrap();
    /// assert_eq!(pool.worker_threads(), 2);
    /// ```
    pub fn worker_threads(&self) -> usize {
        self.shared.workers()
    }

    /// The old name of [`worker_threads`](Self::worker_threads).
    ///
    /// ```
    /// # #![allow(deprecated)]
    /// let pool = coframe::ThreadPool::builder().worker_threads(2).build().unwrap();
    /// assert_eq!(pool.workers(), pool.worker_threads());
    /// ```
    #[deprecated(
        since = "0.1.0",
        note = "renamed to `worker_threads`, as the builder's setter"
    )]
    pub fn workers(&self) -> usize {
        self.worker_threads()
    }

    /// The stack allocator for stackful tasks run on this pool.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
    /// assert_eq!(pool.stack_allocator().live(), 0);
    /// ```
    pub fn stack_allocator(&self) -> &PooledStack {
        self.shared.stacks()
    }

    /// Spawns a `Send` future; its cell comes from the current frame
    /// resource (the default one outside a task; a local-only current
    /// resource is replaced by the default, see rule 4). After
    /// shutdown the task is cancelled at once (its handle gives
    /// a cancelled [`JoinError`](crate::JoinError)).
    ///
    /// # Panics
    ///
    /// If the current resource refuses the allocation.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(2).build().unwrap();
    /// let handles: Vec<_> = (0..4).map(|i| pool.spawn(async move { i + 1 })).collect();
    /// let sum: i32 = pool.block_on(async {
    ///     let mut s = 0;
    ///     for h in handles { s += h.await.unwrap(); }
    ///     s
    /// });
    /// assert_eq!(sum, 10);
    /// ```
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send,
    {
        use super::sealed::Spawn;
        Spawn::<SharedAffinity>::spawn_task(
            future,
            self.sched.clone(),
            SyncResourceHandle::current().into(),
        )
        .unwrap_or_else(|e| super::refused(e))
    }

    /// Runs `f` on one of the pool's blocking threads (a bounded pool
    /// apart from the workers, started on demand; idle threads exit after
    /// a keep-alive, see [`ThreadPoolBuilder::max_blocking_threads`] and
    /// [`ThreadPoolBuilder::blocking_keep_alive`]) and returns a handle to
    /// its result; the workers go on running tasks meanwhile. A panic in
    /// `f` becomes the handle's panic [`JoinError`](crate::JoinError).
    ///
    /// Aborting the handle before `f` started means `f` never runs; once
    /// it runs it runs to its end. Shutdown drops the closures not yet
    /// started; those running finish on their threads, which shutdown does
    /// not wait for.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
    /// let h = pool.spawn_blocking(|| std::fs::metadata(".").is_ok());
    /// assert!(pool.block_on(h).unwrap());
    /// ```
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn(super::blocking::blocking_future(&self.shared.blocking, f))
    }

    /// Runs `future` to completion on the calling thread, with this pool as
    /// the current executor (so [`coframe::spawn`](crate::spawn) inside it
    /// spawns on the pool). The calling thread parks while the future
    /// waits.
    ///
    /// # Panics
    ///
    /// If called on a worker thread of a coframe pool (from inside a task):
    /// blocking a worker can deadlock the pool, so it panics with a message
    /// saying so instead (inside a task the panic becomes that task's
    /// panic [`JoinError`](crate::JoinError)). `.await` the future
    /// instead.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
    /// let out = pool.block_on(async { coframe::spawn(async { 5 }).await.unwrap() });
    /// assert_eq!(out, 5);
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if worker::on_any_worker() {
            panic!(
                "coframe: ThreadPool::block_on called on a pool worker thread (inside a task): \
                 blocking a worker can deadlock the pool; .await the future instead"
            );
        }
        // SAFETY: `self.sched` outlives the guard (dropped at the end of
        // this call).
        let _enter = unsafe { EnterGuard::new(&self.sched) };
        super::block_on(future)
    }

    /// Current values of the pool's counters.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
    /// pool.block_on(async {
    ///     coframe::spawn(async { coframe::spawn(async {}).await.unwrap() }).await.unwrap()
    /// });
    /// let m = pool.metrics();
    /// assert_eq!(m.tasks_spawned, 2);
    /// assert_eq!(m.tasks_spawned_local, 1);
    /// ```
    pub fn metrics(&self) -> PoolMetrics {
        let s = &*self.shared;
        let mut m = PoolMetrics {
            worker_threads: s.workers(),
            injector_pushes: s.injector_pushes.load(Relaxed),
            blocking_threads: s.blocking.threads(),
            ..PoolMetrics::default()
        };
        for w in s.stats.iter() {
            m.tasks_spawned_local += w.spawned.load(Relaxed);
            m.polls += w.polls.load(Relaxed);
            m.steals += w.steals.load(Relaxed);
            m.parks += w.parks.load(Relaxed);
        }
        m.tasks_spawned = m.tasks_spawned_local + s.remote_spawned.load(Relaxed);
        m
    }

    /// Shuts the pool down: unfinished tasks are cancelled and dropped
    /// (never completed), their `JoinHandle`s resolve to
    /// a cancelled [`JoinError`](crate::JoinError), the workers
    /// exit, every task cell is freed (or, if its handle still exists,
    /// freed when the handle goes) and the allocator roots of `run_async`
    /// trees are dropped with their last frame. A task that is running
    /// finishes its current poll first. Later spawns are cancelled at once;
    /// a spawn racing with the shutdown is either run or cancelled, never
    /// leaked. Idempotent; `Drop` calls it.
    ///
    /// From outside the pool it returns when all of that is done (the
    /// workers are joined). **Called (or the pool dropped) from inside one
    /// of the pool's own tasks** it cannot wait for the worker it runs on:
    /// it starts the shutdown and returns at once; the workers finish their
    /// current polls and exit, the last one to exit cancels the remaining
    /// tasks (including the caller's, if it is still pending), and the
    /// threads are detached. No deadlock either way.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(2).build().unwrap();
    /// let pending = pool.spawn(std::future::pending::<()>());
    /// pool.shutdown();
    /// assert!(coframe::block_on(pending).unwrap_err().is_cancelled());
    /// assert!(coframe::block_on(pool.spawn(async {})).is_err()); // after shutdown
    /// ```
    pub fn shutdown(&self) {
        // Queued blocking closures are dropped; running ones finish on
        // their (detached) threads.
        self.shared.blocking.shutdown();
        if self.shared.begin_shutdown() {
            self.finish_as_participant();
        }
        if worker::on_any_worker() && worker::current_for(&self.shared).is_some() {
            // Inside our own task: never join (module docs above).
            return;
        }
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        for t in threads.drain(..) {
            // Worker panics are coframe bugs; do not double-panic in Drop.
            let _ = t.join();
        }
    }
}

impl ThreadPool {
    /// The shutting-down thread's part of shutdown step 3 (`shared.rs`).
    /// This thread may be the last participant, which cancels every
    /// remaining task: their destructors run with the pool current (closed,
    /// so what they spawn is cancelled on the spot), as on the workers'
    /// exit paths.
    fn finish_as_participant(&self) {
        // SAFETY: `self.sched` outlives the guard.
        let _enter = unsafe { EnterGuard::new(&self.sched) };
        self.shared.finish_participant();
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl super::sealed::Executor for ThreadPool {
    fn scheduler(&self) -> &Arc<dyn Schedule> {
        &self.sched
    }
}

impl Executor for ThreadPool {
    type Affinity = SharedAffinity;

    /// Whether the calling thread is one of this pool's workers.
    fn running_in_this_thread(&self) -> bool {
        worker::current_for(&self.shared).is_some()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// The interleaving in which the thread that shuts the pool down
    /// finishes last (every worker exited first), so the final cleanup
    /// runs on it: a destructor there still finds the pool current.
    #[test]
    fn the_last_participant_cleans_up_with_the_pool_current() {
        struct SpawnsOnDrop(Arc<AtomicBool>);
        impl Drop for SpawnsOnDrop {
            fn drop(&mut self) {
                // Panics without a current executor.
                drop(crate::spawn(async {}));
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = SpawnsOnDrop(dropped.clone());
        let h = pool.spawn(async move {
            let _g = guard;
            std::future::pending::<()>().await
        });
        assert!(pool.shared.begin_shutdown());
        for t in pool.threads.lock().unwrap().drain(..) {
            t.join().unwrap();
        }
        pool.finish_as_participant();
        assert!(crate::block_on(h).unwrap_err().is_cancelled());
        assert!(dropped.load(Ordering::SeqCst));
    }
}
