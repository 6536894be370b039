//! Strands.
//!
//! Over a `LocalExecutor`: FIFO, `dispatch` inline vs queued, a strand
//! dropped with queued work, panics (closures to the hook, futures to their
//! handle), futures bound to a strand (`run_async`, `Strand::spawn`,
//! `coframe::spawn` inside), crossing executors (a pending future releases
//! the strand), shutdown of the inner executor (tasks cancelled, frames
//! freed). Over the thread pool: the 4 × 250,000 posts stress, 10,000
//! strands, two strands running at once, futures sharing a non-atomic
//! counter (also run under ThreadSanitizer by `.ci/run`).

use crate::util::yield_now;
use coframe::frame::{Counting, Recycling};
use coframe::{run_async, LocalExecutor, Strand, ThreadPool};
use std::cell::{Cell, RefCell};
use std::future::pending;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Poll, Waker};

#[test]
fn local_fifo_and_not_send_state() {
    let ex = LocalExecutor::new();
    let strand = Strand::new(&ex);
    let log = Rc::new(RefCell::new(Vec::new()));
    for i in 0..1_000 {
        let log = log.clone();
        strand.post(move || log.borrow_mut().push(i));
    }
    assert!(log.borrow().is_empty(), "post never runs inline");
    ex.run_until_stalled();
    assert_eq!(*log.borrow(), (0..1_000).collect::<Vec<_>>());
}

#[test]
fn dispatch_inline_inside_queued_outside() {
    let ex = LocalExecutor::new();
    let strand = Strand::new(&ex);
    let log = Rc::new(RefCell::new(Vec::new()));
    // Outside the strand: dispatch queues (nothing runs until the executor does).
    let l = log.clone();
    strand.dispatch(move || l.borrow_mut().push("outside"));
    assert!(log.borrow().is_empty());
    assert!(!strand.running_in_this_thread());
    // Inside: dispatch runs at once, ahead of work queued earlier.
    let (s, l) = (strand.clone(), log.clone());
    strand.post(move || {
        assert!(s.running_in_this_thread());
        let l2 = l.clone();
        s.post(move || l2.borrow_mut().push("posted"));
        let l3 = l.clone();
        s.dispatch(move || l3.borrow_mut().push("dispatched"));
        l.borrow_mut().push("after dispatch");
    });
    ex.run_until_stalled();
    assert_eq!(
        *log.borrow(),
        ["outside", "dispatched", "after dispatch", "posted"]
    );
    // Another strand's handler is not "inside" this one.
    let other = Strand::new(&ex);
    let (s, seen) = (strand.clone(), Rc::new(Cell::new(None)));
    let seen2 = seen.clone();
    other.post(move || seen2.set(Some(s.running_in_this_thread())));
    ex.run_until_stalled();
    assert_eq!(seen.get(), Some(false));
}

#[test]
fn dropped_strand_runs_queued_work_then_frees_state() {
    let ex = LocalExecutor::new();
    let strand = Strand::new(&ex);
    let weak = strand.downgrade();
    let ran = Rc::new(Cell::new(0));
    for _ in 0..10 {
        let ran = ran.clone();
        strand.post(move || ran.set(ran.get() + 1));
    }
    drop(strand);
    assert!(
        weak.upgrade().is_some(),
        "queued work keeps the state alive"
    );
    ex.run_until_stalled();
    assert_eq!(ran.get(), 10);
    assert!(weak.upgrade().is_none(), "state freed after the work ran");
}

#[test]
fn idle_strand_without_handles_is_freed() {
    let ex = LocalExecutor::new();
    // Never run: freed as soon as the handle goes.
    let never_ran = Strand::new(&ex).downgrade();
    assert!(never_ran.upgrade().is_none());
    let strand = Strand::new(&ex);
    let weak = strand.downgrade();
    ex.run_until_stalled();
    drop(strand);
    assert!(weak.upgrade().is_none());
    // The drain task completed too: nothing is left to run or to cancel.
    ex.run_until_stalled();
}

#[test]
fn closure_panic_goes_to_hook_and_strand_keeps_running() {
    let ex = LocalExecutor::new();
    let strand = Strand::new(&ex);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    strand.set_panic_hook(move |p| {
        s.lock()
            .unwrap()
            .push(p.downcast_ref::<&str>().copied().unwrap_or("?"))
    });
    let ran = Rc::new(Cell::new(0));
    for i in 0..4 {
        let ran = ran.clone();
        strand.post(move || {
            if i % 2 == 0 {
                panic!("handler panicked");
            }
            ran.set(ran.get() + 1);
        });
    }
    ex.run_until_stalled();
    assert_eq!(ran.get(), 2);
    assert_eq!(*seen.lock().unwrap(), ["handler panicked"; 2]);
    // Without a hook the panic is still contained.
    let plain = Strand::new(&ex);
    plain.post(|| panic!("no hook"));
    let r = ran.clone();
    plain.post(move || r.set(100));
    ex.run_until_stalled();
    assert_eq!(ran.get(), 100);
}

