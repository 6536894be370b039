//! User code that misbehaves (panicking wakers, destructors, resources and
//! hooks; nested executor runs; shutdowns from inside tasks) must not break
//! the runtime: no dead worker, no leaked cell or allocator, no deadlock, no
//! abort. And the per-thread runtime context is saved and restored as a
//! unit around stackful switches.

use coframe::frame::{AllocError, Counting, MemoryResource, Recycling, System};
use coframe::{run_async, JoinHandle, LocalExecutor, Strand, ThreadPool};
use std::alloc::Layout;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

// ---------------------------------------------------------------------------
// Helpers.

/// A waker whose `wake`/`wake_by_ref` panic; with `panic_on_drop`, the
/// clones it makes (what an awaited handle stores) panic when dropped
/// (data pointer 1; the original is 3).
fn panicking_waker(panic_on_drop: bool) -> Waker {
    unsafe fn clone(data: *const ()) -> RawWaker {
        let data = if data as usize == 3 {
            1 as *const ()
        } else {
            data
        };
        RawWaker::new(data, &VTABLE)
    }
    unsafe fn wake(_: *const ()) {
        panic!("a waker that panics in wake");
    }
    unsafe fn drop_w(data: *const ()) {
        if data as usize == 1 && !std::thread::panicking() {
            panic!("a waker that panics in drop");
        }
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop_w);
    let data = if panic_on_drop { 3 } else { 2 } as *const ();
    // SAFETY: the vtable functions ignore the data pointer but for its
    // value, and uphold the RawWaker contract (clone returns a waker with
    // the same vtable).
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

/// Polls `f` once with `waker`.
fn poll_once_with<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

/// A future that is pending until `flag` is set (it spins through the
/// executor: wakes itself each time).
struct Until(Arc<AtomicBool>);

impl Future for Until {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Silences the default panic output for the panics these tests provoke on
/// purpose (they are asserted, not printed).
fn quiet<R>(f: impl FnOnce() -> R) -> R {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

// ---------------------------------------------------------------------------
// 1. A panicking awaiter waker.

/// The awaiter's waker panics when the task completes: the worker survives
/// (a later task still runs), the cell and the allocator are freed.
#[test]
fn a_panicking_join_waker_does_not_kill_a_pool_worker() {
    quiet(|| {
        let pool = ThreadPool::builder().worker_threads(1).build().unwrap();
        let frames = Arc::new(Counting::new(Recycling));
        let go = Arc::new(AtomicBool::new(false));
        let mut h = run_async(&pool, frames.clone(), Until(go.clone()));
        let waker = panicking_waker(false);
        assert!(poll_once_with(&mut h, &waker).is_pending());
        go.store(true, Ordering::SeqCst);
        // The worker completes the task and calls the panicking waker; it
        // must still be alive to run this one (bounded wait: a dead worker
        // fails the test instead of hanging it).
        let (tx, rx) = mpsc::channel();
        drop(pool.spawn(async move { tx.send(7).unwrap() }));
        assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(20)), Ok(7));
        assert!(pool.block_on(h).is_ok());
        drop(pool);
        assert_eq!(frames.live_frames(), 0, "the cell went back");
    });
}

#[test]
fn a_panicking_join_waker_does_not_escape_run_until() {
    quiet(|| {
        let ex = LocalExecutor::new();
        let frames = Arc::new(Counting::new(System));
        let go = Arc::new(AtomicBool::new(false));
        let mut h = run_async(&ex, frames.clone(), Until(go.clone()));
        let waker = panicking_waker(false);
        assert!(poll_once_with(&mut h, &waker).is_pending());
        go.store(true, Ordering::SeqCst);
        ex.run_until_stalled();
        assert!(h.is_finished());
        assert!(ex.run_until(h).is_ok());
        assert_eq!(frames.live_frames(), 0);
        drop(ex);
        assert_eq!(frames.live_frames(), 0);
    });
}

#[test]
fn a_panicking_join_waker_on_a_strand_and_a_stackful_task() {
    quiet(|| {
        let pool = ThreadPool::builder().worker_threads(1).build().unwrap();
        let strand = Strand::new(&pool);
        let go = Arc::new(AtomicBool::new(false));
        let g = go.clone();
        let mut on_strand = strand.spawn(Until(g));
        let g = go.clone();
        let mut stackful = pool.spawn_stackful(move || coframe::stackful::wait(Until(g)));
        let waker = panicking_waker(false);
        assert!(poll_once_with(&mut on_strand, &waker).is_pending());
        assert!(poll_once_with(&mut stackful, &waker).is_pending());
        go.store(true, Ordering::SeqCst);
        assert!(pool.block_on(on_strand).is_ok());
        assert!(pool.block_on(stackful).is_ok());
        assert_eq!(pool.block_on(pool.spawn(async { 1 })).unwrap(), 1);
    });
}

// ---------------------------------------------------------------------------
// 2. A waker whose destructor panics, dropped with the JoinHandle.

#[test]
fn a_join_handle_whose_waker_panics_in_drop_frees_the_cell() {
    quiet(|| {
        let ex = LocalExecutor::new();
        let frames = Arc::new(Counting::new(System));
        let mut h = run_async(&ex, frames.clone(), std::future::pending::<()>());
        let waker = panicking_waker(true);
        assert!(poll_once_with(&mut h, &waker).is_pending());
        drop(waker);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(h)));
        assert!(dropped.is_err(), "the waker's panic reaches the dropper");
        drop(ex); // cancels the task: its cell is freed with the last reference
        assert_eq!(frames.live_frames(), 0, "the cell was not leaked");
    });
}

