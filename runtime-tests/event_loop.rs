//! The event loop inside the executors: timers and I/O on a
//! `LocalExecutor`, a `ThreadPool` and `block_on`, with no reactor thread;
//! shutdown leaves no descriptor behind.

use crate::util::{alone_in_a_child, open_fds};
use coframe::io::Async;
use coframe::time::{interval, sleep, sleep_until, timeout};
use coframe::{block_on, LocalExecutor, ThreadPool};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn threads_now() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn local_executor_sleeps_in_its_event_loop_and_no_timer_fires_early() {
    let ex = LocalExecutor::new();
    let out = ex.run_until(async {
        let start = Instant::now();
        let mut handles = Vec::new();
        for ms in [7u64, 1, 4, 0, 12, 3] {
            handles.push(coframe::spawn_local(async move {
                let deadline = Instant::now() + Duration::from_millis(ms);
                sleep(Duration::from_millis(ms)).await;
                assert!(Instant::now() >= deadline, "a timer fired early");
                ms
            }));
        }
        let mut done = Vec::new();
        for h in handles {
            done.push(h.await.unwrap());
        }
        (done, start.elapsed())
    });
    assert_eq!(out.0, [7, 1, 4, 0, 12, 3]);
    assert!(out.1 >= Duration::from_millis(12));
}

#[test]
fn timeouts_and_intervals_on_the_local_executor() {
    let ex = LocalExecutor::new();
    ex.run_until(async {
        let slow = timeout(Duration::from_millis(2), std::future::pending::<()>()).await;
        assert!(slow.is_err(), "the timeout fired");
        let fast = timeout(Duration::from_secs(60), async { 5 }).await;
        assert_eq!(fast.unwrap(), 5);
        let mut iv = interval(Duration::from_millis(1));
        let start = Instant::now();
        for _ in 0..4 {
            iv.tick().await;
        }
        // The first tick is immediate, then one per period.
        assert!(start.elapsed() >= Duration::from_millis(3));
        // A past deadline is ready at once.
        sleep_until(Instant::now() - Duration::from_secs(1)).await;
    });
}

