//! Stackful tasks on the executors — spawning them from async code,
//! waiting on futures inside, cancellation, memory per suspended task.

use crate::panic_message;
use crate::util::yield_now;
use coframe::context::{PooledStack, Stack, StackAllocator, StackError};
use coframe::frame::{
    safe_resume_with, set_current, AllocError, Counting, MemoryResource, Recycling, ResourceHandle,
    SyncResourceHandle,
};
use coframe::stackful::wait;
use coframe::{run_async, spawn, spawn_stackful, LocalExecutor};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn wait_outside_a_stackful_task_panics_with_the_message() {
    let err = std::panic::catch_unwind(|| wait(async { 1 })).unwrap_err();
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(
        msg.contains("coframe::stackful::wait called outside a stackful task"),
        "{msg}"
    );
    // Inside an ordinary (async) task it is just as wrong.
    let ex = LocalExecutor::new();
    let h = ex.spawn(async { std::panic::catch_unwind(|| wait(async { 1 })).is_err() });
    assert!(ex.run_until(h).unwrap());
}

#[test]
fn stackful_task_waits_on_a_future_completed_by_another_task() {
    let ex = LocalExecutor::new();
    let (tx, rx) = async_channel::bounded::<u32>(1);
    let reader = ex.spawn_stackful(move || {
        let mut sum = 0;
        while let Ok(v) = wait(rx.recv()) {
            sum += v;
        }
        sum
    });
    let writer = ex.spawn(async move {
        for i in 1..=100 {
            tx.send(i).await.unwrap();
        }
    });
    // An async task awaits the stackful task's handle.
    let total = ex.run_until(async move {
        writer.await.unwrap();
        reader.await.unwrap()
    });
    assert_eq!(total, 5050);
}

#[test]
fn stackful_task_waits_on_an_async_io_timer() {
    let ex = LocalExecutor::new();
    let h = ex.spawn_stackful(|| {
        let start = std::time::Instant::now();
        wait(async_io::Timer::after(std::time::Duration::from_millis(5)));
        start.elapsed()
    });
    let elapsed = ex.run_until(h).unwrap();
    assert!(elapsed >= std::time::Duration::from_millis(5));
}

#[test]
fn deep_recursion_inside_a_stackful_task() {
    let ex = LocalExecutor::new();
    let stacks = PooledStack::new(1 << 20).unwrap();
    let h = ex.spawn_stackful_with(stacks, || {
        #[inline(never)]
        fn depth(n: u32) -> u32 {
            let pad = std::hint::black_box([n as u8; 256]);
            if n == 0 {
                // Suspend at the bottom of the recursion too.
                wait(async { pad[0] as u32 })
            } else {
                depth(n - 1) + 1
            }
        }
        depth(1000)
    });
    assert_eq!(ex.run_until(h).unwrap(), 1000);
}

#[test]
fn stackful_task_spawns_futures_and_stackful_tasks_and_waits_on_them() {
    let ex = LocalExecutor::new();
    let h = ex.spawn_stackful(|| {
        let futs: Vec<_> = (0..10u64).map(|i| spawn(async move { i * i })).collect();
        let stacks: Vec<_> = (0..10u64)
            .map(|i| {
                spawn_stackful(move || {
                    let inner = spawn(async move { i + 1 });
                    wait(inner).unwrap() * 2
                })
            })
            .collect();
        let a: u64 = futs.into_iter().map(|h| wait(h).unwrap()).sum();
        let b: u64 = stacks.into_iter().map(|h| wait(h).unwrap()).sum();
        (a, b)
    });
    assert_eq!(ex.run_until(h).unwrap(), (285, 110));
}

#[test]
fn stackful_spawns_inherit_the_frame_resource() {
    let ex = LocalExecutor::new();
    let counting = Arc::new(Counting::new(Recycling));
    let root = run_async(&ex, counting.clone(), async {
        let h = spawn_stackful(|| {
            let child = spawn(async { 1 });
            let grandchild = spawn_stackful(|| wait(spawn(async { 2 })).unwrap());
            wait(child).unwrap() + wait(grandchild).unwrap()
        });
        h.await.unwrap()
    });
    assert_eq!(ex.run_until(root).unwrap(), 3);
    // root + stackful + child + stackful grandchild + its child
    assert!(
        counting.total_allocations() >= 5,
        "{} frames",
        counting.total_allocations()
    );
    drop(ex);
    assert_eq!(counting.live_frames(), 0);
}