#[test]
fn future_panic_goes_to_join_handle() {
    let ex = LocalExecutor::new();
    let strand = Strand::new(&ex);
    let bad = strand.spawn(async {
        yield_now().await;
        panic!("future panicked")
    });
    let good = strand.spawn(async { 5 });
    let (bad, good) = ex.run_until(async { (bad.await, good.await) });
    let payload = bad.unwrap_err().into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"future panicked"));
    assert_eq!(good.unwrap(), 5);
}

#[test]
fn futures_on_local_strand_share_rc_and_children_stay_on_strand() {
    let ex = LocalExecutor::new();
    let strand = Strand::new(&ex);
    let counting = Arc::new(Counting::new(Recycling));
    let counter = Rc::new(Cell::new(0u32));
    let mut handles = Vec::new();
    for _ in 0..8 {
        let (c, s) = (counter.clone(), strand.clone());
        handles.push(run_async(&strand, counting.clone(), async move {
            for _ in 0..100 {
                assert!(s.running_in_this_thread(), "polled outside the strand");
                c.set(c.get() + 1);
                yield_now().await;
            }
            // A child spawned inside runs on the strand too.
            let s2 = s.clone();
            coframe::spawn_local(async move { s2.running_in_this_thread() })
                .await
                .unwrap()
        }));
    }
    for h in handles {
        assert!(ex.run_until(h).unwrap());
    }
    assert_eq!(counter.get(), 800);
    assert_eq!(counting.live_frames(), 0);
}

