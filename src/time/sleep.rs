//! [`Sleep`], [`sleep`] and [`sleep_until`]: a future that completes at a
//! deadline.
//!
//! A `Sleep` arms its timer in the current event loop's wheel at its first
//! `Pending` poll (so making one needs no event loop, and one that is ready
//! at once arms nothing), keeps the wheel key, updates the stored waker
//! only when the task polling it changed, and cancels the timer when it is
//! dropped. The wheel node is a recycled slab slot: arming allocates
//! nothing once the wheel has grown to its peak number of timers. On the
//! home thread of a thread-owned event loop (`LocalExecutor`, `block_on`)
//! arming and cancelling take no lock and no atomic read-modify-write, and
//! a `Sleep` holds a plain pointer to its event loop, kept alive by the
//! wheel's own reference (`timers.rs`, "Liveness"), not an `Arc` clone.
//!
//! `sleep(d)` reads no clock: its deadline is `d` after an *anchor*, an
//! instant read after the call and at the latest at its first poll (or its
//! first [`Sleep::deadline`]), taken from this thread's clock cache when
//! the cache was filled after the call (`clock.rs`). So a batch of sleeps
//! made and then polled together reads the clock once.
//!
//! # Invariants
//!
//! - Never early: a poll returns `Ready` only when `Instant::now()` has
//!   reached the deadline (checked on every poll but the first of a
//!   `sleep(d)`, so a `Sleep` polled late for another reason completes
//!   without waiting for the driver); the wheel rounds deadlines up to its
//!   next millisecond tick; the anchor of `sleep(d)` is never read before
//!   the call.
//! - A deadline, once observed (polled or asked for), never changes until
//!   `reset`.
//! - A deadline that cannot be represented (`Duration::MAX` from now) or
//!   is more than 2^62 ms away is never armed and never completes.
//! - Dropping a `Sleep` frees its wheel node, on whichever thread it is
//!   dropped: at once on the loop's home thread or under the lock of a
//!   shared loop, at the home thread's next turn if posted from elsewhere
//!   (`timers.rs`).
//! - While a `Sleep` holds an entry, its wheel node exists, so the event
//!   loop's shared state it points to is alive.

use crate::reactor::driver::{apply_delta, wake_all};
use crate::reactor::LoopState;
use crate::time::clock::{self, Stamp};
use crate::time::timers::{thread_token, Armed, SetWaker, Timers};
use crate::time::wheel::Key;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Waits until `duration` has passed.
///
/// The deadline is `duration` after an instant between this call and the
/// sleep's first poll: the first poll of a batch of sleeps reads the clock
/// and the others reuse that read (never early: it was made after they
/// were); a sleep first polled long after it was made may end that much
/// later than `duration` after the call, never earlier.
///
/// `Duration::ZERO` yields once: the first poll wakes the task and returns
/// `Pending`, the second returns `Ready`. `Duration::MAX` (or any duration
/// that overflows an `Instant`) never completes and arms nothing.
///
/// # Panics
/// When polled where no coframe event loop runs (outside a coframe
/// executor or `coframe::block_on`).
///
/// ```
/// use std::time::{Duration, Instant};
/// coframe::block_on(async {
///     let start = Instant::now();
///     coframe::time::sleep(Duration::from_millis(10)).await;
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    let deadline = if duration.as_secs() < LAZY_LIMIT_SECS {
        Deadline::after(duration)
    } else {
        // Centuries away or overflowing: fixed now, as an absolute instant.
        Deadline::of(Instant::now().checked_add(duration))
    };
    Sleep {
        deadline,
        entry: None,
    }
}

/// Durations from this many seconds (about 136 years) on are made absolute
/// at once: anchoring them later could only overflow.
const LAZY_LIMIT_SECS: u64 = 1 << 32;

