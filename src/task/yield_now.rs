//! [`yield_now`]: give the executor's thread to the other ready tasks once.
//!
//! The future returns `Pending` on its first poll after waking its own task,
//! so the executor queues the task again behind the tasks already ready;
//! the second poll returns `Ready`. It touches no executor state.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields once: the current task goes to the back of its executor's queue
/// and the tasks that were ready run first.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// let ex = coframe::LocalExecutor::new();
/// let log = Rc::new(RefCell::new(Vec::new()));
/// for name in ["a", "b"] {
///     let log = log.clone();
///     ex.spawn(async move {
///         for i in 0..2 {
///             log.borrow_mut().push(format!("{name}{i}"));
///             coframe::yield_now().await;
///         }
///     });
/// }
/// ex.run_until_stalled();
/// assert_eq!(*log.borrow(), ["a0", "b0", "a1", "b1"]);
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
///
/// ```
/// let f: coframe::task::YieldNow = coframe::yield_now();
/// coframe::block_on(f);
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
