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

/// Why a task produced no output.
///
/// ```
/// use coframe::{JoinError, LocalExecutor};
/// let ex = LocalExecutor::new();
/// let h = ex.spawn(async { panic!("boom") });
/// let err: JoinError = ex.run_until(h).unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
/// ```
pub enum JoinError {
    /// The task was aborted or its executor shut down before it finished.
    Cancelled,
    /// The task panicked; the payload is the panic's.
    Panic(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    /// Whether the task was cancelled.
    ///
    /// ```
    /// assert!(coframe::JoinError::Cancelled.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }

    /// Whether the task panicked.
    ///
    /// ```
    /// assert!(!coframe::JoinError::Cancelled.is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panic(_))
    }

    /// The panic payload.
    ///
    /// # Panics
    ///
    /// If the error is [`JoinError::Cancelled`] (use
    /// [`try_into_panic`](Self::try_into_panic) to check).
    ///
    /// ```
    /// let err = coframe::JoinError::Panic(Box::new(5_u8));
    /// assert_eq!(*err.into_panic().downcast::<u8>().unwrap(), 5);
    /// ```
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .unwrap_or_else(|_| panic!("coframe: JoinError::into_panic on a cancelled task"))
    }

    /// The panic payload, or the error back if the task was cancelled.
    ///
    /// ```
    /// assert!(coframe::JoinError::Cancelled.try_into_panic().is_err());
    /// ```
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self {
            JoinError::Panic(p) => Ok(p),
            e => Err(e),
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
        match self {
            JoinError::Panic(p) => std::panic::resume_unwind(p),
            JoinError::Cancelled => panic!("coframe: the task was cancelled"),
        }
    }
}

fn payload_str(p: &(dyn Any + Send)) -> Option<&str> {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(|s| s.as_str()))
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("Cancelled"),
            JoinError::Panic(p) => match payload_str(&**p) {
                Some(s) => write!(f, "Panic({s:?})"),
                None => f.write_str("Panic(..)"),
            },
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task was cancelled"),
            JoinError::Panic(p) => match payload_str(&**p) {
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
            _output: PhantomData,
        }
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
    /// handle then gives [`JoinError::Cancelled`]. No effect on a finished
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

    fn take(&mut self) -> Result<T, JoinError> {
        let mut out: Option<Result<T, JoinError>> = None;
        // SAFETY: COMPLETED is set (checked by the caller): the handle owns
        // the stage; `out` matches the cell's output type.
        unsafe { (self.header().vtable.take_output)(self.ptr, &mut out as *mut _ as *mut ()) };
        match out {
            Some(r) => r,
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
                        return Poll::Ready(self.take());
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
        Poll::Ready(self.take())
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
