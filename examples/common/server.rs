//! The command line and the accept loop shared by `examples/echo.rs` and
//! `examples/http_hello.rs`: `--mode async|stackful`,
//! `--executor local|pool`, `--workers N`, `--addr ADDR` and `--limit N`
//! (stop once the finished connections' handlers reported N units:
//! requests for HTTP, connections for echo; without it the server runs
//! until killed).

#![allow(dead_code)] // each includer uses its part

use coframe::net::{TcpListener, TcpStream};
use coframe::{LocalExecutor, ThreadPool};
use futures_util::task::AtomicWaker;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Async,
    Stackful,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exec {
    Local,
    Pool,
}

#[derive(Clone, Debug)]
pub struct Args {
    pub mode: Mode,
    pub executor: Exec,
    pub workers: usize,
    pub addr: String,
    pub limit: Option<u64>,
}

impl Args {
    /// Parses the options (after the program name); `limit_flag` names the
    /// stop option (`--requests` or `--connections`).
    pub fn parse(args: impl IntoIterator<Item = String>, limit_flag: &str) -> Result<Args, String> {
        let mut a = Args {
            mode: Mode::Async,
            executor: Exec::Local,
            workers: 2,
            addr: "127.0.0.1:8080".into(),
            limit: None,
        };
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--mode" => {
                    a.mode = match value()?.as_str() {
                        "async" => Mode::Async,
                        "stackful" => Mode::Stackful,
                        m => return Err(format!("--mode {m}: expected async or stackful")),
                    }
                }
                "--executor" => {
                    a.executor = match value()?.as_str() {
                        "local" => Exec::Local,
                        "pool" => Exec::Pool,
                        e => return Err(format!("--executor {e}: expected local or pool")),
                    }
                }
                "--workers" => {
                    a.workers = value()?.parse().map_err(|e| format!("--workers: {e}"))?
                }
                "--addr" => a.addr = value()?,
                f if f == limit_flag => {
                    a.limit = Some(value()?.parse().map_err(|e| format!("{f}: {e}"))?)
                }
                f => {
                    return Err(format!(
                    "unknown option {f}; options: --mode async|stackful, --executor local|pool, \
                         --workers N, --addr ADDR, {limit_flag} N"
                ))
                }
            }
        }
        Ok(a)
    }
}

/// Counts what the handlers report and stops the accept loop at the limit.
struct Stop {
    total: AtomicU64,
    limit: u64,
    stopped: AtomicBool,
    waker: AtomicWaker,
}

impl Stop {
    fn add(&self, n: u64) {
        if self.total.fetch_add(n, Ordering::SeqCst) + n >= self.limit {
            self.stopped.store(true, Ordering::SeqCst);
            self.waker.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            self.waker.register(cx.waker());
            if self.stopped.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// Runs the server described by `args` on its executor until the limit
/// (if any) is reached; `ready` gets the bound address. Each connection is
/// served by `serve_async` (a task) or `serve_blocking` (a stackful task),
/// whose `Ok` count adds to the total. Returns the total.
pub fn run<A, AF, B>(
    args: &Args,
    ready: impl FnOnce(std::net::SocketAddr) + Send + 'static,
    serve_async: A,
    serve_blocking: B,
) -> io::Result<u64>
where
    A: Fn(TcpStream) -> AF + Send + Sync + Copy + 'static,
    AF: Future<Output = io::Result<u64>> + Send + 'static,
    B: Fn(TcpStream) -> io::Result<u64> + Send + Sync + Copy + 'static,
{
    let (addr, mode, limit) = (args.addr.clone(), args.mode, args.limit);
    let accept = accept_loop(addr, mode, limit, ready, serve_async, serve_blocking);
    match args.executor {
        Exec::Local => {
            let ex = LocalExecutor::new();
            ex.run_until(ex.spawn(accept)).unwrap()
        }
        Exec::Pool => {
            let pool = ThreadPool::builder()
                .worker_threads(args.workers)
                .build()
                .map_err(io::Error::other)?;
            pool.block_on(pool.spawn(accept)).unwrap()
        }
    }
}

async fn accept_loop<A, AF, B>(
    addr: String,
    mode: Mode,
    limit: Option<u64>,
    ready: impl FnOnce(std::net::SocketAddr),
    serve_async: A,
    serve_blocking: B,
) -> io::Result<u64>
where
    A: Fn(TcpStream) -> AF + Send + Sync + Copy + 'static,
    AF: Future<Output = io::Result<u64>> + Send + 'static,
    B: Fn(TcpStream) -> io::Result<u64> + Send + Sync + Copy + 'static,
{
    let listener = TcpListener::bind(addr.as_str())?;
    ready(listener.local_addr()?);
    let stop = Arc::new(Stop {
        total: AtomicU64::new(0),
        limit: limit.unwrap_or(u64::MAX),
        stopped: AtomicBool::new(false),
        waker: AtomicWaker::new(),
    });
    loop {
        let accepted = {
            let mut accept = pin!(listener.accept());
            let mut stopped = pin!(stop.wait());
            poll_fn(|cx| {
                if stopped.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                accept.as_mut().poll(cx).map(Some)
            })
            .await
        };
        let s = match accepted {
            None => return Ok(stop.total.load(Ordering::SeqCst)),
            Some(Ok((s, _))) => s,
            Some(Err(e)) => {
                // Out of descriptors, most likely: the pending connection
                // stays queued; back off and accept again.
                eprintln!("accept: {e}");
                coframe::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = s.set_nodelay(true);
        let stop = stop.clone();
        match mode {
            Mode::Async => drop(coframe::spawn(async move {
                if let Ok(n) = serve_async(s).await {
                    stop.add(n);
                }
            })),
            Mode::Stackful => drop(coframe::spawn_stackful(move || {
                if let Ok(n) = serve_blocking(s) {
                    stop.add(n);
                }
            })),
        }
    }
}
