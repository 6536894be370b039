//! The task cell: ONE allocation per task, from the frame resource that was
//! current when the task was spawned, freed through the handle the cell
//! recorded (never through the thread-local slot — rule 1).
//!
//! ```text
//! Cell<F> (repr(C))
//! +--------------------------------------------------------------+
//! | Header                                                       |
//! |   state     AtomicUsize          the state word (state.rs)   |
//! |   vtable    &'static TaskVTable  monomorphised for F         |
//! |   awaiter   UnsafeCell<Option<Waker>>  JoinHandle's waker    |
//! |   scheduler SchedRef             (counted) where wakes go    |
//! |   resource  RawHandle            how to free this cell       |
//! |   links     Links                the executor's live list    |
//! +--------------------------------------------------------------+
//! | stage: Running(F) | Finished(Result<F::Output, JoinError>)   |
//! |        | Consumed     (future and output share the bytes)    |
//! +--------------------------------------------------------------+
//! ```
//!
//! Invariants owned here: the stage is touched only by the holder of the
//! access right the state word grants (see the `# Safety` essay in
//! `task/mod.rs`); when the reference count reaches zero the stage is
//! `Consumed` (the future and the output were dropped on a thread allowed to
//! drop them), so freeing the cell on any thread drops only `Send` data.

use super::join::Failure;
use super::list::Links;
use super::runnable::Schedule;
use super::sched_ref::SchedRef;
use super::state::*;
use super::waker::WAKER_VTABLE;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use std::alloc::Layout;
use std::future::Future;
use std::mem::{self, ManuallyDrop};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll, RawWaker, Waker};

use crate::frame::{
    replace_current_uncounted, safe_resume_with_unchecked, AllocError, RawHandle, ResourceHandle,
};

/// Type-erased operations on a cell, monomorphised per future type.
pub(crate) struct TaskVTable {
    /// Polls the future once (caller holds `RUNNING` and has made the task's
    /// resource current). Returns `true` when the future is gone and the
    /// stage holds the result.
    pub(crate) poll: unsafe fn(NonNull<Header>) -> bool,
    /// Drops the future (caller holds `RUNNING`); the stage becomes
    /// `Finished(Err(Cancelled))`, or `Err(Panic)` if the destructor panicked.
    pub(crate) drop_future: unsafe fn(NonNull<Header>),
    /// Moves the result into `*mut Option<Result<T, JoinError>>`.
    pub(crate) take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops whatever the stage holds and leaves it `Consumed`.
    pub(crate) drop_output: unsafe fn(NonNull<Header>),
    /// Frees the cell through its recorded resource.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
}

/// The hot, type-independent part of every task cell.
#[repr(C)]
pub struct Header {
    pub(crate) state: AtomicUsize,
    pub(crate) vtable: &'static TaskVTable,
    pub(crate) awaiter: UnsafeCell<Option<Waker>>,
    /// The cell's reference: the scheduler outlives the cell (released
    /// last, by `dealloc`).
    pub(crate) scheduler: ManuallyDrop<SchedRef>,
    pub(crate) resource: ManuallyDrop<RawHandle>,
    /// The task's place in its executor's live list (`list.rs`), touched
    /// only under that list's guard.
    pub(crate) links: Links,
}

impl Header {
    /// The task's scheduler.
    #[inline(always)]
    pub(crate) fn scheduler(&self) -> &dyn Schedule {
        &**self.scheduler
    }
}

/// What the cell holds besides the header: future, result, or nothing.
pub(crate) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, Failure>),
    Consumed,
}

#[repr(C)]
struct Cell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

impl<F: Future> Cell<F> {
    const VTABLE: TaskVTable = TaskVTable {
        poll: poll::<F>,
        drop_future: drop_future::<F>,
        take_output: take_output::<F>,
        drop_output: drop_output::<F>,
        dealloc: dealloc::<F>,
    };
}

/// Why a spawn failed: the frame resource refused the cell, or the
/// future's constructor failed (after the cell was given back).
pub(crate) enum SpawnError<E> {
    Alloc(AllocError),
    Init(E),
}

