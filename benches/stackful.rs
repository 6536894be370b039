//! Stackful tasks versus the same work as plain futures, on one
//! `LocalExecutor`.
//!
//! - `stackful_spawn_join`: 1,000 tasks that each wait on one future that
//!   completes after a yield, then join: `coframe_stackful` (stackful tasks,
//!   `stackful::wait`), `coframe_future` (async tasks, `.await`).
//! - `stackful_wait`: a task waits on a future that another task completes,
//!   10,000 round trips (two bounded channels): same two functions.

#[path = "../runtime-tests/util.rs"]
mod common;
use coframe::stackful::wait;
use coframe::LocalExecutor;
use common::yield_now;
use criterion::{criterion_group, criterion_main, Criterion};

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("stackful_spawn_join");
    let ex = LocalExecutor::new();
    g.bench_function("coframe_stackful", |b| {
        b.iter(|| {
            let hs: Vec<_> = (0..1000)
                .map(|_| ex.spawn_stackful(|| wait(yield_now())))
                .collect();
            ex.run_until(async {
                for h in hs {
                    h.await.unwrap();
                }
            })
        })
    });
    g.bench_function("coframe_future", |b| {
        b.iter(|| {
            let hs: Vec<_> = (0..1000).map(|_| ex.spawn(yield_now())).collect();
            ex.run_until(async {
                for h in hs {
                    h.await.unwrap();
                }
            })
        })
    });
    g.finish();
}

fn wait_round_trips(c: &mut Criterion) {
    const ROUNDS: usize = 10_000;
    let mut g = c.benchmark_group("stackful_wait");
    let ex = LocalExecutor::new();
    g.bench_function("coframe_stackful", |b| {
        b.iter(|| {
            let (ping_tx, ping_rx) = async_channel::bounded::<u32>(1);
            let (pong_tx, pong_rx) = async_channel::bounded::<u32>(1);
            let echo = ex.spawn_stackful(move || {
                while let Ok(v) = wait(ping_rx.recv()) {
                    wait(pong_tx.send(v + 1)).unwrap();
                }
            });
            ex.run_until(async move {
                for i in 0..ROUNDS as u32 {
                    ping_tx.send(i).await.unwrap();
                    assert_eq!(pong_rx.recv().await.unwrap(), i + 1);
                }
                drop(ping_tx);
                echo.await.unwrap();
            })
        })
    });
    g.bench_function("coframe_future", |b| {
        b.iter(|| {
            let (ping_tx, ping_rx) = async_channel::bounded::<u32>(1);
            let (pong_tx, pong_rx) = async_channel::bounded::<u32>(1);
            let echo = ex.spawn(async move {
                while let Ok(v) = ping_rx.recv().await {
                    pong_tx.send(v + 1).await.unwrap();
                }
            });
            ex.run_until(async move {
                for i in 0..ROUNDS as u32 {
                    ping_tx.send(i).await.unwrap();
                    assert_eq!(pong_rx.recv().await.unwrap(), i + 1);
                }
                drop(ping_tx);
                echo.await.unwrap();
            })
        })
    });
    g.finish();
}

criterion_group!(benches, spawn_join, wait_round_trips);
criterion_main!(benches);
