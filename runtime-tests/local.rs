//! Task cells, `LocalExecutor`, `block_on`, `run_async`.
//!
//! Allocator propagation and lifetime (Counting, a drop-counting wrapper, a
//! `bumpalo::Bump` resource), shutdown with pending tasks, panics,
//! cancellation, remote wakes, fairness and a refusing allocator.

use crate::panic_message;
use crate::util::yield_now;
use coframe::frame::{AllocError, Counting, MemoryResource, Recycling};
use coframe::{run_async, spawn, spawn_local, try_run_async, LocalExecutor};
use std::alloc::Layout;
use std::cell::{Cell, RefCell};
use std::future::pending;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

/// A resource that counts its frames (shared `Counting`) and its own drops.
struct Tracked {
    counting: Arc<Counting<Recycling>>,
    drops: Arc<AtomicUsize>,
    refuse: bool,
}

impl Tracked {
    fn new() -> (Self, Arc<Counting<Recycling>>, Arc<AtomicUsize>) {
        let counting = Arc::new(Counting::new(Recycling));
        let drops = Arc::new(AtomicUsize::new(0));
        let t = Tracked {
            counting: counting.clone(),
            drops: drops.clone(),
            refuse: false,
        };
        (t, counting, drops)
    }
}

impl MemoryResource for Tracked {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        if self.refuse {
            return Err(AllocError);
        }
        self.counting.allocate(layout)
    }
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.counting.deallocate(ptr, layout) }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// A `bumpalo::Bump` as a frame resource (Send, not Sync: local only).
struct BumpResource {
    bump: bumpalo::Bump,
    allocations: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
}

impl MemoryResource for BumpResource {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.allocations.fetch_add(1, Ordering::SeqCst);
        self.bump.try_alloc_layout(layout).map_err(|_| AllocError)
    }
    unsafe fn deallocate(&self, _: NonNull<u8>, _: Layout) {}
}

