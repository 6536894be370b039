//! [`LocalExecutor`]: a single-threaded executor for `!Send` futures.
//!
//! Owns: a local run queue (a `VecDeque` touched only on the owner thread,
//! no atomics), a remote queue (mutex) for `Runnable`s woken on other
//! threads plus the unpark of the owner thread, and the intrusive list of
//! live tasks used by shutdown.
//!
//! Invariants:
//! - the owner-thread fields of [`Inner`] are touched only on the thread that
//!   created the executor: by the executor's own methods (it is `!Send` and
//!   `!Sync`), by tasks it polls, and by `schedule` only when the
//!   thread-local "running executor" pointer equals this executor (which is
//!   only ever set on its owner thread);
//! - every task spawned on it and not yet completed is on the live list and
//!   holds its executor reference; completion unlinks it;
//! - a tick runs at most [`BATCH`] tasks, then looks at the main future and
//!   the remote queue again, so a task that keeps waking itself goes to the
//!   back of the queue and cannot starve the others;
//! - `Drop` is shutdown: mark closed (later schedules forget their
//!   `Runnable`), forget both queues, cancel every live task (its future is
//!   dropped on this thread, its handle sees `Cancelled`), then drop the
//!   executor's own state.

use super::EnterGuard;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::Mutex;
use crate::task::{cancel_now, Header, JoinHandle, Runnable, Schedule};
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
pub(crate) const BATCH: usize = 61;

thread_local! {
    /// The `Inner` whose loop is running on this thread, if any.
    static RUNNING: Cell<*const Inner> = const { Cell::new(ptr::null()) };
}

#[inline(never)]
fn running() -> *const Inner {
    RUNNING.with(|r| r.get())
}

#[inline(never)]
fn set_running(p: *const Inner) -> *const Inner {
    RUNNING.with(|r| r.replace(p))
}

struct Remote {
    queue: Vec<Runnable>,
    closed: bool,
}

/// The executor's state, shared with every task cell (as their scheduler).
pub(crate) struct Inner {
    // Owner thread only.
    local: UnsafeCell<VecDeque<Runnable>>,
    live: Cell<Option<NonNull<Header>>>,
    closed: Cell<bool>,
    // Any thread.
    remote: Mutex<Remote>,
    has_remote: AtomicBool,
    main_woken: AtomicBool,
    sleeping: AtomicBool,
    owner: Thread,
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

    fn notify(&self) {
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            self.owner.unpark();
        }
    }

    /// Moves remotely woken tasks to the local queue. Owner thread only.
    fn drain_remote(&self) {
        if !self.has_remote.load(Ordering::Acquire) {
            return;
        }
        let taken = {
            let mut q = self.remote.lock().unwrap_or_else(|e| e.into_inner());
            self.has_remote.store(false, Ordering::Relaxed);
            std::mem::take(&mut q.queue)
        };
        for r in taken {
            // SAFETY: owner thread (called from the executor's loop).
            unsafe { self.push_local(r) };
        }
    }

    /// Runs up to `BATCH` queued tasks; returns how many ran. Owner thread.
    fn tick(&self) -> usize {
        self.drain_remote();
        let mut n = 0;
        while n < BATCH {
            // SAFETY: owner thread; the borrow ends before `run`.
            let Some(r) = (unsafe { self.pop_local() }) else {
                break;
            };
            r.run();
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
        thread::park();
        self.sleeping.store(false, Ordering::SeqCst);
    }
}

impl Schedule for Inner {
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
        // or from its tasks).
        let p = runnable.into_raw();
        // SAFETY: the cell is alive; links are owner-thread data.
        let hd = unsafe { &*p.as_ptr() };
        hd.links.next.set(self.live.get());
        hd.links.prev.set(None);
        if let Some(head) = self.live.get() {
            // SAFETY: live-list members are alive (they hold the executor's
            // reference until they unlink).
            unsafe { (*head.as_ptr()).links.prev.set(Some(p)) };
        }
        self.live.set(Some(p));
        // SAFETY: owner thread.
        unsafe { self.push_local(Runnable::from_raw(p)) }
    }

    fn release(&self, task: NonNull<Header>) {
        // SAFETY: `task` and its neighbours are alive live-list members.
        unsafe {
            let hd = &*task.as_ptr();
            let prev = hd.links.prev.get();
            let next = hd.links.next.get();
            match prev {
                Some(p) => (*p.as_ptr()).links.next.set(next),
                None => self.live.set(next),
            }
            if let Some(n) = next {
                (*n.as_ptr()).links.prev.set(prev);
            }
        }
    }

    fn is_local(&self) -> bool {
        true
    }
}

