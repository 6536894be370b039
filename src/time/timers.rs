//! The event loop's timers: one [`Wheel`], who may touch it when, the clock
//! that turns an [`Instant`] into a wheel tick, and the hints the driver and
//! the armers exchange.
//!
//! Owned by the event loop's shared state (`reactor::driver`), so every
//! thread holding a pointer to it can arm, reset or cancel a timer, and the
//! thread turning the driver fires them, whichever threads their tasks live
//! on: firing only wakes their wakers (rule 9).
//!
//! # Two ways to reach the wheel
//!
//! - **Shared** (the pool's event loop, turned by whichever worker is
//!   idle): every access to the wheel holds `lock`.
//! - **Home** (a `LocalExecutor`'s or `block_on`'s event loop, current on
//!   and turned by one thread only, its *home*): the home thread uses the
//!   wheel directly, with no lock and no atomic read-modify-write, so arming
//!   and cancelling a timer there costs a few plain loads and stores. A
//!   `Sleep` that moved to another thread *posts* its reset, waker change or
//!   cancellation in the mailbox (under `lock`) instead; the home thread
//!   applies posted operations, in order, at every turn before it fires
//!   timers, and before its own reset or waker change of a timer (so an
//!   operation posted earlier never overrides a later one). A posted reset
//!   or waker change unparks the driver; a posted cancellation waits for
//!   the next turn (until then the timer may still fire: a spurious wake).
//!   A posted waker change for a timer that has fired meanwhile wakes the
//!   new waker (its deadline has passed), so moving a `Sleep` between
//!   threads never loses its wake-up. Arming happens only where the event
//!   loop is current, which for a home loop is its home thread.
//!
//! After shutdown (the driver is dropped, on its home thread for a home
//! loop), every access holds `lock`, from any thread.
//!
//! # Invariants
//!
//! - Home mode, before shutdown: only the home thread touches `wheel`;
//!   other threads touch only the mailbox, under `lock`. Shared mode, or
//!   after shutdown: `wheel` is touched only under `lock`.
//! - A key's generation makes a posted operation for a timer already
//!   removed (or a slot reused since) a no-op.
//! - No waker code (clone, drop, wake) runs while the wheel is reached:
//!   wakers are cloned before, and dropped or woken after it is released
//!   (and its lock): a waker's code may drop a `Sleep` of this loop.
//! - Giving a timer that has fired a new waker wakes that waker at once
//!   (its deadline has passed), in both modes: a `Sleep` moved to another
//!   task never loses its wake-up to a fire between its poll's clock check
//!   and the change.
//! - **Liveness**: while the wheel holds any node, the event loop's shared
//!   state holds one strong count on itself for all of them (taken when
//!   the wheel goes from empty to non-empty, released when it empties; the
//!   operations report the change as a `delta` the caller applies, outside
//!   the wheel). So a `Sleep` keeps a plain pointer, not an `Arc` clone per
//!   timer, and the state outlives every armed or fired timer.
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
//! # Hints (shared mode)
//!
//! - `next_wake`: a tick no later than the wheel's next expiry (`u64::MAX`:
//!   none). It lets a non-blocking turn skip the lock when nothing is due.
//!   Cancelling a timer leaves it early (harmless: one empty check). In
//!   home mode only the home thread reads and writes it.
//! - `sleeping_until`: while the driver blocks, the tick its timeout ends
//!   at (`u64::MAX`: no timer bounds it); 0 when it is not blocking on the
//!   timers. Written under the wheel lock before the driver blocks; an arm
//!   or reset earlier than it (checked under the same lock) tells its
//!   caller to unpark the driver, so a blocked driver never oversleeps a
//!   timer armed from another thread. Home mode needs none: only the home
//!   thread arms (it is not blocked then), and posted resets unpark.

use super::wheel::{Expired, Key, WakerState, Wheel};
use crate::loom::cell::UnsafeCell;
use crate::loom::lock::{Mutex, MutexGuard};
use crate::loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Waker;
use std::time::{Duration, Instant};

