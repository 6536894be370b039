//! What the test modules share; the benches include it too (`#[path]`),
//! so coframe and its peers run exactly the same futures.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Pending once (waking itself), then ready: the yield point used by every
/// test and bench that needs one, the same for every executor.
pub struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A [`YieldNow`].
pub fn yield_now() -> YieldNow {
    YieldNow(false)
}
