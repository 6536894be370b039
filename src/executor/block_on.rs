//! [`block_on`]: run one future to completion on the current thread.
//!
//! The waker sets a flag and unparks the thread; the loop polls only after a
//! wake and parks otherwise (`thread::park` tokens make a wake between the
//! check and the park harmless). Each poll goes through `safe_resume`, so
//! the current frame resource is the same before and after.

use crate::loom::sync::atomic::{AtomicBool, Ordering};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

struct ThreadWaker {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::SeqCst) {
            self.thread.unpark();
        }
    }
}

/// Runs `future` on the current thread until it completes, parking the
/// thread while it waits. No executor is involved: to spawn tasks, run a
/// [`LocalExecutor`](crate::LocalExecutor) instead.
///
/// ```
/// let (tx, rx) = std::sync::mpsc::channel();
/// let out = coframe::block_on(async move {
///     std::thread::spawn(move || tx.send(41).unwrap());
///     // (a real program would await an async channel here)
///     rx.recv().unwrap() + 1
/// });
/// assert_eq!(out, 42);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    // An executor entry like the others: the thread's context is restored
    // as a unit when this returns or unwinds (rule 11).
    let _enter = super::EnterGuard::saving();
    let mut future = pin!(future);
    let tw = Arc::new(ThreadWaker {
        thread: thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(tw.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = crate::frame::safe_resume(|| future.as_mut().poll(&mut cx)) {
            return v;
        }
        while !tw.woken.swap(false, Ordering::SeqCst) {
            thread::park();
        }
    }
}
