//! Loom models of the task state machine (`RUSTFLAGS="--cfg loom" cargo
//! test --lib --release loom_`): wake racing with poll, wake racing with
//! completion, abort racing with poll, JoinHandle drop racing with
//! completion, and the awaiter waker being replaced while the task
//! completes. Each model spawns one task on a test scheduler whose queue
//! is a loom mutex, races one other loom thread against the runner, and
//! checks the outcome and that the cell went back to its resource.
//!
//! `loom_list_close_races_with_completion_and_bind` models the live-task
//! list's shutdown (`list.rs`, the locked flavour the pool and strands
//! use): a close-and-cancel pass races a task completing on another
//! thread (its release unlinks it) and a spawn on a third (its bind).

use super::runnable::{Runnable, Schedule};
use super::{try_spawn_unchecked, JoinError, JoinHandle};
use crate::frame::{Counting, SyncResourceHandle, System};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::{Arc as LoomArc, Mutex};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

struct Queue(Mutex<VecDeque<Runnable>>);

// SAFETY: lives in an `Arc`; the models' tasks are `Send`; no shutdown.
unsafe impl Schedule for Queue {
    fn schedule(&self, runnable: Runnable) {
        self.0.lock().unwrap().push_back(runnable);
    }
    fn bind(&self, runnable: Runnable) {
        self.schedule(runnable)
    }
    fn release(&self, _task: NonNull<super::Header>) {}
    fn is_local(&self) -> bool {
        false
    }
    fn pinning(self: Arc<Self>) -> crate::executor::pinning::Pinning {
        crate::executor::pinning::Pinning::Thread(self)
    }
}

impl Queue {
    fn pop(&self) -> Option<Runnable> {
        self.0.lock().unwrap().pop_front()
    }
}

/// A future driven by a script: on poll `n` it stores its waker (if asked),
/// wakes itself (if asked), and completes at `ready_at`.
struct Scripted {
    polls: LoomArc<AtomicUsize>,
    slot: LoomArc<Mutex<Option<Waker>>>,
    self_wake_until: usize,
    ready_at: usize,
    /// If set, the future is also ready once this flag is.
    ready_flag: LoomArc<AtomicBool>,
    drops: LoomArc<AtomicUsize>,
}

