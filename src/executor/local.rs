//! [`LocalExecutor`]: a single-threaded executor for `!Send` futures.
//!
//! Owns: a local run queue (a `VecDeque` touched only on the owner thread,
//! no atomics), a remote queue (mutex) for `Runnable`s woken on other
//! threads plus the unpark of the owner thread, and the live-task list used
//! by shutdown (`task::LocalTasks`: no lock, owner thread only).
//!
//! Invariants:
//! - the owner-thread fields of [`Inner`] are touched only on the thread that
//!   created the executor: by the executor's own methods (it is `!Send` and
//!   `!Sync`), by tasks it polls, and by `schedule` only when the
//!   thread-local "running executor" pointer equals this executor (which is
//!   only ever set on its owner thread);
//! - every task spawned on it and not yet completed is on the live list and
//!   holds its executor reference; completion unlinks it;
//! - a tick runs at most [`TASKS_PER_TICK`] tasks, then looks at the main future and
//!   the remote queue again, so a task that keeps waking itself goes to the
//!   back of the queue and cannot starve the others;
//! - `Drop` is shutdown: mark closed (later schedules forget their
//!   `Runnable`), forget both queues, cancel every live task (its future is
//!   dropped on this thread, its handle sees `Cancelled`), then drop the
//!   executor's own state.

use super::EnterGuard;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::Mutex;
use crate::task::{
    cancel_now, Credits, Header, JoinHandle, LocalTasks, Runnable, SchedRef, Schedule,
};
use std::cell::{Cell, UnsafeCell};
use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::pin;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

/// Tasks run per tick before the main future and the remote queue are
/// looked at again (tokio's LocalSet uses 61).
pub(crate) const TASKS_PER_TICK: usize = 61;

/// The `Inner` whose loop is running on this thread, if any (the `local`
/// field of the thread's context).
#[inline]
pub(crate) fn running() -> *const Inner {
    crate::thread_context::with(|cx| cx.local.get())
}

struct Remote {
    queue: Vec<Runnable>,
    /// Tasks spawned from other threads (`LocalSpawner`), not yet bound.
    fresh: Vec<Runnable>,
    closed: bool,
}

/// The executor's state, shared with every task cell (as their scheduler).
pub(crate) struct Inner {
    // Owner thread only.
    local: UnsafeCell<VecDeque<Runnable>>,
    /// Tasks bound and not completed (shutdown cancels them).
    tasks: LocalTasks,
    closed: Cell<bool>,
    /// The count of the `SchedRef`s to this executor: its own, one per
    /// task cell, per main-future waker and per spawner. `Inner` is freed
    /// with the last. On the owner thread they are credits (no atomic).
    credits: Credits,
    // Any thread.
    remote: Mutex<Remote>,
    has_remote: AtomicBool,
    main_woken: AtomicBool,
    sleeping: AtomicBool,
    owner: Thread,
    /// The executor's event loop (owner thread only), made at its first
    /// run; `None` also if it could not be made (then the loop parks the
    /// thread and `coframe::io`/`time` report that no event loop runs).
    driver: std::cell::RefCell<Option<crate::reactor::Driver>>,
    /// Its handle, for remote wake-ups (any thread).
    reactor: std::sync::OnceLock<crate::reactor::Handle>,
    /// Whoever awaits a `LocalExecutor::run` of this executor while it is
    /// pending (any thread may wake it), and whether one ever did (a hint
    /// that spares `notify` the lock otherwise).
    outer: Mutex<Option<Waker>>,
    has_outer: AtomicBool,
    /// `UnhandledPanic::ShutDown`, and whether a task panicked since.
    shutdown_on_panic: bool,
    panicked: AtomicBool,
    /// Stacks for stackful tasks (default: the process-wide pool).
    stacks: Option<crate::context::PooledStack>,
    /// The threads of `spawn_blocking` (none started until used).
    pub(crate) blocking: super::blocking::BlockingPool,
}

// SAFETY: the `Cell`/`UnsafeCell` fields are owner-thread only (see the
// module invariants); everything else is thread-safe.
unsafe impl Send for Inner {}
// SAFETY: as above.
unsafe impl Sync for Inner {}

impl Inner {
    #[inline]
    fn on_owner_running(&self) -> bool {
        ptr::eq(running(), self)
    }

    /// # Safety
    /// Owner thread only, and no other borrow of the queue is live.
    #[inline]
    unsafe fn push_local(&self, r: Runnable) {
        if self.closed.get() {
            r.into_raw();
            return;
        }
        // SAFETY: owner thread, short borrow.
        unsafe { (*self.local.get()).push_back(r) }
    }

    /// # Safety
    /// Owner thread only.
    #[inline]
    unsafe fn pop_local(&self) -> Option<Runnable> {
        // SAFETY: owner thread, short borrow.
        unsafe { (*self.local.get()).pop_front() }
    }

    fn push_remote(&self, r: Runnable) {
        let mut q = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        if q.closed {
            // Shut down: the task is cancelled by the shutdown's live-list
            // pass (or already was); the Runnable must not be dropped here.
            r.into_raw();
            return;
        }
        q.queue.push(r);
        self.has_remote.store(true, Ordering::SeqCst);
        drop(q);
        self.notify();
    }

    /// Wakes the task awaiting a `run` of this executor, if one waits.
    fn wake_outer(&self) {
        let w = self.outer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = w {
            w.wake();
        }
    }

