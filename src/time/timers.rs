//! The event loop's timers: one [`Wheel`] behind a lock, the clock that
//! turns an [`Instant`] into a wheel tick, and the two hints the driver and
//! the armers exchange.
//!
//! Owned by the event loop's shared state (`reactor::driver`), so every
//! thread holding its `Handle` can arm, reset or cancel a timer, and the
//! thread turning the driver fires them, whichever threads their tasks live
//! on: firing only wakes their wakers (rule 9).
//!
//! # The clock: never early
//!
//! A tick is a millisecond since `start` (the driver's creation). A
//! deadline is armed at `ceil(deadline - start)` and the wheel is advanced
//! to `floor(now - start)`, so a timer fires only once
//! `now - start >= tick ms >= deadline - start`, i.e. `now >= deadline`
//! (`Instant` is monotonic). A deadline more than 2^62 ms away is never
//! armed ([`Timers::tick_for`] returns `None`): it cannot fire.
//!
//! # Hints
//!
//! - `next_wake`: a tick no later than the wheel's next expiry (`u64::MAX`:
//!   none). It lets a non-blocking turn skip the lock when nothing is due.
//!   Cancelling a timer leaves it early (harmless: one empty check).
//! - `sleeping_until`: while the driver blocks, the tick its timeout ends
//!   at (`u64::MAX`: no timer bounds it); 0 when it is not blocking on the
//!   timers. Written under the wheel lock before the driver blocks; an arm
//!   or reset earlier than it (checked under the same lock) tells its
//!   caller to unpark the driver, so a blocked driver never oversleeps a
//!   timer armed from another thread.

use super::wheel::{Expired, Key, Wheel};
use crate::loom::lock::Mutex;
use crate::loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Waker;
use std::time::{Duration, Instant};

/// Ticks at or beyond this are never armed (about 146 million years).
const NEVER: u64 = 1 << 62;

/// What arming or resetting did.
#[derive(Debug)]
pub(crate) enum Armed {
    /// The timer is armed under this key; `unpark`: the driver blocks past
    /// its tick and must be woken to shorten its wait.
    Yes { key: Key, unpark: bool },
    /// The wheel has already passed the tick: the deadline has passed.
    Expired,
    /// The event loop has shut down: nothing will ever fire.
    Shutdown,
}

/// The event loop's timers. See the module docs.
pub(crate) struct Timers {
    start: Instant,
    wheel: Mutex<Wheel>,
    next_wake: AtomicU64,
    sleeping_until: AtomicU64,
    shutdown: AtomicBool,
}

impl Timers {
    /// Timers whose tick 0 is `start`.
    pub(crate) fn new(start: Instant) -> Self {
        Timers {
            start,
            wheel: Mutex::new(Wheel::new()),
            next_wake: AtomicU64::new(u64::MAX),
            sleeping_until: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
        }
    }

    /// The tick a timer for `deadline` is armed at: rounded up, so it never
    /// fires early; `None` if it is too far away to ever fire.
    pub(crate) fn tick_for(&self, deadline: Instant) -> Option<u64> {
        // Seconds and sub-second nanoseconds in 64-bit arithmetic (a u128
        // division was a visible part of arming a timer).
        let d = deadline.saturating_duration_since(self.start);
        if d.as_secs() >= NEVER / 1000 {
            return None;
        }
        let ms = d.as_secs() * 1000 + u64::from(d.subsec_nanos()).div_ceil(1_000_000);
        (ms < NEVER).then_some(ms)
    }

