//! Stackful tasks: a closure on its own stack, scheduled like any task,
//! that waits on futures as if they were blocking calls.
//!
//! A stackful task is an ordinary task cell whose future, [`Stackful`],
//! owns a [`Coroutine`] (its control block at the top of its own stack).
//! Polling the future resumes the coroutine through the task's poll path —
//! so `safe_resume` with the task's frame resource, the current scheduler,
//! panic capture and cancellation are the task cell's, unchanged. Inside,
//! [`wait`] polls the awaited future with the task's waker; while it is
//! pending the coroutine suspends back into `poll`, which returns
//! `Pending`, and the executor runs other work until the waker fires.
//!
//! ```text
//!   executor thread stack                 the task's own stack
//!   ─────────────────────                 ────────────────────
//!   worker loop                           [control block: yielder, ...]
//!    └ Runnable::run                       entry
//!       └ safe_resume_with(resource)        └ closure f()
//!          └ Stackful::poll ── resume ──▶      └ ... user code ...
//!                          ◀─ suspend ──          └ wait(fut): poll fut,
//!            returns Pending                          Pending → suspend
//! ```
//!
//! The waker and the yielder reach `wait` through a thread-local slot that
//! `poll` sets for the duration of the resume (and restores afterwards, so
//! stackful tasks may nest); code on the task's stack reads it afresh after
//! every suspension.
//!
//! # Thread-locals and migration
//!
//! LLVM may keep a thread-local's address in a register or stack slot across
//! a call, and a call to [`wait`] can return on another thread if the stack
//! migrates: the code after it would then touch the first thread's
//! thread-locals (or freed memory, if that thread exited). coframe therefore
//! never migrates a stack: a stackful task runs on the thread it was first
//! polled on, for its whole life, including its cancellation (the unwinding
//! of its stack runs there too). On a [`LocalExecutor`](super::LocalExecutor)
//! that is automatic; on the thread pool the task is pinned to its worker.
//!
//! # Floating-point control state
//!
//! A stackful task treats the FP control state (rounding mode, exception
//! masks, flush-to-zero: MXCSR and the x87 control word on x86_64, FPCR on
//! AArch64) as thread state, exactly as async tasks do: a future that
//! changes the rounding mode and returns `Pending` leaves it to whatever the
//! executor runs next, and so does a stackful task that changes it and then
//! [`wait`]s. Its coroutine therefore switches with
//! [`Switch::Lean`](crate::context::Switch::Lean), which leaves that state
//! alone (a measurable share of spawning and joining a stackful task:
//! README, Design measurements). Code that changes the mode must restore it before it
//! waits, as in async code; plain coroutines and fibers keep the default
//! [`Switch::Full`](crate::context::Switch::Full), which gives each context
//! its own mode as Boost.Context does.
//!
//! # Stacks
//!
//! Stacks come from a [`PooledStack`] of guard-page protected stacks, by
//! default [`DEFAULT_STACK_SIZE`] (64 KiB) each: enough for ordinary
//! blocking-style code, formatting and a panic with a backtrace, while
//! 100,000 suspended tasks reserve under 7 GiB of address space and commit
//! only the pages they touch. Pass another allocator per spawn for deeper
//! code.

use crate::context::{
    Coroutine, CoroutineResult, PooledStack, StackAllocator, StackError, Yielder,
};
use crate::task::{JoinHandle, SpawnError};
use std::future::{Future, IntoFuture};
use std::mem::ManuallyDrop;
use std::pin::{pin, Pin};
use std::ptr;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

/// Usable bytes of a stackful task's stack unless another allocator is
/// given, on every executor: the default stacks of a `LocalExecutor` (and
/// of `spawn_stackful` outside a pool) and a `ThreadPool`'s default
/// [`stack_allocator`](crate::ThreadPool::stack_allocator) alike. 64 KiB:
/// a suspended task keeps only the pages it touched resident, a few KiB
/// (the README's benchmark section gives the figure per build); see the
/// module docs.
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;

/// The process-wide pool stackful tasks take their stacks from by default.
///
/// ```
/// let pool = coframe::stackful::default_stacks();
/// assert_eq!(pool.stack_size(), coframe::stackful::DEFAULT_STACK_SIZE);
/// ```
pub fn default_stacks() -> &'static PooledStack {
    static POOL: OnceLock<PooledStack> = OnceLock::new();
    POOL.get_or_init(|| {
        PooledStack::builder()
            .stack_size(DEFAULT_STACK_SIZE)
            .build()
            .expect("the default stackful stack size is valid")
    })
}

