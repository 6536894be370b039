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
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::loom::sync::Mutex;
use crate::task::{cancel_now, free_scheduler, Header, JoinHandle, Runnable, Schedule};
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

/// References to `Inner` the owner thread takes in one atomic operation and
/// hands to new task cells without atomics.
const CREDIT_BATCH: usize = 1024;

/// The `Inner` whose loop is running on this thread, if any (the `local`
/// field of the thread's context).
#[inline]
fn running() -> *const Inner {
    crate::thread_context::with(|cx| cx.local.get())
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
    /// References already counted in `refs` and not yet given to a cell.
    credits: Cell<usize>,
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
    /// References: the executor's own, its unspent credits, one per task
    /// cell and one per main-future waker. `Inner` is freed at zero.
    refs: AtomicUsize,
    /// Stacks for stackful tasks (default: the process-wide pool).
    stacks: Option<crate::context::PooledStack>,
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
    ///
    /// The current-resource slot is saved and restored once per tick; each
    /// poll writes its task's resource into it (`run_batched`).
    fn tick(&self) -> usize {
        self.drain_remote();
        crate::frame::safe_resume(|| self.run_batch())
    }

    fn run_batch(&self) -> usize {
        let mut n = 0;
        while n < BATCH {
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

impl Schedule for Inner {
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

    fn acquire_ref(&self) {
        // Spawns onto a local executor happen on its owner thread.
        let c = self.credits.get();
        if c == 0 {
            self.refs.fetch_add(CREDIT_BATCH, Ordering::Relaxed);
            self.credits.set(CREDIT_BATCH - 1);
        } else {
            self.credits.set(c - 1);
        }
    }

    fn arc_counted(&self) -> bool {
        false
    }

    fn release_ref(&self) -> bool {
        if self.on_owner_running() {
            // A cell freed inside this executor's loop (the usual case: a
            // JoinHandle dropped by a task): hand the reference back as a
            // credit, without an atomic. The running executor holds its own
            // reference, so this was not the last.
            self.credits.set(self.credits.get() + 1);
            return false;
        }
        self.refs.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

/// A counted pointer to an `Inner` (for the main-future waker).
struct InnerRef(NonNull<Inner>);

// SAFETY: `Inner` is Send + Sync; the count is atomic.
unsafe impl Send for InnerRef {}
// SAFETY: as above.
unsafe impl Sync for InnerRef {}

impl InnerRef {
    fn new(inner: &Inner) -> Self {
        inner.refs.fetch_add(1, Ordering::Relaxed);
        Self(NonNull::from(inner))
    }
}

impl std::ops::Deref for InnerRef {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        // SAFETY: our count keeps it alive.
        unsafe { self.0.as_ref() }
    }
}

impl Drop for InnerRef {
    fn drop(&mut self) {
        if self.release_ref() {
            // SAFETY: last counted reference: drop the shared strong count.
            unsafe { free_scheduler(self.0) };
        }
    }
}

/// Wakes the main future of `run_until`.
struct MainWaker(InnerRef);

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
    /// Lives in an `Arc`; this pointer owns the one strong count that all
    /// references counted in `Inner::refs` share (dropped when that count
    /// reaches zero: possibly after the executor, when the last cell goes).
    inner: NonNull<Inner>,
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

    /// The stack allocator given to [`with_stack_allocator`](Self::with_stack_allocator), if any.
    pub(crate) fn own_stacks(&self) -> Option<&crate::context::PooledStack> {
        // SAFETY: `inner` is alive while the executor is.
        unsafe { self.inner.as_ref() }.stacks.as_ref()
    }

    fn with_stacks(stacks: Option<crate::context::PooledStack>) -> Self {
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
            driver: std::cell::RefCell::new(None),
            reactor: std::sync::OnceLock::new(),
            owner: thread::current(),
            credits: Cell::new(0),
            refs: AtomicUsize::new(1),
            stacks,
        });
        Self {
            sched: inner.clone(),
            // SAFETY: `Arc::into_raw` is non-null.
            inner: unsafe { NonNull::new_unchecked(Arc::into_raw(inner) as *mut Inner) },
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

    #[inline]
    pub(super) fn inner(&self) -> &Inner {
        // SAFETY: the executor holds a reference until it is dropped.
        unsafe { self.inner.as_ref() }
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

    fn enter(&self) -> EnterGuard {
        self.enter_with(true)
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
        let _enter = self.enter();
        let inner = self.inner();
        let mut future = pin!(future);
        let waker = Waker::from(Arc::new(MainWaker(InnerRef::new(inner))));
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
            if ran == BATCH {
                // Busy: I/O and timers are not starved by ready tasks.
                inner.poll_events();
            } else if ran == 0 && !inner.main_woken.load(Ordering::Acquire) && !inner.has_local() {
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
        self.refuse_nested("run_until_stalled");
        let _enter = self.enter();
        let inner = self.inner();
        loop {
            while inner.tick() != 0 || inner.has_local() {}
            // Ready I/O and expired timers may make tasks ready again.
            if inner.poll_events() == 0 || !inner.has_local() {
                break;
            }
        }
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

    /// Queues `runnable` on the local queue.
    fn post(&self, runnable: Runnable) {
        // SAFETY: `&self` of a !Send, !Sync executor: owner thread.
        unsafe { self.inner().push_local(runnable) }
    }

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
        // Destructors of cancelled futures may spawn or wake: let them see
        // this executor (closed, so their runnables are forgotten and the
        // new tasks cancelled by the loop below).
        let enter = self.enter_with(false);
        let inner = self.inner();
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
        // The tasks' sources and timers are gone with them: now the event
        // loop (its descriptors close with the last handle).
        let driver = inner.driver.borrow_mut().take();
        drop(driver);
        drop(enter);
        // The executor's own reference and its unspent credits; task cells
        // still held by handles or wakers keep `Inner` alive after this.
        let n = inner.credits.replace(0) + 1;
        if inner.refs.fetch_sub(n, Ordering::AcqRel) == n {
            // SAFETY: last counted reference: drop the shared strong count.
            unsafe { free_scheduler(self.inner) };
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    //! `Executor::post` and `dispatch` take a `Runnable`, which only coframe
    //! can make; these tests make one with a capturing scheduler.
    use super::*;
    use crate::Executor;
    use std::sync::atomic::AtomicUsize;

    /// A scheduler that keeps the runnables it is handed.
    #[derive(Default)]
    struct Capture(std::sync::Mutex<Vec<Runnable>>);

    impl Schedule for Capture {
        fn schedule(&self, r: Runnable) {
            self.0.lock().unwrap().push(r);
        }
        fn bind(&self, r: Runnable) {
            self.0.lock().unwrap().push(r);
        }
        fn release(&self, _task: NonNull<Header>) {}
        fn is_local(&self) -> bool {
            true
        }
    }

    fn captured(ran: &Arc<AtomicUsize>) -> (Arc<Capture>, Runnable, crate::JoinHandle<()>) {
        let cap = Arc::new(Capture::default());
        let r2 = ran.clone();
        // SAFETY: the runnable is run on this thread only.
        let h = unsafe {
            crate::task::try_spawn_unchecked(
                async move {
                    r2.fetch_add(1, Ordering::SeqCst);
                },
                cap.clone(),
                crate::frame::ResourceHandle::current(),
            )
        }
        .unwrap();
        let r = cap.0.lock().unwrap().pop().unwrap();
        (cap, r, h)
    }

    #[test]
    fn post_queues_and_dispatch_runs_inline_only_inside() {
        let ex = LocalExecutor::new();
        let ran = Arc::new(AtomicUsize::new(0));

        // post: queued, runs when the executor runs.
        let (_cap, r, h) = captured(&ran);
        ex.post(r);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        ex.run_until_stalled();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert!(h.is_finished());

        // dispatch from outside the executor: queued as well.
        let (_cap, r, _h) = captured(&ran);
        assert!(!ex.running_in_this_thread());
        ex.dispatch(r);
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        ex.run_until_stalled();
        assert_eq!(ran.load(Ordering::SeqCst), 2);

        // dispatch from inside one of its tasks: runs inline.
        let (_cap, r, _h) = captured(&ran);
        let slot = std::cell::Cell::new(Some(r));
        let ran2 = ran.clone();
        let exr = &ex;
        let inline = ex.run_until(async move {
            assert!(exr.running_in_this_thread());
            exr.dispatch(slot.take().unwrap());
            ran2.load(Ordering::SeqCst)
        });
        assert_eq!(
            inline, 3,
            "dispatch inside the executor ran the task inline"
        );
    }
}
