//! [`interval`]: a stream of ticks at a fixed period.
//!
//! Ticks are scheduled at `start + n * period`, whatever happens: a tick is
//! never early (it is a [`Sleep`] to its scheduled instant). When the task
//! falls behind (it was busy for several periods), the missed ticks
//! complete at once, one per `tick()`, until the schedule is caught up:
//! the *burst* behaviour, tokio's default `MissedTickBehavior::Burst`.

use super::sleep::Sleep;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Ticks every `period`, the first tick at once.
///
/// # Panics
/// If `period` is zero; when polled where no coframe event loop runs.
///
/// ```
/// use std::time::Duration;
/// coframe::block_on(async {
///     let mut every = coframe::time::interval(Duration::from_millis(10));
///     let first = every.tick().await; // at once
///     let second = every.tick().await;
///     assert_eq!(second - first, Duration::from_millis(10));
/// });
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
/// If `period` is zero; when polled where no coframe event loop runs.
///
/// ```
/// use std::time::{Duration, Instant};
/// coframe::block_on(async {
///     let start = Instant::now() + Duration::from_millis(5);
///     let mut every = coframe::time::interval_at(start, Duration::from_millis(10));
///     assert_eq!(every.tick().await, start);
/// });
/// ```
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "coframe::time::interval: the period must be non-zero"
    );
    Interval {
        delay: Sleep::at(Some(start)),
        period,
    }
}

/// A schedule of ticks at `start + n * period`. Also a
/// [`Stream`](futures_core::Stream) of the ticks' scheduled instants.
///
/// Missed ticks burst: when the task falls behind (busy for several
/// periods), the missed ticks complete at once, one per
/// [`tick`](Interval::tick), until the schedule is caught up; the schedule
/// itself never shifts (tokio's default, `MissedTickBehavior::Burst`).
/// Never early: each tick completes at or after its scheduled instant.
///
/// ```
/// use std::time::Duration;
/// coframe::block_on(async {
///     let mut every = coframe::time::interval(Duration::from_millis(1));
///     for _ in 0..3 {
///         every.tick().await;
///     }
/// });
/// ```
#[derive(Debug)]
pub struct Interval {
    delay: Sleep,
    period: Duration,
}

impl Interval {
    /// Waits for the next tick; returns the instant it was scheduled at
    /// (never later than now).
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// coframe::block_on(async {
    ///     let mut every = coframe::time::interval(Duration::from_millis(2));
    ///     let t = every.tick().await;
    ///     assert!(t <= Instant::now());
    /// });
    /// ```
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Poll form of [`tick`](Interval::tick).
    ///
    /// ```
    /// # use std::time::Duration;
    /// coframe::block_on(async {
    ///     let mut every = coframe::time::interval(Duration::from_millis(2));
    ///     std::future::poll_fn(|cx| every.poll_tick(cx)).await;
    /// });
    /// ```
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.delay).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self
            .delay
            .deadline()
            .expect("an interval's next tick is a finite instant once due");
        match scheduled.checked_add(self.period) {
            Some(next) => self.delay.reset(next),
            None => self.delay = Sleep::at(None),
        }
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick is one period from now.
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// let mut every = coframe::time::interval(Duration::from_secs(1));
    /// every.reset();
    /// ```
    pub fn reset(&mut self) {
        match Instant::now().checked_add(self.period) {
            Some(next) => self.delay.reset(next),
            None => self.delay = Sleep::at(None),
        }
    }

    /// The period.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let every = coframe::time::interval(Duration::from_secs(1));
    /// assert_eq!(every.period(), Duration::from_secs(1));
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }
}

impl futures_core::Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::reactor::test_util::{fd_lock, poll_once, run, Recorder};
    use crate::reactor::{enter, Driver};
    use std::task::Waker;

    #[test]
    fn ticks_follow_the_schedule() {
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        let period = Duration::from_millis(4);
        let ticks = run(&mut driver, async {
            let mut every = interval(period);
            let mut ticks = Vec::new();
            for _ in 0..5 {
                let t = every.tick().await;
                assert!(Instant::now() >= t, "a tick before its instant");
                ticks.push(t);
            }
            ticks
        });
        for w in ticks.windows(2) {
            assert_eq!(w[1] - w[0], period);
        }
    }

    /// Missed ticks complete at once, in order, until caught up.
    #[test]
    fn missed_ticks_burst() {
        let _fd = fd_lock();
        let driver = Driver::new().unwrap();
        let _e = enter(driver.handle());
        let w = Waker::from(Recorder::new());
        // Long enough that a loaded machine (tests run in parallel) still
        // polls the fourth tick before its deadline.
        let period = Duration::from_millis(40);
        let mut every = interval(period);
        let Poll::Ready(start) = poll_once(&mut Box::pin(every.tick()), &w) else {
            panic!("the first tick is immediate");
        };
        // Fall behind by three and a half periods (busy, no sleep).
        while Instant::now() < start + period * 7 / 2 {
            std::hint::spin_loop();
        }
        for n in 1..=3 {
            let t = poll_once(&mut Box::pin(every.tick()), &w);
            assert_eq!(t, Poll::Ready(start + period * n));
        }
        assert!(poll_once(&mut Box::pin(every.tick()), &w).is_pending());
    }

    #[test]
    fn an_interval_is_a_stream() {
        use futures_core::Stream;
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        let n = run(&mut driver, async {
            let mut every = interval(Duration::from_millis(1));
            let mut n = 0;
            while n < 3 {
                let next = std::future::poll_fn(|cx| Pin::new(&mut every).poll_next(cx)).await;
                assert!(next.is_some());
                n += 1;
            }
            n
        });
        assert_eq!(n, 3);
    }

    #[test]
    #[should_panic(expected = "the period must be non-zero")]
    fn a_zero_period_panics() {
        let _ = interval(Duration::ZERO);
    }
}