// ---------------------------------------------------------------------------
// 3. A resource whose deallocate panics.

/// A resource that panics in `deallocate` (after freeing the block, so the
/// test itself leaks nothing) and counts how often.
#[derive(Default)]
struct PanickingFree {
    frees: AtomicUsize,
}

impl MemoryResource for PanickingFree {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        System.allocate(layout)
    }
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.deallocate(ptr, layout) };
        self.frees.fetch_add(1, Ordering::SeqCst);
        panic!("a resource that panics in deallocate");
    }
}

struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The wrapper `run_async` owns: records that the allocator was dropped.
struct Owned(PanickingFree, #[allow(dead_code)] DropFlag);
impl MemoryResource for Owned {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.0.allocate(layout)
    }
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.0.deallocate(ptr, layout) }
    }
}

#[test]
fn a_panicking_deallocate_is_contained_on_the_pool() {
    quiet(|| {
        let pool = ThreadPool::builder().worker_threads(1).build().unwrap();
        let dropped = Arc::new(AtomicBool::new(false));
        let owned = Owned(PanickingFree::default(), DropFlag(dropped.clone()));
        let h = run_async(&pool, owned, async {
            // A child from the same allocator, freed on the worker.
            coframe::spawn(async { 2 }).await.unwrap() + 1
        });
        assert_eq!(pool.block_on(h).unwrap(), 3);
        // The worker is alive, and the allocator was dropped after its last
        // frame (the cells' counts were released despite the panics).
        assert_eq!(pool.block_on(pool.spawn(async { 5 })).unwrap(), 5);
        drop(pool);
        assert!(dropped.load(Ordering::SeqCst), "the allocator was dropped");
    });
}

#[test]
fn a_panicking_deallocate_is_contained_on_the_local_executor() {
    quiet(|| {
        let ex = LocalExecutor::new();
        let dropped = Arc::new(AtomicBool::new(false));
        let owned = Owned(PanickingFree::default(), DropFlag(dropped.clone()));
        let h = run_async(&ex, owned, async {
            coframe::spawn_local(async { 2 }).await.unwrap()
        });
        assert_eq!(ex.run_until(h).unwrap(), 2);
        drop(ex);
        assert!(dropped.load(Ordering::SeqCst));
    });
}

// ---------------------------------------------------------------------------
// 4. run_until re-entered from one of its own tasks.

#[test]
fn run_until_from_its_own_task_is_refused_not_a_deadlock() {
    quiet(|| {
        let ex = std::rc::Rc::new(LocalExecutor::new());
        let inner = ex.clone();
        let h = ex.spawn(async move { inner.run_until(async { 1 }) });
        let err = ex.run_until(h).unwrap_err();
        let msg = crate::panic_message(err.into_panic());
        assert!(
            msg.contains("from inside one of the same executor's tasks"),
            "{msg}"
        );
        let inner = ex.clone();
        let h = ex.spawn(async move { inner.run_until_stalled() });
        assert!(ex.run_until(h).unwrap_err().is_panic());
        // Another executor nests fine.
        let h = ex.spawn(async { LocalExecutor::new().run_until(async { 2 }) });
        assert_eq!(ex.run_until(h).unwrap(), 2);
    });
}

// ---------------------------------------------------------------------------
// 5. A shutdown from inside a task that cancels the last pool handle.