#[test]
fn panic_inside_gives_join_error_panic() {
    let ex = LocalExecutor::new();
    let h = ex.spawn_stackful(|| {
        wait(async {});
        std::panic::panic_any(7u32);
    });
    match ex.run_until(h) {
        Err(e) if e.is_panic() => assert_eq!(*e.into_panic().downcast::<u32>().unwrap(), 7),
        other => panic!("expected a panic, got {other:?}"),
    }
}

struct Counted(Rc<Cell<u32>>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn abort_of_a_suspended_stackful_task_unwinds_and_frees_its_stack() {
    let ex = LocalExecutor::new();
    let stacks = PooledStack::new(64 * 1024).unwrap();
    let drops = Rc::new(Cell::new(0));
    let (d1, d2) = (drops.clone(), drops.clone());
    let (_tx, rx) = async_channel::bounded::<()>(1);
    let h = ex.spawn_stackful_with(stacks.clone(), move || {
        let _a = Counted(d1);
        let nested = || {
            let _b = Counted(d2);
            wait(rx.recv()).ok();
            unreachable!("aborted while suspended");
        };
        nested()
    });
    ex.run_until_stalled();
    assert_eq!(stacks.live(), 1);
    assert_eq!(drops.get(), 0);
    h.abort();
    ex.run_until_stalled();
    assert_eq!(drops.get(), 2, "both destructors on the stack ran");
    assert_eq!(stacks.live(), 0, "the stack went back to its pool");
    assert!(matches!(ex.run_until(h), Err(e) if e.is_cancelled()));
}

/// A stackful task's cell holds only its coroutine (the control block is on
/// the stack, the waker goes through a thread-local): it fits the frame
/// allocator's 128-byte class, as a small future's cell does. With the
/// waker and yielder in the cell it took 136 bytes, a 256-byte block, and a
/// spawned and joined stackful task cost 99-100 ns instead of 91 (1,000 at
/// once, AMD EPYC).
#[test]
fn a_stackful_tasks_cell_fits_the_128_byte_class() {
    let ex = LocalExecutor::new();
    let counting = Arc::new(Counting::new(Recycling));
    let cells = ResourceHandle::owning_local(counting.clone());
    let (tx, rx) = async_channel::bounded::<()>(1);
    let h = {
        let _g = set_current(&cells);
        ex.spawn_stackful(move || wait(rx.recv()).unwrap())
    };
    ex.run_until_stalled();
    assert_eq!(counting.live_frames(), 1, "one cell, suspended");
    let bytes = counting.live_bytes();
    assert!(bytes <= 128, "a stackful task's cell takes {bytes} bytes");
    assert_eq!(
        Recycling::class_size_for(std::alloc::Layout::from_size_align(bytes, 8).unwrap()),
        Some(128)
    );
    tx.try_send(()).unwrap();
    ex.run_until(h).unwrap();
    assert_eq!(counting.live_frames(), 0);
}

/// The same on a thread pool and on a strand over it: the scheduler that
/// pins the task to its first worker waits in the closure on the stack,
/// not in the cell.
#[test]
fn a_pool_stackful_tasks_cell_fits_the_128_byte_class_too() {
    let pool = pool(2);
    let strand = coframe::Strand::new(&pool);
    let counting = Arc::new(Counting::new(Recycling));
    let cells = SyncResourceHandle::owning(counting.clone());
    let (tx, rx) = async_channel::bounded::<()>(2);
    let rx2 = rx.clone();
    let on_pool = safe_resume_with(&cells, || {
        pool.spawn_stackful(move || wait(rx.recv()).unwrap())
    });
    assert_eq!(counting.live_frames(), 1);
    let bytes = counting.live_bytes();
    assert!(
        bytes <= 128,
        "a pool stackful task's cell takes {bytes} bytes"
    );
    let on_strand = safe_resume_with(&cells, || {
        strand.spawn_stackful(move || wait(rx2.recv()).unwrap())
    });
    let strand_bytes = counting.live_bytes() - bytes;
    assert!(
        strand_bytes <= 128,
        "a strand stackful task's cell takes {strand_bytes} bytes"
    );
    tx.try_send(()).unwrap();
    tx.try_send(()).unwrap();
    pool.block_on(on_pool).unwrap();
    pool.block_on(on_strand).unwrap();
    drop(strand);
    drop(pool);
    assert_eq!(counting.live_frames(), 0);
}

/// A stack allocator that fails, or panics, whenever it is asked.
struct NoStacks {
    panics: bool,
}

// SAFETY: it never hands out a stack.
unsafe impl StackAllocator for NoStacks {
    fn allocate(&self) -> Result<Stack, StackError> {
        if self.panics {
            panic!("the stack allocator panicked");
        }
        Err(StackError::Invalid("no stacks here"))
    }
    unsafe fn deallocate(&self, _: Stack) {
        unreachable!("NoStacks never handed out a stack")
    }
}

/// A frame resource that refuses every task cell.
struct NoCells;

impl MemoryResource for NoCells {
    fn allocate(&self, _: std::alloc::Layout) -> Result<std::ptr::NonNull<u8>, AllocError> {
        Err(AllocError)
    }
    unsafe fn deallocate(&self, _: std::ptr::NonNull<u8>, _: std::alloc::Layout) {
        unreachable!("NoCells never handed out a block")
    }
}

/// The cell is allocated first and the stack second (the task is built in
/// its cell): whichever fails, the other goes back and the closure is
/// dropped; the error says what was missing.
#[test]
fn a_failed_stackful_spawn_loses_nothing() {
    let ex = LocalExecutor::new();
    let counting = Arc::new(Counting::new(Recycling));
    let cells = ResourceHandle::owning_local(counting.clone());
    let drops = Rc::new(Cell::new(0));

    // No stack: the cell just allocated goes back.
    for panics in [false, true] {
        let d = Counted(drops.clone());
        let err = catch_unwind(AssertUnwindSafe(|| {
            let _g = set_current(&cells);
            ex.spawn_stackful_with(NoStacks { panics }, move || drop(d))
        }))
        .unwrap_err();
        let msg = panic_message(err);
        if panics {
            assert_eq!(msg, "the stack allocator panicked");
        } else {
            assert!(
                msg.contains("cannot get a stack") && msg.contains("no stacks here"),
                "{msg}"
            );
        }
        assert_eq!(counting.live_frames(), 0, "the cell went back");
        assert!(counting.total_allocations() >= 1, "a cell was allocated");
    }
    assert_eq!(drops.get(), 2, "both closures were dropped");

    // No cell: no stack is taken at all.
    let stacks = PooledStack::new(64 * 1024).unwrap();
    let refusing = ResourceHandle::owning_local(NoCells);
    let d = Counted(drops.clone());
    let err = catch_unwind(AssertUnwindSafe(|| {
        let _g = set_current(&refusing);
        ex.spawn_stackful_with(stacks.clone(), move || drop(d))
    }))
    .unwrap_err();
    assert!(panic_message(err).contains("refused"));
    assert_eq!(drops.get(), 3);
    assert_eq!(
        (stacks.live(), stacks.mapped()),
        (0, 0),
        "no stack was taken"
    );

    // The executor still works.
    assert_eq!(ex.run_until(ex.spawn_stackful(|| 5)).unwrap(), 5);
}

#[test]
fn executor_drop_with_10_000_suspended_stackful_tasks_frees_everything() {
    let stacks = PooledStack::new(32 * 1024).unwrap();
    let counting = Arc::new(Counting::new(Recycling));
    let unwound = Arc::new(AtomicUsize::new(0));
    let (_tx, rx) = async_channel::bounded::<()>(1);
    {
        let ex = LocalExecutor::new();
        let (s, u) = (stacks.clone(), unwound.clone());
        let root = run_async(&ex, counting.clone(), async move {
            for _ in 0..10_000 {
                let (rx, u) = (rx.clone(), u.clone());
                let stacks = s.clone();
                // Spawned from inside the root: cells come from `counting`.
                coframe::spawn_local(async move {
                    coframe::spawn_stackful_with(stacks, move || {
                        struct Bump(Arc<AtomicUsize>);
                        impl Drop for Bump {
                            fn drop(&mut self) {
                                self.0.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        let _b = Bump(u);
                        wait(rx.recv()).ok();
                    })
                    .await
                    .ok();
                });
            }
        });
        ex.run_until_stalled();
        assert_eq!(stacks.live(), 10_000);
        assert!(counting.live_frames() >= 10_000);
        drop(root);
    }
    assert_eq!(unwound.load(Ordering::Relaxed), 10_000);
    assert_eq!(stacks.live(), 0);
    assert_eq!(counting.live_frames(), 0);
}

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * coframe::context::StackTraits::page_size()
}

#[test]
fn a_hundred_thousand_suspended_stackful_tasks() {
    const N: usize = 100_000;
    let ex = LocalExecutor::new();
    let stacks = PooledStack::new(coframe::stackful::DEFAULT_STACK_SIZE).unwrap();
    let (tx, rx) = async_channel::unbounded::<u32>();
    let before = resident_bytes();
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let rx = rx.clone();
            ex.spawn_stackful_with(stacks.clone(), move || wait(rx.recv()).unwrap())
        })
        .collect();
    ex.run_until_stalled();
    assert_eq!(stacks.live(), N);
    let per_task = (resident_bytes().saturating_sub(before)) / N;
    println!("resident memory per suspended stackful task: {per_task} bytes");
    assert!(per_task < 64 * 1024, "{per_task} bytes per suspended task");
    for i in 0..N as u32 {
        tx.try_send(i).unwrap();
    }
    let sum: u64 = ex.run_until(async move {
        let mut sum = 0u64;
        for h in handles {
            sum += h.await.unwrap() as u64;
        }
        sum
    });
    assert_eq!(sum, (N as u64 - 1) * N as u64 / 2);
    assert_eq!(stacks.live(), 0);
}