    fn notify(&self) {
        if self.has_outer.load(Ordering::SeqCst) && !self.on_owner_running() {
            self.wake_outer();
        }
        if self.on_owner_running() {
            // A wake on the owner thread inside its loop (from a task, or
            // from the event loop's own turn): the loop looks at the flags
            // before it sleeps again; waking it would only cost a syscall.
            return;
        }
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            // The owner sleeps in its event loop if it has one (rule 10: no
            // reactor thread), else in `thread::park`.
            match self.reactor.get() {
                Some(h) => h.unpark(),
                None => self.owner.unpark(),
            }
        }
    }

    /// Makes the event loop at the first run (owner thread).
    fn ensure_driver(&self) {
        let mut d = self.driver.borrow_mut();
        if d.is_none() && self.reactor.get().is_none() {
            match crate::reactor::Driver::new_home() {
                Ok(driver) => {
                    let _ = self.reactor.set(driver.handle().clone());
                    *d = Some(driver);
                }
                Err(e) => {
                    // Leave `reactor` empty: runs park the thread, and I/O
                    // and timers say no event loop runs here.
                    eprintln!("coframe: LocalExecutor: cannot make its event loop: {e}");
                }
            }
        }
    }

    /// Checks the event loop without blocking (ready I/O, expired timers):
    /// their wakers queue the tasks. Returns how many it handled.
    fn poll_events(&self) -> usize {
        match self.driver.try_borrow_mut() {
            Ok(mut d) => d
                .as_mut()
                .map_or(0, |d| d.turn(Some(std::time::Duration::ZERO))),
            Err(_) => 0,
        }
    }

    /// Moves remotely woken tasks to the local queue. Owner thread only.
    fn drain_remote(&self) {
        if !self.has_remote.load(Ordering::Acquire) {
            return;
        }
        let (taken, fresh) = {
            let mut q = self.remote.lock().unwrap_or_else(|e| e.into_inner());
            self.has_remote.store(false, Ordering::Relaxed);
            let fresh = if q.fresh.is_empty() {
                Vec::new()
            } else {
                std::mem::take(&mut q.fresh)
            };
            (std::mem::take(&mut q.queue), fresh)
        };
        for r in fresh {
            // Spawned from another thread: registered here, on the owner.
            self.bind(r);
        }
        for r in taken {
            // SAFETY: owner thread (called from the executor's loop).
            unsafe { self.push_local(r) };
        }
    }

    /// Runs up to `TASKS_PER_TICK` queued tasks; returns how many ran. Owner thread.
    ///
    /// The current-resource slot is saved and restored once per tick; each
    /// poll writes its task's resource into it (`run_batched`).
    fn tick(&self) -> usize {
        self.drain_remote();
        crate::frame::safe_resume(|| self.run_batch())
    }

    fn run_batch(&self) -> usize {
        let mut n = 0;
        while n < TASKS_PER_TICK {
            // SAFETY: owner thread; the borrow ends before `run`.
            let Some(r) = (unsafe { self.pop_local() }) else {
                break;
            };
            // SAFETY: inside the tick's `safe_resume`; only task runs and
            // queue operations happen between two runs.
            if let Some(again) = unsafe { r.run_batched() } {
                // Woken while running (e.g. a yield): back of the queue.
                // SAFETY: owner thread.
                unsafe { self.push_local(again) };
            }
            n += 1;
        }
        n
    }

    fn has_local(&self) -> bool {
        // SAFETY: owner thread, short borrow.
        unsafe { !(*self.local.get()).is_empty() }
    }

    /// Parks until something may have arrived (remote task or main wake).
    fn park(&self) {
        self.sleeping.store(true, Ordering::SeqCst);
        if self.has_remote.load(Ordering::SeqCst) || self.main_woken.load(Ordering::SeqCst) {
            self.sleeping.store(false, Ordering::SeqCst);
            return;
        }
        // The executor's own event loop: a nested run of another executor
        // inside one of its tasks cannot borrow it (it is turning it).
        match self.driver.try_borrow_mut() {
            Ok(mut d) if d.is_some() => {
                if let Some(d) = d.as_mut() {
                    d.turn(None);
                }
            }
            _ => thread::park(),
        }
        self.sleeping.store(false, Ordering::SeqCst);
    }
}

// SAFETY: `Inner` lives in an `Arc`; tasks are run, and runnables dropped,
// only on the owner thread (module invariants; remote wakes only queue);
// `bind` links every task on the live list or cancels it, completion
// unlinks it; `credits_here` says "owner here" only inside the owner's loop, on
// its thread, while the executor (its own reference) is alive.
unsafe impl Schedule for Inner {
    fn task_panicked(&self) {
        if self.shutdown_on_panic {
            self.panicked.store(true, Ordering::Relaxed);
        }
    }

    fn stacks(&self) -> Option<crate::context::PooledStack> {
        self.stacks.clone()
    }

    fn schedule(&self, runnable: Runnable) {
        if self.on_owner_running() {
            // SAFETY: we are on the owner thread, inside its loop.
            unsafe { self.push_local(runnable) }
        } else {
            self.push_remote(runnable)
        }
    }

