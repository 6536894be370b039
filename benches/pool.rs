//! Multi-threaded executors side by side, 2 worker threads each, built once
//! outside the measurement and reused: coframe's `ThreadPool`, tokio's
//! multi-thread runtime, and `async_executor::Executor` run by 2 threads
//! doing `ex.run(shutdown_signal)`. The workloads are tokio's
//! `rt_multi_threaded` benches:
//!
//! - `pool_spawn_many_local`: a task spawns 10,000 tasks; completion is
//!   signalled by a counter (the last task sends on a std channel);
//! - `pool_spawn_many_remote`: 10,000 spawns from outside, then every
//!   handle is awaited;
//! - `pool_yield_many`: 200 tasks × 1,000 yields (the same hand-written
//!   `yield_now` for all: wake itself, return `Pending`);
//! - `pool_ping_pong`: 1,000 task pairs, each a round trip over two
//!   `tokio::sync::oneshot` channels (one channel crate for all three);
//! - `pool_chained_spawn`: a chain of 1,000 tasks, each spawning the next.
//!
//! Awaiting from outside: `ThreadPool::block_on` for coframe, `Runtime::block_on`
//! for tokio, and `coframe::block_on` (a plain park/unpark loop, no
//! executor) for async-executor.
#[path = "../runtime-tests/util.rs"]
mod common;
use common::yield_now;
use criterion::{criterion_group, criterion_main, Criterion};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};

const WORKERS: usize = 2;
const SPAWNS: usize = 10_000;
const YIELD_TASKS: usize = 200;
const YIELDS: usize = 1_000;
const PAIRS: usize = 1_000;
const CHAIN: usize = 1_000;

/// The three runtimes, each with 2 workers.
struct Runtimes {
    pool: coframe::ThreadPool,
    tokio: tokio::runtime::Runtime,
    ae: &'static async_executor::Executor<'static>,
}

fn runtimes() -> Runtimes {
    let pool = coframe::ThreadPool::builder()
        .worker_threads(WORKERS)
        .build()
        .unwrap();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .unwrap();
    let ae: &'static async_executor::Executor<'static> =
        Box::leak(Box::new(async_executor::Executor::new()));
    // The runner threads live for the whole bench process; the shutdown
    // signal's sender is leaked with them.
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    for _ in 0..WORKERS {
        let rx = stop_rx.clone();
        std::thread::spawn(move || coframe::block_on(ae.run(rx.recv())));
    }
    std::mem::forget(stop_tx);
    Runtimes { pool, tokio, ae }
}

/// Counts down; the last one signals.
fn countdown(rem: &AtomicUsize, tx: &mpsc::SyncSender<()>) {
    if rem.fetch_sub(1, Relaxed) == 1 {
        tx.send(()).unwrap();
    }
}

fn spawn_many_local(c: &mut Criterion, rt: &Runtimes) {
    let mut g = c.benchmark_group("pool_spawn_many_local");
    let (tx, rx) = mpsc::sync_channel(1);
    g.bench_function("coframe", |b| {
        b.iter(|| {
            let rem = Arc::new(AtomicUsize::new(SPAWNS));
            let tx = tx.clone();
            rt.pool.spawn(async move {
                for _ in 0..SPAWNS {
                    let (rem, tx) = (rem.clone(), tx.clone());
                    coframe::spawn(async move { countdown(&rem, &tx) });
                }
            });
            rx.recv().unwrap();
        })
    });
    g.bench_function("tokio_multi_thread", |b| {
        b.iter(|| {
            let rem = Arc::new(AtomicUsize::new(SPAWNS));
            let tx = tx.clone();
            rt.tokio.spawn(async move {
                for _ in 0..SPAWNS {
                    let (rem, tx) = (rem.clone(), tx.clone());
                    tokio::spawn(async move { countdown(&rem, &tx) });
                }
            });
            rx.recv().unwrap();
        })
    });
    let ae = rt.ae;
    g.bench_function("async_executor", |b| {
        b.iter(|| {
            let rem = Arc::new(AtomicUsize::new(SPAWNS));
            let tx = tx.clone();
            ae.spawn(async move {
                for _ in 0..SPAWNS {
                    let (rem, tx) = (rem.clone(), tx.clone());
                    ae.spawn(async move { countdown(&rem, &tx) }).detach();
                }
            })
            .detach();
            rx.recv().unwrap();
        })
    });
    g.finish();
}

fn spawn_many_remote(c: &mut Criterion, rt: &Runtimes) {
    let mut g = c.benchmark_group("pool_spawn_many_remote");
    g.bench_function("coframe", |b| {
        b.iter(|| {
            let hs: Vec<_> = (0..SPAWNS).map(|_| rt.pool.spawn(async {})).collect();
            rt.pool.block_on(async {
                for h in hs {
                    h.await.unwrap();
                }
            })
        })
    });
    g.bench_function("tokio_multi_thread", |b| {
        b.iter(|| {
            let hs: Vec<_> = (0..SPAWNS).map(|_| rt.tokio.spawn(async {})).collect();
            rt.tokio.block_on(async {
                for h in hs {
                    h.await.unwrap();
                }
            })
        })
    });
    g.bench_function("async_executor", |b| {
        b.iter(|| {
            let hs: Vec<_> = (0..SPAWNS).map(|_| rt.ae.spawn(async {})).collect();
            coframe::block_on(async {
                for h in hs {
                    h.await;
                }
            })
        })
    });
    g.finish();
}