#[test]
fn guard_page_hit_in_a_stackful_task_reports_a_stack_overflow() {
    if std::env::var("COFRAME_CHILD_SCENARIO").as_deref() == Ok("stackful-overflow") {
        #[inline(never)]
        #[allow(unconditional_recursion)]
        fn down(n: u64) -> u64 {
            let pad = std::hint::black_box([n; 64]);
            down(n + 1) + pad[1]
        }
        let ex = LocalExecutor::new();
        let h = ex.spawn_stackful(|| down(0));
        let _ = ex.run_until(h);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "stackful::guard_page_hit_in_a_stackful_task_reports_a_stack_overflow",
            "--exact",
            "--nocapture",
        ])
        .env("COFRAME_CHILD_SCENARIO", "stackful-overflow")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("coframe: stack overflow in a coframe stack"),
        "{stderr}"
    );
}

#[test]
fn stack_pool_sizes_are_configurable_per_spawn() {
    let ex = LocalExecutor::new();
    let small = PooledStack::new(16 * 1024).unwrap();
    let h = ex.spawn_stackful_with(small.clone(), || 5);
    assert_eq!(small.live(), 1);
    assert_eq!(ex.run_until(h).unwrap(), 5);
    assert_eq!(small.live(), 0);
    let a = small.allocate().unwrap();
    assert!(a.size() >= 16 * 1024);
    // SAFETY: from `small`, unused.
    unsafe { small.deallocate(a) };
}