    fn bind(&self, runnable: Runnable) {
        // Called on the owner thread (spawns come from the executor's methods
        // or from its tasks, remote ones through `drain_remote`). Once shut
        // down (after an unhandled panic, or a spawn from a destructor during
        // the drop) the task is cancelled at once, so its handle gives a
        // cancelled JoinError instead of waiting forever.
        // SAFETY: the owner thread, which may drop the future; completion
        // (on this thread) releases it below.
        if let Some(r) = unsafe { self.tasks.bind(runnable) } {
            // SAFETY: owner thread, short borrow; not closed (the list and
            // `closed` close together).
            unsafe { (*self.local.get()).push_back(r) }
        }
    }

    fn release(&self, task: NonNull<Header>) {
        // SAFETY: a task of this executor completing on its thread.
        unsafe { self.tasks.release(task) }
    }

    fn is_local(&self) -> bool {
        true
    }

    fn pinning(self: Arc<Self>) -> crate::executor::pinning::Pinning {
        crate::executor::pinning::Pinning::Thread(self)
    }

    // Spawns onto a local executor happen on its owner thread; a reference
    // dropped inside this executor's loop (the usual case: a JoinHandle
    // dropped by a task) goes back as a credit, the running executor
    // holding its own.
    #[inline(always)]
    fn credits(&self) -> Option<&Credits> {
        Some(&self.credits)
    }

    #[inline(always)]
    fn credits_here(&self) -> Option<(&Credits, bool)> {
        Some((&self.credits, self.on_owner_running()))
    }
}

/// A new reference to `inner`, on its owner thread.
fn inner_ref(inner: &Inner) -> SchedRef<Inner> {
    // SAFETY: callers are on the owner thread (the executor is !Send) and
    // borrow `inner` from a live executor, whose own reference holds the
    // shared strong count.
    unsafe { SchedRef::from_ref(inner) }
}

/// Wakes the main future of `run_until`.
struct MainWaker(SchedRef<Inner>);

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.0.main_woken.swap(true, Ordering::SeqCst) {
            self.0.notify();
        }
    }
}

/// The guard of [`LocalExecutor::enter`]: the executor is current on this
/// thread until it is dropped. Not `Send` (it restores this thread's
/// context).
#[must_use = "the executor is current only while the guard lives"]
pub struct LocalEnterGuard<'a> {
    _entered: EnterGuard,
    _executor: PhantomData<&'a LocalExecutor>,
}

impl std::fmt::Debug for LocalEnterGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalEnterGuard")
    }
}

/// A `Send + Sync` spawner for a [`LocalExecutor`]: spawns `Send` futures
/// from any thread; they run on the executor's own thread, the next time
/// it runs ([`LocalExecutor::spawner`]).
///
/// A spawn from another thread queues the new task on the executor's
/// remote queue and wakes the executor (or whoever awaits its
/// [`run`](LocalExecutor::run)); the executor registers and runs it. Once
/// the executor is dropped (or shut down), what a spawner spawns is
/// cancelled at once.
///
/// ```
/// let ex = coframe::LocalExecutor::new();
/// let spawner = ex.spawner();
/// let owner = std::thread::current().id();
/// let h = std::thread::spawn(move || spawner.spawn(async move {
///     std::thread::current().id()
/// })).join().unwrap();
/// assert_eq!(ex.run_until(h).unwrap(), owner); // ran on the executor's thread
/// ```
#[derive(Clone)]
pub struct LocalSpawner {
    inner: SchedRef<Inner>,
}

impl std::fmt::Debug for LocalSpawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSpawner").finish_non_exhaustive()
    }
}

impl LocalSpawner {
    /// The spawner of the `LocalExecutor` running the current task (or
    /// whose `run_until`/`run` runs on this thread), if any.
    ///
    /// ```
    /// use coframe::executor::LocalSpawner;
    /// assert!(LocalSpawner::try_current().is_none());
    /// let ex = coframe::LocalExecutor::new();
    /// let spawner = ex.run_until(async { LocalSpawner::try_current().unwrap() });
    /// // Handed to another thread, it still spawns onto this executor.
    /// let h = std::thread::spawn(move || spawner.spawn(async { 3 })).join().unwrap();
    /// assert_eq!(ex.run_until(h).unwrap(), 3);
    /// ```
    pub fn try_current() -> Option<LocalSpawner> {
        let p = running();
        if p.is_null() {
            return None;
        }
        // SAFETY: a non-null `running()` is the state of the LocalExecutor
        // whose loop runs on this thread: alive for this call; the spawner
        // takes its own count.
        let inner = unsafe { &*p };
        Some(LocalSpawner {
            inner: inner_ref(inner),
        })
    }

    /// Spawns a `Send` future to run on the executor's thread; its cell
    /// comes from the calling thread's current frame resource (a
    /// thread-safe one: a local-only current resource is replaced by the
    /// default, as on a pool).
    ///
    /// # Panics
    ///
    /// If the resource refuses the allocation.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let spawner = ex.spawner();
    /// let h = spawner.spawn(async { 5 }); // also from this thread
    /// assert_eq!(ex.run_until(h).unwrap(), 5);
    /// ```
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send,
    {
        let inner: &Inner = &self.inner;
        let resource: crate::frame::ResourceHandle =
            crate::frame::SyncResourceHandle::current().into();
        let mut q = inner.remote.lock().unwrap_or_else(|e| e.into_inner());
        if q.closed {
            drop(q);
            return spawn_refused(future, resource);
        }
        // Allocated under the lock, so a concurrent shutdown either sees
        // it in `fresh` (and cancels it) or refuses it above.
        let sched = self.inner.clone().into_dyn();
        // SAFETY: the future and its output are Send; the runnable goes to
        // the owner thread's `bind` (through `fresh`).
        let (handle, runnable) = unsafe { crate::task::allocate_unbound(future, sched, resource) }
            .unwrap_or_else(|e| super::refused(e));
        q.fresh.push(runnable);
        inner.has_remote.store(true, Ordering::SeqCst);
        drop(q);
        inner.notify();
        handle
    }
}