#[test]
fn the_last_pool_handle_dropped_by_a_worker_is_not_joined_from_it() {
    let pool = Arc::new(ThreadPool::builder().worker_threads(1).build().unwrap());
    let keep = pool.clone();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let holder = pool.spawn(async move {
        let _keep = keep;
        s.store(true, Ordering::SeqCst);
        std::future::pending::<()>().await
    });
    let (tx, rx) = mpsc::channel::<()>();
    let closer = pool.clone();
    let stopper = pool.spawn(async move {
        rx.recv().unwrap(); // the test thread dropped its handle
        closer.shutdown();
    });
    drop(stopper);
    while !started.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    drop(pool);
    tx.send(()).unwrap();
    // The worker's exit path cancels `holder`, which drops the last
    // `Arc<ThreadPool>` on that worker: documented `Cancelled`, not a panic
    // from joining itself.
    let out = coframe::block_on(holder);
    assert!(out.unwrap_err().is_cancelled());
}

// ---------------------------------------------------------------------------
// 7. A strand's panic hook that panics.

struct CountDrop(Arc<AtomicUsize>);
impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_panicking_strand_hook_drops_its_payload() {
    quiet(|| {
        let ex = LocalExecutor::new();
        let strand = Strand::new(&ex);
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        strand.set_panic_hook(move |_payload| {
            std::panic::panic_any(CountDrop(d.clone()));
        });
        strand.post(|| panic!("handler"));
        let after = Arc::new(AtomicBool::new(false));
        let a = after.clone();
        strand.post(move || a.store(true, Ordering::SeqCst));
        ex.run_until_stalled();
        assert!(after.load(Ordering::SeqCst), "the strand goes on");
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the hook's payload was dropped"
        );
    });
}

// ---------------------------------------------------------------------------
// 8. The context goes with a stackful task that suspends inside a nested
// executor.

#[test]
fn a_nested_executor_does_not_leak_across_a_stackful_suspend() {
    let outer = LocalExecutor::new();
    let (tx, rx) = async_channel::bounded::<u32>(1);
    let task = outer.spawn_stackful(move || {
        let nested = LocalExecutor::new();
        let n = &nested;
        nested.run_until(async move {
            use coframe::Executor;
            assert!(n.running_in_this_thread());
            // Suspends the whole stackful task, nested loop included.
            let v = coframe::stackful::wait(rx.recv()).unwrap();
            // Resumed: the task's own context (the nested executor) is back.
            assert!(n.running_in_this_thread(), "the nested executor came back");
            v
        })
    });
    let out = outer.run_until(async move {
        crate::util::yield_now().await;
        // The stackful task is suspended inside `nested.run_until`: a child
        // spawned here must land on `outer`, not on the nested executor.
        let child = coframe::spawn_local(async { 40 });
        tx.send(2).await.unwrap();
        child.await.unwrap() + task.await.unwrap()
    });
    assert_eq!(out, 42);
}

/// The same, with two suspensions in one poll of the nested loop: the
/// second resume puts the task's kept context back and the task suspends
/// again without writing the context in between; what it kept must still
/// go with it, and the outer executor's come back.
#[test]
fn a_nested_executor_stays_with_a_task_that_suspends_twice_in_one_poll() {
    let outer = LocalExecutor::new();
    let (tx, rx) = async_channel::bounded::<u32>(1);
    let task = outer.spawn_stackful(move || {
        let nested = LocalExecutor::new();
        let n = &nested;
        nested.run_until(async move {
            use coframe::Executor;
            let a = coframe::stackful::wait(rx.recv()).unwrap();
            let b = coframe::stackful::wait(rx.recv()).unwrap();
            assert!(n.running_in_this_thread(), "the nested executor came back");
            a + b
        })
    });
    let out = outer.run_until(async move {
        let mut sum = 0;
        for v in [1, 2] {
            crate::util::yield_now().await;
            // The task is suspended inside `nested.run_until`.
            let child = coframe::spawn_local(async { 20 });
            tx.send(v).await.unwrap();
            sum += child.await.unwrap();
        }
        sum + task.await.unwrap()
    });
    assert_eq!(out, 43);
}

// ---------------------------------------------------------------------------
// 9. spawn_stackful inside ThreadPool::block_on.

#[test]
fn spawn_stackful_inside_pool_block_on_runs_on_a_worker() {
    let pool = ThreadPool::builder()
        .worker_threads(2)
        .thread_name("ps-worker")
        .build()
        .unwrap();
    let out = pool.block_on(async {
        let h: JoinHandle<String> = coframe::spawn_stackful(|| {
            let here = std::thread::current().name().unwrap_or("").to_string();
            coframe::stackful::wait(async {});
            assert_eq!(std::thread::current().name().unwrap_or(""), here);
            here
        });
        h.await.unwrap()
    });
    assert!(out.starts_with("ps-worker"), "{out}");
}

