//! Timers side by side: coframe's event loop against tokio's, in one run.
//!
//! - `timer_arm_cancel/N`: arm N sleeps (each polled once, with distinct
//!   deadlines an hour and 0-N ms ahead), then drop them all; one executor
//!   thread; the sleeps' Vec is reused across iterations.
//! - `timer_fire`: 100,000 tasks each sleep a pseudo-random 0-10 ms (fixed
//!   seed) and are all awaited, on 2-worker pools.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

/// Polls every future of `v` once, in place (they are never moved after).
fn poll_all<F: Future>(v: &mut [F]) {
    let waker = futures_util::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    for f in v.iter_mut() {
        // SAFETY: `v` is not moved or reallocated until it is dropped.
        let f = unsafe { Pin::new_unchecked(f) };
        assert!(f.poll(&mut cx).is_pending());
    }
}

fn arm_cancel(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer_arm_cancel");
    g.sample_size(10);
    let ex = coframe::LocalExecutor::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for n in [1_000usize, 100_000, 1_000_000] {
        g.throughput(criterion::Throughput::Elements(n as u64));
        // The sleeps live in a Vec kept across iterations (cleared, not
        // freed): growing a fresh 40-80 MB Vec at 1,000,000 made the page
        // faults of the harness's own memory a fifth of the time measured,
        // for both runtimes.
        g.bench_with_input(BenchmarkId::new("coframe", n), &n, |b, &n| {
            let mut v = Vec::with_capacity(n);
            b.iter(|| {
                ex.run_until(async {
                    v.extend((0..n).map(|i| {
                        coframe::time::sleep(Duration::from_millis(3_600_000 + i as u64))
                    }));
                    poll_all(&mut v);
                    v.clear();
                })
            })
        });
        g.bench_with_input(BenchmarkId::new("tokio", n), &n, |b, &n| {
            let mut v = Vec::with_capacity(n);
            b.iter(|| {
                rt.block_on(async {
                    v.extend(
                        (0..n).map(|i| {
                            tokio::time::sleep(Duration::from_millis(3_600_000 + i as u64))
                        }),
                    );
                    poll_all(&mut v);
                    v.clear();
                })
            })
        });
    }
    g.finish();
}

const FIRE_TASKS: u64 = 100_000;

/// The same pseudo-random 0-10 ms for task `i` in every run.
fn delay(i: u64) -> Duration {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 31;
    Duration::from_micros(x % 10_001)
}

fn fire(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer_fire");
    g.sample_size(10);
    let pool = coframe::ThreadPool::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    g.bench_function("coframe", |b| {
        b.iter(|| {
            let hs: Vec<_> = (0..FIRE_TASKS)
                .map(|i| pool.spawn(coframe::time::sleep(delay(i))))
                .collect();
            pool.block_on(async {
                for h in hs {
                    h.await.unwrap();
                }
            })
        })
    });
    g.bench_function("tokio_multi_thread", |b| {
        b.iter(|| {
            rt.block_on(async {
                let hs: Vec<_> = (0..FIRE_TASKS)
                    .map(|i| tokio::spawn(tokio::time::sleep(delay(i))))
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, arm_cancel, fire);
criterion_main!(benches);
