//! The API a tokio or smol user expects: errors that `?` into
//! `Box<dyn Error + Send + Sync>`, one name for one thing, and the
//! conveniences (`yield_now`, `JoinSet`, `try_spawn`, the `LocalExecutor`
//! builder).

use coframe::{JoinError, LocalExecutor, ThreadPool};
use std::error::Error;

fn assert_send_sync_error<E: Error + Send + Sync + 'static>() {}

#[test]
fn join_error_is_send_sync_and_questions_into_a_boxed_error() {
    assert_send_sync_error::<JoinError>();
    fn run(ex: &LocalExecutor, panics: bool) -> Result<u32, Box<dyn Error + Send + Sync>> {
        let h = ex.spawn(async move {
            if panics {
                panic!("the task failed");
            }
            5
        });
        Ok(ex.run_until(h)?)
    }
    let ex = LocalExecutor::new();
    assert_eq!(run(&ex, false).unwrap(), 5);
    let err = run(&ex, true).unwrap_err();
    assert_eq!(err.to_string(), "task panicked: the task failed");
    let join: Box<JoinError> = err.downcast().unwrap();
    assert!(join.is_panic() && !join.is_cancelled());
    let payload = join.try_into_panic().unwrap();
    assert_eq!(*payload.downcast::<&str>().unwrap(), "the task failed");
}

#[test]
fn a_join_error_crosses_threads_by_reference() {
    let pool = ThreadPool::builder().worker_threads(1).build().unwrap();
    let h = pool.spawn(std::future::pending::<()>());
    h.abort();
    let err = pool.block_on(h).unwrap_err();
    // `&JoinError` is Send (JoinError is Sync): read it from another thread.
    let shown = std::thread::scope(|s| s.spawn(|| err.to_string()).join().unwrap());
    assert_eq!(shown, "task was cancelled");
    assert!(err.is_cancelled());
    assert!(err.try_into_panic().unwrap_err().is_cancelled());
}