/// When a `Sleep` completes, packed in three words (a `Sleep` is 40
/// bytes: the benchmarks and servers hold millions).
///
/// - `thread == 0`: absolute. `a` seconds and `word` nanoseconds after the
///   clock base (`clock::split`), or never if `word == NEVER`.
/// - `thread != 0`: `sleep(d)`, `d` being `a` nanoseconds. Until the anchor
///   is fixed (`clock.rs`), `word` holds `STAMPED` and the stamp's
///   generation (`thread` is the stamp's thread); then the anchor's code.
///   `YIELD` is set, in both states, while a `sleep(Duration::ZERO)` has
///   not yielded yet. Through `&self` (`deadline()`) the first to fix the
///   anchor wins (one compare-exchange); through `&mut self` it is a plain
///   write.
struct Deadline {
    a: u64,
    thread: usize,
    word: AtomicU64,
}

/// `word` holds a stamp, not yet an anchor (generations and codes stay
/// below 2^62).
const STAMPED: u64 = 1 << 63;
/// A `sleep(Duration::ZERO)` that has not yielded yet.
const YIELD: u64 = 1 << 62;
const FLAGS: u64 = STAMPED | YIELD;
/// An absolute deadline's `word`: never.
const NEVER: u64 = u64::MAX;

impl std::fmt::Debug for Deadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let word = self.word.load(Relaxed);
        if self.thread == 0 {
            return match word {
                NEVER => f.write_str("Never"),
                _ => f
                    .debug_tuple("At")
                    .field(&clock::join(self.a, word))
                    .finish(),
            };
        }
        let mut d = f.debug_struct("After");
        d.field("duration", &Duration::from_nanos(self.a));
        if word & STAMPED == 0 {
            d.field("anchor", &clock::decode(word & !YIELD));
        }
        d.finish()
    }
}

impl Deadline {
    fn of(deadline: Option<Instant>) -> Self {
        match deadline {
            None => Deadline {
                a: 0,
                thread: 0,
                word: AtomicU64::new(NEVER),
            },
            Some(at) => {
                let (secs, nanos) = clock::split(at);
                Deadline {
                    a: secs,
                    thread: 0,
                    word: AtomicU64::new(u64::from(nanos)),
                }
            }
        }
    }

    /// `sleep(d)` for `d` below `LAZY_LIMIT_SECS`.
    fn after(d: Duration) -> Self {
        let stamp = clock::stamp();
        debug_assert!(stamp.generation < YIELD && stamp.thread != 0);
        let yield_once = if d.is_zero() { YIELD } else { 0 };
        Deadline {
            // Below 2^62: `d` is under 2^32 seconds.
            a: d.as_secs() * 1_000_000_000 + u64::from(d.subsec_nanos()),
            thread: stamp.thread,
            word: AtomicU64::new(STAMPED | yield_once | stamp.generation),
        }
    }

    /// The first poll of a `sleep(Duration::ZERO)`: yields (once).
    fn take_yield(&mut self) -> bool {
        let word = self.word.get_mut();
        if self.thread != 0 && *word & YIELD != 0 {
            *word &= !YIELD;
            return true;
        }
        false
    }

    /// A `sleep(d)`, `d > 0`, whose anchor is not fixed yet: its first poll
    /// arms without checking the clock (the anchor is read after the call,
    /// and the wheel reports `Expired` if its clock has passed the tick;
    /// one that passed since fires at the next turn, never early).
    /// Absolute deadlines (`sleep_until`, `reset`) may be past already:
    /// checked at every poll.
    fn ahead(&mut self) -> bool {
        self.thread != 0 && self.a != 0 && *self.word.get_mut() & STAMPED != 0
    }

    /// The anchor's code for the stamp in `word` (which holds one), with
    /// `word`'s `YIELD` bit.
    fn anchor(thread: usize, word: u64) -> u64 {
        let code = clock::anchor(Stamp {
            thread,
            generation: word & !FLAGS,
        });
        code | (word & YIELD)
    }