// ---------------------------------------------------------------------------
// On the thread pool: pinned to a worker (the thread-local policy).

fn pool(workers: usize) -> coframe::ThreadPool {
    coframe::ThreadPool::builder()
        .worker_threads(workers)
        .build()
        .unwrap()
}

thread_local! {
    static WHO: Cell<usize> = const { Cell::new(0) };
}

#[test]
fn stackful_tasks_spawned_on_one_worker_spread_over_the_workers() {
    // An accept loop's shape: one task spawns 64 long-lived stackful tasks
    // from its worker. Each is placed before its first poll on the worker
    // with the fewest live pinned tasks, so each worker gets about half
    // (pinning where first polled put nearly all on the spawning worker).
    let pool = pool(2);
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = async_channel::bounded::<()>(1);
    let acceptor = pool.spawn(async move {
        (0..64)
            .map(|_| {
                let (seen, release) = (seen_tx.clone(), release_rx.clone());
                spawn_stackful(move || {
                    seen.send(std::thread::current().id()).unwrap();
                    // Stays alive (and counted) until every task has started.
                    let _ = wait(release.recv());
                })
            })
            .collect::<Vec<_>>()
    });
    let handles = pool.block_on(acceptor).unwrap();
    let mut per_thread = std::collections::HashMap::new();
    for _ in 0..64 {
        *per_thread.entry(seen_rx.recv().unwrap()).or_insert(0) += 1;
    }
    drop(release_tx);
    for h in handles {
        pool.block_on(h).unwrap();
    }
    assert_eq!(
        per_thread.len(),
        2,
        "both workers got tasks: {per_thread:?}"
    );
    for (_, n) in per_thread {
        assert!((22..=42).contains(&n), "a worker's share is {n} of 64");
    }
}