/// Compiles `src` (a library crate) against the coframe rlib next to this
/// test binary and returns rustc's diagnostics, or `None` where that cannot
/// be done (no rlib found, a cross build, a rustc of another version, a
/// sanitizer build).
fn rustc_errors(name: &str, src: &str) -> Option<String> {
    use std::process::Command;
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        return None;
    }
    let deps = std::env::current_exe().ok()?.parent()?.to_path_buf();
    let rlib = std::fs::read_dir(&deps)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with("libcoframe-") && n.ends_with(".rlib")
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())?
        .path();
    let dir = std::env::temp_dir().join(format!("coframe-diag-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let file = dir.join("lib.rs");
    std::fs::write(&file, src).ok()?;
    let out = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .arg("--edition=2021")
        .args(["--crate-type=lib", "--emit=metadata", "--color=never"])
        .arg("--out-dir")
        .arg(&dir)
        .arg("--extern")
        .arg(format!("coframe={}", rlib.display()))
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg(&file)
        .output()
        .ok()?;
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if stderr.contains("E0514")
        || stderr.contains("E0460")
        || stderr.contains("E0463")
        || stderr.contains("mixing `-Zsanitizer`")
    {
        eprintln!("skipped: this rustc cannot read the test's coframe rlib:\n{stderr}");
        return None;
    }
    assert!(!out.status.success(), "{name}: the snippet compiled");
    Some(stderr)
}

#[test]
fn a_wrong_allocator_is_named_with_the_trait_and_the_adapter() {
    let Some(err) = rustc_errors(
        "resource_for",
        "pub fn f() {\n\
             let ex = coframe::LocalExecutor::new();\n\
             let _ = coframe::run_async(&ex, String::new(), async {});\n\
         }\n",
    ) else {
        return;
    };
    for want in [
        "`String` cannot be the frame allocator of this executor (`ResourceFor<Local>`)",
        "implements `coframe::frame::MemoryResource`",
        "must also be `Sync`: run an allocator that is not `Sync` on a `LocalExecutor`",
        "wrapped in `coframe::frame::Allocator2` (feature `allocator-api2`)",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    let Some(err) = rustc_errors(
        "memory_resource",
        "pub fn f() { let _ = coframe::frame::ResourceHandle::owning_local(String::new()); }\n",
    ) else {
        return;
    };
    for want in [
        "`String` is not a coframe frame allocator (`MemoryResource`)",
        "`coframe::frame::Allocator2`",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

#[test]
fn stackful_tasks_get_one_default_stack_size_wherever_they_run() {
    use coframe::stackful::{default_stacks, DEFAULT_STACK_SIZE};
    let pool = ThreadPool::builder().worker_threads(1).build().unwrap();
    assert_eq!(pool.stack_allocator().stack_size(), DEFAULT_STACK_SIZE);
    // A LocalExecutor without its own allocator uses the default stacks.
    assert_eq!(default_stacks().stack_size(), DEFAULT_STACK_SIZE);
    // So a closure that needs most of a default stack runs on both.
    fn deep(n: usize) -> usize {
        let pad = std::hint::black_box([n as u8; 512]);
        if n == 0 {
            pad[0] as usize
        } else {
            deep(n - 1) + pad[1] as usize
        }
    }
    let depth = DEFAULT_STACK_SIZE / 2 / 600;
    let on_pool = pool.block_on(pool.spawn_stackful(move || deep(depth)));
    let ex = LocalExecutor::new();
    let on_local = ex.run_until(ex.spawn_stackful(move || deep(depth)));
    assert_eq!(on_pool.unwrap(), on_local.unwrap());
}

#[test]
fn counting_stats_is_one_snapshot_of_every_counter() {
    use coframe::frame::{Counting, CountingStats, Recycling};
    use std::sync::Arc;
    let frames = Arc::new(Counting::new(Recycling));
    let ex = LocalExecutor::new();
    let root = coframe::run_async(&ex, frames.clone(), async {
        coframe::spawn_local(async { 1 }).await.unwrap()
    });
    let during: CountingStats = frames.stats();
    assert_eq!(during.live_frames, 1); // the root's cell
    assert_eq!(ex.run_until(root).unwrap(), 1);
    drop(ex);
    let after = frames.stats();
    assert_eq!(after.live_frames, 0);
    assert_eq!(after.live_bytes, 0);
    assert_eq!(after.total_allocations, 2); // the root and its child
    assert_eq!(after.upstream_calls, 2);
    assert_eq!(after.failed_allocations, 0);
    assert!(after.peak_bytes >= during.live_bytes && during.live_bytes > 0);
    assert_eq!(after.live_frames, frames.live_frames());
}

#[test]
fn the_pool_builder_and_its_getters_say_worker_threads() {
    let pool = ThreadPool::builder().worker_threads(3).build().unwrap();
    assert_eq!(pool.worker_threads(), 3);
    assert_eq!(pool.metrics().worker_threads, 3);
}

/// A task that spins on `yield_now` until a neighbour sets a flag: the
/// neighbour gets the thread only if `yield_now` really yields.
async fn spin_until_set(flag: std::sync::Arc<std::sync::atomic::AtomicBool>) -> u32 {
    use std::sync::atomic::Ordering;
    let mut spins = 0;
    while !flag.load(Ordering::SeqCst) {
        assert!(spins < 1_000_000, "the neighbour never ran");
        spins += 1;
        coframe::yield_now().await;
    }
    spins
}

#[test]
fn yield_now_lets_a_neighbour_run_on_the_local_executor_and_a_one_worker_pool() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let ex = LocalExecutor::new();
    let flag = Arc::new(AtomicBool::new(false));
    let spinner = ex.spawn(spin_until_set(flag.clone()));
    let f = flag.clone();
    ex.spawn(async move { f.store(true, Ordering::SeqCst) });
    assert_eq!(ex.run_until(spinner).unwrap(), 1);

    let pool = ThreadPool::builder().worker_threads(1).build().unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    // Both spawned from a pool task, the spinner first (it starts while
    // the parent yields), so the one worker has to interleave them.
    let spins = pool.block_on(pool.spawn(async move {
        let spinner = coframe::spawn(spin_until_set(flag));
        coframe::yield_now().await;
        coframe::spawn(async move { f.store(true, Ordering::SeqCst) });
        spinner.await.unwrap()
    }));
    assert!(spins.unwrap() >= 1);
}

#[test]
fn join_set_yields_results_as_tasks_finish_and_aborts_the_rest_on_drop() {
    use coframe::JoinSet;
    use std::rc::Rc;
    let ex = LocalExecutor::new();
    let (tx, rx) = async_channel::unbounded::<()>();
    let order = ex.run_until(async move {
        let mut set = JoinSet::new();
        // The first spawned finishes last: it waits for the others.
        set.spawn_local(async move {
            rx.recv().await.unwrap();
            0
        });
        for i in 1..=3 {
            let tx = tx.clone();
            set.spawn_local(async move {
                for _ in 0..i {
                    coframe::yield_now().await;
                }
                if i == 3 {
                    tx.send(()).await.unwrap();
                }
                i
            });
        }
        let mut order = Vec::new();
        while let Some(r) = set.join_next().await {
            order.push(r.unwrap());
        }
        order
    });
    assert_eq!(order, [1, 2, 3, 0]);

    // Dropping the set aborts its tasks: their futures are dropped.
    struct Dropped(Rc<std::cell::Cell<u32>>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let dropped = Rc::new(std::cell::Cell::new(0));
    let mut set = JoinSet::new();
    for _ in 0..3 {
        let d = Dropped(dropped.clone());
        set.spawn_on(&ex, async move {
            let _d = d;
            std::future::pending::<()>().await
        });
    }
    ex.run_until_stalled();
    assert_eq!(dropped.get(), 0);
    drop(set);
    ex.run_until_stalled();
    assert_eq!(dropped.get(), 3);
}

#[test]
fn join_set_is_a_stream_and_collects_pool_results() {
    use futures_util::StreamExt;
    let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
    let mut set = coframe::JoinSet::new();
    for i in 0..100u64 {
        set.spawn_on(&pool, async move { i });
    }
    assert_eq!(futures_core::Stream::size_hint(&set), (100, Some(100)));
    let sum: u64 = pool.block_on(set.map(|r| r.unwrap()).fold(0, |a, b| async move { a + b }));
    assert_eq!(sum, 4950);
}

#[test]
fn try_spawn_reports_a_missing_executor_instead_of_panicking() {
    use coframe::executor::TrySpawnError;
    let err = coframe::try_spawn(async { 1 }).unwrap_err();
    assert_eq!(err, TrySpawnError::NoExecutor);
    let pool = ThreadPool::builder().worker_threads(1).build().unwrap();
    let out = pool.block_on(async { coframe::try_spawn(async { 2 }).unwrap().await.unwrap() });
    assert_eq!(out, 2);
    // A refusing resource is an error too.
    use coframe::frame::{set_current, AllocError, MemoryResource, ResourceHandle};
    struct Refuse;
    impl MemoryResource for Refuse {
        fn allocate(&self, _: std::alloc::Layout) -> Result<std::ptr::NonNull<u8>, AllocError> {
            Err(AllocError)
        }
        unsafe fn deallocate(&self, _: std::ptr::NonNull<u8>, _: std::alloc::Layout) {}
    }
    let ex = LocalExecutor::new();
    let refused = ex.run_until(async {
        let refuse = ResourceHandle::owning_local(Refuse);
        let _g = set_current(&refuse);
        coframe::try_spawn(async {}).map(drop)
    });
    assert_eq!(refused, Err(TrySpawnError::Refused(AllocError)));
}

#[test]
fn the_local_executor_builder_sets_the_stacks_and_the_queue() {
    use coframe::context::PooledStack;
    let stacks = PooledStack::new(256 * 1024).unwrap();
    let ex = LocalExecutor::builder()
        .stack_allocator(stacks.clone())
        .queue_capacity(1)
        .build()
        .unwrap();
    let h = ex.spawn_stackful(|| 5);
    assert_eq!(
        stacks.live(),
        1,
        "the task's stack came from the builder's allocator"
    );
    // More ready tasks than the initial capacity: the queue grows.
    let hs: Vec<_> = (0..100).map(|i| ex.spawn(async move { i })).collect();
    ex.run_until_stalled();
    assert!(hs.iter().all(|h| h.is_finished()));
    assert_eq!(ex.run_until(h).unwrap(), 5);
    assert_eq!(stacks.live(), 0);
    let err = LocalExecutor::builder()
        .stackful_stack_size(1)
        .build()
        .unwrap_err();
    assert!(
        matches!(err, coframe::executor::BuildError::Stack(_)),
        "{err}"
    );
}

#[test]
fn spawn_blocking_runs_off_the_executor_and_a_panic_becomes_a_join_error() {
    let ex = LocalExecutor::new();
    let here = std::thread::current().id();
    let there = ex.run_until(ex.spawn_blocking(|| std::thread::current().id()));
    assert_ne!(there.unwrap(), here);
    let err = ex
        .run_until(ex.spawn_blocking(|| -> u8 { panic!("blocking failed") }))
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(
        *err.into_panic().downcast::<&str>().unwrap(),
        "blocking failed"
    );

    // From inside a pool task: the pool's own blocking threads.
    let pool = ThreadPool::builder()
        .worker_threads(1)
        .thread_name("api-pool")
        .build()
        .unwrap();
    let name = pool.block_on(pool.spawn(async {
        coframe::spawn_blocking(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap()
    }));
    assert_eq!(name.unwrap().as_deref(), Some("api-pool-blocking"));
    assert_eq!(pool.metrics().blocking_threads, 1);
}

#[test]
fn spawn_blocking_is_bounded_and_an_aborted_closure_never_starts() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc, Mutex};
    use std::time::Duration;
    let pool = ThreadPool::builder()
        .worker_threads(1)
        .max_blocking_threads(2)
        .build()
        .unwrap();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(gate_rx));
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..5)
        .map(|_| {
            let (started, gate) = (started_tx.clone(), gate.clone());
            let (running, most) = (running.clone(), most.clone());
            pool.spawn_blocking(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                started.send(()).unwrap();
                gate.lock().unwrap().recv().unwrap();
                running.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    started_rx.recv().unwrap();
    started_rx.recv().unwrap();
    // Both threads hold a closure: the third waits for one of them.
    assert!(started_rx.recv_timeout(Duration::from_millis(200)).is_err());
    assert_eq!(pool.metrics().blocking_threads, 2);
    // An aborted closure that has not started never runs.
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let aborted = pool.spawn_blocking(move || r.store(true, Ordering::SeqCst));
    aborted.abort();
    assert!(pool.block_on(aborted).unwrap_err().is_cancelled());
    for _ in 0..5 {
        gate_tx.send(()).unwrap();
    }
    for h in hs {
        pool.block_on(h).unwrap();
    }
    // Queued after the aborted one (FIFO): by its end the aborted one was
    // taken from the queue too.
    pool.block_on(pool.spawn_blocking(|| ())).unwrap();
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(most.load(Ordering::SeqCst), 2);
}

#[test]
fn idle_blocking_threads_exit_and_shutdown_does_not_wait_for_a_running_closure() {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};
    let pool = ThreadPool::builder()
        .worker_threads(1)
        .blocking_keep_alive(Duration::from_millis(1))
        .build()
        .unwrap();
    pool.block_on(pool.spawn_blocking(|| ())).unwrap();
    // The thread exits once idle for the keep-alive (awaited, bounded).
    let deadline = Instant::now() + Duration::from_secs(20);
    while pool.metrics().blocking_threads != 0 {
        assert!(
            Instant::now() < deadline,
            "the idle blocking thread never exited"
        );
        std::thread::yield_now();
    }
    let kept = ThreadPool::builder().worker_threads(1).build().unwrap();
    kept.block_on(kept.spawn_blocking(|| ())).unwrap();
    assert_eq!(
        kept.metrics().blocking_threads,
        1,
        "default keep-alive: 10 s"
    );

    // Shutdown: a running closure is not waited for; it finishes later.
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<bool>();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let h = pool.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        let released = release_rx.recv_timeout(Duration::from_secs(20)).is_ok();
        done_tx.send(released).unwrap();
    });
    started_rx.recv().unwrap();
    drop(pool); // must return while the closure still blocks
    release_tx.send(()).unwrap();
    assert!(done_rx.recv().unwrap(), "shutdown waited for the closure");
    assert!(coframe::block_on(h).unwrap_err().is_cancelled());
}

#[test]
fn local_executor_run_composes_with_block_on_and_other_executors() {
    use coframe::{block_on, spawn_local};
    use std::time::Duration;
    let ex = LocalExecutor::new();
    let early = ex.spawn(async { 1 }); // spawned before: runs inside `run`
    let out = block_on(ex.run(async {
        let rc = std::rc::Rc::new(2);
        let child = spawn_local(async move {
            coframe::time::sleep(Duration::from_millis(2)).await; // block_on's loop
            *rc
        });
        early.await.unwrap() + child.await.unwrap()
    }));
    assert_eq!(out, 3);

    // A wake from another thread reaches the task awaiting the run.
    let (tx, rx) = async_channel::bounded::<u32>(1);
    let t = std::thread::spawn(move || block_on(tx.send(40)).unwrap());
    let got = block_on(ex.run(async move {
        spawn_local(async move { rx.recv().await.unwrap() })
            .await
            .unwrap()
    }));
    assert_eq!(got, 40);
    t.join().unwrap();

    // Two executors run inside a task of a third, waiting on each other.
    let outer = LocalExecutor::new();
    let (a, b) = (LocalExecutor::new(), LocalExecutor::new());
    let (to_b, from_a) = async_channel::bounded::<u32>(1);
    let (to_a, from_b) = async_channel::bounded::<u32>(1);
    let sum = outer.run_until(futures_util::future::join(
        a.run(async move {
            spawn_local(async move {
                to_b.send(1).await.unwrap();
                from_b.recv().await.unwrap()
            })
            .await
            .unwrap()
        }),
        b.run(async move {
            let x = from_a.recv().await.unwrap();
            to_a.send(x + 1).await.unwrap();
            x
        }),
    ));
    assert_eq!(sum, (2, 1));
}

#[test]
fn a_busy_run_yields_to_its_driver() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    // A task of `ex` that spins on yield_now until a task of `outer` runs:
    // `run` must hand the thread back to `outer` while its tasks are busy.
    let outer = LocalExecutor::new();
    let ex = LocalExecutor::new();
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    outer.spawn(async move { f.store(true, Ordering::SeqCst) });
    let spins = outer.run_until(
        ex.run(async move { coframe::spawn_local(spin_until_set(flag)).await.unwrap() }),
    );
    assert!(spins >= 1);
}