#[test]
fn pending_future_releases_the_strand() {
    // A future bound to the strand waits for a value that only a later
    // handler on the same strand produces: if waiting held the strand, the
    // handler could never run.
    let ex = LocalExecutor::new();
    let strand = Strand::new(&ex);
    let slot: Rc<RefCell<(Option<u32>, Option<Waker>)>> = Rc::new(RefCell::new((None, None)));
    let s2 = slot.clone();
    let waiter = strand.spawn(std::future::poll_fn(move |cx| {
        let mut st = s2.borrow_mut();
        match st.0.take() {
            Some(v) => Poll::Ready(v),
            None => {
                st.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }));
    ex.run_until_stalled();
    assert!(!waiter.is_finished());
    let s3 = slot.clone();
    strand.post(move || {
        let mut st = s3.borrow_mut();
        st.0 = Some(9);
        st.1.take().unwrap().wake();
    });
    assert_eq!(ex.run_until(waiter).unwrap(), 9);
}

#[test]
fn wake_from_another_thread_reenters_through_the_strand() {
    let ex = LocalExecutor::new();
    let strand = Strand::new(&ex);
    let (tx, rx) = mpsc::channel::<Waker>();
    let woke = Arc::new(AtomicUsize::new(0));
    let w = woke.clone();
    let s = strand.clone();
    let h = strand.spawn(async move {
        let mut sent = false;
        std::future::poll_fn(|cx| {
            if w.load(Ordering::SeqCst) == 1 {
                Poll::Ready(())
            } else {
                if !sent {
                    tx.send(cx.waker().clone()).unwrap();
                    sent = true;
                }
                Poll::Pending
            }
        })
        .await;
        s.running_in_this_thread()
    });
    let thread = std::thread::spawn(move || {
        let waker = rx.recv().unwrap();
        woke.store(1, Ordering::SeqCst);
        waker.wake();
    });
    assert!(ex.run_until(h).unwrap());
    thread.join().unwrap();
}

#[test]
fn executor_shutdown_cancels_strand_tasks_and_frees_frames() {
    let counting = Arc::new(Counting::new(Recycling));
    let dropped = Rc::new(Cell::new(0));
    let handles;
    let weak;
    {
        let ex = LocalExecutor::new();
        let strand = Strand::new(&ex);
        weak = strand.downgrade();
        struct OnDrop(Rc<Cell<u32>>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let mut hs = Vec::new();
        for i in 0..6 {
            let d = OnDrop(dropped.clone());
            hs.push(run_async(&strand, counting.clone(), async move {
                let _d = d;
                if i % 2 == 0 {
                    pending::<()>().await; // idle, waiting forever
                }
            }));
        }
        // Half the tasks finished, half wait; queue more that never run.
        ex.run_until_stalled();
        for _ in 0..3 {
            let d = OnDrop(dropped.clone());
            strand.post(move || drop(d));
            let d = OnDrop(dropped.clone());
            hs.push(run_async(&strand, counting.clone(), async move {
                let _d = d;
            }));
        }
        handles = hs;
        // Keep a handle alive past the executor.
        let late = strand.clone();
        drop(ex);
        // Posting to a strand whose executor is gone drops the handler,
        // spawning cancels at once.
        let d = OnDrop(dropped.clone());
        late.post(move || drop(d));
        let h = late.spawn(async { 1 });
        assert!(h.is_finished());
        let ex2 = LocalExecutor::new();
        assert!(matches!(ex2.run_until(h), Err(e) if e.is_cancelled()));
    }
    // 6 spawned first (3 done, 3 cancelled) + 3 closures + 3 tasks + 1 late post.
    assert_eq!(dropped.get(), 13);
    let ex = LocalExecutor::new();
    let results: Vec<_> = handles.into_iter().map(|h| ex.run_until(h)).collect();
    let cancelled = results
        .iter()
        .filter(|r| matches!(r, Err(e) if e.is_cancelled()))
        .count();
    assert_eq!(cancelled, 6);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
    assert_eq!(counting.live_frames(), 0, "every frame went back");
    assert!(weak.upgrade().is_none(), "the strand's state is freed");
}

/// Handlers small enough to live in the queue's item and ones that are
/// boxed: each runs once, or is dropped once when it never runs; a panic
/// in either consumes it and reaches the hook.
#[test]
fn small_and_large_handlers_run_or_drop_exactly_once() {
    struct Counted(Rc<Cell<u32>>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let (ran, dropped) = (Rc::new(Cell::new(0u32)), Rc::new(Cell::new(0u32)));
    let panics = Arc::new(AtomicUsize::new(0));
    let ex = LocalExecutor::new();
    let strand = Strand::new(&ex);
    let p = panics.clone();
    strand.set_panic_hook(move |_| {
        p.fetch_add(1, Ordering::SeqCst);
    });
    for i in 0..4u64 {
        // Small: two pointers. Large: 16 words more.
        let (r, d) = (ran.clone(), Counted(dropped.clone()));
        strand.post(move || {
            let _d = d;
            r.set(r.get() + 1);
            if i == 3 {
                panic!("small");
            }
        });
        let (r, d, big) = (ran.clone(), Counted(dropped.clone()), [i; 16]);
        strand.post(move || {
            let _d = d;
            r.set(r.get() + big.iter().sum::<u64>() as u32 / 16 + 1 - i as u32);
            if i == 3 {
                panic!("large");
            }
        });
    }
    ex.run_until_stalled();
    assert_eq!(ran.get(), 8, "every handler ran once");
    assert_eq!(dropped.get(), 8, "every capture dropped once");
    assert_eq!(panics.load(Ordering::SeqCst), 2);
    // Queued and never run: dropped with the executor, once each.
    for _ in 0..3 {
        let d = Counted(dropped.clone());
        strand.post(move || drop(d));
        let (d, big) = (Counted(dropped.clone()), [0u64; 16]);
        strand.post(move || drop((d, big)));
    }
    drop(ex);
    assert_eq!(dropped.get(), 14);
    assert_eq!(ran.get(), 8);
}

// ---------------------------------------------------------------------------
// Over the thread pool.

fn pool2() -> ThreadPool {
    ThreadPool::builder().worker_threads(2).build().unwrap()
}

/// Counts handlers running at once; records any overlap.
#[derive(Default)]
struct Overlap {
    active: AtomicUsize,
    max: AtomicUsize,
}

impl Overlap {
    fn enter(&self) {
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }
    fn exit(&self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn pool_four_threads_post_250k_each() {
    const THREADS: usize = 4;
    const PER: usize = 250_000;
    let pool = pool2();
    let strand = Strand::new(&pool);
    let overlap = Arc::new(Overlap::default());
    // next[t]: the sequence number thread t's next handler must carry.
    let next: Arc<Vec<AtomicUsize>> = Arc::new((0..THREADS).map(|_| AtomicUsize::new(0)).collect());
    let out_of_order = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    let posters: Vec<_> = (0..THREADS)
        .map(|t| {
            let strand = strand.clone();
            let (overlap, next, ooo, ran) = (
                overlap.clone(),
                next.clone(),
                out_of_order.clone(),
                ran.clone(),
            );
            let done_tx = done_tx.clone();
            std::thread::spawn(move || {
                for i in 0..PER {
                    let (overlap, next, ooo, ran) =
                        (overlap.clone(), next.clone(), ooo.clone(), ran.clone());
                    let done_tx = done_tx.clone();
                    strand.post(move || {
                        overlap.enter();
                        if next[t].load(Ordering::Relaxed) != i {
                            ooo.fetch_add(1, Ordering::Relaxed);
                        }
                        next[t].store(i + 1, Ordering::Relaxed);
                        overlap.exit();
                        if ran.fetch_add(1, Ordering::SeqCst) + 1 == THREADS * PER {
                            done_tx.send(()).unwrap();
                        }
                    });
                }
            })
        })
        .collect();
    for p in posters {
        p.join().unwrap();
    }
    done_rx.recv().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), THREADS * PER);
    assert_eq!(
        overlap.max.load(Ordering::SeqCst),
        1,
        "two handlers ran at once"
    );
    assert_eq!(
        out_of_order.load(Ordering::SeqCst),
        0,
        "a thread's handlers ran out of order"
    );
    for n in next.iter() {
        assert_eq!(n.load(Ordering::SeqCst), PER);
    }
}

#[test]
fn pool_ten_thousand_strands() {
    const STRANDS: usize = 10_000;
    let pool = pool2();
    let ran = Arc::new(AtomicUsize::new(0));
    let misordered = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    let mut weaks = Vec::with_capacity(STRANDS);
    for _ in 0..STRANDS {
        let strand = Strand::new(&pool);
        weaks.push(strand.downgrade());
        let step = Arc::new(AtomicUsize::new(0));
        for k in 0..3 {
            let (ran, mis, step, done_tx) = (
                ran.clone(),
                misordered.clone(),
                step.clone(),
                done_tx.clone(),
            );
            strand.post(move || {
                if step.swap(k + 1, Ordering::Relaxed) != k {
                    mis.fetch_add(1, Ordering::Relaxed);
                }
                if ran.fetch_add(1, Ordering::SeqCst) + 1 == 3 * STRANDS {
                    done_tx.send(()).unwrap();
                }
            });
        }
    }
    done_rx.recv().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 3 * STRANDS);
    assert_eq!(misordered.load(Ordering::SeqCst), 0);
    // Every strand was dropped with work queued: once the pool has wound
    // down, every state is gone.
    pool.shutdown();
    assert!(weaks.iter().all(|w| w.upgrade().is_none()));
}

#[test]
fn pool_two_strands_run_at_the_same_time() {
    let pool = pool2();
    let a = Strand::new(&pool);
    let b = Strand::new(&pool);
    let (a_tx, a_rx) = mpsc::channel::<()>();
    let (b_tx, b_rx) = mpsc::channel::<()>();
    let (res_tx, res_rx) = mpsc::channel::<bool>();
    let timeout = std::time::Duration::from_secs(60);
    let r = res_tx.clone();
    a.post(move || {
        a_tx.send(()).unwrap();
        // Both handlers must be inside their strands at once to get here.
        r.send(b_rx.recv_timeout(timeout).is_ok()).unwrap();
    });
    b.post(move || {
        b_tx.send(()).unwrap();
        res_tx.send(a_rx.recv_timeout(timeout).is_ok()).unwrap();
    });
    assert!(
        res_rx.recv().unwrap(),
        "strand b never ran while a was running"
    );
    assert!(
        res_rx.recv().unwrap(),
        "strand a never ran while b was running"
    );
}

/// A counter with no synchronisation of its own: the strand's guarantee is
/// its only protection (a race shows up under ThreadSanitizer, and as a
/// wrong total).
struct Unsynced(std::cell::UnsafeCell<u64>);
// SAFETY: only touched by work of one strand, which never runs concurrently.
unsafe impl Sync for Unsynced {}

#[test]
fn pool_futures_share_a_non_atomic_counter() {
    const TASKS: usize = 8;
    const STEPS: u64 = 2_000;
    let pool = pool2();
    let strand = Strand::new(&pool);
    let counter = Arc::new(Unsynced(std::cell::UnsafeCell::new(0)));
    let overlap = Arc::new(Overlap::default());
    let counting = Arc::new(Counting::new(Recycling));
    let handles: Vec<_> = (0..TASKS)
        .map(|_| {
            let (c, o, s) = (counter.clone(), overlap.clone(), strand.clone());
            run_async(&strand, counting.clone(), async move {
                for _ in 0..STEPS {
                    o.enter();
                    assert!(s.running_in_this_thread());
                    // SAFETY: polls of futures bound to the strand never
                    // overlap (the property under test).
                    unsafe { *c.0.get() += 1 };
                    o.exit();
                    yield_now().await;
                }
                // A closure posted from the task joins the same sequence.
                let c2 = c.clone();
                // SAFETY: as above, the handler runs on the strand.
                s.post(move || unsafe { *c2.0.get() += 1 });
            })
        })
        .collect();
    pool.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    let (tx, rx) = mpsc::channel();
    let c = counter.clone();
    // SAFETY: read on the strand, after everything posted before.
    strand.post(move || tx.send(unsafe { *c.0.get() }).unwrap());
    assert_eq!(rx.recv().unwrap(), TASKS as u64 * (STEPS + 1));
    assert_eq!(overlap.max.load(Ordering::SeqCst), 1);
    assert_eq!(counting.live_frames(), 0);
}

#[test]
fn pool_future_awaiting_elsewhere_releases_the_strand() {
    // A future on the strand awaits a pool task which itself needs the
    // strand (it posts a handler and waits for it): holding the strand
    // while awaiting would deadlock.
    let pool = Arc::new(pool2());
    let strand = Strand::new(&*pool);
    let (s, p) = (strand.clone(), pool.clone());
    let h = strand.spawn(async move {
        let s2 = s.clone();
        let helper = p.spawn(async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            s2.post(move || tx.send(7).unwrap());
            rx.await.unwrap()
        });
        helper.await.unwrap() + u32::from(s.running_in_this_thread())
    });
    assert_eq!(pool.block_on(h).unwrap(), 8);
}

#[test]
fn pool_shutdown_cancels_strand_tasks_and_frees_frames() {
    let counting = Arc::new(Counting::new(Recycling));
    let pool = pool2();
    let strand = Strand::new(&pool);
    let weak = strand.downgrade();
    let started = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let st = started.clone();
            run_async(&strand, counting.clone(), async move {
                st.fetch_add(1, Ordering::SeqCst);
                pending::<()>().await
            })
        })
        .collect();
    // Wait (without sleeping) until every task has been polled once.
    let (tx, rx) = mpsc::channel();
    strand.post(move || tx.send(()).unwrap());
    rx.recv().unwrap();
    assert_eq!(started.load(Ordering::SeqCst), 4);
    drop(strand);
    pool.shutdown();
    for h in handles {
        assert!(matches!(coframe::block_on(h), Err(e) if e.is_cancelled()));
    }
    assert_eq!(counting.live_frames(), 0);
    assert!(weak.upgrade().is_none());
}

