//! [`block_on`]: run one future to completion on the current thread.
//!
//! The thread drives its own event loop while it waits (rule 10: no
//! reactor thread): a per-thread [`Driver`](crate::reactor::Driver), made
//! at the thread's first `block_on` and kept for the next ones, is current
//! for the duration, so [`coframe::time`](crate::time) and
//! [`coframe::io`](crate::io) work inside. The waker sets a flag and, if the
//! thread sleeps in the event loop, interrupts it (one `eventfd` write);
//! the loop polls only after a wake. Each poll goes through `safe_resume`,
//! so the current frame resource is the same before and after.
//!
//! If no event loop can be made (out of file descriptors), the thread
//! parks instead, and I/O and timers say that no event loop runs here.
//! A `block_on` inside an executor's task blocks that executor's thread:
//! its other tasks, and the I/O and timers registered with its event loop,
//! wait until it returns (as in every runtime; `.await` instead).

use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::reactor::{Driver, Handle};
use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

struct ThreadWaker {
    thread: Thread,
    woken: AtomicBool,
    /// Set while the thread sleeps in the event loop.
    sleeping: AtomicBool,
    reactor: Option<Handle>,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::SeqCst) {
            if let Some(h) = &self.reactor {
                // A wake from the event loop's own turn, on this thread,
                // needs no interruption (it would cost a syscall).
                if self.sleeping.load(Ordering::SeqCst)
                    && thread::current().id() != self.thread.id()
                    && self.sleeping.swap(false, Ordering::SeqCst)
                {
                    h.unpark();
                }
            }
            // Cheap when the thread is not parked; covers the fallback
            // (no event loop, or it could not be turned).
            self.thread.unpark();
        }
    }
}

thread_local! {
    /// This thread's event loop for `block_on` (a cache, not context: it
    /// has a destructor, which closes its descriptors at thread exit).
    static DRIVER: RefCell<Option<Driver>> = const { RefCell::new(None) };
}

/// This thread's `block_on` event loop's handle, made if needed.
fn thread_reactor() -> Option<Handle> {
    DRIVER
        .try_with(|d| {
            let mut d = d.try_borrow_mut().ok()?;
            if d.is_none() {
                *d = Some(Driver::new_home().ok()?);
            }
            d.as_ref().map(|d| d.handle().clone())
        })
        .ok()
        .flatten()
}

/// Sleeps in this thread's event loop until woken, or a timer or I/O event
/// (whose wakers may be the future's). Returns `false` if it could not.
fn turn_until_woken() -> bool {
    DRIVER
        .try_with(|d| match d.try_borrow_mut() {
            Ok(mut d) => match d.as_mut() {
                Some(d) => {
                    d.turn(None);
                    true
                }
                None => false,
            },
            Err(_) => false,
        })
        .unwrap_or(false)
}

/// Runs `future` to completion on the current thread, driving this
/// thread's event loop (timers and I/O) while it waits, and returns its
/// output.
///
/// ```
/// let v = coframe::block_on(async {
///     coframe::time::sleep(std::time::Duration::from_millis(1)).await;
///     21 * 2
/// });
/// assert_eq!(v, 42);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    // An executor entry like the others: the thread's context is restored
    // as a unit when this returns or unwinds (rule 11).
    let _enter = super::EnterGuard::saving();
    let reactor = thread_reactor();
    if let Some(h) = &reactor {
        // `reactor` lives until the end of this call, after the entry.
        crate::reactor::make_current_in_entry(h);
    }
    let mut future = pin!(future);
    let tw = Arc::new(ThreadWaker {
        thread: thread::current(),
        woken: AtomicBool::new(false),
        sleeping: AtomicBool::new(false),
        reactor: reactor.clone(),
    });
    let waker = Waker::from(tw.clone());
    let mut cx = Context::from_waker(&waker);
    let _coop = crate::coop::EndOnDrop;
    loop {
        crate::coop::reset();
        if let Poll::Ready(v) = crate::frame::safe_resume(|| future.as_mut().poll(&mut cx)) {
            return v;
        }
        if reactor.is_some() {
            while !tw.woken.swap(false, Ordering::SeqCst) {
                tw.sleeping.store(true, Ordering::SeqCst);
                if tw.woken.load(Ordering::SeqCst) {
                    tw.sleeping.store(false, Ordering::SeqCst);
                    continue;
                }
                if !turn_until_woken() {
                    tw.sleeping.store(false, Ordering::SeqCst);
                    thread::park();
                }
                tw.sleeping.store(false, Ordering::SeqCst);
            }
        } else {
            while !tw.woken.swap(false, Ordering::SeqCst) {
                thread::park();
            }
        }
    }
}
