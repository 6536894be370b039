//! [`JoinHandle`] (the awaitable result of a task) and [`JoinError`].
//!
//! The handle owns the `HANDLE` bit and one reference. It writes the
//! awaiter slot only while `AWAITER` is clear and the task is not
//! `COMPLETED`; once `COMPLETED` is set it owns the stage and takes (or, on
//! drop, drops) the result. Dropping it detaches the task.

use super::raw::{drop_ref, header, Header};
use super::runnable::Runnable;
use super::state::*;
use crate::loom::sync::atomic::Ordering;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// Why a task produced no output: it was cancelled, or it panicked.
///
/// Opaque (ask with [`is_cancelled`](Self::is_cancelled) and
/// [`is_panic`](Self::is_panic), take the payload with
/// [`into_panic`](Self::into_panic)), `Send + Sync + 'static`, and an
/// [`Error`](std::error::Error), so `?` turns it into a
/// `Box<dyn Error + Send + Sync>`:
///
/// ```
/// use coframe::{JoinError, LocalExecutor};
/// use std::error::Error;
///
/// fn run() -> Result<u32, Box<dyn Error + Send + Sync>> {
///     let ex = LocalExecutor::new();
///     let seven: u32 = ex.run_until(ex.spawn(async { 7 }))?;
///     let boom = ex.spawn(async move {
///         if seven == 7 {
///             panic!("boom");
///         }
///         1
///     });
///     Ok(seven + ex.run_until(boom)?) // the panic becomes the error
/// }
/// let err = run().unwrap_err();
/// assert_eq!(err.to_string(), "task panicked: boom");
/// let err: &JoinError = err.downcast_ref().unwrap();
/// assert!(err.is_panic());
/// ```
pub struct JoinError {
    repr: Repr,
    id: Id,
}

/// Why a task produced no output, as its cell keeps it: a [`JoinError`]
/// without the task's id (the handle adds it), no bigger than the payload
/// box it wraps, so cells keep their size classes.
pub(crate) struct Failure(Repr);

impl Failure {
    /// The failure of a cancelled task.
    #[inline]
    pub(crate) fn cancelled() -> Self {
        Failure(Repr::Cancelled)
    }

    /// The failure of a task that panicked with `payload`.
    #[cold]
    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> Self {
        Failure(Repr::Panic(SyncPayload(payload)))
    }
}

/// A task's id: unique among the tasks this process ever spawned (never
/// reused), carried by its [`JoinHandle`] and by the [`JoinError`] it
/// gives.
///
/// ```
/// let ex = coframe::LocalExecutor::new();
/// let (a, b) = (ex.spawn(async {}), ex.spawn(async { panic!("boom") }));
/// assert_ne!(a.id(), b.id());
/// let id = b.id();
/// ex.run_until(a).unwrap();
/// assert_eq!(ex.run_until(b).unwrap_err().id(), id);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(std::num::NonZeroU64);

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Id {
    /// A fresh id. Each thread takes a block of ids from one global
    /// counter and hands them out from a thread-local one: no atomic
    /// operation per spawn but one per 1,024.
    #[inline]
    fn next() -> Id {
        const BLOCK: u64 = 1024;
        // std's atomics, under loom too: the counter is not a protocol.
        static NEXT_BLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        thread_local! {
            static RANGE: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
        }
        RANGE.with(|r| {
            let (mut next, mut end) = r.get();
            if next == end {
                next = NEXT_BLOCK.fetch_add(BLOCK, std::sync::atomic::Ordering::Relaxed);
                end = next + BLOCK;
            }
            r.set((next + 1, end));
            // The counter starts at 1 and would take centuries to wrap.
            Id(std::num::NonZeroU64::new(next).expect("coframe: task ids exhausted"))
        })
    }
}

enum Repr {
    Cancelled,
    Panic(SyncPayload),
}