/// A spawn onto a shut-down local executor: a task whose scheduler cancels
/// it at once, on this thread (its future is `Send`).
#[cold]
fn spawn_refused<F>(future: F, resource: crate::frame::ResourceHandle) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    /// Cancels every task bound to it.
    struct Refused;
    // SAFETY: lives in an `Arc`; a bound task is cancelled at once on the
    // spawning thread (its future is `Send`), and no runnable is dropped.
    unsafe impl Schedule for Refused {
        fn schedule(&self, runnable: Runnable) {
            runnable.into_raw();
        }
        fn bind(&self, runnable: Runnable) {
            // SAFETY: a fresh task (not running, not completed) whose
            // future is Send: it may be dropped on this thread.
            unsafe { cancel_now(runnable.into_raw()) }
        }
        fn release(&self, _task: NonNull<Header>) {}
        fn is_local(&self) -> bool {
            false
        }
        fn pinning(self: Arc<Self>) -> crate::executor::pinning::Pinning {
            // Never current (no executor runs its tasks): what is bound
            // here is cancelled on this thread at once.
            crate::executor::pinning::Pinning::Thread(self)
        }
    }
    // SAFETY: the future and its output are Send.
    unsafe { crate::task::try_spawn_unchecked(future, Arc::new(Refused), resource) }
        .unwrap_or_else(|e| super::refused(e))
}

/// Wakes the main future of a `run`: it is polled again at the next step,
/// and the awaiting task is woken (also while a `run_until` of the same
/// executor is running on this thread, which does not look at this flag).
struct RunMain {
    woken: AtomicBool,
    inner: SchedRef<Inner>,
}

impl Wake for RunMain {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::SeqCst) {
            self.inner.wake_outer();
        }
    }
}

/// A single-threaded executor: spawns `!Send` futures and runs them on the
/// thread that owns it.
///
/// Tasks run while [`run_until`](Self::run_until) or
/// [`run_until_stalled`](Self::run_until_stalled) runs. A waker may be
/// sent to another thread: waking from there queues the task on the
/// executor's remote queue and unparks the owner thread. Dropping the
/// executor cancels every unfinished task (their handles give
/// a cancelled [`JoinError`](crate::JoinError)) and frees every
/// task cell whose handle is gone.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// let ex = coframe::LocalExecutor::new();
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let l = log.clone();
/// ex.spawn(async move { l.borrow_mut().push("child") });
/// ex.run_until(async { coframe::spawn_local(async {}).await.unwrap() });
/// assert_eq!(*log.borrow(), ["child"]);
/// ```
pub struct LocalExecutor {
    /// The executor's own reference (its state is freed with the last
    /// reference: possibly after the executor, when the last cell goes).
    inner: SchedRef<Inner>,
    /// Another strong count, as the `dyn Schedule` the current-scheduler
    /// thread-local points to.
    sched: Arc<dyn Schedule>,
    _not_send: PhantomData<*const ()>,
}

impl Default for LocalExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for LocalExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalExecutor").finish_non_exhaustive()
    }
}

impl LocalExecutor {
    /// Creates an executor owned by the current thread.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// assert_eq!(ex.run_until(async { 3 }), 3);
    /// ```
    pub fn new() -> Self {
        Self::with_stacks(None)
    }

    /// An executor whose stackful tasks take their stacks from `stacks`
    /// (instead of [`default_stacks`](crate::stackful::default_stacks)).
    ///
    /// ```
    /// use coframe::context::PooledStack;
    /// let stacks = PooledStack::new(256 * 1024).unwrap();
    /// let ex = coframe::LocalExecutor::with_stack_allocator(stacks.clone());
    /// let h = ex.spawn_stackful(|| 1);
    /// assert_eq!(stacks.live(), 1);
    /// assert_eq!(ex.run_until(h).unwrap(), 1);
    /// assert_eq!(stacks.live(), 0);
    /// ```
    pub fn with_stack_allocator(stacks: crate::context::PooledStack) -> Self {
        Self::with_stacks(Some(stacks))
    }

    /// A `Send` spawner for this executor: spawns `Send` futures from any
    /// thread, to run on this executor's thread.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let spawner = ex.spawner();
    /// let t = std::thread::spawn(move || spawner.spawn(async { 2 }));
    /// assert_eq!(ex.run_until(t.join().unwrap()).unwrap(), 2);
    /// ```
    pub fn spawner(&self) -> LocalSpawner {
        LocalSpawner {
            inner: inner_ref(self.inner()),
        }
    }

    /// A [`LocalExecutorBuilder`] with the defaults, to match
    /// [`ThreadPool::builder`](crate::ThreadPool::builder).
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::builder()
    ///     .stackful_stack_size(256 * 1024)
    ///     .queue_capacity(1024)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(ex.run_until(ex.spawn_stackful(|| 2)).unwrap(), 2);
    /// ```
    pub fn builder() -> LocalExecutorBuilder {
        LocalExecutorBuilder::default()
    }