    /// The deadline (`None`: never), fixing the anchor if needed.
    fn get(&self) -> Option<Instant> {
        let mut word = self.word.load(Relaxed);
        if self.thread == 0 {
            return match word {
                NEVER => None,
                _ => clock::join(self.a, word),
            };
        }
        if word & STAMPED != 0 {
            let new = Self::anchor(self.thread, word);
            word = match self.word.compare_exchange(word, new, Relaxed, Relaxed) {
                Ok(_) => new,
                Err(first) => first,
            };
        }
        clock::decode(word & !YIELD).checked_add(Duration::from_nanos(self.a))
    }

    /// [`get`](Self::get) through `&mut` (no synchronisation).
    fn get_mut(&mut self) -> Option<Instant> {
        if self.thread != 0 {
            let word = self.word.get_mut();
            if *word & STAMPED != 0 {
                *word = Self::anchor(self.thread, *word);
            }
            return clock::decode(*word & !YIELD).checked_add(Duration::from_nanos(self.a));
        }
        self.get()
    }

    /// The tick to arm in `timers` (`None`: never fires), fixing the
    /// anchor if needed, with one subtraction per batch of sleeps.
    fn tick_in(&mut self, timers: &Timers) -> Option<u64> {
        if self.thread == 0 {
            return self.get().and_then(|at| timers.tick_for(at));
        }
        let word = self.word.get_mut();
        let since = if *word & STAMPED == 0 {
            clock::nanos_since(clock::decode(*word & !YIELD), timers.start())
        } else {
            let stamp = Stamp {
                thread: self.thread,
                generation: *word & !FLAGS,
            };
            let (code, since) = clock::anchor_since(stamp, timers.start());
            *word = code | (*word & YIELD);
            since
        };
        timers.tick_after(since, self.a)
    }
}

/// Waits until `deadline`. A deadline already passed completes at the
/// first poll.
///
/// # Panics
/// When polled where no coframe event loop runs.
///
/// ```
/// use std::time::{Duration, Instant};
/// coframe::block_on(async {
///     let deadline = Instant::now() + Duration::from_millis(10);
///     coframe::time::sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// });
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::at(Some(deadline))
}

/// The future [`sleep`] and [`sleep_until`] return. `Unpin`: the timer
/// lives in the event loop's wheel, not in the future.
///
/// ```
/// use std::time::{Duration, Instant};
/// coframe::block_on(async {
///     let mut s = coframe::time::sleep(Duration::from_secs(3600));
///     s.reset(Instant::now() + Duration::from_millis(5));
///     (&mut s).await;
///     assert!(s.is_elapsed());
/// });
/// ```
#[must_use = "a Sleep does nothing unless awaited"]
#[derive(Debug)]
pub struct Sleep {
    deadline: Deadline,
    /// The armed timer, from the first `Pending` poll on.
    entry: Option<Entry>,
}

struct Entry {
    /// The event loop the timer is armed in, alive while its node exists
    /// (module invariants).
    shared: NonNull<LoopState>,
    key: Key,
}

// SAFETY: `LoopState` is `Send + Sync` and outlives the entry (module
// invariants); the key is plain data.
unsafe impl Send for Entry {}
// SAFETY: as above; `&Entry` gives only `&LoopState`.
unsafe impl Sync for Entry {}

impl Entry {
    fn shared(&self) -> &LoopState {
        // SAFETY: alive while the node exists (module invariants).
        unsafe { self.shared.as_ref() }
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("key", &self.key).finish()
    }
}

impl Sleep {
    /// A sleep until `deadline` (`None`: never).
    pub(crate) fn at(deadline: Option<Instant>) -> Sleep {
        Sleep {
            deadline: Deadline::of(deadline),
            entry: None,
        }
    }

