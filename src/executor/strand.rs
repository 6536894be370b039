//! [`Strand`]: serialized execution on any [`Executor`] (Asio's strand).
//!
//! Owns: the per-strand state ([`StrandState`]: the queue, the scheduled token,
//! the drain task's waker, the strand's live tasks, the panic hook) and the
//! *drain*, one long-lived task per strand spawned on the inner executor
//! that runs the strand's queued work. Each strand has its own state; two
//! strands never serialize each other (no pool of shared implementations).
//!
//! # The drain protocol
//!
//! The queue and the *scheduled* token live in one small lock-protected
//! record ([`Core`]): `items` (FIFO), `scheduled` (whether a drain owns the
//! strand), `keep` (a strong reference to the strand's state, owned by the
//! token) and `closed` (the inner executor shut down).
//!
//! - **Post**: under the lock, push the item; if `scheduled` was clear, set
//!   it and store `keep` (the poster *won the token*). After unlocking, the
//!   winner wakes the drain task, i.e. posts the one drain job to the inner
//!   executor. Every other poster just queued.
//! - **Drain** (a poll of the drain task, always holding the token): take
//!   the whole queue under the lock into a private batch (O(1) swap of two
//!   buffers), run it outside the lock, refill when empty. When the lock
//!   finds the queue empty, it clears `scheduled` and takes `keep` in the
//!   same critical section (*releases the token*), and the poll returns.
//!   After [`ITEMS_PER_POLL`] items the drain wakes itself and returns while still
//!   holding the token: it goes to the back of the inner executor's queue
//!   (fairness) and continues in FIFO order on its next poll.
//!
//! A post racing with the end of a drain is therefore decided by the lock:
//! either the item is pushed before the drain's final check (the drain runs
//! it) or after the token was released (the poster wins the token and wakes
//! the drain). No item is lost, and only the token holder runs items, so
//! two handlers of a strand never run at once. The loom model
//! `loom_post_races_end_of_drain` checks exactly this on [`Core`]. The token
//! is a real flag, not the queue's emptiness, so the drain may run a batch
//! outside the lock while posters keep queueing.
//!
//! `keep` makes queued work keep the strand alive when every handle is
//! dropped; it is a strong reference owned by whoever holds the token and
//! dropped when the token is released, so an idle strand without handles
//! or tasks is freed. (A new strand's drain holds the token from its spawn
//! to its first poll, without a keep; the first post in that window
//! supplies one.) Dropping the state wakes the drain task, whose next poll
//! finds the state gone (it holds a `Weak`) and completes.
//!
//! Why the token lives under the queue's lock rather than in a separate
//! atomic beside a lock-free queue: the token's transitions must be atomic
//! with the queue's emptiness (the race above), with handing over `keep`,
//! and with `closed` (a post racing with shutdown must either be cancelled
//! by the shutdown or refused, never stranded). With one lock each post
//! costs one uncontended acquire/release pair — what a flag CAS would
//! cost — and the drain takes the lock once per batch, not per item.
//! `benches/strand.rs` measures it against tokio's mutex and direct pool
//! spawns.
//!
//! # Tasks on a strand
//!
//! `Strand` implements [`Executor`]: a task spawned on it (by
//! [`run_async`](crate::run_async), [`Strand::spawn`] or
//! [`spawn`](crate::spawn) inside strand work) has the strand as its
//! scheduler, so its first run and every wake-up are queued on the strand
//! and its polls run inside the drain, one at a time. Each poll goes
//! through `safe_resume_with` (the task cell does that), each closure
//! through [`safe_resume`](crate::frame::safe_resume). A poll that returns
//! `Pending` releases the strand at once: a future awaiting work on another
//! executor never holds the strand meanwhile.
//!
//! The strand keeps its own live-task list for shutdown (the task layer's,
//! under a mutex: `task::SharedTasks`): when the inner
//! executor shuts down it cancels the drain task, and the drain's
//! destructor closes the strand (later posts drop their handler, later
//! spawns are cancelled at once), drops the queued closures, and cancels
//! every live task of the strand, so their handles see
//! a cancelled [`JoinError`](crate::JoinError) and no frame leaks.
//!
//! # Thread affinity
//!
//! `Strand<E>` is `Send`/`Sync` exactly when `E` is. On a
//! [`Local`](super::Local) executor closures and futures may be `!Send`:
//! they are queued, run and dropped on the executor's thread only (posts
//! come from the executor's thread because the handle is `!Send`; the state
//! is freed either by the drain or by the drain's destructor, both on that
//! thread, and only when the queue is empty). Remote wake-ups of strand
//! tasks only queue a `Runnable` and wake the drain through the inner
//! executor's remote path.