    /// The stack allocator given to [`with_stack_allocator`](Self::with_stack_allocator), if any.
    pub(crate) fn own_stacks(&self) -> Option<&crate::context::PooledStack> {
        self.inner().stacks.as_ref()
    }

    fn with_stacks(stacks: Option<crate::context::PooledStack>) -> Self {
        Self::with_parts(stacks, DEFAULT_QUEUE_CAPACITY, default_blocking(), false)
    }

    fn with_parts(
        stacks: Option<crate::context::PooledStack>,
        queue_capacity: usize,
        blocking: super::blocking::BlockingPool,
        shutdown_on_panic: bool,
    ) -> Self {
        let inner = Arc::new(Inner {
            local: UnsafeCell::new(VecDeque::with_capacity(queue_capacity)),
            tasks: LocalTasks::new(),
            closed: Cell::new(false),
            remote: Mutex::new(Remote {
                queue: Vec::new(),
                fresh: Vec::new(),
                closed: false,
            }),
            has_remote: AtomicBool::new(false),
            main_woken: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            driver: std::cell::RefCell::new(None),
            reactor: std::sync::OnceLock::new(),
            owner: thread::current(),
            credits: Credits::new(),
            outer: Mutex::new(None),
            has_outer: AtomicBool::new(false),
            shutdown_on_panic,
            panicked: AtomicBool::new(false),
            stacks,
            blocking,
        });
        Self {
            sched: inner.clone(),
            // SAFETY: on the owner thread (this one).
            inner: unsafe { SchedRef::from_arc(inner) },
            _not_send: PhantomData,
        }
    }