/// Allocates a task cell from `resource`, recording the resource in the
/// cell, then builds the future *in* it with `init`.
///
/// The future is built after the allocation so that a large future (a
/// stackful task's, made of a fresh stack's pointers) goes from registers
/// straight into the cell instead of living across the allocator call in a
/// stack temporary that is then copied. If `init` fails or panics the block
/// goes back to `resource` and nothing else has happened.
///
/// Returns the raw pointer the `JoinHandle` wraps; the cell keeps
/// `scheduler` as its reference (dropped if the spawn fails).
///
/// # Safety
///
/// The future and its output are moved to the cell and later polled and
/// dropped wherever `scheduler` runs the `Runnable`s and wherever the
/// `JoinHandle` goes. The caller guarantees that this is allowed: either
/// `F: Send` and `F::Output: Send`, or the scheduler only ever runs the task
/// on the current thread and the `JoinHandle` is kept on it when the output
/// is not `Send`. `F` must outlive the task (`'static` for public callers).
#[inline(always)]
pub(crate) unsafe fn allocate<F: Future, E>(
    init: impl FnOnce() -> Result<F, E>,
    scheduler: SchedRef,
    resource: ResourceHandle,
) -> Result<NonNull<Header>, SpawnError<E>> {
    /// Gives the block back if `init` fails or unwinds.
    struct Unfilled<'a> {
        block: NonNull<u8>,
        layout: Layout,
        resource: &'a ResourceHandle,
    }
    impl Drop for Unfilled<'_> {
        #[cold]
        fn drop(&mut self) {
            // SAFETY: the block came from this resource with this layout
            // and nothing was written to it.
            unsafe { self.resource.deallocate(self.block, self.layout) }
        }
    }

    let layout = Layout::new::<Cell<F>>();
    let block = resource.allocate(layout).map_err(SpawnError::Alloc)?;
    let unfilled = Unfilled {
        block,
        layout,
        resource: &resource,
    };
    let future = init().map_err(SpawnError::Init)?;
    mem::forget(unfilled);
    let cell = block.cast::<Cell<F>>().as_ptr();
    // SAFETY: `block` is a fresh allocation for `Cell<F>`'s layout; the
    // two halves are written in place, field by field.
    unsafe {
        ptr::addr_of_mut!((*cell).stage).write(UnsafeCell::new(Stage::Running(future)));
        ptr::addr_of_mut!((*cell).header).write(Header {
            state: AtomicUsize::new(INITIAL),
            vtable: &Cell::<F>::VTABLE,
            awaiter: UnsafeCell::new(None),
            scheduler: ManuallyDrop::new(scheduler),
            resource: ManuallyDrop::new(resource.into_raw()),
            links: Links::default(),
        });
        Ok(NonNull::new_unchecked(cell).cast())
    }
}

/// Drops the old stage (catching a panicking destructor) and stores
/// `result`. A panic from the destructor replaces the result.
///
/// # Safety
/// The caller has exclusive access to the stage.
unsafe fn finish<F: Future>(stage: *mut Stage<F>, result: Result<F::Output, Failure>) {
    // SAFETY: exclusive access; after a panicking `drop_in_place` the stage is
    // overwritten without being dropped again.
    let dropped = catch_unwind(AssertUnwindSafe(|| unsafe { ptr::drop_in_place(stage) }));
    let result = match dropped {
        Ok(()) => result,
        Err(payload) => {
            // The output (if any) is dropped here; a second panic is ignored.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(result)));
            Err(Failure::panic(payload))
        }
    };
    // SAFETY: exclusive access; the old value was dropped above.
    unsafe { ptr::write(stage, Stage::Finished(result)) };
}

/// Drops the future in the stage if the poll unwinds (armed around the
/// poll, forgotten when it returns). A second panic from the future's
/// destructor is caught here: the first panic is the one the task reports.
struct DropOnUnwind<F: Future>(*mut Stage<F>);