use super::pinning::{Pinned, Pinning};
use super::{sealed, Affinity, EnterGuard, Executor, SpawnableOn};
use crate::frame::{safe_resume, ResourceHandle};
use crate::task::{Header, JoinHandle, Runnable, Schedule, SharedTasks};
use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{align_of, size_of, ManuallyDrop, MaybeUninit};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll, Waker};

/// Items a drain runs per poll before it re-posts itself to the inner
/// executor (so one busy strand cannot starve the executor's other work).
pub(crate) const ITEMS_PER_POLL: usize = 128;

// ---------------------------------------------------------------------------
// Core: the queue and the scheduled token (generic so loom can model it).

/// The lock-protected record of the drain protocol (see the module docs).
pub(crate) struct Core<T, K> {
    state: CoreLock<CoreState<T, K>>,
}

/// The core's lock: `parking_lot`'s (it spins briefly before it parks;
/// under `strand_counter` std's futex lock kept taking its contended path
/// with posts from two workers: README, Design measurements), loom's in
/// models.
#[cfg(not(loom))]
type CoreLock<T> = parking_lot::Mutex<T>;
#[cfg(not(loom))]
type CoreGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
#[cfg(loom)]
type CoreLock<T> = crate::loom::sync::Mutex<T>;
#[cfg(loom)]
type CoreGuard<'a, T> = crate::loom::sync::MutexGuard<'a, T>;

struct CoreState<T, K> {
    items: VecDeque<T>,
    scheduled: bool,
    closed: bool,
    keep: Option<K>,
}

/// What a push did.
pub(crate) enum Push<T> {
    /// Queued behind a drain that holds the token.
    Queued,
    /// Queued, and the caller won the token: it must start a drain.
    Kick,
    /// The strand is closed: the item is handed back.
    Closed(T),
}

/// What a token holder's refill found.
pub(crate) enum Refill<K> {
    /// `local` now holds the next items, in FIFO order.
    Refilled,
    /// The queue was empty: the token is released (here is its keep).
    Released(Option<K>),
}

impl<T, K> Core<T, K> {
    /// A core whose token is held by the drain being created, without a
    /// keep (the first push supplies one): its first poll releases the
    /// token if nothing was posted meanwhile.
    pub(crate) fn new_scheduled() -> Self {
        Self {
            state: CoreLock::new(CoreState {
                items: VecDeque::new(),
                scheduled: true,
                closed: false,
                keep: None,
            }),
        }
    }

    #[cfg(not(loom))]
    #[inline]
    fn lock(&self) -> CoreGuard<'_, CoreState<T, K>> {
        self.state.lock()
    }

    #[cfg(loom)]
    fn lock(&self) -> CoreGuard<'_, CoreState<T, K>> {
        // The critical sections never run user code, so they cannot panic
        // halfway; a poisoned lock still holds a consistent record.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item`; if the strand was idle, takes the token for the
    /// caller (storing `keep()`) and returns [`Push::Kick`].
    pub(crate) fn push(&self, item: T, keep: impl FnOnce() -> K) -> Push<T> {
        let mut st = self.lock();
        if st.closed {
            return Push::Closed(item);
        }
        st.items.push_back(item);
        if st.scheduled {
            if st.keep.is_none() {
                // Only before the new drain's first poll: queued work
                // must keep the state alive from now on.
                st.keep = Some(keep());
            }
            Push::Queued
        } else {
            st.scheduled = true;
            st.keep = Some(keep());
            Push::Kick
        }
    }

    /// Token holder only, with `local` empty: moves every queued item into
    /// `local`, or, if there is none, releases the token.
    pub(crate) fn refill_or_release(&self, local: &mut VecDeque<T>) -> Refill<K> {
        debug_assert!(local.is_empty());
        let mut st = self.lock();
        debug_assert!(st.scheduled, "strand drain ran without the token");
        if st.items.is_empty() {
            st.scheduled = false;
            Refill::Released(st.keep.take())
        } else {
            std::mem::swap(&mut st.items, local);
            Refill::Refilled
        }
    }

    /// Closes the core (shutdown): later pushes are refused. Returns the
    /// queued items and the token's keep, if any.
    pub(crate) fn close(&self) -> (VecDeque<T>, Option<K>) {
        let mut st = self.lock();
        st.closed = true;
        st.scheduled = false;
        (std::mem::take(&mut st.items), st.keep.take())
    }
}

