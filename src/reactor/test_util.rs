//! Test helpers: run futures on a hand-turned [`Driver`], wakers that
//! record, and the process's file descriptor count.

use super::{enter, Driver, Handle};
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// Tests that count the process's descriptors or depend on descriptor
/// numbers hold this, and so does every test here that opens descriptors.
pub(crate) static FD_LOCK: Mutex<()> = Mutex::new(());

/// Takes [`FD_LOCK`], even if a failed test poisoned it.
pub(crate) fn fd_lock() -> std::sync::MutexGuard<'static, ()> {
    FD_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Open descriptors of this process.
pub(crate) fn open_fds() -> usize {
    // The directory's own descriptor is counted both times.
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Woken flag that also unparks the driver (a wake from another thread
/// must interrupt a blocking turn).
struct Flag {
    woken: AtomicBool,
    handle: Handle,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.handle.unpark();
    }
}

/// Runs `fut` to completion with `driver`'s event loop current, turning the
/// driver while it waits. Panics after 30 s.
pub(crate) fn run<F: Future>(driver: &mut Driver, fut: F) -> F::Output {
    let handle = driver.handle().clone();
    let _enter = enter(&handle);
    let flag = Arc::new(Flag {
        woken: AtomicBool::new(true),
        handle: handle.clone(),
    });
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let limit = Instant::now() + Duration::from_secs(30);
    loop {
        if flag.woken.swap(false, Ordering::SeqCst) {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
            continue;
        }
        let now = Instant::now();
        assert!(now < limit, "the test's future was not done after 30 s");
        driver.turn(Some(limit - now));
    }
}

/// A waker that counts its wakes and records the instant of the first.
pub(crate) struct Recorder {
    pub(crate) wakes: AtomicUsize,
    pub(crate) first: Mutex<Option<Instant>>,
}

impl Recorder {
    pub(crate) fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            wakes: AtomicUsize::new(0),
            first: Mutex::new(None),
        })
    }

    pub(crate) fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }

    pub(crate) fn first(&self) -> Option<Instant> {
        *self.first.lock().unwrap()
    }
}

impl Wake for Recorder {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let now = Instant::now();
        self.first.lock().unwrap().get_or_insert(now);
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `fut` once with `waker`.
pub(crate) fn poll_once<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}
