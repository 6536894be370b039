//! The thread pool part of the tour: a 2-worker `ThreadPool` runs a task
//! tree of 100,000 tasks whose frames come from a `Counting` resource; the
//! pool's metrics show the steals, and the counters show the reuse.

use coframe::frame::{Counting, Recycling};
use coframe::{run_async, spawn, ThreadPool};
use std::sync::Arc;
use std::time::Instant;

pub fn run() {
    println!("\n== 4. thread pool: work stealing, frames from a Counting resource");
    let pool = ThreadPool::builder()
        .worker_threads(2)
        .thread_name("tour-worker")
        .build()
        .expect("start the pool");
    let counting = Arc::new(Counting::new(Recycling));
    const TASKS: u64 = 100_000;
    // Two rounds of the same tree: the second reuses the frames the first
    // gave back (per-worker Recycling caches and the global pool).
    for round in 1..=2 {
        let before = Recycling::stats();
        let m0 = pool.metrics();
        let t = Instant::now();
        // 100 parents, each spawning 999 children (100,000 tasks under the
        // root): every cell comes from `counting`, inherited by `spawn`.
        let root = run_async(&pool, counting.clone(), async {
            let parents: Vec<_> = (0..100u64)
                .map(|p| {
                    spawn(async move {
                        let kids: Vec<_> = (0..TASKS / 100 - 1)
                            .map(|k| spawn(async move { p * 1_000 + k }))
                            .collect();
                        let mut sum = 0u64;
                        for k in kids {
                            sum += k.await.unwrap();
                        }
                        sum
                    })
                })
                .collect();
            let mut sum = 0u64;
            for p in parents {
                sum += p.await.unwrap();
            }
            sum
        });
        let sum = pool.block_on(root).expect("root task");
        let elapsed = t.elapsed();
        let m = pool.metrics();
        let after = Recycling::stats();
        let tasks = m.tasks_spawned - m0.tasks_spawned;
        println!(
            "   round {round}: {tasks} tasks on {} workers in {:.1} ms ({:.0} ns/task), checksum {sum}",
            m.worker_threads,
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_nanos() as f64 / tasks as f64
        );
        println!(
            "     pool: {} polls, {} steals, {} parks, {} injector pushes",
            m.polls - m0.polls,
            m.steals - m0.steals,
            m.parks - m0.parks,
            m.injector_pushes - m0.injector_pushes
        );
        println!(
            "     frames: {} thread-cache hits, {} system allocations",
            after.thread_cache_hits - before.thread_cache_hits,
            after.system_allocations - before.system_allocations,
        );
    }
    drop(pool); // joins the workers; every frame is back
    println!(
        "   Counting: {} frames allocated, peak {} KiB live, {} live after the pool is dropped",
        counting.total_allocations(),
        counting.peak_bytes() / 1024,
        counting.live_frames()
    );
}