// ---------------------------------------------------------------------------
// Items and handlers.

/// One unit of strand work.
pub(crate) enum Item {
    /// A task bound to the strand (its first run or a wake-up).
    Task(Runnable),
    /// A posted closure.
    Fn(Handler),
}

/// A posted closure, type-erased: stored in the item itself when it fits
/// in [`Inline`] (most handlers capture a few pointers), boxed otherwise.
/// A box per post, allocated on the posting worker and freed on the
/// draining one, was a large share of a post's time (README, Design
/// measurements).
pub(crate) struct Handler {
    /// Runs (`true`) or drops (`false`) the closure stored in `data`,
    /// consuming it.
    call: unsafe fn(*mut Inline, bool),
    data: MaybeUninit<Inline>,
}

/// The inline storage of a [`Handler`].
type Inline = [usize; 3];

impl Handler {
    #[inline]
    fn new<F: FnOnce() + 'static>(f: F) -> Handler {
        let mut data = MaybeUninit::<Inline>::uninit();
        if size_of::<F>() <= size_of::<Inline>() && align_of::<F>() <= align_of::<Inline>() {
            // SAFETY: `F` fits the storage, size and alignment (checked).
            unsafe { data.as_mut_ptr().cast::<F>().write(f) };
            Handler {
                call: call_inline::<F>,
                data,
            }
        } else {
            // SAFETY: a pointer fits the storage.
            unsafe {
                data.as_mut_ptr()
                    .cast::<*mut F>()
                    .write(Box::into_raw(Box::new(f)))
            };
            Handler {
                call: call_boxed::<F>,
                data,
            }
        }
    }

    /// Runs the closure (a panic unwinds from here, the closure consumed).
    #[inline]
    fn run(self) {
        let mut me = ManuallyDrop::new(self);
        // SAFETY: `data` holds the closure `call` was made for; it is
        // consumed here once (`me` is never dropped).
        unsafe { (me.call)(me.data.as_mut_ptr(), true) }
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        // SAFETY: as in `run`: the closure is dropped once, here.
        unsafe { (self.call)(self.data.as_mut_ptr(), false) }
    }
}

/// # Safety
/// `data` holds an `F` written by [`Handler::new`], not yet consumed.
unsafe fn call_inline<F: FnOnce()>(data: *mut Inline, run: bool) {
    // SAFETY: per the contract; read out once.
    let f = unsafe { data.cast::<F>().read() };
    if run {
        f()
    }
}

/// # Safety
/// `data` holds a `Box<F>` pointer written by [`Handler::new`], not yet
/// consumed.
unsafe fn call_boxed<F: FnOnce()>(data: *mut Inline, run: bool) {
    // SAFETY: per the contract; the box is taken back once.
    let f = *unsafe { Box::from_raw(data.cast::<*mut F>().read()) };
    if run {
        f()
    }
}

// SAFETY: closures are `Send` unless the strand's executor is `Local`, in
// which case items are created, run and dropped on the executor's thread
// only (see the module docs, "Thread affinity"); `Runnable` is `Send`.
unsafe impl Send for Item {}

impl Item {
    /// Disposes of an item a closed strand refused or dropped: a task's
    /// runnable is forgotten (the shutdown cancels the task through the
    /// live list), a closure is dropped.
    fn discard(self) {
        match self {
            Item::Task(r) => {
                r.into_raw();
            }
            Item::Fn(f) => drop(f),
        }
    }
}

/// Closures a strand over an executor of affinity `A` accepts: any
/// `FnOnce() + 'static` on [`Local`](super::Local), `Send` ones on
/// [`Shared`](super::Shared).
///
/// ```
/// use coframe::executor::{HandlerFor, Local};
/// fn check<F: HandlerFor<Local>>(_: F) {}
/// let not_send = std::rc::Rc::new(1);
/// check(move || drop(not_send));
/// ```
///
/// A `!Send` closure cannot be posted to a strand over a thread pool:
///
/// ```compile_fail
/// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
/// let strand = coframe::Strand::new(&pool);
/// let not_send = std::rc::Rc::new(1);
/// strand.post(move || drop(not_send));
/// ```
///
/// and a strand over a [`LocalExecutor`](crate::LocalExecutor) cannot leave
/// its thread:
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// let ex = coframe::LocalExecutor::new();
/// send(coframe::Strand::new(&ex));
/// ```
pub trait HandlerFor<A: Affinity>: handler::Sealed<A> {}
impl<A: Affinity, F: handler::Sealed<A>> HandlerFor<A> for F {}