#[test]
fn stackful_tasks_stay_on_the_worker_they_started_on() {
    // 200 stackful tasks on 2 workers each wait 50 times on a future that a
    // thread outside the pool completes; every wake from outside would land
    // on the injector, so an unpinned task would hop between workers.
    let pool = pool(2);
    let (tx, rx) = std::sync::mpsc::channel::<async_channel::Sender<()>>();
    let feeder = std::thread::spawn(move || {
        for s in rx {
            s.send_blocking(()).unwrap();
        }
    });
    let handles: Vec<_> = (0..200)
        .map(|i| {
            let tx = tx.clone();
            pool.spawn_stackful(move || {
                let me = std::thread::current().id();
                WHO.with(|w| w.set(i + 1));
                let mut hops = 0;
                for _ in 0..50 {
                    let (s, r) = async_channel::bounded(1);
                    tx.send(s).unwrap();
                    wait(r.recv()).unwrap();
                    if std::thread::current().id() != me {
                        hops += 1;
                    }
                    // A thread-local read after the switch sees this thread's.
                    WHO.with(|w| assert!(w.get() != 0));
                    WHO.with(|w| w.set(i + 1));
                }
                hops
            })
        })
        .collect();
    drop(tx);
    let hops: usize = handles.into_iter().map(|h| pool.block_on(h).unwrap()).sum();
    assert_eq!(hops, 0, "stackful tasks migrated between workers");
    drop(pool);
    feeder.join().unwrap();
}

#[test]
fn pool_spawns_stackful_from_inside_and_outside_and_joins() {
    for workers in [1, 2] {
        let pool = pool(workers);
        let outside: Vec<_> = (0..100u64)
            .map(|i| pool.spawn_stackful(move || wait(spawn(async move { i })).unwrap()))
            .collect();
        let inside = pool.spawn(async {
            let hs: Vec<_> = (0..100u64)
                .map(|i| spawn_stackful(move || wait(spawn(async move { i * 2 })).unwrap()))
                .collect();
            let mut s = 0;
            for h in hs {
                s += h.await.unwrap();
            }
            s
        });
        let a: u64 = outside.into_iter().map(|h| pool.block_on(h).unwrap()).sum();
        assert_eq!(a, 4950);
        assert_eq!(pool.block_on(inside).unwrap(), 9900);
    }
}