    /// The deadline; `None` if it never comes (`sleep(Duration::MAX)`).
    ///
    /// ```
    /// use std::time::Duration;
    /// assert!(coframe::time::sleep(Duration::MAX).deadline().is_none());
    /// assert!(coframe::time::sleep(Duration::from_secs(1)).deadline().is_some());
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.get()
    }

    /// Whether the deadline has passed.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// assert!(coframe::time::sleep_until(Instant::now()).is_elapsed());
    /// assert!(!coframe::time::sleep(Duration::MAX).is_elapsed());
    /// ```
    pub fn is_elapsed(&self) -> bool {
        self.deadline.get().is_some_and(|d| Instant::now() >= d)
    }

    /// Moves the deadline (earlier or later), keeping the armed timer's
    /// wheel node. Works from any thread.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// coframe::block_on(async {
    ///     let mut s = coframe::time::sleep(Duration::from_secs(3600));
    ///     s.reset(Instant::now());
    ///     s.await; // at once
    /// });
    /// ```
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = Deadline::of(Some(deadline));
        let Some(e) = &self.entry else { return };
        let shared = e.shared();
        let timers = &shared.timers;
        match timers.tick_for(deadline) {
            None => self.cancel(),
            Some(tick) => {
                let mut woken = Vec::new();
                let (armed, delta) = timers.reset(e.key, tick, thread_token(), &mut woken);
                match armed {
                    Armed::Yes { unpark: true, .. } => shared.unpark(),
                    // `Expired` leaves the node fired: the next poll
                    // completes.
                    Armed::Yes { .. } | Armed::Expired | Armed::Shutdown => {}
                }
                // SAFETY: our node is in the wheel: the delta is not the
                // last count, and `shared` is the pointer it counts.
                unsafe { apply_delta(e.shared.as_ptr(), delta) };
                wake_all(&mut woken);
            }
        }
    }

    /// Frees the armed timer, if any.
    fn cancel(&mut self) {
        if let Some(e) = self.entry.take() {
            let delta = e.shared().timers.cancel(e.key, thread_token());
            // SAFETY: the wheel's count on `shared` (released last: nothing
            // touches it after).
            unsafe { apply_delta(e.shared.as_ptr(), delta) };
        }
    }
}

