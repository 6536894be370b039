//! The event loop's driver: the one `mio::Poll` of an event loop, its
//! events buffer, and the step that fires timers; plus the [`Handle`] that
//! sources and timers hold.
//!
//! [`Driver::turn`] is the whole event loop, one step at a time: block in
//! the kernel (at most until the nearest timer or the caller's bound),
//! hand each readiness event to its source, fire the timers that are due,
//! and wake the tasks that wait on them. The driver belongs to whichever
//! thread would otherwise sleep (rule 10): an idle executor turns it with a
//! timeout instead of parking; a busy one turns it with `Some(ZERO)` now
//! and then so I/O is not starved. It never polls a task: readiness and
//! timers only call `Waker`s, and tasks are polled by the executors' loops,
//! inside `safe_resume` (rule 9).
//!
//! # Invariants
//!
//! - One `Driver` per event loop, turned by one thread at a time (`&mut`).
//!   Any number of [`Handle`]s (an `Arc` of the shared state) register
//!   sources, arm timers and [`unpark`](Handle::unpark) from any thread.
//! - Wakers are called after every lock is released, and a panicking waker
//!   is contained: a waker may drop the last reference to a task whose
//!   future deregisters a source or cancels a timer, which takes those
//!   locks.
//! - A blocking turn never oversleeps a timer: before it blocks it records
//!   the tick it will wake at (under the timers' lock), and a timer armed
//!   earlier from another thread unparks it.
//! - Dropping the driver shuts the event loop down: every source and timer
//!   is woken and reports the shutdown instead of waiting for ever; new
//!   registrations fail. The shared state (and the epoll instance, through
//!   the registry's duplicate descriptor) lives until the last `Handle`.

use super::registration::{Ready, Registrations};
use crate::loom::lock::Mutex;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::time::timers::Timers;
use mio::{Events, Poll, Token};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

/// The token of the driver's own `mio::Waker`; no source's token has the
/// top bit set.
const WAKER_TOKEN: Token = Token(usize::MAX);

/// Events taken from the kernel per turn at most (more wait for the next).
const EVENTS_CAPACITY: usize = 1024;

/// Interrupts a blocking turn: the poll's `mio::Waker` (an eventfd).
#[cfg(not(loom))]
type LoopWaker = mio::Waker;

#[cfg(not(loom))]
fn loop_waker(registry: &mio::Registry) -> io::Result<LoopWaker> {
    mio::Waker::new(registry, WAKER_TOKEN)
}

/// The kernel wait of a turn: `epoll_wait` for at most `timeout`.
#[cfg(not(loom))]
#[inline(always)]
fn wait(
    poll: &mut Poll,
    events: &mut Events,
    _waker: &LoopWaker,
    timeout: Option<Duration>,
) -> io::Result<()> {
    poll.poll(events, timeout)
}

/// Under loom the eventfd and the blocking `epoll_wait` are replaced by a
/// flag and a condition variable with the same contract, so that the
/// executors' hand-off of the driver is model-checked with the real code
/// around it: a `wake` is kept until one turn that waits consumes it (as
/// the eventfd's edge is reported to one `epoll_wait`), an unbounded wait
/// returns only after a `wake`, and several wakes before a turn end one
/// turn. loom models no time: a bounded wait returns at once (a turn may
/// always end early), so models do not block on timers. The epoll instance
/// itself is still polled, without blocking, for registered sources.
#[cfg(loom)]
mod loom_waker {
    use crate::loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use crate::loom::sync::{Condvar, Mutex};
    use std::io;

    pub(super) struct LoopWaker {
        woken: Mutex<bool>,
        cvar: Condvar,
        /// A thread is inside a turn's wait: two at once would be two
        /// owners of one driver.
        waiting: AtomicBool,
    }

    impl LoopWaker {
        pub(super) fn new() -> Self {
            LoopWaker {
                woken: Mutex::new(false),
                cvar: Condvar::new(),
                waiting: AtomicBool::new(false),
            }
        }

