//! The task waker: a `RawWakerVTable` over the cell pointer. A waker holds
//! one reference; waking sets `SCHEDULED` and hands the task's only
//! `Runnable` to the scheduler, unless the task is completed or closed, or
//! already scheduled (then the wake is a same-value read-modify-write that
//! publishes the waker's writes to the coming run), or running (then the run
//! re-queues it when the poll returns).

use super::raw::{drop_ref, header, Header};
use super::runnable::Runnable;
use super::state::*;
use crate::loom::sync::atomic::Ordering;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable};

pub(crate) static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_waker, wake, wake_by_ref, drop_waker);

#[inline]
fn ptr(data: *const ()) -> NonNull<Header> {
    // SAFETY: wakers are only built from non-null cell pointers.
    unsafe { NonNull::new_unchecked(data as *mut Header) }
}

unsafe fn clone_waker(data: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned holds (or borrows) a reference.
    let hd = unsafe { header(ptr(data)) };
    let prev = hd.state.fetch_add(REFERENCE, Ordering::Relaxed);
    if prev > isize::MAX as usize {
        // Reference count overflow: memory safety would be at stake.
        std::process::abort();
    }
    RawWaker::new(data, &WAKER_VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: this waker owns a reference, dropped after the wake.
    unsafe {
        wake_by_ref(data);
        drop_ref(ptr(data));
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    let h = ptr(data);
    // SAFETY: the waker holds or borrows a reference for the call.
    let hd = unsafe { header(h) };
    let mut s = hd.state.load(Ordering::Acquire);
    loop {
        if s & (COMPLETED | CLOSED) != 0 {
            return;
        }
        if s & SCHEDULED != 0 {
            // Already scheduled: publish what this thread wrote before waking
            // (a same-value RMW), so the run that consumes the Runnable is
            // ordered after it. A plain load could have read a stale
            // SCHEDULED whose run already began and missed our writes: a lost
            // wakeup (found by the loom model `loom_wake_races_with_poll`).
            match hd
                .state
                .compare_exchange_weak(s, s, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => {
                    s = actual;
                    continue;
                }
            }
        }
        match hd
            .state
            .compare_exchange_weak(s, s | SCHEDULED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                if s & RUNNING == 0 {
                    hd.scheduler().schedule(Runnable::from_raw(h));
                }
                return;
            }
            Err(actual) => s = actual,
        }
    }
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: this waker owns a reference.
    unsafe { drop_ref(ptr(data)) }
}