/// Stacks from [`default_stacks`] through a small per-thread cache.
///
/// Spawning and finishing stackful tasks is on the hot path of programs
/// that use them like functions; the shared pool costs a lock and two atomic
/// counts per stack. Each thread keeps up to [`THREAD_CACHE`] stacks that
/// came back to it and hands them out again without either. The cache moves
/// stacks to and from the shared pool in batches of half its size, one lock
/// per batch (as tcmalloc's thread caches do): an empty cache refills with
/// up to half a cache of free stacks, a full one gives half back. The whole
/// cache goes back when the thread exits. Stacks a thread caches count as
/// live in the shared pool.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DefaultStacks;

/// Stacks each thread keeps for itself (see [`DefaultStacks`]).
const THREAD_CACHE: usize = 64;

/// This thread's cache. No borrow flag: the cache is only touched by
/// `DefaultStacks`' two functions, which call nothing that can reach it
/// again (the shared pool's batch functions touch only the pool).
struct ThreadStacks(std::cell::UnsafeCell<Vec<crate::context::Stack>>);

impl Drop for ThreadStacks {
    fn drop(&mut self) {
        for stack in self.0.get_mut().drain(..) {
            // SAFETY: cached stacks came from the default pool, unused.
            unsafe { default_stacks().deallocate(stack) };
        }
    }
}

thread_local! {
    static THREAD_STACKS: ThreadStacks =
        const { ThreadStacks(std::cell::UnsafeCell::new(Vec::new())) };
}

/// This thread's stack cache, or null while the thread exits. Inlined:
/// the address may be kept across a stack switch in the caller, which is
/// sound because no stack changes threads (rule 7).
#[inline(always)]
fn thread_stacks() -> *mut Vec<crate::context::Stack> {
    THREAD_STACKS
        .try_with(|c| c.0.get())
        .unwrap_or(ptr::null_mut())
}

// SAFETY: stacks come from the default pool (directly or via the cache of
// the calling thread) and go back to it; the cache holds only unused stacks.
unsafe impl StackAllocator for DefaultStacks {
    /// Takes a cached stack, refilling the cache with a batch from the
    /// shared pool when it is empty; the shared pool directly if the cache
    /// is gone (thread exiting).
    #[inline]
    fn allocate(&self) -> Result<crate::context::Stack, StackError> {
        let cache = thread_stacks();
        if cache.is_null() {
            return default_stacks().allocate();
        }
        // SAFETY: this thread's cache, alive until the thread's TLS
        // destructors run (it was reachable just now, and nothing here can
        // run them); not borrowed elsewhere (see `ThreadStacks`).
        let v = unsafe { &mut *cache };
        match v.pop() {
            Some(stack) => {
                if let Some(next) = v.last() {
                    crate::context::prefetch_top(crate::context::coloured_top(next));
                }
                Ok(stack)
            }
            None => refill(v),
        }
    }

    /// Caches a stack, first giving the oldest half of the cache back to the
    /// shared pool if it is full (the stacks returned last, their top lines
    /// still cached, stay for the next spawns); the shared pool directly if
    /// the cache is gone.
    #[inline]
    unsafe fn deallocate(&self, stack: crate::context::Stack) {
        let cache = thread_stacks();
        if cache.is_null() {
            // SAFETY: forwarded contract: the stack is from the default pool.
            return unsafe { default_stacks().deallocate(stack) };
        }
        // SAFETY: as in `allocate`.
        let v = unsafe { &mut *cache };
        if v.len() >= THREAD_CACHE {
            give_back_half(v);
        }
        v.push(stack);
    }
}

/// Refills an empty cache with up to half a cache of stacks from the
/// shared pool (one lock) and takes one.
#[cold]
#[inline(never)]
fn refill(v: &mut Vec<crate::context::Stack>) -> Result<crate::context::Stack, StackError> {
    default_stacks().take_batch(THREAD_CACHE / 2, v)?;
    Ok(v.pop().expect("take_batch hands over at least one stack"))
}

/// Gives the oldest half of a full cache back to the shared pool (one
/// lock).
#[cold]
#[inline(never)]
fn give_back_half(v: &mut Vec<crate::context::Stack>) {
    // SAFETY: cached stacks came from the default pool, unused.
    unsafe { default_stacks().give_batch(v.drain(..THREAD_CACHE / 2)) };
}