// ---------------------------------------------------------------------------
// 10. The pool's final cleanup has the pool current, on every path.

struct SpawnsOnDrop(Arc<AtomicUsize>);
impl Drop for SpawnsOnDrop {
    fn drop(&mut self) {
        // Panics if no executor is current; on a closed pool the new task
        // is cancelled on the spot.
        let h = coframe::spawn(async {});
        drop(h);
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn pool_shutdown_cleanup_always_has_an_executor_current() {
    let dropped = Arc::new(AtomicUsize::new(0));
    // A stress check across the races; the exact interleaving (the dropping
    // thread finishes last) is pinned down by a unit test in the pool.
    let rounds = if cfg!(debug_assertions) { 200 } else { 1000 };
    for _ in 0..rounds {
        let pool = ThreadPool::builder().worker_threads(4).build().unwrap();
        let guard = SpawnsOnDrop(dropped.clone());
        let h = pool.spawn(async move {
            let _g = guard;
            std::future::pending::<()>().await
        });
        drop(pool);
        assert!(coframe::block_on(h).unwrap_err().is_cancelled());
    }
    assert_eq!(dropped.load(Ordering::SeqCst), rounds);
}

// ---------------------------------------------------------------------------
// 11. A panicking task's future is dropped during the unwind.

/// A hand-written future (its fields are not locals of an `async` body, so
/// no unwinding drops them) whose `poll` panics.
struct PanicsInPoll<G> {
    _flag: SeesPanic,
    _guard: G,
}

impl<G: Unpin> Future for PanicsInPoll<G> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        panic!("inside the task's poll");
    }
}

struct SeesPanic(Arc<AtomicBool>);
impl Drop for SeesPanic {
    fn drop(&mut self) {
        self.0.store(std::thread::panicking(), Ordering::SeqCst);
    }
}

#[test]
fn a_panicking_tasks_future_is_dropped_while_panicking() {
    quiet(|| {
        static LOCK: Mutex<i32> = Mutex::new(0);
        let saw = Arc::new(AtomicBool::new(false));
        let ex = LocalExecutor::new();
        let h = ex.spawn(PanicsInPoll {
            _flag: SeesPanic(saw.clone()),
            _guard: LOCK.lock().unwrap(),
        });
        assert!(ex.run_until(h).unwrap_err().is_panic());
        assert!(saw.load(Ordering::SeqCst), "the destructor saw the panic");
        assert!(LOCK.is_poisoned(), "the guard poisoned its mutex");

        let pool = ThreadPool::builder().worker_threads(1).build().unwrap();
        let saw = Arc::new(AtomicBool::new(false));
        let h = pool.spawn(PanicsInPoll {
            _flag: SeesPanic(saw.clone()),
            _guard: (),
        });
        assert!(pool.block_on(h).unwrap_err().is_panic());
        assert!(saw.load(Ordering::SeqCst));
    });
}

// ---------------------------------------------------------------------------
// 6. Waiting in a destructor while a suspended stackful task is cancelled.

/// On drop, waits (`try_wait`) on a future that never completes, then
/// `wait`s on a ready one, and records both.
struct WaitsOnDrop(Arc<Mutex<Vec<String>>>);

impl Drop for WaitsOnDrop {
    fn drop(&mut self) {
        let pending = coframe::stackful::try_wait(std::future::pending::<u8>());
        let ready = coframe::stackful::wait(async { 7 });
        let inside = coframe::stackful::in_stackful_task();
        self.0
            .lock()
            .unwrap()
            .push(format!("{pending:?} {ready} {inside}"));
    }
}

fn waits_on_drop_task(log: Arc<Mutex<Vec<String>>>) -> impl FnOnce() + Send + 'static {
    move || {
        let _w = WaitsOnDrop(log);
        coframe::stackful::wait(std::future::pending::<()>())
    }
}