#[track_caller]
fn shut_down() -> ! {
    panic!("coframe::time: the event loop this timer was armed in has shut down")
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let current = if this.entry.is_none() {
            // Also for a sleep that is ready at once: using coframe::time
            // outside an event loop fails the same way every time.
            Some(crate::reactor::current_raw())
        } else {
            None
        };
        if this.deadline.take_yield() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if !this.deadline.ahead() {
            let Some(deadline) = this.deadline.get_mut() else {
                return Poll::Pending;
            };
            if Instant::now() >= deadline {
                // A due timer spends the task's cooperative budget
                // (`coop.rs`): a task whose sleeps are always due yields.
                if !crate::coop::proceed(cx) {
                    return Poll::Pending;
                }
                this.cancel();
                return Poll::Ready(());
            }
        }
        match (&this.entry, current) {
            (Some(e), _) => {
                let shared = e.shared();
                let mut woken = Vec::new();
                match shared
                    .timers
                    .set_waker(e.key, cx.waker(), thread_token(), &mut woken)
                {
                    SetWaker::Done(delta) => {
                        // SAFETY: our node is in the wheel: not the last
                        // count; `shared` is the pointer it counts.
                        unsafe { apply_delta(e.shared.as_ptr(), delta) };
                    }
                    SetWaker::Posted => shared.unpark(),
                    SetWaker::Shutdown => shut_down(),
                }
                wake_all(&mut woken);
            }
            (None, current) => {
                let (p, token) = current.expect("no entry: read above");
                // SAFETY: the current event loop's state outlives the entry
                // that made it current (`reactor/current.rs`), so for this
                // poll.
                let shared = unsafe { &*p };
                let timers = &shared.timers;
                let Some(tick) = this.deadline.tick_in(timers) else {
                    return Poll::Pending; // never, or too far away to fire
                };
                let (armed, delta) = timers.arm(tick, cx.waker(), token);
                // SAFETY: `p` is alive (above) and the delta is the wheel's
                // count on it: taken while the current loop holds its own.
                unsafe { apply_delta(p, delta) };
                match armed {
                    Armed::Yes { key, unpark } => {
                        if unpark {
                            shared.unpark();
                        }
                        this.entry = Some(Entry {
                            shared: NonNull::from(shared),
                            key,
                        });
                    }
                    // The driver's clock passed the tick since `now` above.
                    Armed::Expired => return Poll::Ready(()),
                    Armed::Shutdown => shut_down(),
                }
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::reactor::test_util::{fd_lock, open_fds, poll_once, run, Recorder};
    use crate::reactor::{enter, Driver};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};
    use std::task::Waker;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn sleep_completes_after_its_duration() {
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        for d in [ms(1), ms(3), ms(20), ms(70)] {
            let start = Instant::now();
            run(&mut driver, sleep(d));
            assert!(start.elapsed() >= d, "{d:?}");
        }
        assert_eq!(driver.handle().shared().timers.len(), 0);
    }

    /// The driver itself never fires a timer early: each waker is called
    /// once, at or after its deadline (not merely a `Ready` that a poll
    /// re-checks).
    #[test]
    fn the_driver_never_fires_early() {
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        let handle = driver.handle().clone();
        let _e = enter(&handle);
        let mut seed = 88172645463325252u64;
        let mut sleeps = Vec::new();
        for _ in 0..300 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let d = Duration::from_micros(200 + seed % 30_000);
            let mut s = sleep(d);
            let rec = Recorder::new();
            assert!(poll_once(&mut s, &Waker::from(rec.clone())).is_pending());
            sleeps.push((s, rec));
        }
        let limit = Instant::now() + Duration::from_secs(30);
        while sleeps.iter().any(|(_, r)| r.wakes() == 0) {
            assert!(Instant::now() < limit);
            driver.turn(None);
        }
        for (s, r) in &sleeps {
            assert_eq!(r.wakes(), 1);
            assert!(r.first().unwrap() >= s.deadline().unwrap(), "woken early");
        }
        drop(sleeps);
        assert_eq!(handle.shared().timers.len(), 0, "every node freed");
    }

    #[test]
    fn duration_max_never_fires_and_arms_nothing() {
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        let handle = driver.handle().clone();
        let _e = enter(&handle);
        let mut s = sleep(Duration::MAX);
        assert_eq!(s.deadline(), None);
        let rec = Recorder::new();
        let w = Waker::from(rec.clone());
        assert!(poll_once(&mut s, &w).is_pending());
        assert!(poll_once(&mut s, &w).is_pending());
        assert_eq!(handle.shared().timers.len(), 0, "not armed");
        assert_eq!(driver.turn(Some(ms(5))), 0);
        assert_eq!(rec.wakes(), 0);
        // Far but representable: armed at the top level, not fired.
        let mut far = sleep(Duration::from_secs(10 * 365 * 86_400));
        assert!(poll_once(&mut far, &w).is_pending());
        assert_eq!(handle.shared().timers.len(), 1);
        assert_eq!(driver.turn(Some(Duration::ZERO)), 0);
        drop(far);
        assert_eq!(handle.shared().timers.len(), 0);
    }

    #[test]
    fn zero_yields_once() {
        let _fd = fd_lock();
        let driver = Driver::new().unwrap();
        let _e = enter(driver.handle());
        let mut s = sleep(Duration::ZERO);
        let rec = Recorder::new();
        let w = Waker::from(rec.clone());
        assert!(poll_once(&mut s, &w).is_pending());
        assert_eq!(rec.wakes(), 1, "woken at once");
        assert!(poll_once(&mut s, &w).is_ready());
        assert_eq!(driver.handle().shared().timers.len(), 0);
    }

    #[test]
    fn a_past_deadline_is_ready_at_the_first_poll() {
        let _fd = fd_lock();
        let driver = Driver::new().unwrap();
        let _e = enter(driver.handle());
        let past = Instant::now();
        let rec = Recorder::new();
        let mut s = sleep_until(past);
        assert!(poll_once(&mut s, &Waker::from(rec.clone())).is_ready());
        assert_eq!(rec.wakes(), 0);
        assert_eq!(driver.handle().shared().timers.len(), 0);
    }

    #[test]
    #[should_panic(
        expected = "run this inside a coframe executor (LocalExecutor, ThreadPool) or coframe::block_on"
    )]
    fn polling_without_an_event_loop_panics_with_the_fix() {
        let mut s = sleep(ms(1));
        let _ = poll_once(&mut s, &Waker::from(Recorder::new()));
    }

    #[test]
    fn drop_and_reset_keep_the_wheel_right() {
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        let handle = driver.handle().clone();
        {
            let _e = enter(&handle);
            let mut s = sleep(Duration::from_secs(3600));
            assert!(poll_once(&mut s, &Waker::from(Recorder::new())).is_pending());
            assert_eq!(handle.shared().timers.len(), 1);
            drop(s);
            assert_eq!(handle.shared().timers.len(), 0, "dropping cancels");
        }
        // Reset an armed hour-long sleep to 5 ms from now: it completes
        // then, not in an hour, and not before.
        let done = run(&mut driver, async {
            let mut s = sleep(Duration::from_secs(3600));
            std::future::poll_fn(|cx| {
                assert!(Pin::new(&mut s).poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            let deadline = Instant::now() + ms(5);
            s.reset(deadline);
            (&mut s).await;
            assert!(Instant::now() >= deadline);
            s.is_elapsed()
        });
        assert!(done);
        assert_eq!(handle.shared().timers.len(), 0);
    }

    /// A timer armed on another thread while the driver blocks with no
    /// timer at all unparks it; the driver's thread fires it and wakes the
    /// waker on the arming thread.
    #[test]
    fn an_arm_from_another_thread_shortens_a_blocking_turn() {
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        let handle = driver.handle().clone();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let turner = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                driver.turn(None);
            }
        });
        // Wait until the driver blocks for good (no timer bounds its wait).
        let limit = Instant::now() + Duration::from_secs(10);
        while handle.shared().timers.sleeping_until() != u64::MAX {
            assert!(Instant::now() < limit);
            std::thread::yield_now();
        }
        let (tx, rx) = mpsc::channel();
        struct Send(Mutex<mpsc::Sender<Instant>>);
        impl std::task::Wake for Send {
            fn wake(self: Arc<Self>) {
                let _ = self.0.lock().unwrap().send(Instant::now());
            }
        }
        use std::sync::Mutex;
        let _e = enter(&handle);
        let deadline = Instant::now() + ms(5);
        let mut s = sleep_until(deadline);
        let w = Waker::from(Arc::new(Send(Mutex::new(tx))));
        assert!(poll_once(&mut s, &w).is_pending());
        let fired = rx.recv_timeout(Duration::from_secs(10));
        stop.store(true, Ordering::SeqCst);
        handle.unpark();
        turner.join().unwrap();
        let at = fired.expect("the blocked driver was not woken for the new timer");
        assert!(at >= deadline);
        assert!(poll_once(&mut s, &w).is_ready());
    }

    /// A sleep armed on one thread is cancelled by dropping it on another.
    #[test]
    fn cancel_from_another_thread() {
        let _fd = fd_lock();
        let driver = Driver::new().unwrap();
        let handle = driver.handle().clone();
        let mut s = {
            let _e = enter(&handle);
            let mut s = sleep(Duration::from_secs(60));
            assert!(poll_once(&mut s, &Waker::from(Recorder::new())).is_pending());
            s
        };
        assert_eq!(handle.shared().timers.len(), 1);
        let h2 = handle.clone();
        std::thread::spawn(move || {
            s.reset(Instant::now() + Duration::from_secs(120));
            drop(s);
            assert_eq!(h2.shared().timers.len(), 0);
        })
        .join()
        .unwrap();
        assert_eq!(handle.shared().timers.len(), 0);
    }

    /// `sleep(d)` reads no clock when made: a batch made and then polled
    /// together shares one anchor, read after the calls (never early), and
    /// a deadline once observed stays.
    #[test]
    fn a_batch_of_sleeps_shares_one_clock_read() {
        let _fd = fd_lock();
        let driver = Driver::new_home().unwrap();
        let _e = enter(driver.handle());
        let d = Duration::from_secs(60);
        let before = Instant::now();
        let mut batch: Vec<Sleep> = (0..3).map(|_| sleep(d)).collect();
        let w = Waker::from(Recorder::new());
        for s in &mut batch {
            assert!(poll_once(s, &w).is_pending());
        }
        let first = batch[0].deadline().unwrap();
        assert!(first >= before + d, "earlier than d after the call");
        assert!(
            batch.iter().all(|s| s.deadline() == Some(first)),
            "the batch read the clock more than once"
        );
        // A sleep made after that read anchors on a later one, fixed when
        // first observed.
        let later = sleep(d);
        let mid = Instant::now();
        let at = later.deadline().unwrap();
        assert!(at >= mid + d && at > first);
        assert_eq!(later.deadline(), Some(at));
    }

    /// A waker whose drop drops another sleep of the same loop (say, the
    /// output of a finished task holds one): cancelling the timer that
    /// holds that waker, or giving it a new waker, drops the old one after
    /// the wheel is released, so the nested cancellation works (with the
    /// wheel still held it deadlocks on a shared loop's lock, and would
    /// use a home loop's wheel twice at once).
    #[test]
    fn a_waker_dropping_a_sleep_is_dropped_outside_the_wheel() {
        let _fd = fd_lock();
        for home in [false, true] {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let driver = if home {
                    Driver::new_home()
                } else {
                    Driver::new()
                }
                .unwrap();
                let handle = driver.handle().clone();
                let _e = enter(&handle);
                struct Holder {
                    _sleep: std::sync::Mutex<Option<Sleep>>,
                }
                impl std::task::Wake for Holder {
                    fn wake(self: Arc<Self>) {}
                }
                let holder = || {
                    let mut inner = sleep(Duration::from_secs(60));
                    let w = Waker::from(Recorder::new());
                    assert!(poll_once(&mut inner, &w).is_pending());
                    Waker::from(Arc::new(Holder {
                        _sleep: std::sync::Mutex::new(Some(inner)),
                    }))
                };
                let timers = &handle.shared().timers;
                // Cancelled.
                let mut outer = sleep(Duration::from_secs(60));
                let w = holder();
                assert!(poll_once(&mut outer, &w).is_pending());
                drop(w); // the wheel holds the last reference
                assert_eq!(timers.len(), 2);
                drop(outer);
                assert_eq!(timers.len(), 0);
                // Given a new waker.
                let mut outer = sleep(Duration::from_secs(60));
                let w = holder();
                assert!(poll_once(&mut outer, &w).is_pending());
                drop(w);
                let other = Waker::from(Recorder::new());
                assert!(poll_once(&mut outer, &other).is_pending());
                assert_eq!(timers.len(), 1);
                drop(outer);
                tx.send(()).unwrap();
            });
            rx.recv_timeout(Duration::from_secs(30))
                .expect("deadlocked (or failed: see the thread's panic)");
        }
    }

    /// A `Sleep` stays five words: the benchmarks and servers hold
    /// millions, and their memory is most of the cost at that scale.
    #[test]
    fn a_sleep_is_five_words() {
        assert!(std::mem::size_of::<Sleep>() <= 5 * std::mem::size_of::<usize>());
    }

    /// On a thread-owned (home) loop, armed sleeps share one reference on
    /// the loop's state, not one each, and that reference keeps the state
    /// (its epoll and eventfd descriptors) alive after the driver and every
    /// handle are gone, until the last sleep is dropped.
    #[test]
    fn home_sleeps_keep_the_loop_alive_with_one_reference() {
        let _fd = fd_lock();
        let fds = open_fds();
        let driver = Driver::new_home().unwrap();
        let handle = driver.handle().clone();
        let base = handle.ref_count();
        let rec = Recorder::new();
        let w = Waker::from(rec.clone());
        let mut sleeps: Vec<Sleep> = {
            let _e = enter(&handle);
            (0..3)
                .map(|i| {
                    let mut s = sleep(Duration::from_secs(60 + i));
                    assert!(poll_once(&mut s, &w).is_pending());
                    s
                })
                .collect()
        };
        assert_eq!(handle.ref_count(), base + 1, "one count for all timers");
        drop(sleeps.pop());
        assert_eq!(handle.ref_count(), base + 1);
        drop(driver);
        assert_eq!(rec.wakes(), 2, "shutdown wakes the armed timers");
        drop(handle);
        assert!(open_fds() > fds, "the sleeps keep the loop's state");
        drop(sleeps);
        assert_eq!(open_fds(), fds, "the last sleep freed the loop's state");
    }

    /// A sleep armed on a home loop, then reset, re-polled with a new waker
    /// and dropped on another thread: the posted operations reach the home
    /// thread's turns; the new waker is woken, not before the new deadline,
    /// the old one never; the node is freed at the turn after the drop.
    #[test]
    fn home_loop_applies_operations_posted_from_another_thread() {
        let _fd = fd_lock();
        let mut driver = Driver::new_home().unwrap();
        let handle = driver.handle().clone();
        let old = Recorder::new();
        let mut s = {
            let _e = enter(&handle);
            let mut s = sleep(Duration::from_secs(3600));
            assert!(poll_once(&mut s, &Waker::from(old.clone())).is_pending());
            s
        };
        let new = Recorder::new();
        let w = Waker::from(new.clone());
        let (s, deadline, pending) = std::thread::spawn(move || {
            let deadline = Instant::now() + ms(300);
            s.reset(deadline);
            let pending = poll_once(&mut s, &w).is_pending();
            (s, deadline, pending)
        })
        .join()
        .unwrap();
        assert_eq!(handle.shared().timers.len(), 1);
        if pending {
            let limit = Instant::now() + Duration::from_secs(30);
            while new.wakes() == 0 {
                assert!(Instant::now() < limit, "the new waker was never woken");
                driver.turn(Some(ms(100)));
            }
            assert!(new.first().unwrap() >= deadline, "woken early");
        }
        assert_eq!(old.wakes(), 0, "the old waker was woken");
        std::thread::spawn(move || drop(s)).join().unwrap();
        assert_eq!(handle.shared().timers.len(), 1, "freed at the next turn");
        driver.turn(Some(Duration::ZERO));
        assert_eq!(handle.shared().timers.len(), 0);
    }

    /// After the event loop shuts down, a waiting sleep is woken and its
    /// next poll says why instead of hanging.
    #[test]
    fn shutdown_wakes_and_reports() {
        let _fd = fd_lock();
        let driver = Driver::new().unwrap();
        let handle = driver.handle().clone();
        let _e = enter(&handle);
        let mut s = sleep(Duration::from_secs(60));
        let rec = Recorder::new();
        let w = Waker::from(rec.clone());
        assert!(poll_once(&mut s, &w).is_pending());
        drop(driver);
        assert_eq!(rec.wakes(), 1);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(&mut s, &w)));
        let msg = r.unwrap_err();
        let msg = msg.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(msg.contains("has shut down"), "{msg}");
    }
}