/// The future of a stackful task: polling it resumes its coroutine.
pub(crate) struct Stackful<R> {
    co: ManuallyDrop<Coroutine<(), (), R>>,
    /// The task's own context while it is suspended, if it has one.
    own: crate::thread_context::TaskContext,
}

impl<R> Drop for Stackful<R> {
    /// Dropping a suspended task unwinds its stack (its destructors run):
    /// the ambient context is saved around it as around a poll, and the
    /// stackful slot holds the cancellation marker meanwhile. A finished or
    /// never-started task has no stack to unwind: it only gives back its
    /// stack or drops its closure (the common case, kept on the fast path).
    #[inline(always)]
    fn drop(&mut self) {
        if self.co.is_started() && !self.co.is_done() {
            self.cancel();
        } else {
            // SAFETY: dropped once, here.
            unsafe { ManuallyDrop::drop(&mut self.co) }
        }
    }
}

impl<R> Stackful<R> {
    #[cold]
    #[inline(never)]
    fn cancel(&mut self) {
        // Destructors on the unwinding stack find the cancellation marker
        // in the stackful slot: `wait` there must not suspend.
        let resume = crate::thread_context::Resume::new(CANCELLING, ptr::null());
        let _resuming = crate::thread_context::Resuming::new(&resume, &mut self.own);
        // SAFETY: dropped once, here (`drop` calls this instead).
        unsafe { ManuallyDrop::drop(&mut self.co) }
    }
}

impl<R> Stackful<R> {
    /// A stackful task running `f` on a stack from `stacks`. Always inlined,
    /// as `Coroutine::try_with` is (its result never reaches memory).
    #[inline(always)]
    pub(crate) fn new<F, S>(stacks: S, f: F) -> Result<Self, StackError>
    where
        F: FnOnce() -> R + 'static,
        S: StackAllocator + 'static,
    {
        // Lean: the FP control state is thread state for tasks (module docs).
        let co = Coroutine::try_with(stacks, crate::context::Switch::Lean, move |_, ()| f())?;
        Ok(Stackful {
            co: ManuallyDrop::new(co),
            own: Default::default(),
        })
    }
}

impl<R> Future for Stackful<R> {
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        // SAFETY: nothing is moved out (the coroutine is only resumed).
        let this = unsafe { self.get_unchecked_mut() };
        // The ambient context (executor, frame resource, ...) as the
        // executor left it is restored when the task suspends, returns or
        // unwinds, whatever the task entered meanwhile (rule 11). The
        // yielder lives at the top of the coroutine's stack (a fixed
        // address); the waker outlives the resume.
        let resume = crate::thread_context::Resume::new(this.co.yielder(), cx.waker());
        let resuming = crate::thread_context::Resuming::new(&resume, &mut this.own);
        match this.co.resume(()) {
            CoroutineResult::Yield(()) => {
                resuming.suspended(&mut this.own);
                Poll::Pending
            }
            CoroutineResult::Return(r) => Poll::Ready(r),
        }
    }
}

/// Waits for `future` inside a stackful task: polls it with the task's
/// waker and, while it is pending, suspends the task's stack so the
/// executor runs other work; returns its output.
///
/// # Cancellation
///
/// While a suspended task is cancelled (`abort`, executor shutdown), its
/// stack is unwound and its destructors run; it can no longer suspend. A
/// `wait` in such a destructor polls the future once: a ready output is
/// returned, else the future is dropped and `wait` panics, and a panic that
/// escapes a destructor during unwinding aborts the process (a Rust rule).
/// Code that may run during cancellation uses [`try_wait`], which returns
/// [`Cancelled`] instead.
///
/// # Panics
///
/// Outside a stackful task, with a message that says so; during the
/// task's cancellation if the future is not ready at once (see above).
///
/// ```
/// let ex = coframe::LocalExecutor::new();
/// let h = ex.spawn_stackful(|| {
///     let child = coframe::spawn(async { 20 });
///     coframe::stackful::wait(child).unwrap() + 1
/// });
/// assert_eq!(ex.run_until(h).unwrap(), 21);
/// ```
///
/// ```should_panic
/// // Not in a stackful task:
/// coframe::stackful::wait(async { 1 });
/// ```
#[inline]
pub fn wait<F: IntoFuture>(future: F) -> F::Output {
    match wait_in_task(pin!(future.into_future())) {
        Ok(v) => v,
        Err(Cancelled) => cancelled_wait(),
    }
}