/// Wakes the main future of `run_until`.
struct MainWaker(Arc<Inner>);

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

/// A single-threaded executor: spawns `!Send` futures and runs them on the
/// thread that owns it.
///
/// Tasks run while [`run_until`](Self::run_until) or
/// [`run_until_stalled`](Self::run_until_stalled) runs. A waker may be
/// sent to another thread: waking from there queues the task on the
/// executor's remote queue and unparks the owner thread. Dropping the
/// executor cancels every unfinished task (their handles give
/// [`JoinError::Cancelled`](crate::JoinError::Cancelled)) and frees every
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
    inner: Arc<Inner>,
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
        let inner = Arc::new(Inner {
            local: UnsafeCell::new(VecDeque::with_capacity(64)),
            live: Cell::new(None),
            closed: Cell::new(false),
            remote: Mutex::new(Remote {
                queue: Vec::new(),
                closed: false,
            }),
            has_remote: AtomicBool::new(false),
            main_woken: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            owner: thread::current(),
        });
        let sched: Arc<dyn Schedule> = inner.clone();
        Self {
            inner,
            sched,
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
    pub fn spawn<F: Future + 'static>(&self, future: F) -> JoinHandle<F::Output> {
        use super::sealed::Spawn;
        Spawn::<super::Local>::spawn_task(
            future,
            self.sched.clone(),
            crate::frame::ResourceHandle::current(),
        )
        .unwrap_or_else(|e| super::refused(e))
    }

    fn enter(&self) -> (EnterGuard, RunningGuard) {
        // SAFETY: `self.sched` outlives the guard (both are dropped before
        // `self` is).
        let e = unsafe { EnterGuard::new(&self.sched) };
        let prev = set_running(Arc::as_ptr(&self.inner));
        (e, RunningGuard(prev))
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
        let _enter = self.enter();
        let inner = &*self.inner;
        let mut future = pin!(future);
        let waker = Waker::from(Arc::new(MainWaker(self.inner.clone())));
        let mut cx = Context::from_waker(&waker);
        inner.main_woken.store(true, Ordering::SeqCst);
        loop {
            if inner.main_woken.load(Ordering::Acquire) {
                inner.main_woken.store(false, Ordering::SeqCst);
                if let Poll::Ready(v) = crate::frame::safe_resume(|| future.as_mut().poll(&mut cx))
                {
                    return v;
                }
            }
            let ran = inner.tick();
            if ran == 0 && !inner.main_woken.load(Ordering::Acquire) && !inner.has_local() {
                inner.park();
            }
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
        let _enter = self.enter();
        while self.inner.tick() != 0 || self.inner.has_local() {}
    }
}

struct RunningGuard(*const Inner);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        set_running(self.0);
    }
}

impl super::sealed::Executor for LocalExecutor {
    fn scheduler(&self) -> &Arc<dyn Schedule> {
        &self.sched
    }
}

impl super::Executor for LocalExecutor {
    type Affinity = super::Local;

    /// Queues `runnable` on the local queue.
    fn post(&self, runnable: Runnable) {
        // SAFETY: `&self` of a !Send, !Sync executor: owner thread.
        unsafe { self.inner.push_local(runnable) }
    }

    fn running_in_this_thread(&self) -> bool {
        self.inner.on_owner_running()
    }
}

impl Drop for LocalExecutor {
    fn drop(&mut self) {
        // Destructors of cancelled futures may spawn or wake: let them see
        // this executor (closed, so their runnables are forgotten and the
        // new tasks cancelled by the loop below).
        let _enter = self.enter();
        let inner = &*self.inner;
        inner.closed.set(true);
        let remote = {
            let mut q = inner.remote.lock().unwrap_or_else(|e| e.into_inner());
            q.closed = true;
            std::mem::take(&mut q.queue)
        };
        for r in remote {
            r.into_raw();
        }
        // SAFETY: owner thread.
        while let Some(r) = unsafe { inner.pop_local() } {
            r.into_raw();
        }
        while let Some(task) = inner.live.get() {
            // SAFETY: a live task of this executor, not running (we are not
            // inside its poll: the executor is being dropped), on the owner
            // thread. Completion unlinks it, so the loop advances.
            unsafe { cancel_now(task) };
        }
    }
}
