//! [`timeout`]: bound the time a future may take.
//!
//! A [`Timeout`] polls its future first and its [`Sleep`] second, so a
//! future that is ready when the deadline passes still wins; dropping the
//! `Timeout` drops the future and cancels the timer.

use super::sleep::Sleep;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Runs `future` for at most `duration`: `Ok` with its output if it
/// completes first, `Err(Elapsed)` otherwise (the future is then dropped
/// with the `Timeout`). `Duration::MAX` never times out; `Duration::ZERO`
/// gives the future one poll.
///
/// # Panics
/// When polled where no coframe event loop runs (outside a coframe
/// executor or `coframe::block_on`).
///
/// ```
/// use std::time::Duration;
/// coframe::block_on(async {
///     let slow = coframe::time::sleep(Duration::from_secs(3600));
///     let r = coframe::time::timeout(Duration::from_millis(10), slow).await;
///     assert_eq!(r, Err(coframe::time::Elapsed::new()));
///     let fast = async { 7 };
///     assert_eq!(coframe::time::timeout(Duration::from_secs(1), fast).await, Ok(7));
/// });
/// ```
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    Timeout {
        future: future.into_future(),
        sleep: Sleep::at(Instant::now().checked_add(duration)),
    }
}

/// Like [`timeout`], with a deadline.
///
/// ```
/// use std::time::{Duration, Instant};
/// coframe::block_on(async {
///     let deadline = Instant::now() + Duration::from_millis(10);
///     let r = coframe::time::timeout_at(deadline, std::future::pending::<()>()).await;
///     assert!(r.is_err() && Instant::now() >= deadline);
/// });
/// ```
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    Timeout {
        future: future.into_future(),
        sleep: Sleep::at(Some(deadline)),
    }
}

/// The future [`timeout`] returns.
///
/// ```
/// use std::time::Duration;
/// coframe::block_on(async {
///     let t: coframe::time::Timeout<_> = coframe::time::timeout(Duration::from_secs(1), async { 1 });
///     assert_eq!(t.await, Ok(1));
/// });
/// ```
#[must_use = "a Timeout does nothing unless awaited"]
#[derive(Debug)]
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

impl<F> Timeout<F> {
    /// The future inside.
    ///
    /// ```
    /// let t = coframe::time::timeout(std::time::Duration::from_secs(1), async { 1 });
    /// let _inner: &_ = t.get_ref();
    /// ```
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The future inside, mutably.
    ///
    /// ```
    /// let mut t = coframe::time::timeout(std::time::Duration::from_secs(1), async { 1 });
    /// let _inner: &mut _ = t.get_mut();
    /// ```
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.future
    }

    /// The future inside, without the time limit.
    ///
    /// ```
    /// let t = coframe::time::timeout(std::time::Duration::from_secs(1), async { 1 });
    /// let f = t.into_inner();
    /// assert_eq!(coframe::block_on(f), 1);
    /// ```
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of
        // a pinned `Timeout` (only `into_inner(self)`, which takes the
        // `Timeout` by value, unpinned, moves it) and `Timeout` has no
        // `Drop` of its own; `sleep` is `Unpin` and not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Poll::Ready(v) = future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The error of a [`timeout`] whose deadline passed first.
///
/// ```
/// let e = coframe::time::Elapsed::new();
/// assert_eq!(e.to_string(), "deadline has elapsed");
/// let io: std::io::Error = e.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl Elapsed {
    /// The error value (for tests and adapters).
    ///
    /// ```
    /// assert_eq!(coframe::time::Elapsed::new(), coframe::time::Elapsed::new());
    /// ```
    pub fn new() -> Self {
        Elapsed(())
    }
}

impl Default for Elapsed {
    fn default() -> Self {
        Elapsed::new()
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::reactor::test_util::{fd_lock, run};
    use crate::reactor::Driver;
    use crate::time::sleep;

    #[test]
    fn a_timeout_fires_not_early() {
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        let start = Instant::now();
        let r = run(
            &mut driver,
            timeout(Duration::from_millis(15), std::future::pending::<()>()),
        );
        assert_eq!(r, Err(Elapsed::new()));
        assert!(start.elapsed() >= Duration::from_millis(15));
        assert_eq!(driver.handle().shared().timers.len(), 0);
    }

    #[test]
    fn a_future_that_finishes_first_wins() {
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        let r = run(&mut driver, timeout(Duration::from_secs(60), async { 5 }));
        assert_eq!(r, Ok(5));
        let r = run(
            &mut driver,
            timeout(Duration::from_secs(60), sleep(Duration::from_millis(3))),
        );
        assert_eq!(r, Ok(()));
        assert_eq!(driver.handle().shared().timers.len(), 0, "timer cancelled");
        assert_eq!(run(&mut driver, timeout(Duration::MAX, async { 1 })), Ok(1));
        // ZERO: one poll for the future, then the deadline has passed.
        assert_eq!(
            run(&mut driver, timeout(Duration::ZERO, async { 2 })),
            Ok(2)
        );
        assert!(run(
            &mut driver,
            timeout(Duration::ZERO, std::future::pending::<()>())
        )
        .is_err());
    }
}