pub(crate) mod handler {
    #![allow(private_interfaces)]
    use super::Item;

    pub trait Sealed<A> {
        fn into_item(self) -> Item;
        fn call(self);
    }

    impl<F: FnOnce() + 'static> Sealed<super::super::Local> for F {
        fn into_item(self) -> Item {
            Item::Fn(super::Handler::new(self))
        }
        fn call(self) {
            self()
        }
    }

    impl<F: FnOnce() + Send + 'static> Sealed<super::super::Shared> for F {
        fn into_item(self) -> Item {
            Item::Fn(super::Handler::new(self))
        }
        fn call(self) {
            self()
        }
    }
}

/// The hook that receives panics of closures run by a strand.
type PanicHook = Arc<dyn Fn(Box<dyn Any + Send>) + Send + Sync>;

// ---------------------------------------------------------------------------
// StrandState: the per-strand state.

/// The strand whose drain runs on this thread (the `strand` field of the
/// thread's context), or null.
#[inline]
fn current_strand() -> *const StrandState {
    crate::thread_context::with(|cx| cx.strand.get())
}

/// The state every handle and every task of one strand shares.
pub(crate) struct StrandState {
    /// Itself, for the token's keep (always upgradable while `&self` is
    /// reachable: a caller holds a strong reference).
    me: Weak<StrandState>,
    core: Core<Item, Arc<StrandState>>,
    /// The drain task's waker; set by its first poll, which happens while
    /// the drain holds the token, so before any poster can win it.
    waker: OnceLock<Waker>,
    /// Tasks bound and not completed (shutdown cancels them). Locked: a
    /// task is bound on its spawner's thread and completes wherever the
    /// drain runs (over a pool, any worker).
    tasks: SharedTasks,
    hook: std::sync::Mutex<Option<PanicHook>>,
    local: bool,
    /// Over a thread pool (directly or through strands): the scheduler of
    /// the innermost drain, a [`Pinned`] that stays unpinned until a
    /// stackful task bound to a strand over it first runs (then every poll
    /// of that drain, hence of every strand task inside it, happens on one
    /// worker: stackful tasks never migrate). `None` on a local executor.
    drain_pin: Option<Arc<Pinned>>,
    /// The inner executor's stacks for stackful tasks.
    stacks: Option<crate::context::PooledStack>,
}

impl StrandState {
    fn push(&self, item: Item) {
        match self
            .core
            .push(item, || self.me.upgrade().expect("strand state alive"))
        {
            Push::Queued => {}
            Push::Kick => self
                .waker
                .get()
                .expect("coframe: strand drain woken before its first poll")
                .wake_by_ref(),
            Push::Closed(item) => item.discard(),
        }
    }

    fn run_item(&self, item: Item) {
        match item {
            Item::Task(r) => r.run(),
            Item::Fn(f) => {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| safe_resume(|| f.run()))) {
                    self.report_panic(payload);
                }
            }
        }
    }

    fn report_panic(&self, payload: Box<dyn Any + Send>) {
        let hook = self.hook.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match hook {
            Some(hook) => {
                // A panicking hook must not take the drain down either.
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| hook(payload))) {
                    eprintln!("coframe: a strand's panic hook panicked (contained)");
                    // The hook's own payload is dropped; its destructor may
                    // panic in turn, which is contained too.
                    if catch_unwind(AssertUnwindSafe(move || drop(p))).is_err() {
                        eprintln!("coframe: dropping a strand panic hook's payload panicked");
                    }
                }
            }
            // Default: the panic message was already printed by the std
            // panic hook; the payload is dropped (contained).
            None => {
                if catch_unwind(AssertUnwindSafe(|| drop(payload))).is_err() {
                    eprintln!("coframe: dropping a strand handler's panic payload panicked");
                }
            }
        }
    }

    /// Shutdown of the inner executor (the drain is being dropped).
    fn shut_down(&self, local_batch: VecDeque<Item>) {
        let (queued, keep) = self.core.close();
        for item in local_batch.into_iter().chain(queued) {
            // A closure's destructor may panic: the shutdown goes on.
            if catch_unwind(AssertUnwindSafe(|| item.discard())).is_err() {
                eprintln!("coframe: dropping a strand's unrun handler panicked");
            }
        }
        // From here on `bind` cancels new tasks itself.
        self.tasks.close();
        // SAFETY: no task of the strand is running or can start: only the
        // drain runs them, it is being dropped, and their runnables were
        // discarded above (later ones are refused by the closed core). On a
        // Local strand this runs on the executor's thread (its shutdown
        // drops the drain); over a pool the futures are `Send`.
        // `cancel_now` catches panics of the futures' destructors.
        unsafe { self.tasks.cancel_where(|_| true) };
        drop(keep);
    }
}

