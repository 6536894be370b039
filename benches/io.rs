//! Sockets side by side: coframe's event loop against tokio's, in one run.
//!
//! - `net_ping_pong_local`: two tasks exchange one byte over a loopback TCP
//!   connection, 10,000 round trips, on one thread (coframe's
//!   `LocalExecutor`, tokio's current-thread runtime).
//! - `net_ping_pong_pool`: the same on 2-worker pools.
use coframe::io::Async;
use criterion::{criterion_group, criterion_main, Criterion};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

const ROUND_TRIPS: usize = 10_000;

/// A connected pair of non-blocking-ready std sockets.
fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (b, _) = l.accept().unwrap();
    a.set_nodelay(true).unwrap();
    b.set_nodelay(true).unwrap();
    (a, b)
}

async fn coframe_side(s: Async<TcpStream>, first: bool) {
    let mut buf = [0u8; 1];
    for _ in 0..ROUND_TRIPS {
        if first {
            s.write_with(|s| (&*s).write(&[1])).await.unwrap();
            s.read_with(|s| (&*s).read(&mut buf)).await.unwrap();
        } else {
            s.read_with(|s| (&*s).read(&mut buf)).await.unwrap();
            s.write_with(|s| (&*s).write(&[1])).await.unwrap();
        }
    }
}

async fn tokio_side(s: TcpStream, first: bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.set_nonblocking(true).unwrap();
    let mut s = tokio::net::TcpStream::from_std(s).unwrap();
    let mut buf = [0u8; 1];
    for _ in 0..ROUND_TRIPS {
        if first {
            s.write_all(&[1]).await.unwrap();
            s.read_exact(&mut buf).await.unwrap();
        } else {
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&[1]).await.unwrap();
        }
    }
}

fn local(c: &mut Criterion) {
    let mut g = c.benchmark_group("net_ping_pong_local");
    g.sample_size(10);
    let ex = coframe::LocalExecutor::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    g.bench_function("coframe", |b| {
        b.iter(|| {
            let (x, y) = pair();
            ex.run_until(async {
                let (x, y) = (Async::new(x).unwrap(), Async::new(y).unwrap());
                let h = coframe::spawn_local(coframe_side(y, false));
                coframe_side(x, true).await;
                h.await.unwrap();
            })
        })
    });
    g.bench_function("tokio_current_thread", |b| {
        b.iter(|| {
            let (x, y) = pair();
            rt.block_on(async {
                let h = tokio::spawn(tokio_side(y, false));
                tokio_side(x, true).await;
                h.await.unwrap();
            })
        })
    });
    g.finish();
}

fn pool(c: &mut Criterion) {
    let mut g = c.benchmark_group("net_ping_pong_pool");
    g.sample_size(10);
    let pool = coframe::ThreadPool::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .build()
        .unwrap();
    g.bench_function("coframe", |b| {
        b.iter(|| {
            let (x, y) = pair();
            let h1 = pool.spawn(async move { coframe_side(Async::new(x).unwrap(), true).await });
            let h2 = pool.spawn(async move { coframe_side(Async::new(y).unwrap(), false).await });
            pool.block_on(async {
                h1.await.unwrap();
                h2.await.unwrap();
            })
        })
    });
    g.bench_function("tokio_multi_thread", |b| {
        b.iter(|| {
            let (x, y) = pair();
            rt.block_on(async {
                let h1 = tokio::spawn(tokio_side(x, true));
                let h2 = tokio::spawn(tokio_side(y, false));
                h1.await.unwrap();
                h2.await.unwrap();
            })
        })
    });
    g.finish();
}

criterion_group!(benches, local, pool);
criterion_main!(benches);
