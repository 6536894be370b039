//! Strands side by side with their alternatives, 2 worker threads each,
//! executors built once outside the measurement and reused.
//!
//! - `strand_post`: 100,000 closures posted from the bench thread through
//!   one `Strand` over coframe's `ThreadPool` (`coframe_strand`), versus
//!   100,000 tasks spawned straight onto the same pool
//!   (`coframe_pool_direct`). Each unit of work bumps a counter; the last
//!   one signals completion on a std channel.
//! - `strand_counter`: 4 producers increment one shared counter 100,000
//!   times in total. `coframe_strand`: 4 pool tasks post the increments to
//!   a strand that owns the counter (a plain `u64`, no lock); `tokio_mutex`:
//!   4 tasks on tokio's 2-worker runtime lock a `tokio::sync::Mutex`;
//!   `std_mutex_pool`: 4 tasks on coframe's pool lock a `std::sync::Mutex`.
use coframe::{Strand, ThreadPool};
use criterion::{criterion_group, criterion_main, Criterion};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};

const WORKERS: usize = 2;
const POSTS: usize = 100_000;
const PRODUCERS: usize = 4;
const INCREMENTS: usize = 100_000;

fn pool() -> ThreadPool {
    ThreadPool::builder()
        .worker_threads(WORKERS)
        .build()
        .unwrap()
}

fn strand_post(c: &mut Criterion) {
    let pool = pool();
    let strand = Strand::new(&pool);
    let mut g = c.benchmark_group("strand_post");
    g.bench_function("coframe_strand", |b| {
        b.iter(|| {
            let (tx, rx) = mpsc::channel();
            let left = Arc::new(AtomicUsize::new(POSTS));
            for _ in 0..POSTS {
                let (left, tx) = (left.clone(), tx.clone());
                strand.post(move || {
                    if left.fetch_sub(1, Relaxed) == 1 {
                        tx.send(()).unwrap();
                    }
                });
            }
            rx.recv().unwrap();
        })
    });
    g.bench_function("coframe_pool_direct", |b| {
        b.iter(|| {
            let (tx, rx) = mpsc::channel();
            let left = Arc::new(AtomicUsize::new(POSTS));
            for _ in 0..POSTS {
                let (left, tx) = (left.clone(), tx.clone());
                drop(pool.spawn(async move {
                    if left.fetch_sub(1, Relaxed) == 1 {
                        tx.send(()).unwrap();
                    }
                }));
            }
            rx.recv().unwrap();
        })
    });
    g.finish();
}

/// State owned by a strand: a plain counter, no synchronisation, and the
/// channel its last increment signals on. Leaked once per bench, so the
/// posted closures capture one `&'static` (no per-closure refcounting).
struct Owned {
    count: UnsafeCell<u64>,
    done: mpsc::SyncSender<()>,
}
// SAFETY: `count` is touched only by handlers of one strand, which never
// overlap, and by the bench thread between iterations (after the previous
// iteration's last handler signalled `done`, before any producer starts).
unsafe impl Sync for Owned {}

fn strand_counter(c: &mut Criterion) {
    let pool = pool();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .unwrap();
    let strand = Strand::new(&pool);
    let per = INCREMENTS / PRODUCERS;
    let mut g = c.benchmark_group("strand_counter");
    let (done, done_rx) = mpsc::sync_channel(1);
    let owned: &'static Owned = Box::leak(Box::new(Owned {
        count: UnsafeCell::new(0),
        done,
    }));
    g.bench_function("coframe_strand", |b| {
        b.iter(|| {
            // SAFETY: no handler runs now (see `Owned`).
            unsafe { *owned.count.get() = 0 };
            for _ in 0..PRODUCERS {
                let s = strand.clone();
                drop(pool.spawn(async move {
                    for _ in 0..per {
                        s.post(move || {
                            // SAFETY: on the strand (see `Owned`).
                            let n = unsafe {
                                *owned.count.get() += 1;
                                *owned.count.get()
                            };
                            if n == INCREMENTS as u64 {
                                owned.done.send(()).unwrap();
                            }
                        });
                    }
                }));
            }
            done_rx.recv().unwrap();
        })
    });
    g.bench_function("tokio_mutex", |b| {
        b.iter(|| {
            let counter = Arc::new(tokio::sync::Mutex::new(0u64));
            tokio.block_on(async {
                let hs: Vec<_> = (0..PRODUCERS)
                    .map(|_| {
                        let counter = counter.clone();
                        tokio::spawn(async move {
                            for _ in 0..per {
                                *counter.lock().await += 1;
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
            });
            assert_eq!(*counter.try_lock().unwrap(), INCREMENTS as u64);
        })
    });
    g.bench_function("std_mutex_pool", |b| {
        b.iter(|| {
            let counter = Arc::new(std::sync::Mutex::new(0u64));
            let hs: Vec<_> = (0..PRODUCERS)
                .map(|_| {
                    let counter = counter.clone();
                    pool.spawn(async move {
                        for _ in 0..per {
                            *counter.lock().unwrap() += 1;
                        }
                    })
                })
                .collect();
            pool.block_on(async {
                for h in hs {
                    h.await.unwrap();
                }
            });
            assert_eq!(*counter.lock().unwrap(), INCREMENTS as u64);
        })
    });
    g.finish();
}

criterion_group!(benches, strand_post, strand_counter);
criterion_main!(benches);