#[test]
fn block_on_drives_timers_and_io_on_the_calling_thread() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let writer = std::thread::spawn(move || {
        b.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).unwrap();
        buf
    });
    let got = block_on(async move {
        sleep(Duration::from_millis(1)).await;
        let a = Async::new(a).unwrap();
        let mut buf = [0u8; 4];
        let n = a.read_with(|s| (&*s).read(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
        a.write_with(|s| (&*s).write(b"pong")).await.unwrap();
        n
    });
    assert_eq!(got, 4);
    assert_eq!(&writer.join().unwrap(), b"pong");
}

/// A future and a stackful task exchange data over a socket pair on one
/// `LocalExecutor`: the stackful side waits through the same event loop.
#[test]
fn a_future_and_a_stackful_task_talk_over_async_sockets() {
    let (a, b) = UnixStream::pair().unwrap();
    let ex = LocalExecutor::new();
    let stackful = ex.spawn_stackful(move || {
        let b = Async::new(b).unwrap();
        let mut total = 0u64;
        let mut buf = [0u8; 64];
        loop {
            let n = coframe::stackful::wait(b.read_with(|s| (&*s).read(&mut buf))).unwrap();
            if n == 0 {
                return total;
            }
            total += buf[..n].iter().map(|&x| x as u64).sum::<u64>();
            coframe::stackful::wait(sleep(Duration::from_micros(100)));
        }
    });
    let sum = ex.run_until(async move {
        let a = Async::new(a).unwrap();
        for i in 0..50u8 {
            a.write_with(|s| (&*s).write(&[i])).await.unwrap();
            if i % 10 == 0 {
                sleep(Duration::from_millis(1)).await;
            }
        }
        drop(a); // EOF
        stackful.await.unwrap()
    });
    assert_eq!(sum, (0..50u64).sum::<u64>());
}

/// A wake from another thread interrupts the executor blocked in its
/// event loop.
#[test]
fn a_remote_wake_interrupts_the_event_loop() {
    let ex = LocalExecutor::new();
    let (tx, rx) = async_channel::bounded::<u32>(1);
    let sender = std::thread::spawn(move || {
        for i in 0..20 {
            tx.send_blocking(i).unwrap();
        }
    });
    let sum = ex.run_until(async move {
        let mut sum = 0;
        while let Ok(v) = rx.recv().await {
            sum += v;
        }
        sum
    });
    sender.join().unwrap();
    assert_eq!(sum, (0..20).sum::<u32>());
}

/// Tasks that are always ready do not starve a timer: the busy loop checks
/// the event loop after every full batch.
#[test]
fn busy_tasks_do_not_starve_timers() {
    let ex = LocalExecutor::new();
    let stop = Arc::new(AtomicUsize::new(0));
    for _ in 0..4 {
        let stop = stop.clone();
        ex.spawn(async move {
            while stop.load(Ordering::SeqCst) == 0 {
                crate::util::yield_now().await;
            }
        });
    }
    let s = stop.clone();
    ex.run_until(async move {
        sleep(Duration::from_millis(2)).await;
        s.store(1, Ordering::SeqCst);
    });
    ex.run_until_stalled();
}

/// Dropping an executor whose tasks wait on sources and timers drops
/// their futures, deregisters the sources, frees the timers and closes the
/// event loop: the descriptor count is back where it was.
#[test]
fn dropping_executors_closes_every_descriptor() {
    alone_in_a_child(
        "event_loop::dropping_executors_closes_every_descriptor",
        dropping_executors_closes_every_descriptor_here,
    );
}

fn dropping_executors_closes_every_descriptor_here() {
    let before = open_fds();
    {
        let ex = LocalExecutor::new();
        let mut keep = Vec::new();
        for _ in 0..8 {
            let (a, b) = UnixStream::pair().unwrap();
            keep.push(ex.spawn(async move {
                let a = Async::new(a).unwrap();
                let _b = b;
                let mut buf = [0u8; 1];
                let _ = a.read_with(|s| (&*s).read(&mut buf)).await;
            }));
            keep.push(ex.spawn(sleep(Duration::from_secs(3600))));
        }
        ex.run_until_stalled();
        assert!(open_fds() > before);
        drop(ex);
        for h in keep {
            assert!(block_on(h).unwrap_err().is_cancelled());
        }
    }
    // `block_on` keeps one event loop per thread (3 descriptors) for its
    // next calls: count it as the baseline's.
    let block_on_loop = 3;
    assert!(
        open_fds() <= before + block_on_loop,
        "{} > {before} + 3",
        open_fds()
    );

    let before = open_fds();
    {
        let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
        let mut keep = Vec::new();
        for _ in 0..8 {
            let (a, b) = UnixStream::pair().unwrap();
            keep.push(pool.spawn(async move {
                let a = Async::new(a).unwrap();
                let _b = b;
                let mut buf = [0u8; 1];
                let _ = a.read_with(|s| (&*s).read(&mut buf)).await;
            }));
            keep.push(pool.spawn(sleep(Duration::from_secs(3600))));
        }
        // Let the tasks register.
        pool.block_on(sleep(Duration::from_millis(5)));
        drop(pool);
        for h in keep {
            assert!(block_on(h).unwrap_err().is_cancelled());
        }
    }
    assert_eq!(open_fds(), before);
}

/// No thread drives the event loop but the executors' own: a
/// `LocalExecutor` and `block_on` sleep in it on the calling thread, a
/// pool in one of its idle workers.
#[test]
fn no_reactor_thread() {
    alone_in_a_child("event_loop::no_reactor_thread", || {
        let threads = threads_now();
        let ex = LocalExecutor::new();
        ex.run_until(sleep(Duration::from_millis(2)));
        block_on(sleep(Duration::from_millis(2)));
        assert_eq!(threads_now(), threads);
        let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
        pool.block_on(pool.spawn(sleep(Duration::from_millis(2))))
            .unwrap();
        assert_eq!(threads_now(), threads + 2);
    });
}

/// Arming a timer makes no heap allocation in the steady state: the entry
/// lives in a recycled slot of the wheel's slab.
#[test]
fn arming_timers_allocates_nothing_in_the_steady_state() {
    let ex = LocalExecutor::new();
    ex.run_until(async {
        let arm = |n: usize| {
            let mut sleeps: Vec<_> = (0..n)
                .map(|i| Box::pin(sleep(Duration::from_millis(1000 + i as u64))))
                .collect();
            let waker = futures_util::task::noop_waker();
            let mut cx = std::task::Context::from_waker(&waker);
            let allocs = crate::heap_count::heap_allocations_in(|| {
                for s in sleeps.iter_mut() {
                    assert!(s.as_mut().poll(&mut cx).is_pending());
                }
            });
            drop(sleeps);
            allocs
        };
        use std::future::Future;
        arm(1000); // the slab grows once
        assert_eq!(arm(1000), 0, "arming recycled slots allocated");
    });
}

/// The pool drives its event loop from its own idle workers: no thread
/// beyond the workers, timers and sockets work from any worker, and a
/// stackful task waiting on them never leaves its worker.
#[test]
fn the_pool_drives_timers_and_io_with_its_workers_only() {
    let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    let reader = pool.spawn_stackful(move || {
        let here = std::thread::current().id();
        let b = Async::new(b).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        loop {
            let n = coframe::stackful::wait(b.read_with(|s| (&*s).read(&mut buf))).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            coframe::stackful::wait(sleep(Duration::from_micros(200)));
            assert_eq!(
                std::thread::current().id(),
                here,
                "a stackful task migrated"
            );
        }
        got.len()
    });
    let writer = pool.spawn(async move {
        let a = Async::new(a).unwrap();
        for i in 0..100u8 {
            a.write_with(|s| (&*s).write(&[i])).await.unwrap();
            if i % 25 == 0 {
                sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let sleepers: Vec<_> = (0..50u64)
        .map(|i| {
            pool.spawn(async move {
                let deadline = Instant::now() + Duration::from_millis(i % 7);
                sleep(Duration::from_millis(i % 7)).await;
                assert!(Instant::now() >= deadline, "a timer fired early");
            })
        })
        .collect();
    pool.block_on(writer).unwrap();
    assert_eq!(pool.block_on(reader).unwrap(), 100);
    for s in sleepers {
        pool.block_on(s).unwrap();
    }
}

/// On a one-worker pool, a task that is always ready does not starve a
/// timer: busy workers check the event loop every 61 ticks.
#[test]
fn busy_pool_workers_do_not_starve_timers() {
    let pool = ThreadPool::builder().worker_threads(1).build().unwrap();
    let stop = Arc::new(AtomicUsize::new(0));
    let s = stop.clone();
    let spinner = pool.spawn(async move {
        let mut spins = 0u64;
        while s.load(Ordering::SeqCst) == 0 {
            crate::util::yield_now().await;
            spins += 1;
        }
        spins
    });
    let st = stop.clone();
    let timer = pool.spawn(async move {
        sleep(Duration::from_millis(3)).await;
        st.store(1, Ordering::SeqCst);
    });
    pool.block_on(timer).unwrap();
    assert!(pool.block_on(spinner).unwrap() > 0);
}