impl<F: Future> Drop for DropOnUnwind<F> {
    fn drop(&mut self) {
        let stage = self.0;
        // SAFETY: the poller holds RUNNING (exclusive access to the stage);
        // the stage is `Consumed` afterwards whether or not the destructor
        // panicked, so nothing is dropped twice.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
            let old = ptr::replace(stage, Stage::Consumed);
            drop(old);
        }));
    }
}

/// # Safety
/// `h` points to a live `Cell<F>`, the caller holds `RUNNING`, and the
/// task's resource is the current one.
unsafe fn poll<F: Future>(h: NonNull<Header>) -> bool {
    let cell = h.cast::<Cell<F>>().as_ptr();
    // SAFETY: the cell is live; the waker borrows the executor's reference
    // (ManuallyDrop: no count change; clones take their own).
    let waker = ManuallyDrop::new(unsafe {
        Waker::from_raw(RawWaker::new(h.as_ptr() as *const (), &WAKER_VTABLE))
    });
    let mut cx = Context::from_waker(&waker);
    {
        // SAFETY: RUNNING gives exclusive access to the stage.
        unsafe {
            (*cell).stage.with_mut(|stage| {
                let fut = match &mut *stage {
                    Stage::Running(f) => Pin::new_unchecked(f),
                    _ => unreachable!("coframe: task polled without a future"),
                };
                // A panicking poll drops the future *during* the unwind (as
                // tokio does), so its destructors see `thread::panicking()`
                // and a `MutexGuard` it holds poisons its mutex.
                crate::coop::reset();
                let polled = catch_unwind(AssertUnwindSafe(|| {
                    let on_unwind = DropOnUnwind(stage);
                    let r = fut.poll(&mut cx);
                    mem::forget(on_unwind);
                    r
                }));
                match polled {
                    Ok(Poll::Pending) => false,
                    Ok(Poll::Ready(v)) => {
                        finish(stage, Ok(v));
                        true
                    }
                    Err(payload) => {
                        finish(stage, Err(Failure::panic(payload)));
                        tell_panicked(h);
                        true
                    }
                }
            })
        }
    }
}

/// Tells the task's executor that its poll panicked (its unhandled-panic
/// policy). Out of line: only a panic reaches it.
#[cold]
#[inline(never)]
fn tell_panicked(h: NonNull<Header>) {
    // SAFETY: the cell is live (the poller's executor reference).
    let hd = unsafe { header(h) };
    hd.scheduler().task_panicked();
}

/// # Safety
/// `h` points to a live `Cell<F>` and the caller holds `RUNNING`.
unsafe fn drop_future<F: Future>(h: NonNull<Header>) {
    let cell = h.cast::<Cell<F>>().as_ptr();
    // SAFETY: the cell is live.
    let header = unsafe { &(*cell).header };
    let cancel = || {
        // SAFETY: RUNNING gives exclusive access to the stage.
        unsafe {
            (*cell).stage.with_mut(|stage| {
                debug_assert!(matches!(&*stage, Stage::Running(_)));
                finish(stage, Err(Failure::cancelled()))
            })
        }
    };
    // SAFETY: as in `run`: we are on the task's executor thread, the owner
    // thread of a local resource.
    unsafe { safe_resume_with_unchecked(&*header.resource, cancel) }
}

/// # Safety
/// `h` points to a live `Cell<F>`, the task is `COMPLETED` and the caller
/// owns the stage (the `JoinHandle`); `dst` is `*mut Option<Result<F::Output, Failure>>`.
unsafe fn take_output<F: Future>(h: NonNull<Header>, dst: *mut ()) {
    let cell = h.cast::<Cell<F>>().as_ptr();
    let dst = dst as *mut Option<Result<F::Output, Failure>>;
    // SAFETY: the caller owns the stage and `dst`.
    unsafe {
        (*cell)
            .stage
            .with_mut(|stage| match mem::replace(&mut *stage, Stage::Consumed) {
                Stage::Finished(r) => *dst = Some(r),
                _ => panic!("coframe: JoinHandle polled after it returned the task's result"),
            })
    }
}

