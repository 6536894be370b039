//! Tour part: what a tokio or smol user reaches for. A `JoinSet` yielding
//! results as tasks finish, `spawn_blocking` on the executor's elastic
//! blocking threads, `yield_now`, `try_spawn` outside any executor (an
//! error, not a panic), two `LocalExecutor`s composed with `run().await`
//! under one `block_on`, and a `JoinError` used with `?`.

use coframe::{block_on, spawn_local, yield_now, JoinSet, LocalExecutor, ThreadPool};
use std::time::{Duration, Instant};

pub fn run() {
    println!("\n== the API: JoinSet, spawn_blocking, yield_now, try_spawn, run().await");
    let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
    let order = pool.block_on(async {
        let mut set = JoinSet::new();
        for ms in [30u64, 10, 20] {
            set.spawn(async move {
                coframe::time::sleep(Duration::from_millis(ms)).await;
                ms
            });
        }
        let mut order = Vec::new();
        while let Some(r) = set.join_next().await {
            order.push(r.unwrap());
        }
        order
    });
    assert_eq!(order, [10, 20, 30]);
    println!("JoinSet: results in the order the tasks finished: {order:?} ms");

    let t = Instant::now();
    let (blocked, ticks) = pool.block_on(async {
        // A truly blocking call goes to a blocking thread; the workers keep
        // running async work meanwhile.
        let blocking = coframe::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(20));
            std::thread::current().name().map(str::to_owned)
        });
        let ticker = coframe::spawn(async {
            let mut n = 0;
            while n < 1_000 {
                yield_now().await;
                n += 1;
            }
            n
        });
        (blocking.await.unwrap(), ticker.await.unwrap())
    });
    println!(
        "spawn_blocking: a 20 ms blocking call ran on thread {:?} while a task yielded {ticks} times ({:.2?} in all)",
        blocked.unwrap_or_default(),
        t.elapsed()
    );

    match coframe::try_spawn(async {}) {
        Err(e) => println!("try_spawn outside an executor: \"{e}\""),
        Ok(_) => unreachable!("no executor runs on the tour's main thread"),
    }

    let (a, b) = (LocalExecutor::new(), LocalExecutor::new());
    let (tx, rx) = async_channel::bounded::<u32>(1);
    let (got, ()) = block_on(futures_util::future::join(
        a.run(async move {
            spawn_local(async move { rx.recv().await.unwrap() })
                .await
                .unwrap()
        }),
        b.run(async move { tx.send(7).await.unwrap() }),
    ));
    assert_eq!(got, 7);
    println!("two LocalExecutors driven by one block_on through run().await: {got}");

    fn joined() -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
        let ex = LocalExecutor::new();
        Ok(ex.run_until(ex.spawn(async { 41 }))? + 1)
    }
    println!(
        "a JoinError is an Error + Send + Sync: `?` works, got {}",
        joined().unwrap()
    );
}
