//! Which nestings of `block_on`, `run_until`, `ThreadPool::block_on` and
//! `LocalExecutor::run` work, and which refuse at once with a message
//! (the table is in the docs of `coframe::executor`). Each allowed nesting
//! also waits on a timer inside, so the event loop it runs under is
//! exercised.

use crate::panic_message;
use coframe::{block_on, spawn, LocalExecutor, ThreadPool};
use std::time::Duration;

async fn tick() -> u32 {
    coframe::time::sleep(Duration::from_millis(1)).await;
    1
}

fn pool() -> ThreadPool {
    ThreadPool::builder().worker_threads(1).build().unwrap()
}

#[test]
fn block_on_inside_block_on() {
    assert_eq!(block_on(async { block_on(tick()) + tick().await }), 2);
}

#[test]
fn run_until_inside_block_on_and_block_on_inside_a_local_task() {
    let ex = LocalExecutor::new();
    assert_eq!(block_on(async { ex.run_until(tick()) }), 1);
    let h = ex.spawn(async { block_on(tick()) });
    assert_eq!(ex.run_until(h).unwrap(), 1);
}

#[test]
fn another_local_executor_inside_a_local_task() {
    let outer = LocalExecutor::new();
    let out = outer.run_until(async {
        let inner = LocalExecutor::new();
        inner.run_until(async { coframe::spawn_local(tick()).await.unwrap() }) + tick().await
    });
    assert_eq!(out, 2);
}

#[test]
fn run_until_inside_its_own_task_refuses() {
    let ex = std::rc::Rc::new(LocalExecutor::new());
    let ex2 = ex.clone();
    let h = ex.spawn(async move { ex2.run_until(async {}) });
    let err = ex.run_until(h).unwrap_err();
    assert!(
        panic_message(err.into_panic()).contains("from inside one of the same executor's tasks")
    );
}

#[test]
fn pool_block_on_from_a_local_task_and_from_block_on() {
    let pool = pool();
    let ex = LocalExecutor::new();
    let p = &pool;
    assert_eq!(
        ex.run_until(async { p.block_on(async { spawn(tick()).await.unwrap() }) }),
        1
    );
    assert_eq!(block_on(async { p.block_on(tick()) }), 1);
}

#[test]
fn pool_block_on_inside_a_pool_task_refuses() {
    let pool = std::sync::Arc::new(pool());
    let p = pool.clone();
    let h = pool.spawn(async move { p.block_on(async { 1 }) });
    let err = pool.block_on(h).unwrap_err();
    assert!(panic_message(err.into_panic()).contains("block_on called on a pool worker"));
}

#[test]
fn a_local_executor_inside_a_pool_task() {
    let pool = pool();
    let h = pool.spawn(async {
        let ex = LocalExecutor::new();
        ex.run_until(async { coframe::spawn_local(tick()).await.unwrap() })
    });
    assert_eq!(pool.block_on(h).unwrap(), 1);
}

#[test]
fn block_on_inside_a_pool_task_blocks_only_its_worker() {
    let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
    let h = pool.spawn(async { block_on(tick()) });
    assert_eq!(pool.block_on(h).unwrap(), 1);
}

#[test]
fn run_awaited_inside_another_executor_and_inside_block_on() {
    let (a, b) = (LocalExecutor::new(), LocalExecutor::new());
    assert_eq!(block_on(a.run(tick())), 1);
    assert_eq!(
        b.run_until(a.run(async { coframe::spawn_local(tick()).await }))
            .unwrap(),
        1
    );
}

#[test]
fn run_inside_its_own_task_refuses() {
    let ex = std::rc::Rc::new(LocalExecutor::new());
    let ex2 = ex.clone();
    let h = ex.spawn(async move { ex2.run(async {}).await });
    let err = ex.run_until(h).unwrap_err();
    assert!(panic_message(err.into_panic()).contains("LocalExecutor::run called from inside"));
}

#[test]
fn executors_inside_a_stackful_task() {
    let ex = LocalExecutor::new();
    let h = ex.spawn_stackful(|| {
        let inner = LocalExecutor::new();
        inner.run_until(tick()) + block_on(tick()) + coframe::stackful::wait(tick())
    });
    assert_eq!(ex.run_until(h).unwrap(), 3);
}