        pub(super) fn wake(&self) -> io::Result<()> {
            *self.woken.lock().unwrap() = true;
            self.cvar.notify_one();
            Ok(())
        }

        /// Consumes a pending wake; with `block`, waits for one first.
        pub(super) fn wait(&self, block: bool) {
            assert!(
                !self.waiting.swap(true, SeqCst),
                "two threads turn one event loop at once"
            );
            let mut woken = self.woken.lock().unwrap();
            while block && !*woken {
                woken = self.cvar.wait(woken).unwrap();
            }
            *woken = false;
            drop(woken);
            self.waiting.store(false, SeqCst);
        }
    }
}

#[cfg(loom)]
use loom_waker::LoopWaker;

#[cfg(loom)]
fn loop_waker(_registry: &mio::Registry) -> io::Result<LoopWaker> {
    Ok(LoopWaker::new())
}

#[cfg(loom)]
fn wait(
    poll: &mut Poll,
    events: &mut Events,
    waker: &LoopWaker,
    timeout: Option<Duration>,
) -> io::Result<()> {
    waker.wait(timeout.is_none());
    poll.poll(events, Some(Duration::ZERO))
}

/// What every handle of one event loop shares.
pub(crate) struct LoopState {
    /// A duplicate of the poll's registry: registers and deregisters from
    /// any thread.
    pub(super) registry: mio::Registry,
    /// Interrupts a blocking turn.
    waker: LoopWaker,
    pub(super) io: Mutex<Registrations>,
    /// How many sources are registered: a non-blocking turn with none
    /// skips the system call.
    pub(super) sources: AtomicUsize,
    pub(crate) timers: Timers,
}

impl LoopState {
    /// [`Handle::unpark`], for holders of a plain pointer (timers).
    pub(crate) fn unpark(&self) {
        // Fails only if the eventfd were gone, which the shared state owns.
        let r = self.waker.wake();
        debug_assert!(r.is_ok(), "coframe: waking the event loop failed: {r:?}");
    }
}

/// Applies a change of the timer wheel's strong count on `shared`
/// (`time/timers.rs`, "Liveness"): `1` takes one, `-1` releases one.
///
/// # Safety
/// `shared` comes from `Arc::as_ptr` of the live state; for `1` the caller
/// holds another count on it meanwhile; for `-1` the count released is the
/// wheel's (the delta came from the timers) and the caller does not touch
/// the state afterwards unless it holds another count.
#[inline]
pub(crate) unsafe fn apply_delta(shared: *const LoopState, delta: crate::time::timers::Delta) {
    match delta {
        0 => {}
        // SAFETY: forwarded contract.
        1 => unsafe { Arc::increment_strong_count(shared) },
        // SAFETY: forwarded contract.
        -1 => unsafe { Arc::decrement_strong_count(shared) },
        d => unreachable!("coframe: timer liveness delta {d}"),
    }
}

/// A reference to an event loop: what sources and timers hold. Cheap to
/// clone, `Send + Sync`.
#[derive(Clone)]
pub(crate) struct Handle {
    pub(super) shared: Arc<LoopState>,
}

impl Handle {
    pub(crate) fn shared(&self) -> &LoopState {
        &self.shared
    }

    /// Interrupts the driver's current blocking turn, or makes its next one
    /// return at once (one eventfd write; it does not coalesce: the
    /// executor knows when the driver's owner sleeps and calls this only
    /// then).
    pub(crate) fn unpark(&self) {
        self.shared.unpark();
    }

    /// Strong references to the shared state (tests: the timers' liveness
    /// count).
    #[cfg(test)]
    pub(crate) fn ref_count(&self) -> usize {
        Arc::strong_count(&self.shared)
    }