// SAFETY: lives in an `Arc`; runnables run inside the drain, on the inner
// executor's threads (on a `Local` one, only its owner thread), and are
// forgotten once the strand is closed; `bind` links every task on the live
// list or cancels it, completion unlinks it.
unsafe impl Schedule for StrandState {
    fn schedule(&self, runnable: Runnable) {
        self.push(Item::Task(runnable))
    }

    fn bind(&self, runnable: Runnable) {
        // SAFETY: completion releases the task (`release`); once the inner
        // executor is gone the new task is cancelled on the spot, on the
        // spawning thread: the executor's own on a Local strand, any over a
        // pool (the future is `Send`).
        if let Some(r) = unsafe { self.tasks.bind(runnable) } {
            self.push(Item::Task(r));
        }
    }

    fn release(&self, task: NonNull<Header>) {
        // SAFETY: a task of this strand, completing.
        unsafe { self.tasks.release(task) }
    }

    fn is_local(&self) -> bool {
        self.local
    }

    fn stacks(&self) -> Option<crate::context::PooledStack> {
        self.stacks.clone()
    }

    fn pinning(self: Arc<Self>) -> Pinning {
        match self.drain_pin.clone() {
            Some(pin) => Pinning::Drain { sched: self, pin },
            None => {
                debug_assert!(self.local, "a strand over a pool has a drain pin");
                Pinning::Thread(self)
            }
        }
    }
}

