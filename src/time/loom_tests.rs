//! Loom models of timers across threads
//! (`RUSTFLAGS="--cfg loom" cargo test --lib --release loom_timer`): a
//! `Sleep` armed on one thread, fired by the wheel's owner while another
//! thread drops, resets or re-polls it. The code is the real `Sleep`,
//! `Timers`, `Wheel` and `Driver` (its eventfd replaced by the loom
//! stand-in, `reactor/driver.rs`); the wheel is a loom `UnsafeCell`, so an
//! access to it that no lock or home-thread rule orders is a failure.
//!
//! loom models no time: the firing thread calls the driver's firing step
//! (`Timers::fire`, then `wake_all`, as `Driver::turn` does) with an
//! instant two hours ahead, past the one-hour sleeps; the turns that only
//! apply posted operations are real `Driver::turn`s.
//!
//! - `loom_timer_home_fire_races_remote_cancel`: home loop; fire on the
//!   home thread vs drop on another: the waker is called at most once, the
//!   node is freed exactly once (by the home thread's next turn), and the
//!   waker clone the wheel held is dropped.
//! - `loom_timer_home_fire_races_remote_repoll`: home loop; fire vs a poll
//!   with a new waker on another thread: the new waker is woken exactly
//!   once (a waker change that arrives after the fire wakes it).
//! - `loom_timer_shared_fire_races_repoll`: the same on a shared (pool)
//!   loop, where the waker change takes the lock: the new waker is woken
//!   exactly once whether the timer fires before, during or after it.
//! - `loom_timer_shared_fire_races_cancel_and_reset`: shared (pool) loop:
//!   armed on one thread, fired on a second, reset then dropped on a third:
//!   at most one wake, the node freed, the loop's reference count back.

use crate::reactor::driver::{apply_delta, wake_all};
use crate::reactor::{enter, Driver, Handle};
use crate::time::{sleep, Sleep};
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// Counts its wakes; at most one is allowed.
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let n = self.0.fetch_add(1, SeqCst) + 1;
        assert!(n <= 1, "a timer's waker was called {n} times");
    }
}

fn counter() -> (Arc<Count>, Waker) {
    let c = Arc::new(Count(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

fn poll(s: &mut Sleep, w: &Waker) -> Poll<()> {
    Pin::new(s).poll(&mut Context::from_waker(w))
}

const HOUR: Duration = Duration::from_secs(3600);

/// The driver's firing step at an instant past every armed sleep.
fn fire_all_due(handle: &Handle) {
    let shared = handle.shared();
    let mut fired = Vec::new();
    let (_, delta) = shared.timers.fire(Instant::now() + 2 * HOUR, &mut fired);
    // SAFETY: the timers' delta on the handle's state, which the handle
    // keeps alive.
    unsafe { apply_delta(shared, delta) };
    wake_all(&mut fired);
}

/// Runs a model with loom's defaults bounded like the pool's models.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

#[test]
fn loom_timer_home_fire_races_remote_cancel() {
    model(|| {
        let mut driver = Driver::new_home().unwrap();
        let handle = driver.handle().clone();
        let refs = handle.ref_count();
        let (count, w) = counter();
        let s = {
            let _e = enter(&handle);
            let mut s = sleep(HOUR);
            assert!(poll(&mut s, &w).is_pending());
            s
        };
        drop(w);
        assert_eq!(handle.ref_count(), refs + 1, "the wheel holds the loop");
        let dropper = loom::thread::spawn(move || drop(s));
        fire_all_due(&handle);
        dropper.join().unwrap();
        // The posted cancellation is applied at the next turn.
        driver.turn(Some(Duration::ZERO));
        assert_eq!(handle.shared().timers.len(), 0, "node not freed");
        assert_eq!(handle.ref_count(), refs, "the wheel's count not released");
        assert!(count.0.load(SeqCst) <= 1);
        drop(driver);
        drop(handle);
        assert_eq!(
            Arc::strong_count(&count),
            1,
            "the wheel's waker clone leaked"
        );
    });
}

#[test]
fn loom_timer_home_fire_races_remote_repoll() {
    model(|| {
        let mut driver = Driver::new_home().unwrap();
        let handle = driver.handle().clone();
        let (first, w1) = counter();
        let mut s = {
            let _e = enter(&handle);
            let mut s = sleep(HOUR);
            assert!(poll(&mut s, &w1).is_pending());
            s
        };
        let (second, w2) = counter();
        let poller = loom::thread::spawn(move || {
            // Moved to another task on another thread: a new waker.
            assert!(poll(&mut s, &w2).is_pending());
            s
        });
        fire_all_due(&handle);
        let s = poller.join().unwrap();
        // The posted waker change is applied at the next turn: to the
        // armed timer (which the next firing wakes) or, if the timer fired
        // first, by waking the new waker at once.
        driver.turn(Some(Duration::ZERO));
        fire_all_due(&handle);
        assert_eq!(second.0.load(SeqCst), 1, "the new waker was lost");
        assert!(first.0.load(SeqCst) <= 1);
        drop(s);
        driver.turn(Some(Duration::ZERO));
        assert_eq!(handle.shared().timers.len(), 0);
    });
}

#[test]
fn loom_timer_shared_fire_races_cancel_and_reset() {
    model(|| {
        let driver = Driver::new().unwrap();
        let handle = driver.handle().clone();
        let refs = handle.ref_count();
        let (count, w) = counter();
        let s = {
            let _e = enter(&handle);
            let mut s = sleep(HOUR);
            assert!(poll(&mut s, &w).is_pending());
            s
        };
        drop(w);
        let h = handle.clone();
        let firer = loom::thread::spawn(move || fire_all_due(&h));
        let resetter = loom::thread::spawn(move || {
            let mut s = s;
            s.reset(Instant::now() + HOUR);
            drop(s);
        });
        firer.join().unwrap();
        resetter.join().unwrap();
        assert_eq!(handle.shared().timers.len(), 0, "node not freed");
        assert_eq!(handle.ref_count(), refs, "the wheel's count not released");
        assert!(count.0.load(SeqCst) <= 1);
        drop(driver);
        drop(handle);
        assert_eq!(
            Arc::strong_count(&count),
            1,
            "the wheel's waker clone leaked"
        );
    });
}

#[test]
fn loom_timer_shared_fire_races_repoll() {
    model(|| {
        let driver = Driver::new().unwrap();
        let handle = driver.handle().clone();
        let (first, w1) = counter();
        let mut s = {
            let _e = enter(&handle);
            let mut s = sleep(HOUR);
            assert!(poll(&mut s, &w1).is_pending());
            s
        };
        let (second, w2) = counter();
        let h = handle.clone();
        let firer = loom::thread::spawn(move || fire_all_due(&h));
        let poller = loom::thread::spawn(move || {
            assert!(poll(&mut s, &w2).is_pending());
            s
        });
        firer.join().unwrap();
        let s = poller.join().unwrap();
        assert_eq!(second.0.load(SeqCst), 1, "the new waker was lost");
        assert!(first.0.load(SeqCst) <= 1);
        drop(s);
        assert_eq!(handle.shared().timers.len(), 0);
        drop(driver);
    });
}