/// [`wait`] for code that may run while its stackful task is being
/// cancelled (a destructor on the task's stack): then the future is polled
/// once and, if it is not ready, dropped, and `Err(Cancelled)` is returned
/// at once. Otherwise exactly [`wait`].
///
/// # Panics
///
/// Outside a stackful task.
///
/// ```
/// use coframe::stackful::{try_wait, Cancelled};
/// use std::sync::{Arc, Mutex};
///
/// struct Goodbye(Arc<Mutex<Option<Result<u8, Cancelled>>>>);
/// impl Drop for Goodbye {
///     fn drop(&mut self) {
///         // Runs when the task is aborted while it waits below.
///         *self.0.lock().unwrap() = Some(try_wait(std::future::pending::<u8>()));
///     }
/// }
///
/// let ex = coframe::LocalExecutor::new();
/// let seen = Arc::new(Mutex::new(None));
/// let s = seen.clone();
/// let h = ex.spawn_stackful(move || {
///     let _bye = Goodbye(s);
///     coframe::stackful::wait(std::future::pending::<()>())
/// });
/// ex.run_until_stalled();
/// h.abort();
/// assert!(ex.run_until(h).unwrap_err().is_cancelled());
/// assert_eq!(*seen.lock().unwrap(), Some(Err(Cancelled)));
/// ```
#[inline]
pub fn try_wait<F: IntoFuture>(future: F) -> Result<F::Output, Cancelled> {
    wait_in_task(pin!(future.into_future()))
}

/// The loop of [`wait`] and [`try_wait`]. Its fast path is small and
/// inlined: every line of a task's stack it touches costs, since the tops
/// of many stacks fall in the same cache sets. The rare cases (outside a
/// task, cancellation, a task that changed its context) are out of line.
#[inline(always)]
fn wait_in_task<F: Future>(mut future: Pin<&mut F>) -> Result<F::Output, Cancelled> {
    loop {
        // Looked up afresh after every suspension (rule 7).
        let (yielder, waker) = crate::thread_context::with(|cx| cx.stackful());
        if yielder.is_null() || ptr::eq(yielder, CANCELLING) {
            return wait_without_suspending(yielder, future);
        }
        // SAFETY: a non-null yielder other than the marker was put in the
        // slot by the `poll` of the stackful task we run in, which is
        // running below us on this thread: the yielder (at the top of our
        // stack) and the waker (in that poll's frame) live until it
        // returns, which is after we suspend.
        let (waker, yielder) = unsafe { (&*waker, &*yielder) };
        if let Poll::Ready(v) = future.as_mut().poll(&mut Context::from_waker(waker)) {
            return Ok(v);
        }
        // The task's own context (if it changed it) is kept by its poller
        // (`thread_context::Resuming`).
        yielder.suspend(());
    }
}

/// Outside a stackful task (a panic that says so), or while the task is
/// being cancelled: one poll, no suspension.
#[cold]
#[inline(never)]
fn wait_without_suspending<F: Future>(
    yielder: *const Yielder<(), ()>,
    future: Pin<&mut F>,
) -> Result<F::Output, Cancelled> {
    if yielder.is_null() {
        panic!(
            "coframe::stackful::wait called outside a stackful task \
             (spawn the code with coframe::spawn_stackful, or .await the future)"
        );
    }
    match future.poll(&mut Context::from_waker(&noop_waker())) {
        Poll::Ready(v) => Ok(v),
        Poll::Pending => Err(Cancelled),
    }
}

#[cold]
#[inline(never)]
fn cancelled_wait() -> ! {
    panic!(
        "coframe::stackful::wait during the cancellation of its stackful task: \
         the future was not ready and the task can no longer suspend \
         (use coframe::stackful::try_wait in code that may run then)"
    )
}

/// The stackful task is being cancelled: returned by [`try_wait`].
///
/// ```
/// assert_eq!(
///     coframe::stackful::Cancelled.to_string(),
///     "the stackful task is being cancelled"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the stackful task is being cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// A waker that does nothing (`Waker::noop` needs a newer Rust than the
/// crate's minimum).
fn noop_waker() -> Waker {
    fn clone(_: *const ()) -> std::task::RawWaker {
        std::task::RawWaker::new(ptr::null(), &NOOP)
    }
    fn nothing(_: *const ()) {}
    static NOOP: std::task::RawWakerVTable =
        std::task::RawWakerVTable::new(clone, nothing, nothing, nothing);
    // SAFETY: every function of the vtable ignores the data pointer.
    unsafe { Waker::from_raw(std::task::RawWaker::new(ptr::null(), &NOOP)) }
}