#[test]
fn each_handler_runs_through_safe_resume() {
    // A handler that leaves the current-resource slot clobbered must not
    // leak it to the next handler of the batch.
    use coframe::frame::{current, set_current, ResourceHandle, System};
    let ex = LocalExecutor::new();
    let strand = Strand::new(&ex);
    let seen = Rc::new(Cell::new(None));
    strand.post(|| {
        let h: &'static ResourceHandle = Box::leak(Box::new(ResourceHandle::owning_local(System)));
        std::mem::forget(set_current(h));
        assert!(!current().is_default());
    });
    let s = seen.clone();
    strand.post(move || s.set(Some(current().is_default())));
    ex.run_until_stalled();
    assert_eq!(seen.get(), Some(true));
}

#[test]
fn busy_strand_does_not_starve_the_executor() {
    // A handler that re-posts itself forever would keep an unbounded drain
    // running; the bounded batch hands the thread back to the executor, so
    // an ordinary task queued behind the drain runs and stops the spinning.
    fn spin(strand: Strand<LocalExecutor>, stop: Rc<Cell<bool>>, spins: Rc<Cell<usize>>) {
        if stop.get() || spins.get() == 100_000 {
            return;
        }
        spins.set(spins.get() + 1);
        let s = strand.clone();
        strand.post(move || spin(s, stop, spins));
    }
    let ex = LocalExecutor::new();
    let strand = Strand::new(&ex);
    let (stop, spins) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(0)));
    let (s, st, sp) = (strand.clone(), stop.clone(), spins.clone());
    strand.post(move || spin(s, st, sp));
    let st = stop.clone();
    let other = ex.spawn(async move { st.set(true) });
    ex.run_until(other).unwrap();
    assert!(
        spins.get() < 1_000,
        "the strand ran {} handlers before the executor's other task",
        spins.get()
    );
}