/// A panic payload, made `Sync` the way tokio makes its own: the payload
/// is reached only by value or through `&mut` (never through a shared
/// reference), except to read a message of type `&'static str` or
/// `String`, both `Sync`.
struct SyncPayload(Box<dyn Any + Send + 'static>);

// SAFETY: no `&SyncPayload` method gives access to the payload itself;
// `message` only downcasts (`type_id` reads no data) to `Sync` types.
unsafe impl Sync for SyncPayload {}

impl SyncPayload {
    fn message(&self) -> Option<&str> {
        let p: &(dyn Any + Send) = &*self.0;
        p.downcast_ref::<&'static str>()
            .copied()
            .or_else(|| p.downcast_ref::<String>().map(|s| s.as_str()))
    }
}

impl JoinError {
    /// The id of the task that failed.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let h = ex.spawn(std::future::pending::<()>());
    /// let id = h.id();
    /// h.abort();
    /// assert_eq!(ex.run_until(h).unwrap_err().id(), id);
    /// ```
    pub fn id(&self) -> Id {
        self.id
    }

    /// Whether the task was cancelled (aborted, or its executor shut down
    /// before it finished).
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let h = ex.spawn(std::future::pending::<()>());
    /// h.abort();
    /// let err = ex.run_until(h).unwrap_err();
    /// assert!(err.is_cancelled() && !err.is_panic());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// Whether the task panicked.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let h = ex.spawn(async { panic!("boom") });
    /// let err = ex.run_until(h).unwrap_err();
    /// assert!(err.is_panic() && !err.is_cancelled());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload.
    ///
    /// # Panics
    ///
    /// If the task was cancelled (use
    /// [`try_into_panic`](Self::try_into_panic) to check).
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let h = ex.spawn(async { std::panic::panic_any(5_u8) });
    /// let err = ex.run_until(h).unwrap_err();
    /// assert_eq!(*err.into_panic().downcast::<u8>().unwrap(), 5);
    /// ```
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .unwrap_or_else(|_| panic!("coframe: JoinError::into_panic on a cancelled task"))
    }

    /// The panic payload, or the error back if the task was cancelled.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let h = ex.spawn(std::future::pending::<()>());
    /// h.abort();
    /// let err = ex.run_until(h).unwrap_err();
    /// assert!(err.try_into_panic().unwrap_err().is_cancelled());
    /// ```
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(p) => Ok(p.0),
            Repr::Cancelled => Err(self),
        }
    }

    /// Re-raises the task's panic in the caller (with its original payload);
    /// a cancellation becomes a panic that says so.
    ///
    /// ```should_panic
    /// let ex = coframe::LocalExecutor::new();
    /// let h = ex.spawn(async { panic!("inner") });
    /// if let Err(e) = ex.run_until(h) {
    ///     e.resume_unwind();
    /// }
    /// ```
    pub fn resume_unwind(self) -> ! {
        match self.repr {
            Repr::Panic(p) => std::panic::resume_unwind(p.0),
            Repr::Cancelled => panic!("coframe: the task was cancelled"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.id;
        match &self.repr {
            Repr::Cancelled => write!(f, "JoinError::Cancelled(task {id})"),
            Repr::Panic(p) => match p.message() {
                Some(s) => write!(f, "JoinError::Panic(task {id}, {s:?})"),
                None => write!(f, "JoinError::Panic(task {id}, ..)"),
            },
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Panic(p) => match p.message() {
                Some(s) => write!(f, "task panicked: {s}"),
                None => f.write_str("task panicked"),
            },
        }
    }
}

impl std::error::Error for JoinError {}

/// An owned permission to await a task's result.
///
/// `JoinHandle<T>` is a `Future<Output = Result<T, JoinError>>`. Dropping it
/// detaches the task (it keeps running; its output is dropped).
/// [`abort`](Self::abort) cancels it.
///
/// ```
/// let ex = coframe::LocalExecutor::new();
/// let h = ex.spawn(async { 1 + 1 });
/// assert_eq!(ex.run_until(h).unwrap(), 2);
/// ```
pub struct JoinHandle<T> {
    ptr: NonNull<Header>,
    id: Id,
    _output: PhantomData<T>,
}

// SAFETY: the handle touches the output only (take/drop), the awaiter slot
// under the protocol, and the state word; sending it is sound when T is.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only reads the state word or aborts (atomic ops).
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// Wraps the handle reference of a freshly allocated cell.
    ///
    /// # Safety
    /// `ptr` is a cell whose output type is `T`, and the caller gives this
    /// handle the `HANDLE` bit and its reference.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> Self {
        Self {
            ptr,
            id: Id::next(),
            _output: PhantomData,
        }
    }

    /// The task's id (also carried by the [`JoinError`] it may give).
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let (a, b) = (ex.spawn(async {}), ex.spawn(async {}));
    /// assert_ne!(a.id(), b.id());
    /// ```
    pub fn id(&self) -> Id {
        self.id
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle's reference keeps the cell alive.
        unsafe { header(self.ptr) }
    }

    /// Whether the task has finished (completed, panicked, or cancelled and
    /// its future dropped).
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let h = ex.spawn(async {});
    /// assert!(!h.is_finished());
    /// ex.run_until_stalled();
    /// assert!(h.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.header().state.load(Ordering::Acquire) & COMPLETED != 0
    }

    /// Cancels the task. A task that is not running has its future dropped
    /// the next time its executor runs (it is queued for that); a running
    /// task has it dropped when the current poll returns. Awaiting the
    /// handle then gives a cancelled [`JoinError`]. No effect on a finished
    /// task.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let h = ex.spawn(std::future::pending::<()>());
    /// ex.run_until_stalled();
    /// h.abort();
    /// assert!(ex.run_until(h).unwrap_err().is_cancelled());
    /// ```
    pub fn abort(&self) {
        let hd = self.header();
        let mut s = hd.state.load(Ordering::Acquire);
        loop {
            if s & (COMPLETED | CLOSED) != 0 {
                return;
            }
            let idle = s & (RUNNING | SCHEDULED) == 0;
            let new = s | CLOSED | if idle { SCHEDULED } else { 0 };
            match hd
                .state
                .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if idle {
                        // The future must be dropped on the executor's thread.
                        hd.scheduler().schedule(Runnable::from_raw(self.ptr));
                    }
                    return;
                }
                Err(actual) => s = actual,
            }
        }
    }

    /// The output of a completed task, through the cooperative budget
    /// (`coop.rs`): when the polling task has seen enough ready futures in
    /// this poll, it is woken and yields instead (the output stays).
    #[inline(always)]
    fn ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>> {
        if !crate::coop::proceed(cx) {
            return Poll::Pending;
        }
        Poll::Ready(self.take())
    }

    fn take(&mut self) -> Result<T, JoinError> {
        let mut out: Option<Result<T, Failure>> = None;
        // SAFETY: COMPLETED is set (checked by the caller): the handle owns
        // the stage; `out` matches the cell's output type.
        unsafe { (self.header().vtable.take_output)(self.ptr, &mut out as *mut _ as *mut ()) };
        match out {
            Some(r) => r.map_err(|Failure(repr)| JoinError { repr, id: self.id }),
            None => unreachable!("coframe: task output missing"),
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let hd = self.header();
        let mut s = hd.state.load(Ordering::Acquire);
        if s & COMPLETED == 0 {
            if s & AWAITER != 0 {
                // SAFETY: with AWAITER set the handle may read the slot.
                let same = unsafe {
                    hd.awaiter
                        .with(|w| (*w).as_ref().is_some_and(|w| w.will_wake(cx.waker())))
                };
                if same {
                    return Poll::Pending;
                }
                // Take the slot back to replace the waker.
                loop {
                    if s & COMPLETED != 0 {
                        return self.ready(cx);
                    }
                    match hd.state.compare_exchange_weak(
                        s,
                        s & !AWAITER,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => {
                            s &= !AWAITER;
                            break;
                        }
                        Err(actual) => s = actual,
                    }
                }
            }
            // SAFETY: AWAITER is clear and the task is not completed: the
            // handle has exclusive access to the slot.
            unsafe { hd.awaiter.with_mut(|w| *w = Some(cx.waker().clone())) };
            loop {
                match hd.state.compare_exchange_weak(
                    s,
                    s | AWAITER,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return Poll::Pending,
                    Err(actual) if actual & COMPLETED != 0 => break,
                    Err(actual) => s = actual,
                }
            }
        }
        self.ready(cx)
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let hd = self.header();
        let ptr = self.ptr;
        let mut s = hd.state.load(Ordering::Acquire);
        loop {
            if s & COMPLETED != 0 {
                // The handle owns the stage: drop the output (if not taken).
                // A panicking destructor must not leak the cell: release
                // first, then re-raise.
                // SAFETY: COMPLETED gives the handle the stage.
                let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
                    (hd.vtable.drop_output)(ptr)
                }));
                // Completed: the executor's reference is gone, so if only
                // ours is left nobody can take a new one (references are
                // only ever cloned from existing ones) and the cell is ours
                // alone: free it without a read-modify-write. The acquire
                // load synchronises with every earlier release of a
                // reference.
                let s = hd.state.load(Ordering::Acquire);
                if refs(s) == 1 {
                    // SAFETY: sole reference, as argued above.
                    unsafe { (hd.vtable.dealloc)(ptr) };
                } else {
                    let prev = hd.state.fetch_sub(HANDLE | REFERENCE, Ordering::AcqRel);
                    if refs(prev) == 1 {
                        // SAFETY: last reference.
                        unsafe { (hd.vtable.dealloc)(ptr) };
                    }
                }
                if let Err(payload) = dropped {
                    std::panic::resume_unwind(payload);
                }
                return;
            }
            if s & AWAITER == 0 {
                // Detach: the completer will drop the output.
                match hd.state.compare_exchange_weak(
                    s,
                    s - HANDLE - REFERENCE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        // The executor still holds its reference (not
                        // completed), so the count did not reach zero.
                        debug_assert!(refs(s) >= 2);
                        return;
                    }
                    Err(actual) => s = actual,
                }
            } else {
                match hd.state.compare_exchange_weak(
                    s,
                    s & !(HANDLE | AWAITER),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        // SAFETY: AWAITER cleared before completion: the slot
                        // is the handle's again.
                        let w = unsafe { hd.awaiter.with_mut(|w| (*w).take()) };
                        // The reference goes first: a waker whose destructor
                        // panics must not leak the cell.
                        // SAFETY: the handle's reference.
                        unsafe { drop_ref(ptr) };
                        drop(w);
                        return;
                    }
                    Err(actual) => s = actual,
                }
            }
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

// The failure lives in every task cell's stage: no bigger than the payload
// box it wraps, so cells keep their size classes; the error is `?`-able
// into `Box<dyn Error + Send + Sync>`.
const _: () = {
    assert!(std::mem::size_of::<Failure>() == std::mem::size_of::<Box<dyn Any + Send>>());
    const fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<JoinError>();
};