/// The stackful slot's marker while a task's stack is unwound by its
/// cancellation: `wait` must not suspend then. Never dereferenced.
const CANCELLING: *const Yielder<(), ()> = ptr::NonNull::dangling().as_ptr();

/// Sleeps for `duration` inside a stackful task: [`wait`] on
/// [`coframe::time::sleep`](crate::time::sleep). The task's stack is
/// suspended; the executor's thread runs other work meanwhile.
///
/// # Panics
///
/// As [`wait`] (outside a stackful task), and as `time::sleep` where no
/// coframe event loop runs.
///
/// ```
/// use std::time::{Duration, Instant};
/// let ex = coframe::LocalExecutor::new();
/// let h = ex.spawn_stackful(|| {
///     let start = Instant::now();
///     coframe::stackful::sleep(Duration::from_millis(2));
///     start.elapsed()
/// });
/// assert!(ex.run_until(h).unwrap() >= Duration::from_millis(2));
/// ```
pub fn sleep(duration: std::time::Duration) {
    wait(crate::time::sleep(duration))
}

/// Whether the caller runs inside a stackful task (where [`wait`] works).
///
/// ```
/// assert!(!coframe::stackful::in_stackful_task());
/// let ex = coframe::LocalExecutor::new();
/// let h = ex.spawn_stackful(coframe::stackful::in_stackful_task);
/// assert!(ex.run_until(h).unwrap());
/// ```
pub fn in_stackful_task() -> bool {
    let y = crate::thread_context::with(|cx| cx.stackful().0);
    !y.is_null() && !ptr::eq(y, CANCELLING)
}

#[cold]
pub(crate) fn spawn_failed(e: SpawnError<StackError>) -> ! {
    match e {
        SpawnError::Alloc(e) => super::refused(e),
        SpawnError::Init(e) => panic!("coframe: cannot get a stack for a stackful task: {e}"),
    }
}

impl super::LocalExecutor {
    /// Spawns a stackful task (the closure may be `!Send`) on a stack from
    /// [`default_stacks`]; await its [`JoinHandle`] like any task's.
    ///
    /// # Panics
    ///
    /// If no stack can be had, or the frame resource refuses the task cell.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let rc = std::rc::Rc::new(3);
    /// let h = ex.spawn_stackful(move || *rc * 2);
    /// assert_eq!(ex.run_until(h).unwrap(), 6);
    /// ```
    pub fn spawn_stackful<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + 'static,
        R: 'static,
    {
        match self.own_stacks() {
            Some(stacks) => self.spawn_stackful_with(stacks.clone(), f),
            None => self.spawn_stackful_with(DefaultStacks, f),
        }
    }

    /// Spawns a stackful task on a stack from `stacks`.
    ///
    /// ```
    /// use coframe::context::PooledStack;
    /// let ex = coframe::LocalExecutor::new();
    /// let big = PooledStack::new(1 << 20).unwrap();
    /// let h = ex.spawn_stackful_with(big, || (0..1000u64).sum::<u64>());
    /// assert_eq!(ex.run_until(h).unwrap(), 499_500);
    /// ```
    pub fn spawn_stackful_with<F, R, S>(&self, stacks: S, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + 'static,
        R: 'static,
        S: StackAllocator + 'static,
    {
        // SAFETY: a local executor runs its tasks on this thread (it is
        // !Send); the handle is Send only if the output is.
        unsafe {
            crate::task::try_spawn_ref_with(
                move || Stackful::new(stacks, f),
                self.inner(),
                crate::frame::ResourceHandle::current(),
            )
        }
        .unwrap_or_else(|e| spawn_failed(e))
    }
}

/// Spawns a stackful task on the executor running the current task, with
/// its cell from the current frame resource (so it inherits a `run_async`
/// allocator) and its stack from [`default_stacks`].
///
/// # Panics
///
/// Outside a task, if no stack can be had, or if the resource refuses the
/// task cell.
///
/// ```
/// let ex = coframe::LocalExecutor::new();
/// let out = ex.run_until(async {
///     let h = coframe::spawn_stackful(|| {
///         let x = coframe::stackful::wait(async { 20 });
///         x + 1
///     });
///     h.await.unwrap()
/// });
/// assert_eq!(out, 21);
/// ```
pub fn spawn_stackful<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let stacks = match super::current_scheduler().and_then(|s| s.stacks()) {
        Some(pool) => ExecutorStacks::Own(pool),
        None => ExecutorStacks::Default(DefaultStacks),
    };
    spawn_stackful_with(stacks, f)
}