#[test]
fn pool_abort_from_another_thread_unwinds_a_suspended_stackful_task() {
    let pool = pool(2);
    let stacks = PooledStack::new(64 * 1024).unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (_tx, rx) = async_channel::bounded::<()>(1);
    let d = drops.clone();
    let h = pool.spawn_stackful_with(stacks.clone(), move || {
        struct D(Arc<AtomicUsize>);
        impl Drop for D {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let _d = D(d);
        started_tx.send(()).unwrap();
        wait(rx.recv()).ok();
    });
    started_rx.recv().unwrap();
    let aborter = std::thread::spawn(move || {
        h.abort();
        h
    });
    let h = aborter.join().unwrap();
    assert!(matches!(pool.block_on(h), Err(e) if e.is_cancelled()));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(stacks.live(), 0);
}

#[test]
fn pool_drop_with_10_000_suspended_stackful_tasks_frees_everything() {
    let pool = pool(2);
    let stacks = PooledStack::new(32 * 1024).unwrap();
    let counting = Arc::new(Counting::new(Recycling));
    let unwound = Arc::new(AtomicUsize::new(0));
    let (_tx, rx) = async_channel::bounded::<()>(1);
    let (s, u) = (stacks.clone(), unwound.clone());
    let root = run_async(&pool, counting.clone(), async move {
        let (started_tx, started_rx) = async_channel::unbounded::<()>();
        for _ in 0..10_000 {
            let (rx, u, started_tx) = (rx.clone(), u.clone(), started_tx.clone());
            drop(coframe::spawn_stackful_with(s.clone(), move || {
                struct Bump(Arc<AtomicUsize>);
                impl Drop for Bump {
                    fn drop(&mut self) {
                        self.0.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let _b = Bump(u);
                started_tx.try_send(()).unwrap();
                wait(rx.recv()).ok();
            }));
        }
        for _ in 0..10_000 {
            started_rx.recv().await.unwrap();
        }
    });
    pool.block_on(root).unwrap();
    assert_eq!(stacks.live(), 10_000);
    assert!(counting.live_frames() >= 10_000);
    drop(pool);
    assert_eq!(unwound.load(Ordering::Relaxed), 10_000);
    assert_eq!(stacks.live(), 0);
    assert_eq!(counting.live_frames(), 0);
}

#[test]
fn stacks_come_from_the_executors_stack_allocator() {
    let stacks = PooledStack::new(128 * 1024).unwrap();
    let ex = LocalExecutor::with_stack_allocator(stacks.clone());
    let (tx, rx) = async_channel::bounded::<()>(1);
    let h = ex.spawn(async move {
        // Spawned from inside a task: the executor's allocator too.
        let inner = spawn_stackful(move || wait(rx.recv()).unwrap());
        inner.await.unwrap()
    });
    let direct = ex.spawn_stackful(|| 3);
    ex.run_until_stalled();
    assert_eq!(stacks.live(), 1, "the suspended inner task's stack");
    tx.try_send(()).unwrap();
    ex.run_until(h).unwrap();
    assert_eq!(ex.run_until(direct).unwrap(), 3);
    assert_eq!(stacks.live(), 0);
    assert_eq!(
        stacks.mapped(),
        2,
        "both tasks ran on the executor's stacks"
    );
}

#[test]
fn pool_stackful_tasks_take_the_pools_stacks() {
    let stacks = PooledStack::new(96 * 1024).unwrap();
    let pool = coframe::ThreadPool::builder()
        .worker_threads(2)
        .stack_allocator(stacks.clone())
        .build()
        .unwrap();
    let (tx, rx) = async_channel::bounded::<()>(1);
    let (up_tx, up_rx) = std::sync::mpsc::channel();
    let outer = pool.spawn(async move {
        let inner = spawn_stackful(move || {
            up_tx.send(()).unwrap();
            wait(rx.recv()).unwrap()
        });
        inner.await.unwrap()
    });
    up_rx.recv().unwrap();
    assert_eq!(stacks.live(), 1);
    tx.send_blocking(()).unwrap();
    pool.block_on(outer).unwrap();
    assert_eq!(pool.block_on(pool.spawn_stackful(|| 4)).unwrap(), 4);
    drop(pool);
    assert_eq!(stacks.live(), 0);
    assert!(stacks.mapped() >= 1);
}

#[test]
fn a_strand_serializes_stackful_tasks_mixed_with_futures_on_a_two_worker_pool() {
    // 50 stackful tasks and 50 async tasks on one strand over a 2-worker
    // pool, all incrementing a non-atomic counter between waits: the strand
    // never runs two at once, and a stackful task never changes thread.
    struct Racy(std::cell::UnsafeCell<u64>);
    // SAFETY: only touched from strand work, which never runs concurrently.
    unsafe impl Sync for Racy {}
    let pool = pool(2);
    let strand = coframe::Strand::new(&pool);
    let counter = Arc::new(Racy(std::cell::UnsafeCell::new(0)));
    let running = Arc::new(AtomicUsize::new(0));
    // A thread outside the pool completes what the stackful tasks wait on:
    // its wakes reach the pool through the injector, where any worker may
    // pick up the strand's drain.
    let (feed_tx, feed_rx) = std::sync::mpsc::channel::<async_channel::Sender<()>>();
    let feeder = std::thread::spawn(move || {
        for s in feed_rx {
            s.send_blocking(()).unwrap();
        }
    });
    // Keep both workers busy so either may take the drain off the injector.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            pool.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    yield_now().await;
                }
            })
        })
        .collect();
    let mut handles = Vec::new();
    for i in 0..100u64 {
        let (counter, running, feed_tx) = (counter.clone(), running.clone(), feed_tx.clone());
        let body = move |n: u64| {
            assert_eq!(
                running.fetch_add(1, Ordering::SeqCst),
                0,
                "two strand runs at once"
            );
            // SAFETY: serialized by the strand (asserted above).
            unsafe { *counter.0.get() += n };
            running.fetch_sub(1, Ordering::SeqCst);
        };
        if i % 2 == 0 {
            handles.push(strand.spawn_stackful(move || {
                let me = std::thread::current().id();
                for _ in 0..20 {
                    body(1);
                    // Completed by the outside thread: the wake re-enters
                    // through the strand.
                    let (s, r) = async_channel::bounded(1);
                    feed_tx.send(s).unwrap();
                    wait(r.recv()).unwrap();
                    assert_eq!(std::thread::current().id(), me, "migrated");
                }
            }));
        } else {
            handles.push(strand.spawn(async move {
                for _ in 0..20 {
                    body(1);
                    spawn(async {}).await.unwrap();
                }
            }));
        }
    }
    drop(feed_tx);
    for h in handles {
        pool.block_on(h).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for h in busy {
        pool.block_on(h).unwrap();
    }
    // SAFETY: every task finished.
    assert_eq!(unsafe { *counter.0.get() }, 2000);
    drop(pool);
    feeder.join().unwrap();
}