    /// The tick `now` falls in (rounded down).
    fn now_tick(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.start);
        let ms = d
            .as_secs()
            .saturating_mul(1000)
            .saturating_add(u64::from(d.subsec_millis()));
        ms.min(NEVER)
    }

    /// The instant tick `tick` starts at.
    fn instant_of(&self, tick: u64) -> Option<Instant> {
        self.start.checked_add(Duration::from_millis(tick))
    }

    /// Arms a timer for `tick` that wakes `waker`.
    pub(crate) fn arm(&self, tick: u64, waker: &Waker) -> Armed {
        let mut wheel = self.wheel.lock();
        if self.is_shutdown() {
            return Armed::Shutdown;
        }
        match wheel.insert(tick, waker) {
            Ok(key) => Armed::Yes {
                key,
                unpark: self.note_armed(tick),
            },
            Err(Expired) => Armed::Expired,
        }
    }

    /// Moves `key`'s timer to `tick`.
    pub(crate) fn reset(&self, key: Key, tick: u64) -> Armed {
        let mut wheel = self.wheel.lock();
        if self.is_shutdown() {
            return Armed::Shutdown;
        }
        match wheel.reset(key, tick) {
            Ok(()) => Armed::Yes {
                key,
                unpark: self.note_armed(tick),
            },
            Err(Expired) => Armed::Expired,
        }
    }

    /// Under the wheel lock: lowers `next_wake` to `tick` and says whether
    /// the driver sleeps past it (see the module docs).
    fn note_armed(&self, tick: u64) -> bool {
        // Every write to `next_wake` happens under the lock.
        if tick < self.next_wake.load(Ordering::Relaxed) {
            self.next_wake.store(tick, Ordering::Release);
        }
        let until = self.sleeping_until.load(Ordering::Acquire);
        if tick < until {
            // One unpark is enough for every arm before the driver wakes.
            self.sleeping_until.store(0, Ordering::Release);
            true
        } else {
            false
        }
    }

    /// Makes `waker` the one `key`'s timer wakes (if not already
    /// equivalent). Returns whether the event loop has shut down.
    pub(crate) fn set_waker(&self, key: Key, waker: &Waker) -> bool {
        let mut wheel = self.wheel.lock();
        if self.is_shutdown() {
            return true;
        }
        wheel.set_waker(key, waker);
        false
    }

    /// Cancels `key`'s timer and frees its slot.
    pub(crate) fn cancel(&self, key: Key) {
        self.wheel.lock().remove(key);
    }

    /// Whether the event loop has shut down (every timer was fired then).
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Before the driver blocks, with the lock: how long it may block for
    /// the timers (`None`: no timer is armed; `ZERO`: one is due now), and
    /// records the tick it will wake at so that earlier arms unpark it.
    pub(crate) fn prepare_block(&self, now: Instant) -> Option<Duration> {
        let wheel = self.wheel.lock();
        let Some(next) = wheel.next_expiration() else {
            self.sleeping_until.store(u64::MAX, Ordering::Release);
            return None;
        };
        if next <= self.now_tick(now) {
            return Some(Duration::ZERO);
        }
        self.sleeping_until.store(next, Ordering::Release);
        Some(match self.instant_of(next) {
            Some(at) => at.saturating_duration_since(now),
            None => Duration::MAX,
        })
    }

    /// After a blocking poll returns: the driver no longer sleeps.
    pub(crate) fn end_block(&self) {
        self.sleeping_until.store(0, Ordering::Release);
    }

    /// Fires every timer due at `now`, pushing their wakers on `fired`;
    /// returns how many fired. Takes no lock when none can be due.
    pub(crate) fn fire(&self, now: Instant, fired: &mut Vec<Waker>) -> usize {
        let now = self.now_tick(now);
        if self.next_wake.load(Ordering::Acquire) > now {
            return 0;
        }
        let mut wheel = self.wheel.lock();
        let n = wheel.poll(now, fired);
        let next = wheel.next_expiration().unwrap_or(u64::MAX);
        self.next_wake.store(next, Ordering::Release);
        n
    }

    /// Shutdown: fires every armed timer and marks the timers shut down, so
    /// that a `Sleep` polled afterwards reports it instead of hanging.
    pub(crate) fn shutdown(&self, fired: &mut Vec<Waker>) -> usize {
        let mut wheel = self.wheel.lock();
        self.shutdown.store(true, Ordering::Release);
        self.next_wake.store(u64::MAX, Ordering::Release);
        wheel.fire_all(fired)
    }

    /// The driver's `sleeping_until` hint (tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn sleeping_until(&self) -> u64 {
        self.sleeping_until.load(Ordering::Acquire)
    }

    /// Nodes in the wheel (armed plus fired, not yet removed).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn len(&self) -> usize {
        self.wheel.lock().len()
    }
}