#[test]
fn pool_thread_hooks_run_on_every_worker_and_a_panicking_hook_is_contained() {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};
    let names = Arc::new(Mutex::new(Vec::<String>::new()));
    let stops = Arc::new(Mutex::new(Vec::<String>::new()));
    let (n, s) = (names.clone(), stops.clone());
    let here = |v: &Mutex<Vec<String>>| {
        let name = std::thread::current().name().unwrap().to_owned();
        v.lock().unwrap().push(name);
    };
    let pool = ThreadPool::builder()
        .worker_threads(2)
        .thread_name("hooked")
        .on_thread_start(move || {
            here(&n);
            panic!("a start hook that panics");
        })
        .on_thread_stop(move || here(&s))
        .build()
        .unwrap();
    // The workers run tasks although their start hook panicked.
    let hs: Vec<_> = (0..8).map(|i| pool.spawn(async move { i })).collect();
    let sum: i32 = pool.block_on(async {
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, 28);
    drop(pool);
    let want: HashSet<String> = ["hooked-0", "hooked-1"].map(String::from).into();
    let started: HashSet<String> = names.lock().unwrap().iter().cloned().collect();
    let stopped: HashSet<String> = stops.lock().unwrap().iter().cloned().collect();
    assert_eq!((started, stopped), (want.clone(), want));
}