impl Drop for BumpResource {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

/// Sets a flag when dropped.
struct DropFlag(Rc<Cell<bool>>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn children_and_grandchildren_inherit_the_root_allocator() {
    let ex = LocalExecutor::new();
    let (res, counting, drops) = Tracked::new();
    let h = run_async(&ex, res, async {
        let child = spawn(async {
            let grandchild = spawn_local(async { coframe::frame::current().is_default() });
            grandchild.await.unwrap()
        });
        child.await.unwrap()
    });
    assert_eq!(
        counting.total_allocations(),
        1,
        "root cell from the allocator"
    );
    let grandchild_saw_default = ex.run_until(h).unwrap();
    assert!(
        !grandchild_saw_default,
        "the grandchild ran with the root's resource"
    );
    assert_eq!(counting.total_allocations(), 3, "root, child, grandchild");
    assert_eq!(counting.live_frames(), 0);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "dropped after the last frame"
    );
}

#[test]
fn spawns_outside_run_async_use_the_default_resource() {
    let ex = LocalExecutor::new();
    let (res, counting, _drops) = Tracked::new();
    let rooted = run_async(&ex, res, async {});
    let outside = ex.spawn(async {
        let inner = spawn(async { coframe::frame::current().is_default() });
        (coframe::frame::current().is_default(), inner.await.unwrap())
    });
    assert_eq!(ex.run_until(outside).unwrap(), (true, true));
    ex.run_until(rooted).unwrap();
    assert_eq!(counting.total_allocations(), 1, "only the rooted task");
}

#[test]
fn run_async_with_a_bump_allocator() {
    let ex = LocalExecutor::new();
    let allocations = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let res = BumpResource {
        bump: bumpalo::Bump::new(),
        allocations: allocations.clone(),
        dropped: dropped.clone(),
    };
    let not_send = Rc::new(5);
    let h = run_async(&ex, res, async move {
        let mut sum = 0;
        for i in 0..10 {
            let n = not_send.clone();
            sum += spawn_local(async move { *n + i }).await.unwrap();
        }
        sum
    });
    assert_eq!(ex.run_until(h).unwrap(), 95);
    assert_eq!(allocations.load(Ordering::SeqCst), 11);
    assert!(
        dropped.load(Ordering::SeqCst),
        "the bump is dropped with its last frame"
    );
}

#[test]
fn run_async_with_counting_recycling() {
    let ex = LocalExecutor::new();
    let counting = Arc::new(Counting::new(Recycling));
    let h = run_async(&ex, counting.clone(), async {
        let hs: Vec<_> = (0..100).map(|i| spawn(async move { i })).collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(ex.run_until(h).unwrap(), 4950);
    assert_eq!(counting.total_allocations(), 101);
    assert_eq!(counting.live_frames(), 0);
    assert_eq!(counting.live_bytes(), 0);
}

#[test]
fn a_detached_task_keeps_the_allocator_alive() {
    let ex = LocalExecutor::new();
    let (res, counting, drops) = Tracked::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<u32>();
    drop(run_async(&ex, res, async move {
        let v = rx.await.unwrap();
        done_tx.send(v + 1).unwrap();
    }));
    ex.run_until_stalled();
    assert_eq!(counting.live_frames(), 1);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "alive while the detached task is"
    );
    tx.send(1).unwrap();
    assert_eq!(ex.run_until(done_rx).unwrap(), 2);
    ex.run_until_stalled();
    assert_eq!(counting.live_frames(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_frame_is_freed_through_its_own_resource_wherever_it_is_dropped() {
    let ex = LocalExecutor::new();
    let (a, counting_a, drops_a) = Tracked::new();
    let (b, counting_b, _) = Tracked::new();
    let h = run_async(&ex, a, async { 1 });
    ex.run_until_stalled();
    assert_eq!(counting_a.live_frames(), 1);
    // Drop A's handle inside a task whose current resource is B.
    let hb = run_async(&ex, b, async move {
        drop(h);
    });
    ex.run_until(hb).unwrap();
    assert_eq!(counting_a.live_frames(), 0);
    assert_eq!(counting_b.live_frames(), 0);
    assert_eq!(counting_b.total_allocations(), 1);
    assert_eq!(drops_a.load(Ordering::SeqCst), 1);
}

#[test]
fn executor_dropped_with_ten_thousand_pending_tasks_frees_everything() {
    let ex = LocalExecutor::new();
    let (res, counting, drops) = Tracked::new();
    let dropped_futures = Rc::new(Cell::new(0usize));
    let d = dropped_futures.clone();
    let root = run_async(&ex, res, async move {
        struct Count(Rc<Cell<usize>>);
        impl Drop for Count {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let mut kept = Vec::new();
        for i in 0..10_000 {
            let c = Count(d.clone());
            let h = spawn_local(async move {
                let _c = c;
                pending::<()>().await
            });
            if i % 2 == 0 {
                kept.push(h); // half held by the root, half detached
            }
        }
        pending::<()>().await;
        drop(kept);
    });
    ex.run_until_stalled();
    assert_eq!(counting.live_frames(), 10_001);
    drop(ex);
    assert_eq!(dropped_futures.get(), 10_000);
    // The root's handle still holds its cell; it reports the cancellation.
    assert!(root.is_finished());
    assert_eq!(counting.live_frames(), 1);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    let res = coframe::block_on(root);
    assert!(matches!(res, Err(e) if e.is_cancelled()));
    assert_eq!(counting.live_frames(), 0);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "allocator dropped exactly once"
    );
}

#[test]
fn a_panic_becomes_join_error_panic_with_its_payload() {
    let ex = LocalExecutor::new();
    let h = ex.spawn(async {
        yield_now().await;
        std::panic::panic_any(42_u32);
    });
    let err = ex.run_until(h).unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("panicked"));
    assert_eq!(*err.into_panic().downcast::<u32>().unwrap(), 42);
    // The executor still works.
    assert_eq!(ex.run_until(ex.spawn(async { 1 })).unwrap(), 1);
}

#[test]
fn a_panicking_destructor_during_shutdown_neither_aborts_nor_leaks() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("destructor bomb");
        }
    }
    let ex = LocalExecutor::new();
    let (res, counting, drops) = Tracked::new();
    let h = run_async(&ex, res, async {
        let _b = Bomb;
        let inner = spawn_local(async {
            let _b = Bomb;
            pending::<()>().await
        });
        drop(inner);
        pending::<()>().await
    });
    ex.run_until_stalled();
    assert_eq!(counting.live_frames(), 2);
    drop(ex);
    let err = coframe::block_on(h).unwrap_err();
    assert!(err.is_panic(), "the destructor's panic is reported: {err}");
    assert_eq!(counting.live_frames(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn abort_a_pending_task() {
    let ex = LocalExecutor::new();
    let dropped = Rc::new(Cell::new(false));
    let flag = DropFlag(dropped.clone());
    let h = ex.spawn(async move {
        let _f = flag;
        pending::<()>().await
    });
    ex.run_until_stalled();
    assert!(!h.is_finished());
    h.abort();
    ex.run_until_stalled();
    assert!(dropped.get(), "future dropped at the executor's next run");
    assert!(h.is_finished());
    assert!(ex.run_until(h).unwrap_err().is_cancelled());
}

#[test]
fn abort_a_running_task() {
    let ex = LocalExecutor::new();
    let slot: Rc<RefCell<Option<coframe::JoinHandle<()>>>> = Rc::new(RefCell::new(None));
    let polls = Rc::new(Cell::new(0));
    let dropped = Rc::new(Cell::new(false));
    let (s, p, flag) = (slot.clone(), polls.clone(), DropFlag(dropped.clone()));
    let h = ex.spawn(async move {
        let _f = flag;
        loop {
            p.set(p.get() + 1);
            if let Some(me) = s.borrow().as_ref() {
                me.abort(); // abort while running
            }
            yield_now().await;
        }
    });
    *slot.borrow_mut() = Some(h);
    ex.run_until_stalled();
    assert_eq!(polls.get(), 1, "no poll after the abort");
    assert!(dropped.get(), "dropped when the running poll returned");
    let h = slot.borrow_mut().take().unwrap();
    assert!(ex.run_until(h).unwrap_err().is_cancelled());
}

#[test]
fn abort_from_another_thread() {
    let ex = LocalExecutor::new();
    let h = ex.spawn(pending::<u8>());
    ex.run_until_stalled();
    let h = std::thread::spawn(move || {
        h.abort();
        h
    })
    .join()
    .unwrap();
    assert!(ex.run_until(h).unwrap_err().is_cancelled());
}

#[test]
fn a_million_tasks_spawned_and_joined() {
    let ex = LocalExecutor::new();
    let total = ex.run_until(async {
        let mut total = 0u64;
        for batch in 0..100u64 {
            let hs: Vec<_> = (0..10_000u64)
                .map(|i| spawn_local(async move { batch * 10_000 + i }))
                .collect();
            for h in hs {
                total += h.await.unwrap();
            }
        }
        total
    });
    assert_eq!(total, (0..1_000_000u64).sum::<u64>());
}

#[test]
fn a_waker_sent_to_another_thread_wakes_a_local_task() {
    let ex = LocalExecutor::new();
    let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let not_send = Rc::new(());
    let h = ex.spawn(std::future::poll_fn(move |cx| {
        let _keep = &not_send;
        if f.load(Ordering::SeqCst) {
            Poll::Ready("woken")
        } else {
            tx.send(cx.waker().clone()).unwrap();
            Poll::Pending
        }
    }));
    let t = std::thread::spawn(move || {
        let w = rx.recv().unwrap();
        flag.store(true, Ordering::SeqCst);
        w.wake();
    });
    assert_eq!(ex.run_until(h).unwrap(), "woken");
    t.join().unwrap();
}

#[test]
fn a_self_waking_task_does_not_starve_another() {
    let ex = LocalExecutor::new();
    let stop = Rc::new(Cell::new(false));
    let s = stop.clone();
    let spinner = ex.spawn(async move {
        let mut spins = 0u64;
        while !s.get() {
            yield_now().await;
            spins += 1;
        }
        spins
    });
    let s = stop.clone();
    ex.spawn(async move {
        yield_now().await;
        s.set(true);
    });
    let spins = ex.run_until(spinner).unwrap();
    assert!(spins < 10, "the second task ran promptly ({spins} spins)");
}

#[test]
fn a_refusing_allocator_gives_an_error_and_leaks_nothing() {
    let ex = LocalExecutor::new();
    let (mut res, counting, drops) = Tracked::new();
    res.refuse = true;
    let dropped = Rc::new(Cell::new(false));
    let flag = DropFlag(dropped.clone());
    let r = try_run_async(&ex, res, async move {
        let _f = flag;
    });
    assert_eq!(r.err(), Some(AllocError));
    assert!(dropped.get(), "the future was dropped");
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the allocator was dropped");
    assert_eq!(counting.live_frames(), 0);
}

#[test]
fn spawn_outside_a_task_panics_with_a_clear_message() {
    let err = std::panic::catch_unwind(|| drop(spawn(async {}))).unwrap_err();
    let msg = panic_message(err);
    assert!(msg.contains("outside a task"), "{msg}");
    let err = std::panic::catch_unwind(|| drop(spawn_local(async {}))).unwrap_err();
    let msg = panic_message(err);
    assert!(msg.contains("outside a task"), "{msg}");
}

#[test]
fn block_on_parks_until_woken_from_another_thread() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let t = std::thread::spawn(move || tx.send(7).unwrap());
    assert_eq!(coframe::block_on(rx).unwrap(), 7);
    t.join().unwrap();
}

#[test]
fn running_in_this_thread_through_the_executor_trait() {
    use coframe::Executor;
    let ex = LocalExecutor::new();
    assert!(!ex.running_in_this_thread());
    let inside = ex.run_until(async { coframe::spawn_local(async {}).await.is_ok() });
    assert!(inside);
}

#[test]
fn wakers_and_handles_outliving_the_executor_are_harmless() {
    let ex = LocalExecutor::new();
    let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
    let h = ex.spawn(std::future::poll_fn(move |cx| {
        tx.send(cx.waker().clone()).unwrap();
        Poll::<()>::Pending
    }));
    // The main future's waker escapes too.
    let main_waker = ex.run_until(std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())));
    ex.run_until_stalled();
    let task_waker = rx.recv().unwrap();
    drop(ex);
    // The executor's state stays alive for these; waking does nothing.
    let t = std::thread::spawn(move || {
        task_waker.wake_by_ref();
        main_waker.wake_by_ref();
        (task_waker, main_waker)
    });
    let (w1, w2) = t.join().unwrap();
    assert!(h.is_finished());
    assert!(coframe::block_on(h).unwrap_err().is_cancelled());
    w1.wake();
    drop(w2);
}

#[test]
fn a_panicking_output_destructor_in_join_handle_drop_does_not_leak() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("output bomb");
        }
    }
    let ex = LocalExecutor::new();
    let (res, counting, drops) = Tracked::new();
    let h = run_async(&ex, res, async { Bomb });
    ex.run_until_stalled();
    assert!(h.is_finished());
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(h)));
    assert_eq!(panic_message(r.unwrap_err()), "output bomb");
    assert_eq!(counting.live_frames(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_self_waking_task_does_not_starve_the_main_future_or_remote_wakes() {
    // Without a bounded batch per tick, the tick would never return while
    // the spinner keeps re-queueing itself: neither the main future nor the
    // remote queue would get a turn.
    let ex = LocalExecutor::new();
    let stop = Rc::new(Cell::new(false));
    let s = stop.clone();
    let spinner = ex.spawn(async move {
        while !s.get() {
            yield_now().await;
        }
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
    let t = std::thread::spawn(move || tx.send(9).unwrap());
    let got = ex.run_until(async {
        let v = rx.await.unwrap(); // woken from the other thread
        yield_now().await; // and polled again while the spinner spins
        v
    });
    assert_eq!(got, 9);
    stop.set(true);
    ex.run_until(spinner).unwrap();
    t.join().unwrap();
}

#[test]
fn running_in_this_thread_is_true_only_inside_the_executor() {
    use coframe::Executor;
    let ex = LocalExecutor::new();
    assert!(!ex.running_in_this_thread());
    assert!(ex.run_until(async { ex.running_in_this_thread() }));
    let other = LocalExecutor::new();
    assert!(!ex.run_until(async { other.running_in_this_thread() }));
    assert!(!ex.running_in_this_thread());
}

#[test]
fn a_root_freed_mid_batch_is_never_read_through_the_slot() {
    // One tick runs: A (a detached run_async task whose completion frees the
    // last frame, dropping its allocator), B (aborted before it ran: its
    // future is dropped), C (reads the current resource). The slot, written
    // once per poll and restored once per tick, must never hand out A's
    // freed resource (AddressSanitizer checks this in CI).
    let ex = LocalExecutor::new();
    let (res, counting, drops) = Tracked::new();
    drop(run_async(&ex, res, async {}));
    let b = ex.spawn(pending::<()>());
    b.abort();
    let c = ex.spawn(async { coframe::frame::current().is_default() });
    let main_saw_default = ex.run_until(async {
        yield_now().await; // polled again after the tick
        coframe::frame::current().is_default()
    });
    assert!(main_saw_default);
    ex.run_until_stalled();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(counting.live_frames(), 0);
    assert!(ex.run_until(b).unwrap_err().is_cancelled());
    assert!(ex.run_until(c).unwrap(), "C saw the default resource");
    assert!(coframe::frame::current().is_default());
}
