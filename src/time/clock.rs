//! A per-thread cache of the clock, so that a batch of `sleep(d)`s made and
//! first polled together reads the clock once, not once per sleep, and
//! never fires early.
//!
//! `sleep(d)` does not read the clock: it takes a [`Stamp`] (this thread's
//! cache generation). Its deadline is fixed later, at its first poll (or
//! the first [`Sleep::deadline`](super::Sleep::deadline) call), as `d`
//! after an *anchor*: the cached instant if the cache was filled after the
//! stamp was taken on this thread (its generation is higher), else a fresh
//! clock read, which then fills the cache. Either way the anchor was read
//! after the call to `sleep`, so the deadline is never earlier than `d`
//! after that call; it is at most the time from the call to its first
//! poll later (none when the first poll reads the clock itself). The event
//! loop's turns refill the cache with the clock read they make anyway.
//!
//! # Invariants
//!
//! - The cache's generation grows by one each time its instant is
//!   replaced, and the instant is read from the clock before the new
//!   generation is published: a stamp whose generation is lower than the
//!   cache's was taken before the cached instant was read.
//! - Stamps are compared only with the cache of the thread that took them
//!   (the cache's address is the thread's identity); a stamp from another
//!   thread always reads the clock.
//! - The per-loop part (`since`: the cached instant minus a loop's start)
//!   belongs to the generation and the start it was computed for (keyed by
//!   the start itself, not the loop's address, which a later loop may
//!   reuse).
//! - An anchor is also kept as a [`Code`]: nanoseconds since a process-wide
//!   base instant, plus one, below 2^62 (a `Sleep` keeps flags in the two
//!   top bits of the same word), so a `Sleep` can fix it through `&self`
//!   with one atomic word. An instant before the base is coded as the base
//!   itself: later, never earlier.
//!
//! Caches keep their own thread-locals (not the runtime context, rule 11);
//! the accessors are `#[inline(never)]` and nothing they return is a
//! thread-local address kept across a stack switch (rule 7: the address is
//! only compared, as a token).

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// An anchor coded as nanoseconds since [`base`] plus one (module docs);
/// 0: none.
pub(crate) type Code = u64;

/// The process-wide base of [`Code`]s: about 34 years before its first
/// use, so that no instant read in this process precedes it (codes stay
/// below 2^63 for centuries).
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(|| {
        let now = Instant::now();
        now.checked_sub(Duration::from_secs(1 << 30)).unwrap_or(now)
    })
}

/// `at` as a [`Code`]: never 0, below 2^62 (an instant before the base
/// codes as the base).
///
/// # Panics
/// Some 146 years after the base, i.e. after a process ran for over a
/// century (no code left).
fn encode(at: Instant) -> Code {
    let ns = at.saturating_duration_since(base()).as_nanos();
    match u64::try_from(ns) {
        Ok(ns) if ns < (1 << 62) - 1 => ns + 1,
        _ => panic!("coframe::time: the clock is past what a sleep's anchor can hold"),
    }
}

/// An absolute deadline as seconds and nanoseconds after the base (one
/// before the base, only made by subtracting decades from `now`, counts as
/// the base: later, never earlier).
pub(crate) fn split(at: Instant) -> (u64, u32) {
    let d = at.saturating_duration_since(base());
    (d.as_secs(), d.subsec_nanos())
}

/// The instant [`split`] made `(secs, nanos)` of (`nanos` below 10^9).
pub(crate) fn join(secs: u64, nanos: u64) -> Option<Instant> {
    base().checked_add(Duration::new(secs, nanos as u32))
}

/// The instant `code` (not 0) stands for.
pub(crate) fn decode(code: Code) -> Instant {
    debug_assert_ne!(code, 0);
    base() + Duration::from_nanos(code - 1)
}

/// When a relative sleep was made: the thread and its cache generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// The thread's identity (its cache's address).
    pub(crate) thread: usize,
    /// The cache's generation then (below 2^63).
    pub(crate) generation: u64,
}

struct Cache {
    generation: Cell<u64>,
    now: Cell<Option<Instant>>,
    /// `now` coded (0 when `now` is `None`).
    code: Cell<Code>,
    /// The start of the loop `since` was computed for (a loop's start
    /// names it for this purpose: two loops with the same start have the
    /// same offsets; an address could be reused by a later loop), and the
    /// generation it belongs to.
    since_for: Cell<(Option<Instant>, u64)>,
    /// Nanoseconds from that loop's start to `now` (saturating).
    since: Cell<u64>,
}