#[test]
fn waiting_in_a_destructor_during_cancellation_returns_at_once() {
    let expected = vec!["Err(Cancelled) 7 false".to_string()];
    // abort on the local executor
    let log = Arc::new(Mutex::new(Vec::new()));
    let ex = LocalExecutor::new();
    let h = ex.spawn_stackful(waits_on_drop_task(log.clone()));
    ex.run_until_stalled();
    h.abort();
    assert!(ex.run_until(h).unwrap_err().is_cancelled());
    assert_eq!(*log.lock().unwrap(), expected);
    // executor shutdown
    let log = Arc::new(Mutex::new(Vec::new()));
    let h = ex.spawn_stackful(waits_on_drop_task(log.clone()));
    ex.run_until_stalled();
    drop(ex);
    assert!(coframe::block_on(h).unwrap_err().is_cancelled());
    assert_eq!(*log.lock().unwrap(), expected);
    // pool shutdown, and abort on the pool
    let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let l = log.clone();
    let h = pool.spawn_stackful(move || {
        let _w = WaitsOnDrop(l);
        tx.send(()).unwrap();
        coframe::stackful::wait(std::future::pending::<()>())
    });
    rx.recv().unwrap();
    h.abort();
    assert!(pool.block_on(h).unwrap_err().is_cancelled());
    let h = pool.spawn_stackful(waits_on_drop_task(log.clone()));
    let (tx, rx) = mpsc::channel();
    drop(pool.spawn(async move { tx.send(()).unwrap() }));
    rx.recv().unwrap();
    drop(pool);
    assert!(coframe::block_on(h).unwrap_err().is_cancelled());
    let log = log.lock().unwrap();
    assert!(!log.is_empty());
    assert!(log.iter().all(|l| *l == expected[0]), "{log:?}");
}

/// The limit of 6 (ARCHITECTURE.md, "User code cannot break the
/// runtime"): a destructor that panics while a cancelled stackful task's
/// stack is unwound is a panic escaping a destructor during unwinding,
/// which the compiled code itself turns into an abort with Rust's message
/// (no `catch_unwind` anywhere can intercept it: the drop's unwind edge
/// leads to a trap, not to a landing pad). What coframe owes is that the
/// abort is that one, with that message, and happens only then: the same
/// destructor in an async task is a `JoinError`, and in a stackful task
/// that is not cancelled it is a `JoinError` too. In a child process.
#[test]
fn a_panicking_destructor_in_a_cancelled_stackful_task_is_rusts_abort() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("a destructor that panics");
        }
    }
    if std::env::var("COFRAME_CHILD_SCENARIO").as_deref() == Ok("stackful-drop-panic") {
        let ex = LocalExecutor::new();
        let h = ex.spawn_stackful(|| {
            let _b = Bomb;
            coframe::stackful::wait(std::future::pending::<()>())
        });
        ex.run_until_stalled();
        h.abort();
        let _ = ex.run_until(h);
        eprintln!("not reached: the cancellation returned");
        return;
    }
    // Not cancelled: the destructor runs as the task's closure returns or
    // panics, and its panic is the task's.
    let ex = LocalExecutor::new();
    let h = ex.spawn_stackful(|| {
        let _b = Bomb;
        coframe::stackful::wait(async { 1 })
    });
    assert!(ex.run_until(h).unwrap_err().is_panic());
    let h = ex.spawn(async {
        let _b = Bomb;
        std::future::pending::<()>().await
    });
    ex.run_until_stalled();
    h.abort();
    assert!(ex.run_until(h).unwrap_err().is_panic());
    // Cancelled while suspended: Rust's abort, with its message.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "panic_safety::a_panicking_destructor_in_a_cancelled_stackful_task_is_rusts_abort",
            "--exact",
            "--nocapture",
        ])
        .env("COFRAME_CHILD_SCENARIO", "stackful-drop-panic")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(stderr.contains("a destructor that panics"), "{stderr}");
    assert!(
        stderr.contains("panic in a destructor during cleanup"),
        "{stderr}"
    );
    assert!(!stderr.contains("not reached"), "{stderr}");
}

/// A frame resource a stackful task makes current stays current across
/// its suspensions (the task's context goes with it), and the executor's
/// other tasks never see it.
#[test]
fn a_stackful_tasks_own_frame_resource_survives_a_suspend() {
    use coframe::frame::{current, set_current, ResourceHandle};
    let ex = LocalExecutor::new();
    let (tx, rx) = async_channel::bounded::<()>(1);
    let task = ex.spawn_stackful(move || {
        let mine = ResourceHandle::owning_local(System);
        let _g = set_current(&mine);
        coframe::stackful::wait(rx.recv()).unwrap();
        current().same_resource(&mine)
    });
    let out = ex.run_until(async move {
        crate::util::yield_now().await;
        // The task is suspended with its own resource current.
        let here = current().is_default();
        tx.send(()).await.unwrap();
        (here, task.await.unwrap())
    });
    assert_eq!(out, (true, true));
}