    /// Whether both name the same event loop.
    #[cfg_attr(any(not(test), loom), allow(dead_code))] // used by tests
    pub(crate) fn ptr_eq(&self, other: &Handle) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

/// The event loop's driver. See the module docs.
// Created and turned by the executors (their wiring is separate); the unit
// tests turn one by hand.
#[cfg_attr(loom, allow(dead_code))] // under loom the pool makes no event loop
pub(crate) struct Driver {
    poll: Poll,
    events: Events,
    handle: Handle,
    /// Turns that saw I/O events, wrapping: the readiness tick.
    tick: u16,
    /// Wakers to call at the end of a turn; keeps its capacity.
    wakers: Vec<Waker>,
}

#[cfg_attr(loom, allow(dead_code))]
impl Driver {
    /// A new event loop: an epoll instance, its duplicate for the registry
    /// and an eventfd (three file descriptors, closed when the driver and
    /// every handle are gone).
    pub(crate) fn new() -> io::Result<Driver> {
        Self::with_timers(Timers::new(Instant::now()))
    }

    /// A new event loop owned by the calling thread, its *home*: only this
    /// thread makes it current, turns it and drops it (a `LocalExecutor`'s,
    /// `block_on`'s). Timers armed and cancelled on the home thread take no
    /// lock (`time/timers.rs`).
    pub(crate) fn new_home() -> io::Result<Driver> {
        Self::with_timers(Timers::new_home(Instant::now()))
    }

    fn with_timers(timers: Timers) -> io::Result<Driver> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = loop_waker(&registry)?;
        Ok(Driver {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            handle: Handle {
                shared: Arc::new(LoopState {
                    registry,
                    waker,
                    io: Mutex::new(Registrations::new()),
                    sources: AtomicUsize::new(0),
                    timers,
                }),
            },
            tick: 0,
            wakers: Vec::new(),
        })
    }

    /// The handle sources and timers of this event loop hold.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// One step of the event loop; returns how many I/O events and timers
    /// it handled.
    ///
    /// Blocks at most `max_wait` (`None`: no bound), and at most until the
    /// nearest timer, unless [`Handle::unpark`] interrupts it (then it
    /// returns early, handling what is ready). `Some(Duration::ZERO)` never
    /// blocks and is cheap when nothing is ready: no lock is taken unless a
    /// timer may be due, no system call is made while no source is
    /// registered, and with no source and no timer armed the clock is not
    /// even read. A signal interrupting the wait (`EINTR`) ends the turn
    /// early like an unpark.
    ///
    /// # Panics
    /// If the kernel's poll fails other than by `EINTR` (a bad epoll
    /// descriptor: a bug, never the user's input).
    pub(crate) fn turn(&mut self, max_wait: Option<Duration>) -> usize {
        let Driver {
            poll,
            events,
            handle,
            tick,
            wakers,
        } = self;
        let shared = &*handle.shared;
        let blocking = max_wait != Some(Duration::ZERO);
        if !blocking && shared.sources.load(Ordering::Relaxed) == 0 && shared.timers.idle() {
            // A busy executor's check with nothing registered and no timer
            // armed: no system call, not even a clock read.
            return 0;
        }
        let timeout = if blocking {
            let (t, delta) = shared.timers.prepare_block(Instant::now(), wakers);
            // SAFETY: the timers' delta on our own state, on which the
            // driver's handle holds another count.
            unsafe { apply_delta(Arc::as_ptr(&handle.shared), delta) };
            match t {
                None => max_wait,
                Some(t) => Some(max_wait.map_or(t, |m| m.min(t))),
            }
        } else {
            max_wait
        };
        let mut handled = 0;
        if blocking || shared.sources.load(Ordering::Relaxed) > 0 {
            let r = wait(poll, events, &shared.waker, timeout);
            if blocking {
                shared.timers.end_block();
            }
            match r {
                Ok(()) => {}
                // A signal: the turn ends early (mio cleared `events`).
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("coframe: the event loop's poll failed: {e}"),
            }
            if !events.is_empty() {
                *tick = tick.wrapping_add(1);
                let regs = shared.io.lock();
                for event in events.iter() {
                    if event.token() == WAKER_TOKEN {
                        continue;
                    }
                    if let Some(io) = regs.get(event.token()) {
                        let ready = Ready::from_event(event);
                        io.set_readiness(*tick, ready);
                        io.take_wakers(ready, wakers);
                        handled += 1;
                    }
                }
            }
        }
        let now = Instant::now();
        // Sleeps made before this read may anchor on it (`time/clock.rs`).
        crate::time::clock::refresh(now);
        let (fired, delta) = shared.timers.fire(now, wakers);
        // SAFETY: as above.
        unsafe { apply_delta(Arc::as_ptr(&handle.shared), delta) };
        handled += fired;
        wake_all(wakers);
        handled
    }