impl Future for Scripted {
    type Output = Tracked;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Tracked> {
        let n = self.polls.fetch_add(1, Ordering::SeqCst) + 1;
        if n == 1 {
            *self.slot.lock().unwrap() = Some(cx.waker().clone());
        }
        if n >= self.ready_at || self.ready_flag.load(Ordering::SeqCst) {
            return Poll::Ready(Tracked(self.drops.clone()));
        }
        if n < self.self_wake_until {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// The task's output: counts its drops too.
struct Tracked(LoomArc<AtomicUsize>);
impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct Fixture {
    queue: Arc<Queue>,
    counting: Arc<Counting<System>>,
    polls: LoomArc<AtomicUsize>,
    slot: LoomArc<Mutex<Option<Waker>>>,
    ready_flag: LoomArc<AtomicBool>,
    drops: LoomArc<AtomicUsize>,
}

fn spawn(self_wake_until: usize, ready_at: usize) -> (Fixture, JoinHandle<Tracked>) {
    let queue = Arc::new(Queue(Mutex::new(VecDeque::new())));
    let counting = Arc::new(Counting::new(System));
    let polls = LoomArc::new(AtomicUsize::new(0));
    let slot = LoomArc::new(Mutex::new(None));
    let drops = LoomArc::new(AtomicUsize::new(0));
    let ready_flag = LoomArc::new(AtomicBool::new(false));
    let fut = Scripted {
        polls: polls.clone(),
        slot: slot.clone(),
        self_wake_until,
        ready_at,
        ready_flag: ready_flag.clone(),
        drops: drops.clone(),
    };
    let resource = SyncResourceHandle::owning(counting.clone()).into();
    // SAFETY: the future and its output are Send.
    let h = unsafe { try_spawn_unchecked(fut, queue.clone(), resource) }.unwrap();
    (
        Fixture {
            queue,
            counting,
            polls,
            slot,
            ready_flag,
            drops,
        },
        h,
    )
}

/// Runs the next queued runnable, if any.
fn run_one(q: &Queue) -> bool {
    match q.pop() {
        Some(r) => {
            r.run();
            true
        }
        None => false,
    }
}

/// Runs queued runnables until the queue is empty.
fn drain(q: &Queue) {
    while run_one(q) {}
}

fn poll_once<T>(h: &mut JoinHandle<T>) -> Poll<Result<T, JoinError>> {
    let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
    Pin::new(h).poll(&mut cx)
}

fn take_waker(slot: &Mutex<Option<Waker>>) -> Waker {
    slot.lock()
        .unwrap()
        .take()
        .expect("poll 1 stored the waker")
}

#[test]
fn loom_wake_races_with_poll() {
    loom::model(|| {
        // Poll 1 wakes itself; the future is ready once the other thread's
        // flag is set, which it sets before waking. The wake lands before,
        // during or after poll 2: it must never be lost.
        let (fx, mut h) = spawn(2, usize::MAX);
        assert!(run_one(&fx.queue)); // poll 1
        let waker = take_waker(&fx.slot);
        let flag = fx.ready_flag.clone();
        let t = loom::thread::spawn(move || {
            flag.store(true, Ordering::SeqCst);
            waker.wake()
        });
        assert!(run_one(&fx.queue)); // poll 2, racing with the wake
        t.join().unwrap();
        drain(&fx.queue); // poll 3 if the wake came during or after poll 2
        assert!(matches!(poll_once(&mut h), Poll::Ready(Ok(_))), "wake lost");
        assert!(fx.polls.load(Ordering::SeqCst) <= 3);
        assert!(fx.queue.pop().is_none(), "no spurious run after completion");
        drop(h);
        assert_eq!(
            fx.drops.load(Ordering::SeqCst),
            2,
            "future and output dropped once"
        );
        assert_eq!(fx.counting.live_frames(), 0);
    });
}

#[test]
fn loom_wake_races_with_completion() {
    loom::model(|| {
        // Poll 1 wakes itself, poll 2 completes; the remote wake races it.
        let (fx, mut h) = spawn(2, 2);
        assert!(run_one(&fx.queue)); // poll 1
        let waker = take_waker(&fx.slot);
        let t = loom::thread::spawn(move || waker.wake());
        assert!(run_one(&fx.queue)); // poll 2 completes, racing with the wake
        t.join().unwrap();
        assert!(
            fx.queue.pop().is_none(),
            "a wake after completion schedules nothing"
        );
        assert!(matches!(poll_once(&mut h), Poll::Ready(Ok(_))));
        drop(h);
        assert_eq!(fx.polls.load(Ordering::SeqCst), 2);
        assert_eq!(fx.drops.load(Ordering::SeqCst), 2);
        assert_eq!(fx.counting.live_frames(), 0);
    });
}

#[test]
fn loom_abort_races_with_poll() {
    loom::model(|| {
        // Never completes: poll 1 wakes itself, then it waits forever.
        let (fx, h) = spawn(2, usize::MAX);
        assert!(run_one(&fx.queue)); // poll 1
        let h = LoomArc::new(h);
        let h2 = h.clone();
        let t = loom::thread::spawn(move || h2.abort());
        run_one(&fx.queue); // poll 2, racing with the abort
        t.join().unwrap();
        drain(&fx.queue); // the cancellation, if the abort found it idle
        let mut h = LoomArc::try_unwrap(h).ok().unwrap();
        assert!(h.is_finished());
        assert!(matches!(
            poll_once(&mut h),
            Poll::Ready(Err(e)) if e.is_cancelled()
        ));
        assert_eq!(fx.drops.load(Ordering::SeqCst), 1, "future dropped once");
        assert!(fx.polls.load(Ordering::SeqCst) <= 2);
        drop(h);
        drop(fx.slot.lock().unwrap().take());
        assert_eq!(fx.counting.live_frames(), 0);
    });
}

#[test]
fn loom_join_handle_drop_races_with_completion() {
    loom::model(|| {
        // Completes on poll 1; the handle registers a waker and is dropped
        // concurrently.
        let (fx, mut h) = spawn(0, 1);
        let t = loom::thread::spawn(move || {
            let _ = poll_once(&mut h);
            drop(h);
        });
        assert!(run_one(&fx.queue)); // completes, racing with the drop
        t.join().unwrap();
        drop(fx.slot.lock().unwrap().take());
        assert_eq!(
            fx.drops.load(Ordering::SeqCst),
            2,
            "output dropped exactly once"
        );
        assert_eq!(fx.counting.live_frames(), 0);
    });
}

/// A waker that counts its wakes.
struct CountingWaker(AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn loom_awaiter_replaced_while_completing() {
    loom::model(|| {
        // The handle is polled with one waker, then with another (which
        // replaces it), while the task completes: either the second poll
        // sees the result, or the second waker is woken.
        let (fx, mut h) = spawn(0, 1);
        let (w1, w2) = (
            Arc::new(CountingWaker(AtomicUsize::new(0))),
            Arc::new(CountingWaker(AtomicUsize::new(0))),
        );
        let (a, b) = (Waker::from(w1.clone()), Waker::from(w2.clone()));
        let t = loom::thread::spawn(move || {
            let first = Pin::new(&mut h)
                .poll(&mut Context::from_waker(&a))
                .is_ready();
            let second = !first
                && Pin::new(&mut h)
                    .poll(&mut Context::from_waker(&b))
                    .is_ready();
            (h, first || second)
        });
        assert!(run_one(&fx.queue)); // completes
        let (mut h, ready) = t.join().unwrap();
        if !ready {
            assert_eq!(w2.0.load(Ordering::SeqCst), 1, "the latest waker is woken");
            assert!(matches!(poll_once(&mut h), Poll::Ready(Ok(_))));
        }
        drop(h);
        drop(fx.slot.lock().unwrap().take());
        assert_eq!(fx.drops.load(Ordering::SeqCst), 2);
        assert_eq!(fx.counting.live_frames(), 0);
    });
}

#[test]
fn loom_join_handle_drop_races_with_waker_drop() {
    loom::model(|| {
        // After completion, the handle and a cloned waker are dropped on two
        // threads: exactly one of them frees the cell (the handle may take
        // the no-RMW path when it sees itself as the only reference).
        let (fx, mut h) = spawn(0, usize::MAX);
        assert!(run_one(&fx.queue)); // poll 1 stores a waker clone
        let waker = take_waker(&fx.slot);
        fx.ready_flag.store(true, Ordering::SeqCst);
        waker.wake_by_ref();
        assert!(run_one(&fx.queue)); // completes
        let t = loom::thread::spawn(move || drop(waker));
        assert!(matches!(poll_once(&mut h), Poll::Ready(Ok(_))));
        drop(h);
        t.join().unwrap();
        assert_eq!(fx.drops.load(Ordering::SeqCst), 2);
        assert_eq!(fx.counting.live_frames(), 0);
    });
}

// ---------------------------------------------------------------------------
// The live-task list's shutdown.

/// A scheduler with a locked live-task list and a queue that forgets its
/// runnables once closed (as an executor's shutdown does).
struct Listed {
    list: super::SharedTasks,
    queue: Mutex<(VecDeque<Runnable>, bool)>,
    /// Binds that linked their task.
    linked: AtomicUsize,
}

// SAFETY: lives in an `Arc`; the models' futures are `Send`; every bound
// task is linked or cancelled, and unlinked at completion; runnables are
// forgotten once the queue is closed.
unsafe impl Schedule for Listed {
    fn schedule(&self, runnable: Runnable) {
        let mut q = self.queue.lock().unwrap();
        if q.1 {
            runnable.into_raw();
        } else {
            q.0.push_back(runnable);
        }
    }
    fn bind(&self, runnable: Runnable) {
        // SAFETY: `release` unlinks; the futures are `Send`.
        if let Some(r) = unsafe { self.list.bind(runnable) } {
            self.linked.fetch_add(1, Ordering::SeqCst);
            self.schedule(r);
        }
    }
    fn release(&self, task: NonNull<super::Header>) {
        // SAFETY: a task of this scheduler, completing.
        unsafe { self.list.release(task) }
    }
    fn is_local(&self) -> bool {
        false
    }
    fn pinning(self: Arc<Self>) -> crate::executor::pinning::Pinning {
        crate::executor::pinning::Pinning::Thread(self)
    }
}

/// Ready at its first poll, or never; counts its drops.
struct Once {
    ready: bool,
    drops: LoomArc<AtomicUsize>,
}

impl Future for Once {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Once {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

fn spawn_listed(
    s: &Arc<Listed>,
    counting: &Arc<Counting<System>>,
    ready: bool,
) -> (JoinHandle<()>, LoomArc<AtomicUsize>) {
    let drops = LoomArc::new(AtomicUsize::new(0));
    let fut = Once {
        ready,
        drops: drops.clone(),
    };
    let resource = SyncResourceHandle::owning(counting.clone()).into();
    // SAFETY: the future and its output are Send.
    let h = unsafe { try_spawn_unchecked(fut, s.clone(), resource) }.unwrap();
    (h, drops)
}

#[test]
fn loom_list_close_races_with_completion_and_bind() {
    loom::model(|| {
        let s = Arc::new(Listed {
            list: super::SharedTasks::new(),
            queue: Mutex::new((VecDeque::new(), false)),
            linked: AtomicUsize::new(0),
        });
        let counting = Arc::new(Counting::new(System));
        // Task a completes on thread A; task b waits, its runnable already
        // forgotten (a shutdown forgets its queues); task c is spawned on
        // thread C while the list closes.
        let (mut ha, da) = spawn_listed(&s, &counting, true);
        let (mut hb, db) = spawn_listed(&s, &counting, false);
        let (ra, rb) = {
            let mut q = s.queue.lock().unwrap();
            (q.0.pop_front().unwrap(), q.0.pop_front().unwrap())
        };
        let a_addr = ra.as_ptr().as_ptr() as usize;
        rb.into_raw();
        let a = loom::thread::spawn(move || ra.run());
        let c = {
            let (s, counting) = (s.clone(), counting.clone());
            loom::thread::spawn(move || spawn_listed(&s, &counting, false))
        };
        // Shutdown: forget the queue (later runnables are forgotten on
        // push), close the list, cancel every task not running (all but a).
        {
            let mut q = s.queue.lock().unwrap();
            q.1 = true;
            for r in q.0.drain(..) {
                r.into_raw();
            }
        }
        s.list.close();
        let cancelled = std::cell::Cell::new(0);
        // SAFETY: every task but a is idle with its runnable forgotten (or
        // held by C until C's push forgets it); futures are `Send`.
        unsafe {
            s.list.cancel_where(|hd| {
                let other = hd as *const super::Header as usize != a_addr;
                cancelled.set(cancelled.get() + other as usize);
                other
            })
        };
        a.join().unwrap();
        let (mut hc, dc) = c.join().unwrap();
        // Every linked task but a was cancelled by the pass, exactly once;
        // a c bound after the close was cancelled by its bind.
        assert_eq!(cancelled.get(), s.linked.load(Ordering::SeqCst) - 1);
        assert!(matches!(poll_once(&mut ha), Poll::Ready(Ok(()))));
        for h in [&mut hb, &mut hc] {
            assert!(matches!(poll_once(h), Poll::Ready(Err(e)) if e.is_cancelled()));
        }
        for d in [&da, &db, &dc] {
            assert_eq!(d.load(Ordering::SeqCst), 1, "a future dropped once");
        }
        drop((ha, hb, hc));
        // No cell is left (a linked one would hold its executor reference).
        assert_eq!(counting.live_frames(), 0);
    });
}