    /// Spawns a future (it may be `!Send`); its cell comes from the current
    /// frame resource. It runs when the executor runs.
    ///
    /// # Panics
    ///
    /// If the current resource refuses the allocation.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let h = ex.spawn(async { std::rc::Rc::new(4) });
    /// assert_eq!(*ex.run_until(h).unwrap(), 4);
    /// ```
    #[inline(always)]
    pub fn spawn<F: Future + 'static>(&self, future: F) -> JoinHandle<F::Output> {
        // SAFETY: a local executor runs its tasks on this thread (it is
        // !Send); the handle is Send only if the output is.
        unsafe {
            crate::task::try_spawn_ref(
                future,
                self.inner(),
                crate::frame::ResourceHandle::current(),
            )
        }
        .unwrap_or_else(|e| super::refused(e))
    }

    /// Runs `f` on one of the executor's blocking threads (a bounded pool,
    /// started on demand; idle threads exit after a keep-alive, see
    /// [`LocalExecutorBuilder`]) and returns a handle to its result; the
    /// executor's thread goes on running tasks meanwhile. A panic in `f`
    /// becomes the handle's panic [`JoinError`](crate::JoinError).
    ///
    /// Aborting the handle before `f` started means `f` never runs; once
    /// it runs it runs to its end. Dropping the executor drops the closures
    /// not yet started; those running finish on their threads, which are
    /// not waited for.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let h = ex.spawn_blocking(|| std::thread::current().name().map(str::to_owned));
    /// assert_eq!(ex.run_until(h).unwrap().as_deref(), Some("coframe-blocking"));
    /// let boom = ex.spawn_blocking(|| -> u8 { panic!("blocking boom") });
    /// assert!(ex.run_until(boom).unwrap_err().is_panic());
    /// ```
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn(super::blocking::blocking_future(&self.inner().blocking, f))
    }

    #[inline]
    pub(super) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Running an executor's loop from inside one of its own tasks would
    /// run two loops over one queue and one main-future flag (each could
    /// consume the other's wake-up and wait forever): refused at once.
    #[track_caller]
    fn refuse_nested(&self, what: &str) {
        if self.inner().on_owner_running() {
            nested_run(what);
        }
    }

    fn enter_loop(&self) -> EnterGuard {
        self.enter_with(true)
    }

    /// Makes this executor current on this thread until the guard is
    /// dropped, without running it (tokio's `LocalSet::enter`):
    /// [`spawn`](crate::spawn), [`spawn_local`](crate::spawn_local) and the
    /// event loop's types (sockets, timers) reach it. What is spawned runs
    /// at the executor's next [`run_until`](Self::run_until) or
    /// [`run`](Self::run). The guard restores the thread's previous context.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let h = {
    ///     let _entered = ex.enter();
    ///     coframe::spawn_local(async { 5 })
    /// };
    /// assert!(coframe::try_spawn(async {}).is_err()); // no longer entered
    /// assert_eq!(ex.run_until(h).unwrap(), 5);
    /// ```
    pub fn enter(&self) -> LocalEnterGuard<'_> {
        // SAFETY: `self.sched` outlives the guard (it borrows `self`).
        let entered = unsafe { EnterGuard::new(&self.sched) };
        let inner = self.inner();
        inner.ensure_driver();
        if let Some(h) = inner.reactor.get() {
            // The handle lives in `Inner`, which outlives the guard.
            crate::reactor::make_current_in_entry(h);
        }
        LocalEnterGuard {
            _entered: entered,
            _executor: PhantomData,
        }
    }

    /// Enters the executor; `make_loop`: make its event loop if it has none
    /// yet (not for the shutdown of an executor that never ran).
    fn enter_with(&self, make_loop: bool) -> EnterGuard {
        // SAFETY: `self.sched` outlives the guard (both are dropped before
        // `self` is).
        let e = unsafe { EnterGuard::new(&self.sched) };
        crate::thread_context::with(|cx| cx.local.set(self.inner.as_ptr()));
        let inner = self.inner();
        if make_loop {
            inner.ensure_driver();
        }
        if let Some(h) = inner.reactor.get() {
            // The handle lives in `Inner`, which outlives the entry.
            crate::reactor::make_current_in_entry(h);
        }
        e
    }

    /// Runs the executor's tasks until `future` completes, and returns its
    /// output. `future` itself is polled on this thread (it is not a task),
    /// and may spawn with [`spawn`](crate::spawn)/[`spawn_local`](crate::spawn_local).
    /// Parks the thread when nothing is ready.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let h = ex.spawn(async { "done" });
    /// assert_eq!(ex.run_until(async { h.await.unwrap() }), "done");
    /// ```
    pub fn run_until<F: Future>(&self, future: F) -> F::Output {
        self.refuse_nested("run_until");
        let _enter = self.enter_loop();
        let inner = self.inner();
        let mut future = pin!(future);
        let waker = Waker::from(Arc::new(MainWaker(inner_ref(inner))));
        let mut cx = Context::from_waker(&waker);
        inner.main_woken.store(true, Ordering::SeqCst);
        let _coop = crate::coop::EndOnDrop;
        loop {
            if inner.main_woken.load(Ordering::Acquire) {
                inner.main_woken.store(false, Ordering::SeqCst);
                crate::coop::reset();
                if let Poll::Ready(v) = crate::frame::safe_resume(|| future.as_mut().poll(&mut cx))
                {
                    return v;
                }
            }
            let ran = inner.tick();
            if inner.panicked.load(Ordering::Relaxed) {
                drop(_enter);
                self.shut_down_after_panic();
            }
            if ran == TASKS_PER_TICK {
                // Busy: I/O and timers are not starved by ready tasks.
                inner.poll_events();
            } else if ran == 0 && !inner.main_woken.load(Ordering::Acquire) && !inner.has_local() {
                inner.park();
            }
        }
    }

    /// Runs the executor's tasks while `future` runs, as a future: await
    /// it in another executor's task, in [`block_on`](crate::block_on) or
    /// next to other executors' `run`s (async-executor's model: the
    /// executor makes progress only while someone polls this future).
    ///
    /// Each poll runs ready tasks (at most one batch, then it yields to
    /// whoever polls it) and polls `future`; when nothing is ready it
    /// returns `Pending` and a wake of any of its tasks or of `future`
    /// wakes the awaiting task. `future` and the tasks spawned inside it
    /// ([`spawn_local`](crate::spawn_local)) run on this executor; the I/O
    /// and timers they start use the event loop of whoever drives the
    /// `run` (`block_on`'s, the outer executor's).
    ///
    /// # Panics
    ///
    /// Polled from inside one of this executor's own tasks (as
    /// [`run_until`](Self::run_until)).
    ///
    /// ```
    /// use coframe::{block_on, spawn_local, LocalExecutor};
    /// let (a, b) = (LocalExecutor::new(), LocalExecutor::new());
    /// let (tx, rx) = async_channel::bounded::<u32>(1);
    /// // Two executors driven by one block_on: a's task waits for b's.
    /// let (got, ()) = block_on(futures_util::future::join(
    ///     a.run(async move { spawn_local(async move { rx.recv().await.unwrap() }).await.unwrap() }),
    ///     b.run(async move { tx.send(7).await.unwrap() }),
    /// ));
    /// assert_eq!(got, 7);
    /// ```
    pub async fn run<F: Future>(&self, future: F) -> F::Output {
        let mut future = pin!(future);
        let main = Arc::new(RunMain {
            woken: AtomicBool::new(true),
            inner: inner_ref(self.inner()),
        });
        let main_waker = Waker::from(main.clone());
        std::future::poll_fn(|cx| self.run_step(future.as_mut(), &main, &main_waker, cx)).await
    }

    /// One poll of [`run`](Self::run).
    fn run_step<F: Future>(
        &self,
        mut future: std::pin::Pin<&mut F>,
        main: &RunMain,
        main_waker: &Waker,
        cx: &mut Context<'_>,
    ) -> Poll<F::Output> {
        self.refuse_nested("run");
        // Enter without making this executor's event loop current: the
        // loop of whoever drives the run stays current, and is the one that
        // turns.
        // SAFETY: `self.sched` outlives the guard (dropped in this call).
        let _enter = unsafe { EnterGuard::new(&self.sched) };
        crate::thread_context::with(|cx| cx.local.set(self.inner.as_ptr()));
        let inner = self.inner();
        let mut mcx = Context::from_waker(main_waker);
        // The enclosing poll (whoever awaits the run) gets a fresh budget
        // from its own executor at its next poll.
        let _coop = crate::coop::EndOnDrop;
        loop {
            if main.woken.swap(false, Ordering::SeqCst) {
                crate::coop::reset();
                if let Poll::Ready(v) = crate::frame::safe_resume(|| future.as_mut().poll(&mut mcx))
                {
                    return Poll::Ready(v);
                }
            }
            let ran = inner.tick();
            if inner.panicked.load(Ordering::Relaxed) {
                drop(_enter);
                self.shut_down_after_panic();
            }
            // Tasks the event loop of this executor woke (if it has one
            // from an earlier `run_until`).
            let events = inner.poll_events();
            if ran == TASKS_PER_TICK || (inner.has_local() && ran > 0) {
                // Busy: give the driver's thread back, then come back.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if ran > 0 || events > 0 || inner.has_local() {
                continue;
            }
            // Idle: register the awaiting task, then look again (a wake
            // between the checks and the registration is not lost: wakers
            // publish, then read `has_outer`; this side publishes, then
            // reads their flags).
            *inner.outer.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
            inner.has_outer.store(true, Ordering::SeqCst);
            if main.woken.load(Ordering::SeqCst) || inner.has_remote.load(Ordering::SeqCst) {
                continue;
            }
            return Poll::Pending;
        }
    }

    /// Runs tasks until none is ready (every live task is waiting), then
    /// returns. Never parks.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let h = ex.spawn(async { 1 });
    /// ex.run_until_stalled();
    /// assert!(h.is_finished());
    /// ```
    pub fn run_until_stalled(&self) {
        self.refuse_nested("run_until_stalled");
        let _enter = self.enter_loop();
        let _coop = crate::coop::EndOnDrop;
        let inner = self.inner();
        loop {
            while inner.tick() != 0 || inner.has_local() {
                if inner.panicked.load(Ordering::Relaxed) {
                    drop(_enter);
                    self.shut_down_after_panic();
                }
            }
            if inner.panicked.load(Ordering::Relaxed) {
                drop(_enter);
                self.shut_down_after_panic();
            }
            // Ready I/O and expired timers may make tasks ready again.
            if inner.poll_events() == 0 || !inner.has_local() {
                break;
            }
        }
    }
}