/// Ticks at or beyond this are never armed (about 146 million years).
const NEVER: u64 = 1 << 62;

/// What arming or resetting did.
#[derive(Debug)]
pub(crate) enum Armed {
    /// The timer is armed under this key; `unpark`: the driver blocks past
    /// its tick (or must apply a posted operation) and must be woken.
    Yes { key: Key, unpark: bool },
    /// The wheel has already passed the tick: the deadline has passed.
    Expired,
    /// The event loop has shut down: nothing will ever fire.
    Shutdown,
}

/// A change of the wheel's strong count on the event loop's state (module
/// docs, "Liveness"): `+1` take one, `-1` release one, `0` nothing.
pub(crate) type Delta = i8;

/// What a `Sleep` on another thread than its home posted.
enum Op {
    Cancel(Key),
    Reset(Key, u64),
    Waker(Key, Waker),
}

/// Under `lock`: the posted operations of a home loop.
struct Mailbox {
    ops: Vec<Op>,
}

/// The calling thread's identity for the home check: the address of its
/// runtime context (distinct for every live thread).
#[inline]
pub(crate) fn thread_token() -> usize {
    crate::thread_context::with(|cx| cx as *const _ as usize)
}

/// The event loop's timers. See the module docs.
pub(crate) struct Timers {
    start: Instant,
    /// The home thread's token; 0: shared mode.
    home: usize,
    wheel: UnsafeCell<Wheel>,
    /// Guards `wheel` in shared mode and after shutdown; the mailbox always.
    lock: Mutex<Mailbox>,
    /// Home mode: the mailbox is not empty.
    mail: AtomicBool,
    next_wake: AtomicU64,
    sleeping_until: AtomicU64,
    shutdown: AtomicBool,
}

// SAFETY: `wheel` is only reached as the module invariants say: under
// `lock`, or by the one home thread while no other thread reaches it.
unsafe impl Sync for Timers {}
// SAFETY: the wheel holds `Waker`s (Send) and slab indices; see above.
unsafe impl Send for Timers {}

/// Exclusive access to the wheel: by the home thread, or under the lock.
enum Access<'a> {
    Home,
    Locked(#[allow(dead_code)] MutexGuard<'a, Mailbox>),
}

impl Timers {
    /// Shared-mode timers whose tick 0 is `start`.
    pub(crate) fn new(start: Instant) -> Self {
        Self::with_home(start, 0)
    }

    /// Home-mode timers owned by the calling thread.
    pub(crate) fn new_home(start: Instant) -> Self {
        Self::with_home(start, thread_token())
    }

    fn with_home(start: Instant, home: usize) -> Self {
        Timers {
            start,
            home,
            wheel: UnsafeCell::new(Wheel::new()),
            lock: Mutex::new(Mailbox { ops: Vec::new() }),
            mail: AtomicBool::new(false),
            next_wake: AtomicU64::new(u64::MAX),
            sleeping_until: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
        }
    }

    /// The tick a timer for `deadline` is armed at: rounded up, so it never
    /// fires early; `None` if it is too far away to ever fire.
    #[inline]
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