#[test]
fn unhandled_panic_shut_down_stops_a_local_executor_and_a_pool() {
    use coframe::executor::UnhandledPanic;
    // Ignore (the default): the executor runs on.
    let ex = LocalExecutor::new();
    ex.spawn(async { panic!("ignored") });
    ex.run_until_stalled();
    assert_eq!(ex.run_until(ex.spawn(async { 1 })).unwrap(), 1);

    let ex = LocalExecutor::builder()
        .unhandled_panic(UnhandledPanic::ShutDown)
        .build()
        .unwrap();
    let waiting = ex.spawn(std::future::pending::<()>());
    let bad = ex.spawn(async { panic!("fatal") });
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ex.run_until(std::future::pending::<()>())
    }));
    let msg = crate::panic_message(run.unwrap_err());
    assert!(msg.contains("UnhandledPanic::ShutDown"), "{msg}");
    assert!(ex.run_until(bad).unwrap_err().is_panic());
    assert!(ex.run_until(waiting).unwrap_err().is_cancelled());
    // Later spawns are cancelled at once.
    assert!(ex
        .run_until(ex.spawn(async { 2 }))
        .unwrap_err()
        .is_cancelled());

    let pool = ThreadPool::builder()
        .worker_threads(2)
        .unhandled_panic(UnhandledPanic::ShutDown)
        .build()
        .unwrap();
    let waiting = pool.spawn(std::future::pending::<()>());
    let bad = pool.spawn(async { panic!("fatal") });
    assert!(pool.block_on(bad).unwrap_err().is_panic());
    assert!(pool.block_on(waiting).unwrap_err().is_cancelled());
    assert!(pool
        .block_on(pool.spawn(async {}))
        .unwrap_err()
        .is_cancelled());
    // A panicking stackful task counts too.
    let pool = ThreadPool::builder()
        .worker_threads(1)
        .unhandled_panic(UnhandledPanic::ShutDown)
        .build()
        .unwrap();
    let waiting = pool.spawn(std::future::pending::<()>());
    let bad = pool.spawn_stackful(|| panic!("stackful fatal"));
    assert!(pool.block_on(bad).unwrap_err().is_panic());
    assert!(pool.block_on(waiting).unwrap_err().is_cancelled());
}