    /// The epoll descriptor (tests read its `/proc` entry).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn epoll_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.poll.as_raw_fd()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let shared = &*self.handle.shared;
        shared.io.lock().shutdown(&mut self.wakers);
        let (_, delta) = shared.timers.shutdown(&mut self.wakers);
        // SAFETY: as in `turn`.
        unsafe { apply_delta(Arc::as_ptr(&self.handle.shared), delta) };
        wake_all(&mut self.wakers);
    }
}

/// Wakes and empties `wakers`, containing a waker's panic (the panic hook
/// has printed it; the other wakers still run).
pub(crate) fn wake_all(wakers: &mut Vec<Waker>) {
    for w in wakers.drain(..) {
        let _ = catch_unwind(AssertUnwindSafe(|| w.wake()));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::reactor::test_util::fd_lock;
    use std::sync::mpsc;
    use std::time::Duration;

    /// `unpark` from another thread ends a turn blocked with no bound.
    #[test]
    fn unpark_interrupts_a_blocking_turn() {
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        let handle = driver.handle().clone();
        let (tx, rx) = mpsc::channel();
        let t = std::thread::spawn(move || {
            for _ in 0..2 {
                tx.send(driver.turn(None)).unwrap();
            }
        });
        handle.unpark();
        let first = rx.recv_timeout(Duration::from_secs(10));
        handle.unpark();
        let second = rx.recv_timeout(Duration::from_secs(10));
        // Whatever happened, let the thread finish before asserting.
        while !t.is_finished() {
            handle.unpark();
            std::thread::yield_now();
        }
        t.join().unwrap();
        assert_eq!(first.expect("the turn was not interrupted"), 0);
        assert_eq!(second.expect("the turn was not interrupted"), 0);
    }

    /// A signal delivered while the driver blocks ends the turn (EINTR is
    /// no error and no panic).
    #[test]
    fn a_signal_ends_a_blocking_turn() {
        extern "C" fn nothing(_: libc::c_int) {}
        let _fd = fd_lock();
        // SAFETY: a no-op handler for SIGUSR2 (which nothing else here
        // uses), installed without SA_RESTART; zeroed is a valid sigaction.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = nothing as extern "C" fn(libc::c_int) as usize;
            assert_eq!(libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut()), 0);
        }
        let mut driver = Driver::new().unwrap();
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        let t = std::thread::spawn(move || {
            tx.send(driver.turn(Some(Duration::from_secs(60)))).unwrap();
        });
        use std::os::unix::thread::JoinHandleExt;
        let pthread = t.as_pthread_t();
        // The signal must land while the thread waits in the kernel, which
        // cannot be observed: signal until the turn ends (bounded).
        let handled = loop {
            // SAFETY: the thread is alive until it sends (then joined).
            unsafe { libc::pthread_kill(pthread, libc::SIGUSR2) };
            match rx.recv_timeout(Duration::from_millis(2)) {
                Ok(n) => break n,
                Err(_) => assert!(start.elapsed() < Duration::from_secs(30)),
            }
        };
        t.join().unwrap();
        assert_eq!(handled, 0);
        assert!(start.elapsed() < Duration::from_secs(60));
    }

    /// A non-blocking turn with no source and no due timer handles nothing
    /// and returns.
    #[test]
    fn a_non_blocking_turn_with_nothing_to_do() {
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        for _ in 0..1000 {
            assert_eq!(driver.turn(Some(Duration::ZERO)), 0);
        }
    }
}