/// The current executor's stacks, or the default ones.
enum ExecutorStacks {
    Own(PooledStack),
    Default(DefaultStacks),
}

// SAFETY: forwards to the allocator each stack came from (a stack from the
// executor's pool goes back to it, one from the default pool to that).
unsafe impl StackAllocator for ExecutorStacks {
    fn allocate(&self) -> Result<crate::context::Stack, StackError> {
        match self {
            ExecutorStacks::Own(p) => p.allocate(),
            ExecutorStacks::Default(d) => d.allocate(),
        }
    }

    unsafe fn deallocate(&self, stack: crate::context::Stack) {
        // SAFETY: forwarded contract.
        unsafe {
            match self {
                ExecutorStacks::Own(p) => p.deallocate(stack),
                ExecutorStacks::Default(d) => d.deallocate(stack),
            }
        }
    }
}

/// [`spawn_stackful`] with a stack from `stacks` (say, a pool of larger
/// stacks for deeply recursive code).
///
/// ```
/// use coframe::context::PooledStack;
/// let ex = coframe::LocalExecutor::new();
/// let big = PooledStack::new(1 << 20).unwrap();
/// let out = ex.run_until(async move {
///     coframe::spawn_stackful_with(big, || 6 * 7).await.unwrap()
/// });
/// assert_eq!(out, 42);
/// ```
pub fn spawn_stackful_with<F, R, S>(stacks: S, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
    S: StackAllocator + Send + 'static,
{
    let sched = super::current_scheduler().unwrap_or_else(|| {
        panic!(
            "coframe::spawn_stackful called outside a task: no executor is running on this thread"
        )
    });
    super::pinning::spawn_stackful_on(sched, stacks, f)
}

impl<E: super::Executor> super::Strand<E> {
    /// Spawns a stackful task bound to the strand: its runs are serialized
    /// with everything else on the strand, and it never migrates between
    /// threads (over a thread pool the strand's drain stays on the worker
    /// of the task's first run from then on). Stacks come from the inner
    /// executor's stack allocator.
    ///
    /// # Panics
    ///
    /// If no stack can be had, or if the resource refuses the cell.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(2).build().unwrap();
    /// let strand = coframe::Strand::new(&pool);
    /// let h = strand.spawn_stackful(|| coframe::stackful::wait(async { 5 }) * 2);
    /// assert_eq!(pool.block_on(h).unwrap(), 10);
    /// ```
    pub fn spawn_stackful<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let sched = super::sealed::Executor::scheduler(self).clone();
        let stacks = match sched.stacks() {
            Some(pool) => ExecutorStacks::Own(pool),
            None => ExecutorStacks::Default(DefaultStacks),
        };
        super::pinning::spawn_stackful_on(sched, stacks, f)
    }
}

impl super::ThreadPool {
    /// Spawns a stackful task on the pool, with a stack from the pool's
    /// [`stack_allocator`](Self::stack_allocator). It runs on the worker
    /// that first polls it for its whole life (see the module docs on
    /// thread-locals); await its handle like any task's.
    ///
    /// # Panics
    ///
    /// If no stack can be had or the resource refuses the task cell.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(2).build().unwrap();
    /// let h = pool.spawn_stackful(|| {
    ///     let a = coframe::spawn(async { 20 });
    ///     coframe::stackful::wait(a).unwrap() + 1
    /// });
    /// assert_eq!(pool.block_on(h).unwrap(), 21);
    /// ```
    pub fn spawn_stackful<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn_stackful_with(self.stack_allocator().clone(), f)
    }

    /// Spawns a stackful task on the pool with a stack from `stacks`.
    ///
    /// ```
    /// use coframe::context::PooledStack;
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
    /// let big = PooledStack::new(1 << 20).unwrap();
    /// let h = pool.spawn_stackful_with(big, || 7);
    /// assert_eq!(pool.block_on(h).unwrap(), 7);
    /// ```
    pub fn spawn_stackful_with<F, R, S>(&self, stacks: S, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
        S: StackAllocator + Send + 'static,
    {
        super::pinning::spawn_on_pool(self.shared().clone(), stacks, f)
    }
}