/// # Safety
/// `h` points to a live `Cell<F>` and the caller owns the stage.
unsafe fn drop_output<F: Future>(h: NonNull<Header>) {
    let cell = h.cast::<Cell<F>>().as_ptr();
    // SAFETY: the caller owns the stage.
    let old = unsafe {
        (*cell)
            .stage
            .with_mut(|s| mem::replace(&mut *s, Stage::Consumed))
    };
    drop(old);
}

/// # Safety
/// `h` points to a live `Cell<F>` whose reference count reached zero.
unsafe fn dealloc<F: Future>(h: NonNull<Header>) {
    let cell = h.cast::<Cell<F>>().as_ptr();
    // SAFETY: no reference is left: exclusive access. The resource handle is
    // moved out first because it lives inside the block it frees.
    unsafe {
        (*cell)
            .stage
            .with(|s| debug_assert!(matches!(&*s, Stage::Consumed)));
        let resource = ManuallyDrop::take(&mut (*cell).header.resource);
        let scheduler = ManuallyDrop::take(&mut (*cell).header.scheduler);
        ptr::drop_in_place(cell);
        resource.deallocate(
            NonNull::new_unchecked(cell.cast()),
            Layout::new::<Cell<F>>(),
        );
        drop(resource);
        // The cell's reference to its scheduler goes last.
        drop(scheduler);
    }
}

// ---------------------------------------------------------------------------
// Transitions shared by Runnable, Waker and JoinHandle.

/// Header accessor.
///
/// # Safety
/// `h` points to a live cell and the returned borrow does not outlive it.
#[inline(always)]
pub(crate) unsafe fn header<'a>(h: NonNull<Header>) -> &'a Header {
    // SAFETY: forwarded.
    unsafe { &*h.as_ptr() }
}

/// Drops one reference, freeing the cell if it was the last.
///
/// # Safety
/// The caller owns one reference to the live cell `h`.
#[inline]
pub(crate) unsafe fn drop_ref(h: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the cell alive until the
    // decrement; after it, only the last holder touches the cell.
    unsafe {
        let hd = header(h);
        let prev = hd.state.fetch_sub(REFERENCE, Ordering::AcqRel);
        debug_assert!(refs(prev) >= 1);
        if refs(prev) == 1 {
            (hd.vtable.dealloc)(h);
        }
    }
}

/// Runs a scheduled task once: poll, or drop the future if it was closed.
///
/// Returns `true` if the task was woken while it ran: the caller then owns
/// the task's `Runnable` again and must queue it (with `Schedule::schedule`,
/// or directly on its own run queue when it is the task's executor).
///
/// # Safety
/// The caller consumed the task's only `Runnable` (`SCHEDULED` is set, the
/// task is not running or completed), on a thread allowed to poll it.
/// With `batched`, the task's resource is made current with one slot
/// write and not restored: the caller runs inside a `frame::safe_resume`
/// that restores the slot once for its whole batch of polls, and polls
/// nothing else before its next `run` (the slot may name a resource freed
/// since, until the next write). Without it, the poll goes through
/// `safe_resume_with`.
#[must_use]
pub(crate) unsafe fn run(h: NonNull<Header>, batched: bool) -> bool {
    // SAFETY: the executor's reference keeps the cell alive until completion.
    let hd = unsafe { header(h) };
    let mut s = hd.state.load(Ordering::Acquire);
    loop {
        debug_assert!(s & SCHEDULED != 0 && s & (RUNNING | COMPLETED) == 0);
        let new = (s & !SCHEDULED) | RUNNING;
        match hd
            .state
            .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => break,
            Err(actual) => s = actual,
        }
    }
    if s & CLOSED != 0 {
        // SAFETY: we hold RUNNING.
        unsafe {
            (hd.vtable.drop_future)(h);
            complete(h);
        }
        return false;
    }
    let resource = &*hd.resource;
    // SAFETY: we hold RUNNING; the resource is made current first. In the
    // batched case the cell (hence `resource`) is alive for the whole poll
    // and the caller's enclosing `safe_resume` restores the slot. Tasks are
    // polled on their executor's thread; a local-only resource only ever
    // backs tasks of a `LocalExecutor` (spawns on multi-threaded executors
    // take `SyncResourceHandle::current()`), whose thread is the root's
    // owner thread: the resource may be used here.
    let done = unsafe {
        if batched {
            replace_current_uncounted(resource);
            (hd.vtable.poll)(h)
        } else {
            safe_resume_with_unchecked(resource, || (hd.vtable.poll)(h))
        }
    };
    if done {
        // SAFETY: the future finished; we still hold RUNNING.
        unsafe { complete(h) };
        return false;
    }
    let mut s = hd.state.load(Ordering::Acquire);
    loop {
        if s & CLOSED != 0 {
            // Aborted while running: drop the future now.
            // SAFETY: we still hold RUNNING.
            unsafe {
                (hd.vtable.drop_future)(h);
                complete(h);
            }
            return false;
        }
        let new = s & !RUNNING;
        match hd
            .state
            .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire)
        {
            // Woken while running: the waker left the Runnable to us.
            Ok(_) => return new & SCHEDULED != 0,
            Err(actual) => s = actual,
        }
    }
}