    /// The loop's tick 0.
    #[inline]
    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// The tick a timer `d_ns` nanoseconds after `start + since_ns` is
    /// armed at: the same as [`tick_for`](Self::tick_for) of that instant
    /// (rounded up), without building it.
    #[inline]
    pub(crate) fn tick_after(&self, since_ns: u64, d_ns: u64) -> Option<u64> {
        let ms = since_ns.checked_add(d_ns)?.div_ceil(1_000_000);
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

    /// Whether the caller (whose token is `token`) may use the wheel
    /// without the lock: the home thread of a home loop before shutdown
    /// (which only the home thread itself sets).
    #[inline]
    fn is_home(&self, token: usize) -> bool {
        self.home == token && self.home != 0 && !self.shutdown.load(Ordering::Relaxed)
    }

    /// The wheel, for `f`.
    ///
    /// # Safety
    /// The caller has exclusive access (`Access`, module invariants).
    #[inline]
    unsafe fn wheel<R>(&self, _access: &Access<'_>, f: impl FnOnce(&mut Wheel) -> R) -> R {
        // SAFETY: forwarded: nobody else reaches the wheel meanwhile.
        self.wheel.with_mut(|w| f(unsafe { &mut *w }))
    }

    /// Arms a timer for `tick` that wakes `waker`, in the event loop current
    /// on the calling thread (`token`).
    #[inline]
    pub(crate) fn arm(&self, tick: u64, waker: &Waker, token: usize) -> (Armed, Delta) {
        // Cloned before the wheel is reached: a waker's code may use it.
        let waker = waker.clone();
        if self.is_home(token) {
            // SAFETY: the home thread (module invariants).
            let (armed, delta, unused) = unsafe {
                self.wheel(&Access::Home, |w| {
                    let was = w.is_empty();
                    match w.insert(tick, waker) {
                        Ok(key) => {
                            if tick < self.next_wake.load(Ordering::Relaxed) {
                                self.next_wake.store(tick, Ordering::Relaxed);
                            }
                            (Armed::Yes { key, unpark: false }, Delta::from(was), None)
                        }
                        Err((Expired, waker)) => (Armed::Expired, 0, Some(waker)),
                    }
                })
            };
            drop(unused);
            return (armed, delta);
        }
        let access = Access::Locked(self.lock.lock());
        if self.is_shutdown() {
            drop(access);
            return (Armed::Shutdown, 0);
        }
        assert!(
            self.home == 0,
            "coframe: a thread-owned event loop armed a timer off its thread"
        );
        // SAFETY: under the lock (shared mode).
        let (armed, delta, unused) = unsafe {
            self.wheel(&access, |w| {
                let was = w.is_empty();
                match w.insert(tick, waker) {
                    Ok(key) => (
                        Armed::Yes {
                            key,
                            unpark: self.note_armed(tick),
                        },
                        Delta::from(was),
                        None,
                    ),
                    Err((Expired, waker)) => (Armed::Expired, 0, Some(waker)),
                }
            })
        };
        drop(access);
        drop(unused);
        (armed, delta)
    }

    /// Moves `key`'s timer to `tick`, from the thread whose token is
    /// `token`. Wakers to call (posted changes applied first) go to `woken`.
    pub(crate) fn reset(
        &self,
        key: Key,
        tick: u64,
        token: usize,
        woken: &mut Vec<Waker>,
    ) -> (Armed, Delta) {
        if self.is_home(token) {
            let delta = self.apply_mail(woken);
            // SAFETY: the home thread.
            let armed = unsafe {
                self.wheel(&Access::Home, |w| match w.reset(key, tick) {
                    Ok(()) => {
                        if tick < self.next_wake.load(Ordering::Relaxed) {
                            self.next_wake.store(tick, Ordering::Relaxed);
                        }
                        Armed::Yes { key, unpark: false }
                    }
                    Err(Expired) => Armed::Expired,
                })
            };
            return (armed, delta);
        }
        let mut guard = self.lock.lock();
        if self.is_shutdown() {
            return (Armed::Shutdown, 0);
        }
        if self.home != 0 {
            self.post(&mut guard, Op::Reset(key, tick));
            return (Armed::Yes { key, unpark: true }, 0);
        }
        let access = Access::Locked(guard);
        // SAFETY: under the lock (shared mode).
        let armed = unsafe {
            self.wheel(&access, |w| match w.reset(key, tick) {
                Ok(()) => Armed::Yes {
                    key,
                    unpark: self.note_armed(tick),
                },
                Err(Expired) => Armed::Expired,
            })
        };
        (armed, 0)
    }

    /// Under the wheel lock (shared mode): lowers `next_wake` to `tick` and
    /// says whether the driver sleeps past it (see the module docs).
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

    /// Under `lock`, home mode: queues `op` for the home thread.
    fn post(&self, mailbox: &mut Mailbox, op: Op) {
        mailbox.ops.push(op);
        self.mail.store(true, Ordering::Release);
    }

    /// Makes `waker` the one `key`'s timer wakes (if not already
    /// equivalent), from the thread whose token is `token`. If the timer
    /// has fired, `waker` goes to `woken` (its deadline has passed). No
    /// waker code runs while the wheel is reached.
    pub(crate) fn set_waker(
        &self,
        key: Key,
        waker: &Waker,
        token: usize,
        woken: &mut Vec<Waker>,
    ) -> SetWaker {
        if self.is_home(token) {
            let delta = self.apply_mail(woken);
            // SAFETY: the home thread.
            let state = unsafe { self.wheel(&Access::Home, |w| w.waker_state(key, waker)) };
            match state {
                WakerState::Same => {}
                WakerState::Fired => woken.push(waker.clone()),
                WakerState::Different => {
                    let new = waker.clone();
                    // SAFETY: the home thread.
                    let old = unsafe { self.wheel(&Access::Home, |w| w.replace_waker(key, new)) };
                    match old {
                        Ok(old) => drop(old),
                        Err(new) => woken.push(new),
                    }
                }
            }
            return SetWaker::Done(delta);
        }
        if self.home != 0 {
            let new = waker.clone();
            let mut guard = self.lock.lock();
            if self.is_shutdown() {
                drop(guard);
                drop(new);
                return SetWaker::Shutdown;
            }
            self.post(&mut guard, Op::Waker(key, new));
            return SetWaker::Posted;
        }
        let state = {
            let access = Access::Locked(self.lock.lock());
            if self.is_shutdown() {
                return SetWaker::Shutdown;
            }
            // SAFETY: under the lock (shared mode).
            unsafe { self.wheel(&access, |w| w.waker_state(key, waker)) }
        };
        match state {
            WakerState::Same => {}
            WakerState::Fired => woken.push(waker.clone()),
            WakerState::Different => {
                let new = waker.clone();
                let old = {
                    let access = Access::Locked(self.lock.lock());
                    // SAFETY: under the lock (shared mode).
                    unsafe { self.wheel(&access, |w| w.replace_waker(key, new)) }
                };
                match old {
                    Ok(old) => drop(old),
                    // Fired meanwhile (or shut down).
                    Err(new) => woken.push(new),
                }
            }
        }
        SetWaker::Done(0)
    }

    /// Cancels `key`'s timer and frees its slot (at the home thread's next
    /// turn if posted), from the thread whose token is `token`. The timer's
    /// waker is dropped after the wheel is released.
    #[inline]
    pub(crate) fn cancel(&self, key: Key, token: usize) -> Delta {
        if self.is_home(token) {
            // SAFETY: the home thread. (Operations this timer posted before
            // find its key stale: they do nothing.)
            let (delta, waker) = unsafe {
                self.wheel(&Access::Home, |w| {
                    let was = w.is_empty();
                    let (_, waker) = w.remove(key);
                    (Delta::from(was) - Delta::from(w.is_empty()), waker)
                })
            };
            drop(waker);
            return delta;
        }
        let mut guard = self.lock.lock();
        if self.home != 0 && !self.is_shutdown() {
            self.post(&mut guard, Op::Cancel(key));
            return 0;
        }
        let access = Access::Locked(guard);
        // SAFETY: under the lock (shared mode, or after shutdown).
        let (delta, waker) = unsafe {
            self.wheel(&access, |w| {
                let was = w.is_empty();
                let (_, waker) = w.remove(key);
                (Delta::from(was) - Delta::from(w.is_empty()), waker)
            })
        };
        drop(access);
        drop(waker);
        delta
    }

    /// Home thread: applies the posted operations (module docs); wakers of
    /// waker changes for timers that fired meanwhile go to `woken`.
    fn apply_mail(&self, woken: &mut Vec<Waker>) -> Delta {
        if !self.mail.load(Ordering::Acquire) {
            return 0;
        }
        let ops = {
            let mut mailbox = self.lock.lock();
            self.mail.store(false, Ordering::Relaxed);
            std::mem::take(&mut mailbox.ops)
        };
        let mut unused = Vec::new();
        // SAFETY: the home thread (callers).
        let delta =
            unsafe { self.wheel(&Access::Home, |w| self.apply(w, ops, woken, &mut unused)) };
        drop(unused);
        delta
    }

    /// Applies `ops` to `wheel` (the home thread, or under the lock);
    /// returns the liveness delta. Wakers to wake go to `woken`, wakers to
    /// drop (after the wheel is released) to `unused`.
    fn apply(
        &self,
        wheel: &mut Wheel,
        ops: Vec<Op>,
        woken: &mut Vec<Waker>,
        unused: &mut Vec<Waker>,
    ) -> Delta {
        let was = wheel.is_empty();
        for op in ops {
            match op {
                Op::Cancel(key) => unused.extend(wheel.remove(key).1),
                Op::Reset(key, tick) => {
                    // `Expired` leaves it fired: the next poll completes.
                    if wheel.is_valid(key)
                        && wheel.reset(key, tick).is_ok()
                        && tick < self.next_wake.load(Ordering::Relaxed)
                    {
                        self.next_wake.store(tick, Ordering::Relaxed);
                    }
                }
                Op::Waker(key, waker) if wheel.is_valid(key) => {
                    match wheel.replace_waker(key, waker) {
                        Ok(old) => unused.extend(old),
                        // Fired (its deadline passed) before the change
                        // arrived: the new waker must hear of it.
                        Err(waker) => woken.push(waker),
                    }
                }
                Op::Waker(_, waker) => unused.push(waker),
            }
        }
        Delta::from(was) - Delta::from(wheel.is_empty())
    }

    /// Whether the event loop has shut down (every timer was fired then).
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Before the driver blocks (its turning thread): how long it may block
    /// for the timers (`None`: no timer is armed; `ZERO`: one is due now,
    /// or posted operations woke wakers, which go to `woken`), and, in
    /// shared mode, records the tick it will wake at so that earlier arms
    /// unpark it. Returns the liveness delta too.
    pub(crate) fn prepare_block(
        &self,
        now: Instant,
        woken: &mut Vec<Waker>,
    ) -> (Option<Duration>, Delta) {
        let (next, delta) = if self.home != 0 {
            debug_assert!(self.is_home(thread_token()) || self.is_shutdown());
            let delta = self.apply_mail(woken);
            // SAFETY: the home thread.
            let next = unsafe { self.wheel(&Access::Home, |w| w.next_expiration()) };
            if !woken.is_empty() {
                return (Some(Duration::ZERO), delta);
            }
            (next, delta)
        } else {
            let access = Access::Locked(self.lock.lock());
            // SAFETY: under the lock.
            let next = unsafe { self.wheel(&access, |w| w.next_expiration()) };
            match next {
                None => self.sleeping_until.store(u64::MAX, Ordering::Release),
                Some(next) if next > self.now_tick(now) => {
                    self.sleeping_until.store(next, Ordering::Release)
                }
                Some(_) => {}
            }
            (next, 0)
        };
        let Some(next) = next else {
            return (None, delta);
        };
        if next <= self.now_tick(now) {
            return (Some(Duration::ZERO), delta);
        }
        let wait = match self.instant_of(next) {
            Some(at) => at.saturating_duration_since(now),
            None => Duration::MAX,
        };
        (Some(wait), delta)
    }

    /// After a blocking poll returns: the driver no longer sleeps.
    pub(crate) fn end_block(&self) {
        if self.home == 0 {
            self.sleeping_until.store(0, Ordering::Release);
        }
    }

    /// Whether no timer is armed and, in home mode, nothing is posted: a
    /// turn that does not block has nothing to fire and need not read the
    /// clock. A timer armed on another thread meanwhile may be missed by
    /// that turn, never fired early: it is fired by a later turn (and an
    /// arm that must shorten a blocked turn unparks the driver).
    #[inline]
    pub(crate) fn idle(&self) -> bool {
        self.next_wake.load(Ordering::Relaxed) == u64::MAX
            && (self.home == 0 || !self.mail.load(Ordering::Relaxed))
    }

    /// Fires every timer due at `now` (after applying posted operations in
    /// home mode), pushing their wakers on `fired`; returns how many fired
    /// and the liveness delta. Takes no lock when none can be due.
    pub(crate) fn fire(&self, now: Instant, fired: &mut Vec<Waker>) -> (usize, Delta) {
        let now = self.now_tick(now);
        if self.home != 0 {
            debug_assert!(self.is_home(thread_token()) || self.is_shutdown());
            let delta = self.apply_mail(fired);
            if self.next_wake.load(Ordering::Relaxed) > now {
                return (0, delta);
            }
            // SAFETY: the home thread.
            let n = unsafe {
                self.wheel(&Access::Home, |w| {
                    let n = w.poll(now, fired);
                    let next = w.next_expiration().unwrap_or(u64::MAX);
                    self.next_wake.store(next, Ordering::Relaxed);
                    n
                })
            };
            return (n, delta);
        }
        if self.next_wake.load(Ordering::Acquire) > now {
            return (0, 0);
        }
        let access = Access::Locked(self.lock.lock());
        // SAFETY: under the lock.
        let n = unsafe {
            self.wheel(&access, |w| {
                let n = w.poll(now, fired);
                let next = w.next_expiration().unwrap_or(u64::MAX);
                self.next_wake.store(next, Ordering::Release);
                n
            })
        };
        (n, 0)
    }

    /// Shutdown (the driver's drop; on the home thread for a home loop):
    /// applies posted operations, fires every armed timer and marks the
    /// timers shut down, so that a `Sleep` polled afterwards reports it
    /// instead of hanging. Returns how many fired and the liveness delta.
    pub(crate) fn shutdown(&self, fired: &mut Vec<Waker>) -> (usize, Delta) {
        let mut unused = Vec::new();
        let mut mailbox = self.lock.lock();
        self.shutdown.store(true, Ordering::Release);
        self.mail.store(false, Ordering::Relaxed);
        let ops = std::mem::take(&mut mailbox.ops);
        self.next_wake.store(u64::MAX, Ordering::Release);
        let access = Access::Locked(mailbox);
        // SAFETY: under the lock; the home thread (the caller) set
        // `shutdown` first, so it uses the lock from now on too.
        let r = unsafe {
            self.wheel(&access, |w| {
                let delta = self.apply(w, ops, fired, &mut unused);
                (w.fire_all(fired), delta)
            })
        };
        drop(access);
        drop(unused);
        r
    }

    /// The driver's `sleeping_until` hint (tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn sleeping_until(&self) -> u64 {
        self.sleeping_until.load(Ordering::Acquire)
    }

    /// Nodes in the wheel (armed plus fired, not yet removed). Tests call
    /// it only where no other thread uses the wheel without the lock.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let access = Access::Locked(self.lock.lock());
        // SAFETY: under the lock; see above.
        unsafe { self.wheel(&access, |w| w.len()) }
    }
}

/// What [`Timers::set_waker`] did.
#[derive(Debug)]
pub(crate) enum SetWaker {
    /// Done, with this liveness delta (posted operations applied first).
    Done(Delta),
    /// Posted to the home thread: the caller unparks the driver.
    Posted,
    /// The event loop has shut down.
    Shutdown,
}