impl Drop for StrandState {
    fn drop(&mut self) {
        // The drain holds only a Weak: wake it so it completes.
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

// ---------------------------------------------------------------------------
// The drain task.

struct Drain {
    weak: Weak<StrandState>,
    /// The batch taken from the queue; non-empty only while holding the
    /// token.
    batch: VecDeque<Item>,
    first: bool,
}

impl Future for Drain {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(shared) = this.weak.upgrade() else {
            return Poll::Ready(());
        };
        if this.first {
            this.first = false;
            let _ = shared.waker.set(cx.waker().clone());
        }
        let sched: Arc<dyn Schedule> = shared.clone();
        // SAFETY: `sched` outlives the guard (declared before it, so dropped
        // after it).
        let _enter = unsafe { EnterGuard::new(&sched) };
        crate::thread_context::with(|cx| cx.strand.set(Arc::as_ptr(&shared)));
        let mut budget = ITEMS_PER_POLL;
        loop {
            if this.batch.is_empty() {
                match shared.core.refill_or_release(&mut this.batch) {
                    Refill::Refilled => {}
                    Refill::Released(keep) => {
                        drop(keep);
                        return Poll::Pending;
                    }
                }
            }
            while let Some(item) = this.batch.pop_front() {
                shared.run_item(item);
                budget -= 1;
                if budget == 0 {
                    // Still holding the token: go to the back of the inner
                    // executor's queue and continue there.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        // Dropped before completion only by the inner executor's shutdown
        // (its handle is detached); after completion the state is gone.
        if let Some(shared) = self.weak.upgrade() {
            shared.shut_down(std::mem::take(&mut self.batch));
        }
    }
}

// ---------------------------------------------------------------------------
// The public handle.

/// A strand: work posted to it runs on the inner executor `E`, one item at
/// a time, in FIFO order — never two at once, even on a multi-threaded
/// executor — so the work can share state without locks.
///
/// `Strand` is a cheap handle: clones share one serialization; two strands
/// created separately never serialize each other. It implements
/// [`Executor`] (with `E`'s affinity), so futures can be bound to it with
/// [`run_async`](crate::run_async) or [`Strand::spawn`]: all polls of all
/// its futures are serialized too, and their wake-ups re-enter through the
/// strand. A future awaiting something elsewhere does not hold the strand.
///
/// Queued work keeps the strand alive after every handle is dropped.
/// Panics are contained: a future's panic goes to its
/// [`JoinHandle`](crate::JoinHandle); a closure's panic goes to the hook
/// set with [`set_panic_hook`](Self::set_panic_hook) (by default it is only
/// printed by the standard panic hook); later work runs normally.
///
/// If the inner executor shuts down, the strand's queued closures are
/// dropped, its tasks are cancelled, and later posts are dropped unrun.
///
/// ```
/// use coframe::{LocalExecutor, Strand};
/// use std::{cell::RefCell, rc::Rc};
/// let ex = LocalExecutor::new();
/// let strand = Strand::new(&ex);
/// let log = Rc::new(RefCell::new(Vec::new()));
/// for i in 0..3 {
///     let log = log.clone();
///     strand.post(move || log.borrow_mut().push(i));
/// }
/// ex.run_until_stalled();
/// assert_eq!(*log.borrow(), [0, 1, 2]);
/// ```
pub struct Strand<E: Executor> {
    shared: Arc<StrandState>,
    sched: Arc<dyn Schedule>,
    _executor: PhantomData<E>,
}

impl<E: Executor> Strand<E> {
    /// Creates a strand running its work on `executor`. It spawns the
    /// strand's drain task there (one cell from the default frame
    /// resource).
    ///
    /// # Panics
    ///
    /// If the default frame resource refuses the drain task's cell.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let strand = coframe::Strand::new(&ex);
    /// assert!(!strand.running_in_this_thread());
    /// ```
    pub fn new(executor: &E) -> Self {
        // Where the drain runs, and the drain that keeps this strand's
        // stackful tasks on one thread (`pinning.rs`): over a pool a lazy
        // `Pinned` of its own; over a strand over a pool the inner
        // strand's (this drain runs inside that one).
        let (drain_sched, drain_pin) = match executor.scheduler().clone().pinning() {
            Pinning::Thread(sched) => (sched, None),
            Pinning::Worker(pool) => {
                let pin = Pinned::lazy(pool);
                (pin.clone() as Arc<dyn Schedule>, Some(pin))
            }
            Pinning::Drain { sched, pin } => (sched, Some(pin)),
        };
        let shared = Arc::new_cyclic(|me| StrandState {
            me: me.clone(),
            core: Core::new_scheduled(),
            waker: OnceLock::new(),
            tasks: SharedTasks::new(),
            hook: std::sync::Mutex::new(None),
            local: <E::Affinity as sealed::Affinity>::LOCAL,
            drain_pin,
            stacks: executor.scheduler().stacks(),
        });
        let drain = Drain {
            weak: Arc::downgrade(&shared),
            batch: VecDeque::new(),
            first: true,
        };
        // SAFETY: the drain future and its output are `Send` (the items
        // it holds are, see `Item`), so any executor may run it anywhere.
        let handle = unsafe {
            crate::task::try_spawn_unchecked(drain, drain_sched, ResourceHandle::default_resource())
        }
        .unwrap_or_else(|e| super::refused(e));
        drop(handle); // detached: the drain lives as long as the state
        let sched: Arc<dyn Schedule> = shared.clone();
        Self {
            shared,
            sched,
            _executor: PhantomData,
        }
    }

    /// Queues `f` to run on the strand after everything posted before it
    /// (strict FIFO per strand). Never runs it inline.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
    /// let ex = coframe::LocalExecutor::new();
    /// let strand = coframe::Strand::new(&ex);
    /// let n = Arc::new(AtomicUsize::new(0));
    /// let m = n.clone();
    /// strand.post(move || { m.fetch_add(1, Ordering::SeqCst); });
    /// assert_eq!(n.load(Ordering::SeqCst), 0); // queued, not run
    /// ex.run_until_stalled();
    /// assert_eq!(n.load(Ordering::SeqCst), 1);
    /// ```
    pub fn post<F: HandlerFor<E::Affinity>>(&self, f: F) {
        self.shared.push(f.into_item());
    }

    /// Runs `f` right now if the calling thread is already running this
    /// strand's work (inside a handler or a poll of a future bound to it),
    /// otherwise [`post`](Self::post)s it. An inline `f` runs before work
    /// queued earlier, and its panic propagates to the caller.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let ex = coframe::LocalExecutor::new();
    /// let strand = coframe::Strand::new(&ex);
    /// let order = Rc::new(Cell::new(0));
    /// let (s, o) = (strand.clone(), order.clone());
    /// strand.post(move || {
    ///     let o2 = o.clone();
    ///     s.dispatch(move || o2.set(o2.get() * 10 + 1)); // inline
    ///     o.set(o.get() * 10 + 2);
    /// });
    /// ex.run_until_stalled();
    /// assert_eq!(order.get(), 12);
    /// ```
    pub fn dispatch<F: HandlerFor<E::Affinity>>(&self, f: F) {
        if self.running_in_this_thread() {
            f.call()
        } else {
            self.post(f)
        }
    }

    /// Whether the calling thread is running this strand's work right now.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let ex = coframe::LocalExecutor::new();
    /// let strand = coframe::Strand::new(&ex);
    /// let inside = Rc::new(Cell::new(false));
    /// let (s, i) = (strand.clone(), inside.clone());
    /// strand.post(move || i.set(s.running_in_this_thread()));
    /// ex.run_until_stalled();
    /// assert!(inside.get() && !strand.running_in_this_thread());
    /// ```
    pub fn running_in_this_thread(&self) -> bool {
        ptr::eq(current_strand(), Arc::as_ptr(&self.shared))
    }

    /// Spawns `future` bound to the strand, its cell allocated from the
    /// current frame resource (use [`run_async`](crate::run_async) to give
    /// the task tree its own allocator). Its polls never overlap with other
    /// work of the strand.
    ///
    /// # Panics
    ///
    /// If the resource refuses the allocation.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let strand = coframe::Strand::new(&ex);
    /// let h = strand.spawn(async { 6 * 7 });
    /// assert_eq!(ex.run_until(h).unwrap(), 42);
    /// ```
    pub fn spawn<F: SpawnableOn<E::Affinity>>(&self, future: F) -> JoinHandle<F::Output> {
        let resource = if self.shared.local {
            ResourceHandle::current()
        } else {
            crate::frame::SyncResourceHandle::current().into()
        };
        future
            .spawn_task(self.sched.clone(), resource)
            .unwrap_or_else(|e| super::refused(e))
    }

    /// Sets the hook that receives the panic payload of any closure run by
    /// this strand that panics (shared by all clones; replaces the previous
    /// hook). The strand keeps running later work either way. A panic in
    /// the hook itself is caught and reported on stderr.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let ex = coframe::LocalExecutor::new();
    /// let strand = coframe::Strand::new(&ex);
    /// let seen = Arc::new(Mutex::new(None));
    /// let s = seen.clone();
    /// strand.set_panic_hook(move |p| {
    ///     *s.lock().unwrap() = p.downcast_ref::<&str>().map(|m| m.to_string());
    /// });
    /// strand.post(|| panic!("boom"));
    /// let after = Arc::new(Mutex::new(false));
    /// let a = after.clone();
    /// strand.post(move || *a.lock().unwrap() = true);
    /// ex.run_until_stalled();
    /// assert_eq!(seen.lock().unwrap().as_deref(), Some("boom"));
    /// assert!(*after.lock().unwrap());
    /// ```
    pub fn set_panic_hook<H>(&self, hook: H)
    where
        H: Fn(Box<dyn Any + Send>) + Send + Sync + 'static,
    {
        *self.shared.hook.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(hook));
    }

    /// A weak reference to the strand's state: it expires once every
    /// handle and task is gone and no work is queued.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let strand = coframe::Strand::new(&ex);
    /// let weak = strand.downgrade();
    /// strand.post(|| println!("queued work keeps the strand alive"));
    /// drop(strand);
    /// assert!(weak.upgrade().is_some());
    /// ex.run_until_stalled(); // runs the work, then frees the state
    /// assert!(weak.upgrade().is_none());
    /// ```
    pub fn downgrade(&self) -> WeakStrand<E> {
        WeakStrand {
            weak: Arc::downgrade(&self.shared),
            _executor: PhantomData,
        }
    }
}

impl<E: Executor> Clone for Strand<E> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            sched: self.sched.clone(),
            _executor: PhantomData,
        }
    }
}