#[test]
fn a_pool_handle_spawns_from_any_thread_and_is_current_inside_the_pool() {
    use coframe::executor::PoolHandle;
    fn send_sync_clone<T: Send + Sync + Clone>(_: &T) {}
    let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
    let handle = pool.handle();
    send_sync_clone(&handle);
    let threads: Vec<_> = (0..4u64)
        .map(|i| {
            let h = handle.clone();
            std::thread::spawn(move || h.spawn(async move { i }))
        })
        .collect();
    let hs: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let sum: u64 = hs.into_iter().map(|h| pool.block_on(h).unwrap()).sum();
    assert_eq!(sum, 6);

    // current() inside a task, a stackful task and a block_on of the pool.
    let inner = pool
        .block_on(pool.spawn(async { PoolHandle::current().spawn(async { 1 }).await.unwrap() }));
    assert_eq!(inner.unwrap(), 1);
    let stackful = pool.spawn_stackful(|| {
        let h = PoolHandle::current().spawn(async { 2 });
        coframe::stackful::wait(h).unwrap()
    });
    assert_eq!(pool.block_on(stackful).unwrap(), 2);
    assert!(pool.block_on(async { PoolHandle::try_current().is_some() }));
    // Not in a LocalExecutor, nor outside every executor.
    assert!(PoolHandle::try_current().is_none());
    let ex = LocalExecutor::new();
    assert!(!ex.run_until(async { PoolHandle::try_current().is_some() }));

    // enter(): coframe::spawn reaches the pool until the guard goes.
    {
        let _g = handle.enter();
        let h = coframe::spawn(async { std::thread::current().name().map(str::to_owned) });
        let name = handle.block_on(h).unwrap().unwrap();
        assert!(name.starts_with("coframe-worker"), "{name}");
        assert!(PoolHandle::try_current().is_some());
    }
    assert!(coframe::try_spawn(async {}).is_err());

    // After the pool is gone, what a handle spawns is cancelled at once.
    drop(pool);
    let late = handle.spawn(async { 3 });
    assert!(coframe::block_on(late).unwrap_err().is_cancelled());
}