#[test]
fn spawn_stackful_inside_strand_work_binds_to_the_strand() {
    let pool = pool(2);
    let strand = coframe::Strand::new(&pool);
    let s2 = strand.clone();
    let h = strand.spawn(async move {
        let inner = spawn_stackful(move || {
            assert!(
                s2.running_in_this_thread(),
                "the stackful task runs on the strand"
            );
            wait(spawn(async { 3 })).unwrap()
        });
        inner.await.unwrap()
    });
    assert_eq!(pool.block_on(h).unwrap(), 3);
}

#[test]
fn pool_drop_cancels_stackful_tasks_suspended_on_a_strand() {
    let pool = pool(2);
    let strand = coframe::Strand::new(&pool);
    let unwound = Arc::new(AtomicUsize::new(0));
    let (_tx, rx) = async_channel::bounded::<()>(1);
    let (up_tx, up_rx) = std::sync::mpsc::channel();
    for _ in 0..100 {
        let (rx, u, up) = (rx.clone(), unwound.clone(), up_tx.clone());
        drop(strand.spawn_stackful(move || {
            struct D(Arc<AtomicUsize>);
            impl Drop for D {
                fn drop(&mut self) {
                    self.0.fetch_add(1, Ordering::SeqCst);
                }
            }
            let _d = D(u);
            up.send(()).unwrap();
            wait(rx.recv()).ok();
        }));
    }
    for _ in 0..100 {
        up_rx.recv().unwrap();
    }
    let stacks = pool.stack_allocator().clone();
    assert_eq!(stacks.live(), 100);
    drop(pool);
    assert_eq!(unwound.load(Ordering::SeqCst), 100);
    assert_eq!(stacks.live(), 0);
}