fn yield_many(c: &mut Criterion, rt: &Runtimes) {
    let mut g = c.benchmark_group("pool_yield_many");
    g.sample_size(20);
    let (tx, rx) = mpsc::sync_channel(YIELD_TASKS);
    let body = |tx: mpsc::SyncSender<()>| async move {
        for _ in 0..YIELDS {
            yield_now().await;
        }
        tx.send(()).unwrap();
    };
    g.bench_function("coframe", |b| {
        b.iter(|| {
            for _ in 0..YIELD_TASKS {
                rt.pool.spawn(body(tx.clone()));
            }
            for _ in 0..YIELD_TASKS {
                rx.recv().unwrap();
            }
        })
    });
    g.bench_function("tokio_multi_thread", |b| {
        b.iter(|| {
            for _ in 0..YIELD_TASKS {
                rt.tokio.spawn(body(tx.clone()));
            }
            for _ in 0..YIELD_TASKS {
                rx.recv().unwrap();
            }
        })
    });
    g.bench_function("async_executor", |b| {
        b.iter(|| {
            for _ in 0..YIELD_TASKS {
                rt.ae.spawn(body(tx.clone())).detach();
            }
            for _ in 0..YIELD_TASKS {
                rx.recv().unwrap();
            }
        })
    });
    g.finish();
}

async fn ping(
    rem: Arc<AtomicUsize>,
    done: mpsc::SyncSender<()>,
    spawn: impl Fn(Pin<Box<dyn Future<Output = ()> + Send>>),
) {
    let (tx1, rx1) = tokio::sync::oneshot::channel::<()>();
    let (tx2, rx2) = tokio::sync::oneshot::channel::<()>();
    spawn(Box::pin(async move {
        rx1.await.unwrap();
        tx2.send(()).unwrap();
    }));
    tx1.send(()).unwrap();
    rx2.await.unwrap();
    countdown(&rem, &done);
}

fn ping_pong(c: &mut Criterion, rt: &Runtimes) {
    let mut g = c.benchmark_group("pool_ping_pong");
    let (tx, rx) = mpsc::sync_channel(1);
    g.bench_function("coframe", |b| {
        b.iter(|| {
            let rem = Arc::new(AtomicUsize::new(PAIRS));
            let tx = tx.clone();
            rt.pool.spawn(async move {
                for _ in 0..PAIRS {
                    let (rem, tx) = (rem.clone(), tx.clone());
                    coframe::spawn(ping(rem, tx, |f| {
                        coframe::spawn(f);
                    }));
                }
            });
            rx.recv().unwrap();
        })
    });
    g.bench_function("tokio_multi_thread", |b| {
        b.iter(|| {
            let rem = Arc::new(AtomicUsize::new(PAIRS));
            let tx = tx.clone();
            rt.tokio.spawn(async move {
                for _ in 0..PAIRS {
                    let (rem, tx) = (rem.clone(), tx.clone());
                    tokio::spawn(ping(rem, tx, |f| {
                        tokio::spawn(f);
                    }));
                }
            });
            rx.recv().unwrap();
        })
    });
    let ae = rt.ae;
    g.bench_function("async_executor", |b| {
        b.iter(|| {
            let rem = Arc::new(AtomicUsize::new(PAIRS));
            let tx = tx.clone();
            ae.spawn(async move {
                for _ in 0..PAIRS {
                    let (rem, tx) = (rem.clone(), tx.clone());
                    ae.spawn(ping(rem, tx, move |f| ae.spawn(f).detach()))
                        .detach();
                }
            })
            .detach();
            rx.recv().unwrap();
        })
    });
    g.finish();
}

fn chain_coframe(n: usize, done: mpsc::SyncSender<()>) {
    if n == 0 {
        done.send(()).unwrap();
    } else {
        coframe::spawn(async move { chain_coframe(n - 1, done) });
    }
}

fn chain_tokio(n: usize, done: mpsc::SyncSender<()>) {
    if n == 0 {
        done.send(()).unwrap();
    } else {
        tokio::spawn(async move { chain_tokio(n - 1, done) });
    }
}

fn chain_ae(ae: &'static async_executor::Executor<'static>, n: usize, done: mpsc::SyncSender<()>) {
    if n == 0 {
        done.send(()).unwrap();
    } else {
        ae.spawn(async move { chain_ae(ae, n - 1, done) }).detach();
    }
}

fn chained_spawn(c: &mut Criterion, rt: &Runtimes) {
    let mut g = c.benchmark_group("pool_chained_spawn");
    let (tx, rx) = mpsc::sync_channel(1);
    g.bench_function("coframe", |b| {
        b.iter(|| {
            let tx = tx.clone();
            rt.pool.spawn(async move { chain_coframe(CHAIN, tx) });
            rx.recv().unwrap();
        })
    });
    g.bench_function("tokio_multi_thread", |b| {
        b.iter(|| {
            let tx = tx.clone();
            rt.tokio.spawn(async move { chain_tokio(CHAIN, tx) });
            rx.recv().unwrap();
        })
    });
    let ae = rt.ae;
    g.bench_function("async_executor", |b| {
        b.iter(|| {
            let tx = tx.clone();
            ae.spawn(async move { chain_ae(ae, CHAIN, tx) }).detach();
            rx.recv().unwrap();
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let rt = runtimes();
    spawn_many_local(c, &rt);
    spawn_many_remote(c, &rt);
    yield_many(c, &rt);
    ping_pong(c, &rt);
    chained_spawn(c, &rt);
}

criterion_group!(pool, benches);
criterion_main!(pool);