/// Initial capacity of a `LocalExecutor`'s run queue.
const DEFAULT_QUEUE_CAPACITY: usize = 64;

/// Configures and builds a [`LocalExecutor`] ([`LocalExecutor::builder`]).
///
/// ```
/// use coframe::context::PooledStack;
/// let stacks = PooledStack::new(128 * 1024).unwrap();
/// let ex = coframe::LocalExecutor::builder().stack_allocator(stacks.clone()).build().unwrap();
/// let h = ex.spawn_stackful(|| 1);
/// assert_eq!(stacks.live(), 1);
/// assert_eq!(ex.run_until(h).unwrap(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct LocalExecutorBuilder {
    stacks: Option<crate::context::PooledStack>,
    stackful_stack_size: Option<usize>,
    queue_capacity: Option<usize>,
    max_blocking_threads: Option<usize>,
    blocking_keep_alive: Option<std::time::Duration>,
    unhandled_panic: super::UnhandledPanic,
}

fn default_blocking() -> super::blocking::BlockingPool {
    super::blocking::BlockingPool::new(
        super::blocking::DEFAULT_MAX_BLOCKING_THREADS,
        super::blocking::DEFAULT_BLOCKING_KEEP_ALIVE,
        "coframe-blocking".into(),
    )
}

impl LocalExecutorBuilder {
    /// The stack allocator of the executor's stackful tasks (default: the
    /// process-wide [`default_stacks`](crate::stackful::default_stacks) of
    /// [`DEFAULT_STACK_SIZE`](crate::stackful::DEFAULT_STACK_SIZE)).
    ///
    /// ```
    /// use coframe::context::PooledStack;
    /// let stacks = PooledStack::new(1 << 20).unwrap();
    /// let ex = coframe::LocalExecutor::builder().stack_allocator(stacks).build().unwrap();
    /// # drop(ex);
    /// ```
    pub fn stack_allocator(mut self, stacks: crate::context::PooledStack) -> Self {
        self.stacks = Some(stacks);
        self
    }

    /// Gives the executor a stack allocator of its own with stacks of this
    /// size (ignored when [`stack_allocator`](Self::stack_allocator) is
    /// given). A size below the platform minimum makes `build` fail with
    /// [`BuildError::Stack`](crate::executor::BuildError::Stack).
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::builder().stackful_stack_size(1 << 20).build().unwrap();
    /// # drop(ex);
    /// assert!(coframe::LocalExecutor::builder().stackful_stack_size(1).build().is_err());
    /// ```
    pub fn stackful_stack_size(mut self, bytes: usize) -> Self {
        self.stackful_stack_size = Some(bytes);
        self
    }

    /// Initial capacity of the run queue (default 64): it grows as needed;
    /// a program that keeps many tasks ready at once avoids the regrowth.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::builder().queue_capacity(4096).build().unwrap();
    /// assert_eq!(ex.run_until(async { 1 }), 1);
    /// ```
    pub fn queue_capacity(mut self, tasks: usize) -> Self {
        self.queue_capacity = Some(tasks);
        self
    }

    /// Most threads [`spawn_blocking`](LocalExecutor::spawn_blocking)
    /// runs closures on at once (default 512; at least 1): more closures
    /// wait for a free thread.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::builder().max_blocking_threads(2).build().unwrap();
    /// assert_eq!(ex.run_until(ex.spawn_blocking(|| 1)).unwrap(), 1);
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
    /// let ex = coframe::LocalExecutor::builder()
    ///     .blocking_keep_alive(Duration::from_millis(100)).build().unwrap();
    /// assert_eq!(ex.run_until(ex.spawn_blocking(|| 1)).unwrap(), 1);
    /// ```
    pub fn blocking_keep_alive(mut self, keep_alive: std::time::Duration) -> Self {
        self.blocking_keep_alive = Some(keep_alive);
        self
    }