impl Cache {
    const fn new() -> Self {
        Cache {
            generation: Cell::new(0),
            now: Cell::new(None),
            code: Cell::new(0),
            since_for: Cell::new((None, u64::MAX)),
            since: Cell::new(0),
        }
    }

    fn token(&self) -> usize {
        self as *const Cache as usize
    }

    /// Stores `now` (read from the clock by the caller, just before) under
    /// a new generation.
    fn fill(&self, now: Instant) {
        self.now.set(Some(now));
        self.code.set(encode(now));
        self.generation.set(self.generation.get() + 1);
    }

    /// The anchor for `stamp` (module docs), and its code.
    fn anchor(&self, stamp: Stamp) -> (Instant, Code) {
        if stamp.thread == self.token() && self.generation.get() > stamp.generation {
            if let Some(now) = self.now.get() {
                return (now, self.code.get());
            }
        }
        let now = Instant::now();
        self.fill(now);
        (now, self.code.get())
    }
}

#[cfg(not(loom))]
thread_local! {
    static CACHE: Cache = const { Cache::new() };
}

// Loom runs its model threads on one OS thread: one of loom's
// thread-locals there.
#[cfg(loom)]
loom::thread_local! {
    static CACHE: Cache = Cache::new();
}

/// A stamp for a relative sleep made now on this thread.
#[inline(never)]
pub(crate) fn stamp() -> Stamp {
    CACHE.with(|c| Stamp {
        thread: c.token(),
        generation: c.generation.get(),
    })
}

/// The anchor for `stamp` (module docs), coded: an instant read after the
/// stamp was taken.
#[inline(never)]
pub(crate) fn anchor(stamp: Stamp) -> Code {
    CACHE.with(|c| c.anchor(stamp).1)
}

/// The anchor for `stamp`, coded, and how many nanoseconds after `start`
/// (a loop's tick 0) it is, saturating (cached per generation and start:
/// one subtraction per batch).
#[inline(never)]
pub(crate) fn anchor_since(stamp: Stamp, start: Instant) -> (Code, u64) {
    CACHE.with(|c| {
        let (now, code) = c.anchor(stamp);
        let key = (Some(start), c.generation.get());
        if c.since_for.get() == key {
            return (code, c.since.get());
        }
        let since = nanos_since(now, start);
        c.since_for.set(key);
        c.since.set(since);
        (code, since)
    })
}

/// Nanoseconds from `start` to `at` (0 if before; saturating at 2^64 - 1,
/// some 580 years).
pub(crate) fn nanos_since(at: Instant, start: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX)
}

/// The event loop's turns: `now` was just read from the clock on this
/// thread; later first polls of sleeps made before may anchor on it.
#[inline(never)]
pub(crate) fn refresh(now: Instant) {
    CACHE.with(|c| c.fill(now));
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_anchors_on_a_read_made_after_it() {
        let s1 = stamp();
        let before = Instant::now();
        let a1 = anchor(s1);
        assert!(decode(a1) >= before, "the first anchor reads the clock");
        // A second sleep of the same batch reuses that read...
        assert_eq!(anchor(s1), a1);
        // ...but one made after it does not.
        let s2 = stamp();
        let before = Instant::now();
        let a2 = anchor(s2);
        assert!(decode(a2) >= before && a2 > a1);
        // A stamp from another thread never uses this thread's cache.
        let s3 = std::thread::spawn(stamp).join().unwrap();
        let before = Instant::now();
        assert!(decode(anchor(s3)) >= before);
    }

    #[test]
    fn refresh_serves_sleeps_made_before_it() {
        let s = stamp();
        let now = Instant::now();
        refresh(now);
        let a = anchor(s);
        // Coded to the nanosecond: the same instant.
        assert_eq!(decode(a), now);
        let start = now - Duration::from_secs(5);
        assert_eq!(anchor_since(s, start), (a, 5_000_000_000));
        let since = 5_000_000_000;
        // Cached per loop and generation.
        assert_eq!(anchor_since(s, start).1, since);
        assert_eq!(anchor_since(s, now).1, 0);
        assert_eq!(anchor_since(s, start).1, since);
    }
}