impl<E: Executor> PartialEq for Strand<E> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<E: Executor> Eq for Strand<E> {}

impl<E: Executor> fmt::Debug for Strand<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Strand")
            .field("state", &Arc::as_ptr(&self.shared))
            .finish_non_exhaustive()
    }
}

impl<E: Executor> sealed::Executor for Strand<E> {
    fn scheduler(&self) -> &Arc<dyn Schedule> {
        &self.sched
    }
}

impl<E: Executor> Executor for Strand<E> {
    type Affinity = E::Affinity;

    fn running_in_this_thread(&self) -> bool {
        Strand::running_in_this_thread(self)
    }
}

/// A weak reference to a [`Strand`]'s state (see [`Strand::downgrade`]).
///
/// ```
/// let ex = coframe::LocalExecutor::new();
/// let strand = coframe::Strand::new(&ex);
/// let weak = strand.downgrade();
/// assert!(weak.upgrade().unwrap() == strand);
/// ```
pub struct WeakStrand<E: Executor> {
    weak: Weak<StrandState>,
    _executor: PhantomData<E>,
}

impl<E: Executor> WeakStrand<E> {
    /// A new handle, if the strand's state still exists.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let weak = coframe::Strand::new(&ex).downgrade();
    /// ex.run_until_stalled();
    /// assert!(weak.upgrade().is_none());
    /// ```
    pub fn upgrade(&self) -> Option<Strand<E>> {
        let shared = self.weak.upgrade()?;
        let sched: Arc<dyn Schedule> = shared.clone();
        Some(Strand {
            shared,
            sched,
            _executor: PhantomData,
        })
    }
}