    /// What the executor does when a task panics (default
    /// [`UnhandledPanic::Ignore`](super::UnhandledPanic::Ignore): the
    /// panic goes to the task's handle only).
    ///
    /// ```
    /// use coframe::executor::UnhandledPanic;
    /// let ex = coframe::LocalExecutor::builder()
    ///     .unhandled_panic(UnhandledPanic::ShutDown).build().unwrap();
    /// let waiting = ex.spawn(std::future::pending::<()>());
    /// ex.spawn(async { panic!("boom") });
    /// let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ex.run_until_stalled()));
    /// assert!(run.is_err()); // the loop that ran the task panicked, saying why
    /// assert!(ex.run_until(waiting).unwrap_err().is_cancelled());
    /// ```
    pub fn unhandled_panic(mut self, policy: super::UnhandledPanic) -> Self {
        self.unhandled_panic = policy;
        self
    }

    /// Builds the executor, owned by the calling thread.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::builder().build().unwrap();
    /// assert_eq!(ex.run_until(async { 3 }), 3);
    /// ```
    pub fn build(self) -> Result<LocalExecutor, super::BuildError> {
        let stacks = match (self.stacks, self.stackful_stack_size) {
            (Some(s), _) => Some(s),
            (None, Some(size)) => {
                Some(crate::context::PooledStack::new(size).map_err(super::BuildError::Stack)?)
            }
            (None, None) => None,
        };
        let blocking = super::blocking::BlockingPool::new(
            self.max_blocking_threads
                .unwrap_or(super::blocking::DEFAULT_MAX_BLOCKING_THREADS),
            self.blocking_keep_alive
                .unwrap_or(super::blocking::DEFAULT_BLOCKING_KEEP_ALIVE),
            "coframe-blocking".into(),
        );
        Ok(LocalExecutor::with_parts(
            stacks,
            self.queue_capacity.unwrap_or(DEFAULT_QUEUE_CAPACITY),
            blocking,
            self.unhandled_panic == super::UnhandledPanic::ShutDown,
        ))
    }
}

#[cold]
#[track_caller]
fn nested_run(what: &str) -> ! {
    panic!(
        "coframe: LocalExecutor::{what} called from inside one of the same executor's tasks; \
         a task cannot run its own executor's loop: .await the future instead \
         (a different LocalExecutor may be run there)"
    )
}

impl super::sealed::Executor for LocalExecutor {
    fn scheduler(&self) -> &Arc<dyn Schedule> {
        &self.sched
    }
}

impl super::Executor for LocalExecutor {
    type Affinity = super::Local;

    fn running_in_this_thread(&self) -> bool {
        self.inner().on_owner_running()
    }
}

impl Drop for LocalExecutor {
    fn drop(&mut self) {
        assert!(
            !self.inner().on_owner_running(),
            "coframe: a LocalExecutor was dropped from inside one of its own tasks"
        );
        self.close();
        // The unspent credits go back now, the executor's own reference
        // with the `inner` field; task cells still held by handles or
        // wakers keep `Inner` alive after this.
        // SAFETY: owner thread (the executor is !Send); the own reference
        // outlives the call, and nothing spends a credit once the executor
        // is gone (borrows of `Inner` come from the executor or its loop).
        unsafe { self.inner().credits.return_spare() };
    }
}

impl LocalExecutor {
    /// Shutdown (rule 8): mark closed, forget the queues, cancel every live
    /// task, drop the event loop and the queued blocking closures. The
    /// executor's state stays (its handles and wakers may outlive it);
    /// later spawns are cancelled at once. Owner thread, outside the
    /// executor's own tasks.
    fn close(&self) {
        // Destructors of cancelled futures may spawn or wake: let them see
        // this executor (closed, so their runnables are forgotten and the
        // new tasks cancelled by the loop below).
        let enter = self.enter_with(false);
        let inner = self.inner();
        inner.closed.set(true);
        inner.tasks.close();
        let (remote, fresh) = {
            let mut q = inner.remote.lock().unwrap_or_else(|e| e.into_inner());
            q.closed = true;
            (std::mem::take(&mut q.queue), std::mem::take(&mut q.fresh))
        };
        for r in remote {
            r.into_raw();
        }
        for r in fresh {
            // Registered, then cancelled at once (the executor is closed).
            inner.bind(r);
        }
        // SAFETY: owner thread.
        while let Some(r) = unsafe { inner.pop_local() } {
            r.into_raw();
        }
        // SAFETY: no task is running (we are not inside a poll: the
        // executor is being dropped or its loop is unwinding out), their
        // runnables are forgotten (above, and on push once closed), and this
        // is the owner thread.
        unsafe { inner.tasks.cancel_where(|_| true) };
        // Queued blocking closures are dropped; running ones finish on
        // their (detached) threads.
        inner.blocking.shutdown();
        // The tasks' sources and timers are gone with them: now the event
        // loop (its descriptors close with the last handle).
        let driver = inner.driver.borrow_mut().take();
        drop(driver);
        drop(enter);
    }

    /// `UnhandledPanic::ShutDown`, after a task panicked in the loop that
    /// calls this: shut down, then panic saying why.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn shut_down_after_panic(&self) -> ! {
        self.close();
        panic!(
            "coframe: a task of this LocalExecutor panicked and its unhandled-panic policy is \
             UnhandledPanic::ShutDown: the executor is shut down (its tasks were cancelled)"
        )
    }
}
