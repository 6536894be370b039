//! Tour part: the event loop inside the executors. Timers (`sleep`, a
//! `timeout` that fires, an `interval`), and a socket pair wrapped in
//! `coframe::io::Async` carrying data between a future and a stackful
//! task, all on one `LocalExecutor` that sleeps in its own event loop (no
//! reactor thread); then the same timers on a `ThreadPool`.

use coframe::io::Async;
use coframe::time::{interval, sleep, timeout};
use coframe::{LocalExecutor, ThreadPool};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

pub fn run() {
    println!("\n== event loop: timers and I/O driven by the executors themselves");
    let threads = std::fs::read_dir("/proc/self/task").unwrap().count();
    let ex = LocalExecutor::new();
    ex.run_until(async {
        let start = Instant::now();
        sleep(Duration::from_millis(5)).await;
        let slept = start.elapsed();
        assert!(slept >= Duration::from_millis(5));
        println!("sleep(5 ms) woke after {slept:.2?} (never early)");

        let t = Instant::now();
        let out = timeout(Duration::from_millis(3), std::future::pending::<()>()).await;
        assert!(out.is_err());
        println!(
            "timeout(3 ms) on a future that never finishes: \"{}\" after {:.2?}",
            out.unwrap_err(),
            t.elapsed()
        );

        let mut iv = interval(Duration::from_millis(2));
        let t = Instant::now();
        for _ in 0..5 {
            iv.tick().await;
        }
        println!("interval(2 ms): 5 ticks in {:.2?}", t.elapsed());
    });

    // A future writes numbers into a socket; a stackful task reads them
    // with blocking-style code, waiting through the same event loop.
    let (a, b) = UnixStream::pair().unwrap();
    let reader = ex.spawn_stackful(move || {
        let b = Async::new(b).unwrap();
        let mut buf = [0u8; 256];
        let (mut bytes, mut reads, mut sum) = (0usize, 0usize, 0u64);
        loop {
            let n = coframe::stackful::wait(b.read_with(|s| (&*s).read(&mut buf))).unwrap();
            if n == 0 {
                return (bytes, reads, sum);
            }
            bytes += n;
            reads += 1;
            sum += buf[..n].iter().map(|&x| x as u64).sum::<u64>();
        }
    });
    let t = Instant::now();
    let (bytes, reads, sum) = ex.run_until(async move {
        let a = Async::new(a).unwrap();
        for round in 0..100u32 {
            let chunk: Vec<u8> = (0..100).map(|i| ((round + i) % 251) as u8).collect();
            let mut off = 0;
            while off < chunk.len() {
                off += a.write_with(|s| (&*s).write(&chunk[off..])).await.unwrap();
            }
            if round % 20 == 0 {
                sleep(Duration::from_millis(1)).await;
            }
        }
        drop(a);
        reader.await.unwrap()
    });
    let expected: u64 = (0..100u32)
        .flat_map(|r| (0..100u32).map(move |i| ((r + i) % 251) as u64))
        .sum();
    assert_eq!((bytes, sum), (10_000, expected));
    println!(
        "Async socket pair: a future wrote 10,000 bytes, a stackful task read them in {reads} reads ({:.2?})",
        t.elapsed()
    );
    let now = std::fs::read_dir("/proc/self/task").unwrap().count();
    assert_eq!(now, threads, "no reactor thread");
    println!(
        "threads before and after: {threads} and {now} (the executor's own thread drove it all)"
    );
    drop(ex);

    let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
    let t = Instant::now();
    let handles: Vec<_> = (0..1000u64)
        .map(|i| pool.spawn(async move { sleep(Duration::from_millis(i % 10)).await }))
        .collect();
    for h in handles {
        pool.block_on(h).unwrap();
    }
    println!(
        "ThreadPool (2 workers, one idle worker sleeps in the event loop): 1,000 sleeps of 0-9 ms done in {:.2?}",
        t.elapsed()
    );
}