impl<E: Executor> Clone for WeakStrand<E> {
    fn clone(&self) -> Self {
        Self {
            weak: self.weak.clone(),
            _executor: PhantomData,
        }
    }
}

impl<E: Executor> fmt::Debug for WeakStrand<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakStrand").finish_non_exhaustive()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Loom model of the drain protocol ([`Core`]): a post racing with the
    //! end of a drain. Run with `RUSTFLAGS="--cfg loom" cargo test --lib
    //! --release loom_`.

    use super::{Core, Push, Refill};
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;
    use std::collections::VecDeque;

    struct Model {
        core: Core<usize, ()>,
        /// Handlers running right now.
        active: AtomicUsize,
        /// Bit i set: handler i ran.
        ran: AtomicUsize,
    }

    /// Drains as the token holder until the token is released (one item
    /// at a time: a handler is the body between the two counter updates).
    fn drain(m: &Model) {
        let mut local = VecDeque::new();
        loop {
            if local.is_empty() {
                match m.core.refill_or_release(&mut local) {
                    Refill::Refilled => {}
                    Refill::Released(_) => return,
                }
            }
            while let Some(i) = local.pop_front() {
                assert_eq!(
                    m.active.fetch_add(1, Ordering::SeqCst),
                    0,
                    "two handlers at once"
                );
                let prev = m.ran.fetch_or(1 << i, Ordering::SeqCst);
                assert_eq!(prev & (1 << i), 0, "handler ran twice");
                m.active.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Posts item `i`; a poster that wins the token runs the drain itself
    /// (as the woken drain task would, concurrently with anyone else).
    fn post(m: &Model, i: usize) {
        match m.core.push(i, || ()) {
            Push::Queued => {}
            Push::Kick => drain(m),
            Push::Closed(_) => unreachable!(),
        }
    }

    #[test]
    fn loom_post_races_end_of_drain() {
        loom::model(|| {
            // The main thread holds the token (a drain in progress) with
            // item 0 queued; two threads post while it finishes.
            let m = Arc::new(Model {
                core: Core::new_scheduled(),
                active: AtomicUsize::new(0),
                ran: AtomicUsize::new(0),
            });
            assert!(matches!(m.core.push(0, || ()), Push::Queued));
            let t1 = {
                let m = m.clone();
                loom::thread::spawn(move || post(&m, 1))
            };
            let t2 = {
                let m = m.clone();
                loom::thread::spawn(move || post(&m, 2))
            };
            drain(&m);
            t1.join().unwrap();
            t2.join().unwrap();
            // Every handler ran exactly once, and the strand is idle.
            assert_eq!(m.ran.load(Ordering::SeqCst), 0b111, "a handler was lost");
            let mut local = VecDeque::new();
            // Idle: the next post must win the token.
            assert!(matches!(m.core.push(3, || ()), Push::Kick));
            assert!(matches!(
                m.core.refill_or_release(&mut local),
                Refill::Refilled
            ));
            assert_eq!(local, [3]);
        });
    }
}