/// Cancels a task that is not running, right now, on the calling thread
/// (executor shutdown, or a dropped `Runnable`).
///
/// # Safety
/// The task is owned by an executor on this thread, is not `RUNNING` and not
/// `COMPLETED`, and this thread may drop its future.
pub(crate) unsafe fn cancel_now(h: NonNull<Header>) {
    // SAFETY: the executor's reference keeps the cell alive.
    let hd = unsafe { header(h) };
    let mut s = hd.state.load(Ordering::Acquire);
    loop {
        debug_assert!(s & (RUNNING | COMPLETED) == 0);
        let new = (s & !SCHEDULED) | CLOSED | RUNNING;
        match hd
            .state
            .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => break,
            Err(actual) => s = actual,
        }
    }
    // SAFETY: we hold RUNNING.
    unsafe {
        (hd.vtable.drop_future)(h);
        complete(h);
    }
}

/// Publishes the result: sets `COMPLETED`, hands the result to the
/// `JoinHandle` (or drops it if there is none), wakes the awaiter and drops
/// the executor's reference.
///
/// # Safety
/// The caller holds `RUNNING`, the stage is `Finished`, and the executor's
/// reference has not been dropped.
unsafe fn complete(h: NonNull<Header>) {
    // SAFETY: the executor's reference keeps the cell alive.
    let hd = unsafe { header(h) };
    hd.scheduler().release(h);
    let mut s = hd.state.load(Ordering::Acquire);
    let fused;
    loop {
        let mut new = (s & !(RUNNING | SCHEDULED)) | COMPLETED;
        let f = s & HANDLE != 0 && s & AWAITER == 0;
        if f {
            // Common case: nothing left to do after the transition, so the
            // executor's reference goes in the same atomic operation.
            new -= REFERENCE;
        }
        match hd
            .state
            .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                fused = f;
                break;
            }
            Err(actual) => s = actual,
        }
    }
    if fused {
        // The handle holds a reference: the count did not reach zero.
        return;
    }
    if s & HANDLE == 0 {
        // Nobody will read the result: drop it here, on the executor's
        // thread (the output may be `!Send`).
        // SAFETY: without a handle the completer owns the stage.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe { (hd.vtable.drop_output)(h) }));
    } else if s & AWAITER != 0 {
        // The awaiter's waker is user code: a panic in it is contained here
        // (the standard panic hook has printed it), so the executor's
        // reference is still released below and the worker goes on.
        // SAFETY: AWAITER was set when COMPLETED was published, so the handle
        // will never write the slot again; reading it is shared access.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
            hd.awaiter.with(|w| {
                if let Some(w) = &*w {
                    w.wake_by_ref()
                }
            })
        }));
    }
    // SAFETY: the executor's reference.
    unsafe { drop_ref(h) };
}
