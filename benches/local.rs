//! Single-threaded executors side by side: coframe's `LocalExecutor`, tokio's
//! current-thread runtime and `async_executor::LocalExecutor`, in the same
//! run, one thread each, each executor built once and reused.
//!
//! - `local_spawn_join`: spawn 1,000 trivial tasks, then await all handles.
//! - `local_yield_many`: 100 tasks each yielding 1,000 times (the same
//!   hand-written `yield_now` for all three: wake itself, return `Pending`).
//! - `local_ping_pong`: 1,000 task pairs, each doing a round trip over two
//!   `tokio::sync::oneshot` channels (one channel crate for all three).
#[path = "../runtime-tests/util.rs"]
mod common;
use common::yield_now;
use criterion::{criterion_group, criterion_main, Criterion};

const SPAWNS: usize = 1_000;
const YIELD_TASKS: usize = 100;
const YIELDS: usize = 1_000;
const PAIRS: usize = 1_000;

async fn yielder() {
    for _ in 0..YIELDS {
        yield_now().await;
    }
}

async fn ping(
    spawn_pong: impl FnOnce(tokio::sync::oneshot::Receiver<()>, tokio::sync::oneshot::Sender<()>),
) {
    let (tx1, rx1) = tokio::sync::oneshot::channel();
    let (tx2, rx2) = tokio::sync::oneshot::channel();
    spawn_pong(rx1, tx2);
    tx1.send(()).unwrap();
    rx2.await.unwrap();
}

async fn pong(rx: tokio::sync::oneshot::Receiver<()>, tx: tokio::sync::oneshot::Sender<()>) {
    rx.await.unwrap();
    tx.send(()).unwrap();
}

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("local_spawn_join");
    let ex = coframe::LocalExecutor::new();
    g.bench_function("coframe", |b| {
        b.iter(|| {
            ex.run_until(async {
                let hs: Vec<_> = (0..SPAWNS)
                    .map(|_| coframe::spawn_local(async {}))
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
            })
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    g.bench_function("tokio_current_thread", |b| {
        b.iter(|| {
            rt.block_on(async {
                let hs: Vec<_> = (0..SPAWNS).map(|_| tokio::spawn(async {})).collect();
                for h in hs {
                    h.await.unwrap();
                }
            })
        })
    });
    let ax = async_executor::LocalExecutor::new();
    g.bench_function("async_executor_local", |b| {
        b.iter(|| {
            async_io::block_on(ax.run(async {
                let hs: Vec<_> = (0..SPAWNS).map(|_| ax.spawn(async {})).collect();
                for h in hs {
                    h.await;
                }
            }))
        })
    });
    g.finish();
}

fn yield_many(c: &mut Criterion) {
    let mut g = c.benchmark_group("local_yield_many");
    let ex = coframe::LocalExecutor::new();
    g.bench_function("coframe", |b| {
        b.iter(|| {
            ex.run_until(async {
                let hs: Vec<_> = (0..YIELD_TASKS)
                    .map(|_| coframe::spawn_local(yielder()))
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
            })
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    g.bench_function("tokio_current_thread", |b| {
        b.iter(|| {
            rt.block_on(async {
                let hs: Vec<_> = (0..YIELD_TASKS).map(|_| tokio::spawn(yielder())).collect();
                for h in hs {
                    h.await.unwrap();
                }
            })
        })
    });
    let ax = async_executor::LocalExecutor::new();
    g.bench_function("async_executor_local", |b| {
        b.iter(|| {
            async_io::block_on(ax.run(async {
                let hs: Vec<_> = (0..YIELD_TASKS).map(|_| ax.spawn(yielder())).collect();
                for h in hs {
                    h.await;
                }
            }))
        })
    });
    g.finish();
}

fn ping_pong(c: &mut Criterion) {
    let mut g = c.benchmark_group("local_ping_pong");
    let ex = coframe::LocalExecutor::new();
    g.bench_function("coframe", |b| {
        b.iter(|| {
            ex.run_until(async {
                let hs: Vec<_> = (0..PAIRS)
                    .map(|_| {
                        coframe::spawn_local(ping(|rx, tx| {
                            coframe::spawn_local(pong(rx, tx));
                        }))
                    })
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
            })
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    g.bench_function("tokio_current_thread", |b| {
        b.iter(|| {
            rt.block_on(async {
                let hs: Vec<_> = (0..PAIRS)
                    .map(|_| {
                        tokio::spawn(ping(|rx, tx| {
                            tokio::spawn(pong(rx, tx));
                        }))
                    })
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
            })
        })
    });
    let ax = std::rc::Rc::new(async_executor::LocalExecutor::new());
    g.bench_function("async_executor_local", |b| {
        b.iter(|| {
            async_io::block_on(ax.run(async {
                let hs: Vec<_> = (0..PAIRS)
                    .map(|_| {
                        let inner = ax.clone();
                        ax.spawn(ping(move |rx, tx| {
                            inner.spawn(pong(rx, tx)).detach();
                        }))
                    })
                    .collect();
                for h in hs {
                    h.await;
                }
            }))
        })
    });
    g.finish();
}

criterion_group!(benches, spawn_join, yield_many, ping_pong);
criterion_main!(benches);