/// Every combination of executors runs stackful tasks: on a strand over a
/// strand over a 2-worker pool, 40 stackful tasks wait 20 times each for
/// an outside thread and never change thread, while both workers are kept
/// busy (either could take the drains); their runs and the inner strand's
/// own work never overlap. Then 40 more are left suspended and the pool is
/// dropped: each is unwound (on its worker) and every stack comes back.
#[test]
fn stackful_tasks_on_a_strand_over_a_strand_over_a_pool_stay_on_one_thread() {
    let pool = pool(2);
    let inner = coframe::Strand::new(&pool);
    let outer = coframe::Strand::new(&inner);
    let running = Arc::new(AtomicUsize::new(0));
    let (feed_tx, feed_rx) = std::sync::mpsc::channel::<async_channel::Sender<()>>();
    let feeder = std::thread::spawn(move || {
        for s in feed_rx {
            s.send_blocking(()).unwrap();
        }
    });
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            pool.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    yield_now().await;
                }
            })
        })
        .collect();
    let exclusive = |running: &AtomicUsize| {
        assert_eq!(
            running.fetch_add(1, Ordering::SeqCst),
            0,
            "two strand runs at once"
        );
        running.fetch_sub(1, Ordering::SeqCst);
    };
    let mut handles = Vec::new();
    for _ in 0..40 {
        let (r, feed_tx) = (running.clone(), feed_tx.clone());
        handles.push(outer.spawn_stackful(move || {
            let me = std::thread::current().id();
            for _ in 0..20 {
                exclusive(&r);
                let (s, done) = async_channel::bounded(1);
                feed_tx.send(s).unwrap();
                wait(done.recv()).unwrap();
                assert_eq!(std::thread::current().id(), me, "migrated");
            }
        }));
        let running = running.clone();
        handles.push(inner.spawn(async move {
            for _ in 0..20 {
                exclusive(&running);
                yield_now().await;
            }
        }));
    }
    drop(feed_tx);
    for h in handles {
        pool.block_on(h).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for h in busy {
        pool.block_on(h).unwrap();
    }
    feeder.join().unwrap();

    let unwound = Arc::new(AtomicUsize::new(0));
    let (_tx, rx) = async_channel::bounded::<()>(1);
    let (up_tx, up_rx) = std::sync::mpsc::channel();
    for _ in 0..40 {
        let (rx, u, up) = (rx.clone(), unwound.clone(), up_tx.clone());
        drop(outer.spawn_stackful(move || {
            struct D(Arc<AtomicUsize>, std::thread::ThreadId);
            impl Drop for D {
                fn drop(&mut self) {
                    assert_eq!(std::thread::current().id(), self.1, "unwound elsewhere");
                    self.0.fetch_add(1, Ordering::SeqCst);
                }
            }
            let _d = D(u, std::thread::current().id());
            up.send(()).unwrap();
            wait(rx.recv()).ok();
        }));
    }
    for _ in 0..40 {
        up_rx.recv().unwrap();
    }
    let stacks = pool.stack_allocator().clone();
    assert_eq!(stacks.live(), 40);
    drop((outer, inner));
    drop(pool);
    assert_eq!(unwound.load(Ordering::SeqCst), 40);
    assert_eq!(stacks.live(), 0);
}

/// Documented policy (module `coframe::stackful`, "Floating-point control
/// state"): a stackful task shares the thread's FP control state, as async
/// tasks do, so a rounding mode it sets before waiting is what the next task
/// on the thread runs with. Fails if stackful tasks switch with
/// `Switch::Full` (their mode would stay with them; checked on both
/// architectures).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn stackful_tasks_share_the_threads_fp_control_state_like_async_tasks() {
    use crate::fp_mode::{get, set, ROUND_MASK, ROUND_UP};
    let base = get();
    let ex = LocalExecutor::new();
    let (tx, rx) = async_channel::bounded::<()>(1);
    let stackful = ex.spawn_stackful(move || {
        set((get() & !ROUND_MASK) | ROUND_UP);
        wait(rx.recv()).unwrap(); // suspends: the async task runs meanwhile
        let after = get();
        set(base);
        after
    });
    let observer = ex.spawn(async move {
        let seen = get();
        set(base); // the thread's mode is the thread's: reset it here
        tx.send(()).await.unwrap();
        seen
    });
    let seen_by_async = ex.run_until(observer).unwrap();
    let seen_after_wait = ex.run_until(stackful).unwrap();
    set(base);
    assert_eq!(
        seen_by_async & ROUND_MASK,
        ROUND_UP,
        "the stackful task's rounding mode should be the thread's while it waits"
    );
    assert_eq!(
        seen_after_wait & ROUND_MASK,
        base & ROUND_MASK,
        "a mode reset by another task should be what the stackful task resumes with"
    );
}