#[test]
fn a_local_spawner_spawns_from_other_threads_onto_the_executor_thread() {
    use std::sync::Arc;
    fn send_sync_clone<T: Send + Sync + Clone>(_: &T) {}
    let ex = LocalExecutor::new();
    let spawner = ex.spawner();
    send_sync_clone(&spawner);
    let owner = std::thread::current().id();
    // Four threads spawn while the executor runs (it is woken by them).
    let handles = ex.run_until(async {
        let threads: Vec<_> = (0..4u64)
            .map(|i| {
                let s = spawner.clone();
                std::thread::spawn(move || {
                    (0..50u64)
                        .map(|j| s.spawn(async move { (i * 50 + j, std::thread::current().id()) }))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in threads {
            all.extend(t.join().unwrap());
        }
        let mut sum = 0;
        for h in all {
            let (v, ran_on) = h.await.unwrap();
            assert_eq!(ran_on, owner);
            sum += v;
        }
        sum
    });
    assert_eq!(handles, (0..200).sum::<u64>());

    // Racing with the executor's drop: every task either ran or was
    // cancelled, and every cell went back to its allocator.
    use coframe::frame::{Counting, Recycling, SyncResourceHandle};
    let frames = Arc::new(Counting::new(Recycling));
    let ex = LocalExecutor::new();
    let spawner = ex.spawner();
    let f = frames.clone();
    let t = std::thread::spawn(move || {
        let root: coframe::frame::ResourceHandle = SyncResourceHandle::owning(f).into();
        let _g = coframe::frame::set_current(&root);
        (0..500)
            .map(|i| spawner.spawn(async move { i }))
            .collect::<Vec<_>>()
    });
    ex.run_until_stalled();
    drop(ex);
    let hs = t.join().unwrap();
    let (mut ran, mut cancelled) = (0, 0);
    for h in hs {
        match coframe::block_on(h) {
            Ok(_) => ran += 1,
            Err(e) if e.is_cancelled() => cancelled += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ran + cancelled, 500);
    assert_eq!(frames.total_allocations(), 500);
    assert_eq!(frames.live_frames(), 0);
}

/// A task that joins `handles`, all finished already (every await is
/// ready at once), and returns how many it had joined when it first saw
/// `flag` set by a neighbour; `None` if it never did.
async fn join_all_ready(
    handles: Vec<coframe::JoinHandle<()>>,
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Option<usize> {
    for (i, h) in handles.into_iter().enumerate() {
        h.await.unwrap();
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            return Some(i);
        }
    }
    None
}

#[test]
fn an_always_ready_task_yields_to_its_neighbour_on_both_executors() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    const N: usize = 20_000;
    let ex = LocalExecutor::new();
    let handles: Vec<_> = (0..N).map(|_| ex.spawn(async {})).collect();
    ex.run_until_stalled();
    assert!(handles.iter().all(|h| h.is_finished()));
    let flag = Arc::new(AtomicBool::new(false));
    let spinner = ex.spawn(join_all_ready(handles, flag.clone()));
    let f = flag.clone();
    ex.spawn(async move { f.store(true, Ordering::SeqCst) });
    let seen = ex.run_until(spinner).unwrap();
    assert!(
        matches!(seen, Some(i) if i < N / 2),
        "{seen:?}: the neighbour waited"
    );

    let pool = ThreadPool::builder().worker_threads(1).build().unwrap();
    let handles: Vec<_> = (0..N).map(|_| pool.spawn(async {})).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !handles.iter().all(|h| h.is_finished()) {
        assert!(std::time::Instant::now() < deadline);
        std::thread::yield_now();
    }
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let seen = pool.block_on(pool.spawn(async move {
        let spinner = coframe::spawn(join_all_ready(handles, flag));
        coframe::yield_now().await; // the spinner starts first
        coframe::spawn(async move { f.store(true, Ordering::SeqCst) });
        spinner.await.unwrap()
    }));
    let seen = seen.unwrap();
    assert!(
        matches!(seen, Some(i) if i < N / 2),
        "{seen:?}: the neighbour waited"
    );
}

#[test]
fn an_always_due_sleep_yields_too_and_foreign_pollers_are_unconstrained() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let ex = LocalExecutor::new();
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let spinner = ex.spawn(async move {
        let past = Instant::now() - Duration::from_secs(1);
        for i in 0..10_000 {
            coframe::time::sleep_until(past).await; // always due
            if f.load(Ordering::SeqCst) {
                return Some(i);
            }
        }
        None
    });
    let f = flag.clone();
    ex.spawn(async move { f.store(true, Ordering::SeqCst) });
    assert!(ex.run_until(spinner).unwrap().is_some());
    // After the executor returned, a foreign executor polling coframe
    // handles on this thread is never refused (it would spin forever).
    let handles: Vec<_> = (0..1_000).map(|_| ex.spawn(async {})).collect();
    ex.run_until_stalled();
    futures_util::FutureExt::now_or_never(async {
        for h in handles {
            // now_or_never polls once: every handle must be Ready.
            h.await.unwrap();
        }
    })
    .expect("a foreign poller was throttled by coframe's budget");
}

/// An I/O source that always has data spends the budget too: a reader of
/// a socket whose peer wrote 64 KiB ahead, one byte per read, lets its
/// neighbour run long before it has read everything.
#[test]
fn a_source_that_always_has_data_yields_for_the_budget() {
    use coframe::io::Async;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    const BYTES: usize = 64 * 1024;
    let ex = LocalExecutor::new();
    let (mut a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let mut written = 0;
    while written < BYTES {
        written += a.write(&vec![7u8; BYTES - written]).unwrap();
    }
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let reader = ex.spawn(async move {
        let b = Async::new(b).unwrap();
        // Readable from here on; only now is the neighbour queued (behind
        // this task), so it runs only if the reader yields.
        b.readable().await.unwrap();
        let f2 = f.clone();
        coframe::spawn_local(async move { f2.store(true, Ordering::SeqCst) });
        let mut byte = [0u8; 1];
        for i in 0..BYTES {
            let n = b.read_with(|s| (&*s).read(&mut byte)).await.unwrap();
            assert_eq!(n, 1);
            if f.load(Ordering::SeqCst) {
                return Some(i);
            }
        }
        None
    });
    let seen = ex.run_until(reader).unwrap();
    assert!(
        matches!(seen, Some(i) if i <= 2 * 128),
        "{seen:?}: the neighbour waited for the reader"
    );
    drop(a);
}

#[test]
fn a_join_set_of_many_finished_tasks_yields_for_the_budget_and_finishes() {
    let ex = LocalExecutor::new();
    let n = ex.run_until(ex.spawn(async {
        let mut set = coframe::JoinSet::new();
        for i in 0..1_000u32 {
            set.spawn_local(async move { i });
        }
        coframe::yield_now().await; // they all finish meanwhile
        let mut n = 0;
        while let Some(r) = set.join_next().await {
            r.unwrap();
            n += 1;
        }
        n
    }));
    assert_eq!(n.unwrap(), 1_000);
}

#[test]
fn the_current_local_spawner_reaches_the_running_executor_only() {
    use coframe::executor::LocalSpawner;
    assert!(LocalSpawner::try_current().is_none());
    let ex = LocalExecutor::new();
    let owner = std::thread::current().id();
    let s = ex.run_until(async { LocalSpawner::try_current().expect("inside run_until") });
    let h = std::thread::spawn(move || s.spawn(async { std::thread::current().id() }))
        .join()
        .unwrap();
    assert_eq!(ex.run_until(h).unwrap(), owner);
    let pool = ThreadPool::builder().worker_threads(1).build().unwrap();
    assert!(!pool
        .block_on(pool.spawn(async { LocalSpawner::try_current().is_some() }))
        .unwrap());
}

/// Task ids: unique across threads (each thread hands out ids from its own
/// block), and the error of a failed task names it.
#[test]
fn task_ids_are_unique_across_threads_and_errors_carry_them() {
    let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
    let spawners: Vec<_> = (0..4)
        .map(|_| {
            pool.spawn(async {
                (0..2_500)
                    .map(|_| coframe::spawn(async {}))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for s in spawners {
        for h in pool.block_on(s).unwrap() {
            assert!(ids.insert(h.id()), "id {} given twice", h.id());
            pool.block_on(h).unwrap();
        }
    }
    assert_eq!(ids.len(), 10_000);
    let boom = pool.spawn(async { panic!("boom") });
    let (id, err) = (boom.id(), pool.block_on(boom).unwrap_err());
    assert!(err.is_panic() && err.id() == id);
    assert!(format!("{err:?}").contains(&id.to_string()));
    let stuck = pool.spawn(std::future::pending::<()>());
    let id = stuck.id();
    stuck.abort();
    let err = pool.block_on(stuck).unwrap_err();
    assert!(err.is_cancelled() && err.id() == id);
}

/// `LocalExecutor::enter`: spawns and event-loop types made in the scope
/// reach the executor, which runs them at its next `run_until`; the
/// scope leaves the thread as it was.
#[test]
fn an_entered_local_executor_takes_spawns_and_sockets_without_running() {
    use std::rc::Rc;
    let ex = LocalExecutor::new();
    let not_send = Rc::new(3);
    let (h, listener) = {
        let _entered = ex.enter();
        let n = not_send.clone();
        let h = coframe::spawn_local(async move {
            coframe::time::sleep(std::time::Duration::from_millis(1)).await;
            *n * 2
        });
        // Registered with `ex`'s event loop (made by the entry).
        (h, coframe::net::TcpListener::bind("127.0.0.1:0").unwrap())
    };
    assert!(!h.is_finished(), "entering does not run the executor");
    assert!(
        coframe::try_spawn(async {}).is_err(),
        "the scope restored the thread"
    );
    let addr = listener.local_addr().unwrap();
    let got = ex.run_until(async move {
        let client = coframe::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        server.read(&mut b).await.unwrap();
        h.await.unwrap() + b[0] as i32 - b'x' as i32
    });
    assert_eq!(got, 6);
}
