//! coframe::net: echo over TCP, UDP and Unix sockets on the LocalExecutor
//! and the ThreadPool; the futures-io (and, with `tokio-io`, tokio) traits
//! with their ecosystems' helpers; faults (resets, half-closes, silent
//! peers, running out of descriptors) and many connections.

use crate::util::{alone_in_a_child, open_fds};
use coframe::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use coframe::stackful::io::Blocking;
use coframe::{LocalExecutor, ThreadPool};
use futures_util::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, StreamExt};
use std::future::Future;
use std::io::{self, BufRead, Read, Write};
use std::net::Shutdown;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Runs `body` (a task that spawns with `coframe::spawn`) to completion on
/// a LocalExecutor, then on a 2-worker ThreadPool; each run fails after
/// 120 s instead of hanging.
fn on_both<F, Fut>(body: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let ex = LocalExecutor::new();
    ex.run_until(ex.spawn(timeout_after(120, body()))).unwrap();
    let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
    pool.block_on(pool.spawn(timeout_after(120, body())))
        .unwrap();
}

/// A socket path unique to this process and `name`.
fn sock_path(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("coframe-net-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// The message each client sends: distinct per client and round.
fn message(client: usize, round: usize) -> Vec<u8> {
    format!("client {client} round {round} {}", "x".repeat(client % 50)).into_bytes()
}

const CLIENTS: usize = 32;
const ROUNDS: usize = 20;

async fn tcp_echo() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = coframe::spawn(async move {
        let mut conns = Vec::new();
        for _ in 0..CLIENTS {
            let (s, _) = listener.accept().await.unwrap();
            conns.push(coframe::spawn(async move {
                let mut buf = [0u8; 256];
                let mut echoed = 0;
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return echoed;
                    }
                    s.write_all(&buf[..n]).await.unwrap();
                    echoed += n;
                }
            }));
        }
        let mut total = 0;
        for c in conns {
            total += c.await.unwrap();
        }
        total
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            coframe::spawn(async move {
                let s = TcpStream::connect(addr).await.unwrap();
                s.set_nodelay(true).unwrap();
                let mut sent = 0;
                for r in 0..ROUNDS {
                    let m = message(c, r);
                    s.write_all(&m).await.unwrap();
                    let mut got = vec![0; m.len()];
                    (&s).read_exact(&mut got).await.unwrap();
                    assert_eq!(got, m, "client {c} round {r}: wrong echo");
                    sent += m.len();
                }
                s.shutdown(Shutdown::Write).unwrap();
                assert_eq!(s.read(&mut [0; 8]).await.unwrap(), 0, "EOF after echo");
                sent
            })
        })
        .collect();
    let mut sent = 0;
    for c in clients {
        sent += c.await.unwrap();
    }
    assert_eq!(server.await.unwrap(), sent);
}

#[test]
fn tcp_echo_on_both_executors() {
    on_both(tcp_echo);
}

async fn udp_echo() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let echo = coframe::spawn(async move {
        let mut buf = [0u8; 256];
        for _ in 0..CLIENTS * ROUNDS {
            let (n, from) = server.recv_from(&mut buf).await.unwrap();
            server.send_to(&buf[..n], from).await.unwrap();
        }
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            coframe::spawn(async move {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.connect(addr).unwrap();
                for r in 0..ROUNDS {
                    let m = message(c, r);
                    s.send(&m).await.unwrap();
                    let mut got = [0u8; 256];
                    let n = s.recv(&mut got).await.unwrap();
                    assert_eq!(&got[..n], &m[..]);
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    echo.await.unwrap();
}

#[test]
fn udp_echo_on_both_executors() {
    on_both(udp_echo);
}

async fn unix_echo(path: PathBuf) {
    let listener = UnixListener::bind(&path).unwrap();
    let server = coframe::spawn(async move {
        let mut incoming = listener.incoming();
        let mut conns = Vec::new();
        for _ in 0..CLIENTS {
            let s = incoming.next().await.unwrap().unwrap();
            conns.push(coframe::spawn(async move {
                let (mut r, mut w) = (&s, &s);
                futures_util::io::copy(&mut r, &mut w).await.unwrap()
            }));
        }
        for c in conns {
            c.await.unwrap();
        }
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let path = path.clone();
            coframe::spawn(async move {
                let mut s = UnixStream::connect(&path).await.unwrap();
                let mut want = Vec::new();
                for r in 0..ROUNDS {
                    let m = message(c, r);
                    s.write_all(&m).await.unwrap();
                    want.extend_from_slice(&m);
                }
                s.close().await.unwrap();
                let mut got = Vec::new();
                s.read_to_end(&mut got).await.unwrap();
                assert_eq!(got, want);
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    server.await.unwrap();
    std::fs::remove_file(&path).unwrap();

    // Datagrams: a pair, and a bound socket answering an unbound one.
    let dpath = sock_path(&format!("dgram-{:?}", std::thread::current().id()));
    let server = UnixDatagram::bind(&dpath).unwrap();
    let client = UnixDatagram::bind(sock_path(&format!(
        "dgram-client-{:?}",
        std::thread::current().id()
    )))
    .unwrap();
    let client_addr = client.local_addr().unwrap();
    for r in 0..ROUNDS {
        let m = message(1, r);
        client.send_to(&m, &dpath).await.unwrap();
        let mut buf = [0u8; 256];
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(from.as_pathname(), client_addr.as_pathname());
        server
            .send_to(&buf[..n], from.as_pathname().unwrap())
            .await
            .unwrap();
        assert_eq!(client.recv(&mut buf).await.unwrap(), m.len());
    }
    let _ = std::fs::remove_file(&dpath);
    let _ = std::fs::remove_file(client_addr.as_pathname().unwrap());
}

#[test]
fn unix_echo_on_both_executors() {
    let ex = LocalExecutor::new();
    ex.run_until(ex.spawn(unix_echo(sock_path("local"))))
        .unwrap();
    let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
    pool.block_on(pool.spawn(unix_echo(sock_path("pool"))))
        .unwrap();
}

/// futures-util's helpers over the halves: `copy` from the read half to
/// the write half echoes everything; `read_to_end` on the client sees the
/// server's close as EOF.
#[test]
fn futures_io_helpers_work_on_split_halves() {
    on_both(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = coframe::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (mut r, mut w) = s.into_split();
            let n = futures_util::io::copy(&mut r, &mut w).await.unwrap();
            w.close().await.unwrap();
            n
        });
        let c = TcpStream::connect(addr).await.unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let writer = {
            let (mut r, w) = c.into_split();
            let data = data.clone();
            let wr = coframe::spawn(async move {
                w.write_all(&data).await.unwrap();
                // Dropping the write half shuts the write side down.
            });
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            wr.await.unwrap();
            got
        };
        assert_eq!(writer.len(), data.len());
        assert!(writer == data, "the echoed bytes differ");
        assert_eq!(server.await.unwrap(), data.len() as u64);
        // The listener went with the server task: a new connection is
        // refused.
        let e = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

/// tokio's traits (tokio with only "io-util" for the extension methods; no
/// tokio runtime runs): `read_exact`, `write_all`, `read_to_end` and
/// `shutdown` through `tokio::io::{AsyncReadExt, AsyncWriteExt}`.
#[cfg(feature = "tokio-io")]
#[test]
fn tokio_io_traits_work_without_a_tokio_runtime() {
    on_both(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = coframe::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut len = [0u8; 4];
            tokio::io::AsyncReadExt::read_exact(&mut s, &mut len)
                .await
                .unwrap();
            let mut body = vec![0; u32::from_be_bytes(len) as usize];
            tokio::io::AsyncReadExt::read_exact(&mut s, &mut body)
                .await
                .unwrap();
            body.reverse();
            tokio::io::AsyncWriteExt::write_all(&mut s, &body)
                .await
                .unwrap();
            tokio::io::AsyncWriteExt::shutdown(&mut s).await.unwrap();
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        let body: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        tokio::io::AsyncWriteExt::write_all(&mut c, &(body.len() as u32).to_be_bytes())
            .await
            .unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut c, &body)
            .await
            .unwrap();
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut c, &mut got)
            .await
            .unwrap();
        let mut want = body;
        want.reverse();
        assert_eq!(got, want);
        server.await.unwrap();
    });
}

/// Binding a port in use, connecting to nothing: clear errors.
#[test]
fn bind_and_connect_errors_are_the_system_calls() {
    on_both(|| async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let e = TcpListener::bind(addr).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
        drop(l);
        let e = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        let e = TcpStream::connect(Vec::<std::net::SocketAddr>::new().as_slice())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    });
}

/// Raises this process's soft descriptor limit to the hard one (tests
/// with thousands of sockets).
pub(crate) fn raise_fd_limit() {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut l), 0);
        l.rlim_cur = l.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &l);
    }
}

/// An async barrier for `n` tasks: the last to arrive releases all.
#[derive(Clone)]
struct Barrier {
    arrived: Arc<AtomicUsize>,
    n: usize,
    open: Arc<Mutex<Option<async_channel::Sender<()>>>>,
    wait: async_channel::Receiver<()>,
}

impl Barrier {
    fn new(n: usize) -> Barrier {
        let (tx, rx) = async_channel::bounded(1);
        Barrier {
            arrived: Arc::new(AtomicUsize::new(0)),
            n,
            open: Arc::new(Mutex::new(Some(tx))),
            wait: rx,
        }
    }

    async fn wait(&self) {
        if self.arrived.fetch_add(1, Ordering::SeqCst) + 1 == self.n {
            self.open.lock().unwrap().take(); // closes the channel
        }
        assert!(self.wait.recv().await.is_err());
    }
}

/// Bounds the clients between `connect` and their first answer: a burst
/// of thousands of loopback connects from one process completes every
/// handshake before the accept loop runs, overflowing the listen backlog
/// (the kernel then drops handshakes and retries them seconds later).
/// Every connection still ends up open at once (the barrier).
#[derive(Clone)]
struct Connecting {
    slots: async_channel::Sender<()>,
    done: async_channel::Receiver<()>,
}

/// A client's place among the connecting ones, given back when dropped.
struct Permit(async_channel::Receiver<()>);

impl Drop for Permit {
    fn drop(&mut self) {
        let _ = self.0.try_recv();
    }
}

impl Connecting {
    fn new() -> Connecting {
        let (slots, done) = async_channel::bounded(256);
        Connecting { slots, done }
    }

    async fn acquire(&self) -> Permit {
        self.slots.send(()).await.unwrap();
        Permit(self.done.clone())
    }
}

/// The line protocol a stackful connection handler speaks, written as
/// ordinary blocking code over `std::io`: `sum a b c` lines answered with
/// the sum (`BufRead::lines`), then `json` and one JSON document up to EOF
/// (`serde_json::from_reader`) answered with its `xs` total.
fn line_protocol(stream: &TcpStream, live: &AtomicUsize, peak: &AtomicUsize) -> io::Result<u64> {
    let now = live.fetch_add(1, Ordering::SeqCst) + 1;
    peak.fetch_max(now, Ordering::SeqCst);
    let (mut reader, mut out) = coframe::stackful::io::split(stream);
    let mut sums = 0;
    for line in reader.by_ref().lines() {
        let line = line?;
        if line == "json" {
            break;
        }
        let sum: u64 = line
            .strip_prefix("sum ")
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, line.clone()))?
            .split(' ')
            .map(|x| x.parse::<u64>().unwrap())
            .sum();
        writeln!(out, "{sum}")?;
        sums += 1;
    }
    let doc: serde_json::Value = serde_json::from_reader(&mut reader)?;
    let total: u64 = doc["xs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    writeln!(out, "{total}")?;
    live.fetch_sub(1, Ordering::SeqCst);
    Ok(sums)
}

/// The client side of [`line_protocol`] (async): `rounds` sums, a wait at
/// the barrier (so every connection is open, its stackful handler
/// suspended mid-protocol, at once), then the JSON document.
async fn line_client(addr: std::net::SocketAddr, c: u64, barrier: Barrier, connecting: Connecting) {
    let mut permit = Some(connecting.acquire().await);
    let s = TcpStream::connect(addr).await.unwrap();
    let mut r = futures_util::io::BufReader::new(&s);
    let mut line = String::new();
    for round in 0..3u64 {
        let xs = [c, round, 7];
        s.write_all(format!("sum {} {} {}\n", xs[0], xs[1], xs[2]).as_bytes())
            .await
            .unwrap();
        line.clear();
        r.read_line(&mut line).await.unwrap();
        assert_eq!(line.trim().parse::<u64>().unwrap(), c + round + 7);
        if round == 0 {
            permit.take();
            barrier.wait().await;
        }
    }
    let doc = serde_json::json!({ "client": c, "xs": [c, 1, 2, 3] });
    s.write_all(format!("json\n{doc}").as_bytes())
        .await
        .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    line.clear();
    r.read_line(&mut line).await.unwrap();
    assert_eq!(line.trim().parse::<u64>().unwrap(), c + 6);
}

/// 1,000 concurrent connections, one stackful task per connection running
/// blocking-style code (`BufRead::lines`, `serde_json::from_reader`)
/// through `Blocking`, against async clients: on the LocalExecutor and on
/// the pool. The barrier makes every handler be suspended in a read at
/// the same time (the peak count proves it).
#[test]
fn a_thousand_stackful_connections_speak_a_blocking_line_protocol() {
    raise_fd_limit();
    const N: usize = 1000;
    let body = || async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (l2, p2) = (live.clone(), peak.clone());
        let server = coframe::spawn(async move {
            let mut handlers = Vec::new();
            for _ in 0..N {
                let (s, _) = listener.accept().await.unwrap();
                let (live, peak) = (l2.clone(), p2.clone());
                handlers.push(coframe::spawn_stackful(move || {
                    line_protocol(&s, &live, &peak).unwrap()
                }));
            }
            let mut sums = 0;
            for h in handlers {
                sums += h.await.unwrap();
            }
            sums
        });
        let barrier = Barrier::new(N);
        let connecting = Connecting::new();
        let clients: Vec<_> = (0..N as u64)
            .map(|c| coframe::spawn(line_client(addr, c, barrier.clone(), connecting.clone())))
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        assert_eq!(server.await.unwrap(), 3 * N as u64);
        assert_eq!(
            peak.load(Ordering::SeqCst),
            N,
            "all handlers were live at once"
        );
        assert_eq!(live.load(Ordering::SeqCst), 0);
    };
    on_both(body);
}

/// Outside a stackful task, `Blocking` panics as `stackful::wait` does.
#[test]
fn blocking_outside_a_stackful_task_panics_like_wait() {
    let ex = LocalExecutor::new();
    let msg = ex.run_until(async {
        let (a, _b) = UnixStream::pair().unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = Blocking::new(&a).read(&mut [0; 4]);
        }));
        crate::panic_message(r.unwrap_err())
    });
    assert!(msg.contains("outside a stackful task"), "{msg}");
}

// The examples' handlers and accept loop (examples/common/), run here
// with a limit so they end.
#[path = "../examples/common/echo.rs"]
mod echo;
#[path = "../examples/common/http.rs"]
mod http;
#[path = "../examples/common/server.rs"]
mod server;

/// `answer`: pipelined requests are answered in order, an incomplete one
/// waits, `Connection: close` and HTTP/1.0 close, bodies are skipped, bad
/// input gets a 400 and a close.
#[test]
fn http_answer_pipelines_and_closes() {
    let mut out = Vec::new();
    let two_and_a_half = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HT";
    let a = http::answer(two_and_a_half, &mut out);
    assert_eq!((a.requests, a.close), (2, false));
    assert_eq!(a.consumed, two_and_a_half.len() - b"GET /c HT".len());
    assert_eq!(out, [http::HELLO, http::HELLO].concat());

    out.clear();
    let body = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    let a = http::answer(body, &mut out);
    assert_eq!((a.requests, a.close), (2, true), "stops after the close");
    assert_eq!(out, [http::HELLO, http::HELLO_CLOSE].concat());

    out.clear();
    let a = http::answer(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel", &mut out);
    assert_eq!((a.requests, a.consumed), (0, 0), "the body is still coming");

    out.clear();
    let a = http::answer(b"GET / HTTP/1.0\r\n\r\n", &mut out);
    assert!(a.close, "HTTP/1.0 closes by default");
    out.clear();
    let a = http::answer(
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        &mut out,
    );
    assert!(!a.close);

    out.clear();
    let a = http::answer(b"\x00\x01 nonsense\r\n\r\n", &mut out);
    assert!(a.close);
    assert_eq!(out, http::BAD_REQUEST);
}

/// Runs the examples' server (`run` with a limit) on a thread of its own
/// and `client` against it; the server must stop by itself at the limit.
fn run_example_server<A, AF, B>(
    mode: server::Mode,
    executor: server::Exec,
    limit: u64,
    serve_async: A,
    serve_blocking: B,
    client: impl FnOnce(std::net::SocketAddr),
) -> u64
where
    A: Fn(TcpStream) -> AF + Send + Sync + Copy + 'static,
    AF: Future<Output = io::Result<u64>> + Send + 'static,
    B: Fn(TcpStream) -> io::Result<u64> + Send + Sync + Copy + 'static,
{
    let args = server::Args {
        mode,
        executor,
        workers: 2,
        addr: "127.0.0.1:0".into(),
        limit: Some(limit),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let srv = std::thread::spawn(move || {
        server::run(
            &args,
            move |a| tx.send(a).unwrap(),
            serve_async,
            serve_blocking,
        )
        .unwrap()
    });
    client(rx.recv().unwrap());
    srv.join().unwrap()
}

const MODES: [(server::Mode, server::Exec); 4] = [
    (server::Mode::Async, server::Exec::Local),
    (server::Mode::Stackful, server::Exec::Local),
    (server::Mode::Async, server::Exec::Pool),
    (server::Mode::Stackful, server::Exec::Pool),
];

/// The HTTP example's server, in each mode on each executor: keep-alive
/// connections with pipelined requests (one write of ten requests, split
/// at an awkward place) get every response, in order; the server stops
/// at its request limit.
#[test]
fn http_hello_serves_pipelined_keep_alive_requests_in_every_mode() {
    const CONNS: u64 = 8;
    const PER_CONN: u64 = 22;
    for (mode, exec) in MODES {
        let served = run_example_server(
            mode,
            exec,
            CONNS * PER_CONN,
            |s| async move { http::serve_async(&s).await },
            |s| http::serve_blocking(Blocking::new(&s), Blocking::new(&s)),
            |addr| {
                let clients: Vec<_> = (0..CONNS)
                    .map(|_| {
                        std::thread::spawn(move || {
                            let mut s = std::net::TcpStream::connect(addr).unwrap();
                            let req: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
                            let batch = req.repeat(10);
                            let mut got = Vec::new();
                            // A head larger than the initial buffer: it grows.
                            let big =
                                format!("GET / HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "a".repeat(5000));
                            s.write_all(big.as_bytes()).unwrap();
                            while got.len() < http::HELLO.len() {
                                let mut buf = [0u8; 4096];
                                let n = s.read(&mut buf).unwrap();
                                assert!(n > 0, "closed early");
                                got.extend_from_slice(&buf[..n]);
                            }
                            for _ in 0..2 {
                                let (a, b) = batch.split_at(37);
                                s.write_all(a).unwrap();
                                s.write_all(b).unwrap();
                                let want = got.len() + 10 * http::HELLO.len();
                                while got.len() < want {
                                    let mut buf = [0u8; 4096];
                                    let n = s.read(&mut buf).unwrap();
                                    assert!(n > 0, "closed early");
                                    got.extend_from_slice(&buf[..n]);
                                }
                            }
                            s.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
                                .unwrap();
                            s.read_to_end(&mut got).unwrap();
                            assert_eq!(
                                got,
                                [http::HELLO.repeat(21), http::HELLO_CLOSE.to_vec()].concat()
                            );
                        })
                    })
                    .collect();
                for c in clients {
                    c.join().unwrap();
                }
            },
        );
        assert_eq!(served, CONNS * PER_CONN, "{mode:?} on {exec:?}");
    }
}

/// The echo example's server, in each mode on each executor.
#[test]
fn echo_example_echoes_in_every_mode() {
    const CONNS: u64 = 8;
    for (mode, exec) in MODES {
        let served = run_example_server(
            mode,
            exec,
            CONNS,
            |s| async move { echo::serve_async(&s).await.map(|_| 1) },
            |s| {
                let r = echo::serve_blocking(Blocking::new(&s), Blocking::new(&s));
                let _ = s.shutdown(Shutdown::Write);
                r.map(|_| 1)
            },
            |addr| {
                let clients: Vec<_> = (0..CONNS)
                    .map(|c| {
                        std::thread::spawn(move || {
                            let mut s = std::net::TcpStream::connect(addr).unwrap();
                            let data: Vec<u8> =
                                (0..100_000u32).map(|i| (i as u8) ^ c as u8).collect();
                            let mut w = s.try_clone().unwrap();
                            let d = data.clone();
                            let writer = std::thread::spawn(move || {
                                w.write_all(&d).unwrap();
                                w.shutdown(Shutdown::Write).unwrap();
                            });
                            let mut got = Vec::new();
                            s.read_to_end(&mut got).unwrap();
                            writer.join().unwrap();
                            assert!(got == data, "echo differs");
                        })
                    })
                    .collect();
                for c in clients {
                    c.join().unwrap();
                }
            },
        );
        assert_eq!(served, CONNS, "{mode:?} on {exec:?}");
    }
}

/// The lowest descriptor number not in use.
fn lowest_free_fd() -> i32 {
    // SAFETY: F_DUPFD on stdin returns the lowest free number >= 0, which
    // is closed at once.
    unsafe {
        let fd = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 0);
        assert!(fd >= 0, "{}", io::Error::last_os_error());
        libc::close(fd);
        fd
    }
}

fn set_fd_limit(soft: u64) {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut l), 0);
        l.rlim_cur = soft as libc::rlim_t;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &l), 0);
    }
}

/// Out of descriptors on `accept` (`RLIMIT_NOFILE` lowered so that every
/// number is taken): the accept loop gets `EMFILE` as an error, keeps its
/// listener, backs off, and serves the pending connection once a
/// descriptor is freed; later connections are served too.
#[test]
fn emfile_on_accept_is_reported_and_the_listener_serves_again() {
    alone_in_a_child(
        "net::emfile_on_accept_is_reported_and_the_listener_serves_again",
        || {
            let ex = LocalExecutor::new();
            ex.run_until(async {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                // Connected by the kernel's backlog before any accept.
                let client =
                    TcpStream::from_std(std::net::TcpStream::connect(addr).unwrap()).unwrap();
                client.write_all(b"hi").await.unwrap();
                let filler = std::fs::File::open("/dev/null").unwrap();
                let limit = lowest_free_fd() as u64;
                set_fd_limit(limit);
                let (errors_tx, errors_rx) = async_channel::unbounded();
                let server = coframe::spawn_local(async move {
                    let mut errors = 0;
                    let mut served = 0;
                    while served < 2 {
                        match listener.accept().await {
                            Ok((s, _)) => {
                                let mut buf = [0u8; 2];
                                (&s).read_exact(&mut buf).await.unwrap();
                                s.write_all(&[&buf[..], b" back"].concat()).await.unwrap();
                                served += 1;
                            }
                            Err(e) => {
                                errors += 1;
                                let _ = errors_tx.try_send(e.raw_os_error());
                                // The pending connection stays queued:
                                // back off before accepting again.
                                coframe::time::sleep(std::time::Duration::from_millis(2)).await;
                            }
                        }
                    }
                    errors
                });
                // The accept loop reports EMFILE...
                let reported =
                    coframe::time::timeout(std::time::Duration::from_secs(10), errors_rx.recv())
                        .await
                        .expect("the accept loop reported no error");
                assert_eq!(reported.unwrap(), Some(libc::EMFILE));
                // ...and serves the waiting client once a descriptor is
                // free, with the same listener.
                drop(filler);
                let mut got = [0u8; 7];
                (&client).read_exact(&mut got).await.unwrap();
                assert_eq!(&got, b"hi back");
                // Later connections too.
                set_fd_limit(limit + 64);
                let second = TcpStream::connect(addr).await.unwrap();
                second.write_all(b"yo").await.unwrap();
                (&second).read_exact(&mut got).await.unwrap();
                assert_eq!(&got, b"yo back");
                assert!(server.await.unwrap() >= 1);
            });
        },
    );
}

/// Closes `s` with a reset (SO_LINGER 0): the peer's next operation fails
/// with `ConnectionReset`.
fn reset(s: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on an open socket with a local struct.
    let r = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&s),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "{}", io::Error::last_os_error());
    drop(s);
}

/// A connected (server side, client side) pair.
async fn connected(l: &TcpListener) -> (TcpStream, TcpStream) {
    let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    (s, c)
}

/// A peer that resets mid-read or mid-write, one that half-closes and one
/// that never sends (a slowloris, closed by `time::timeout`): each gets a
/// clear `io::Error` (or, for the half-close, its answer), while a healthy
/// connection beside them echoes without a hitch. On both executors.
#[test]
fn faulty_peers_get_clear_errors_and_others_are_unaffected() {
    use coframe::time::timeout;
    use std::time::Duration;
    on_both(|| async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        // The healthy connection: echo rounds all along.
        let (hs, hc) = connected(&l).await;
        let healthy_server = coframe::spawn(async move { echo::serve_async(&hs).await });
        let stop = Arc::new(AtomicUsize::new(0));
        let st = stop.clone();
        let healthy_client = coframe::spawn(async move {
            let mut rounds = 0u64;
            while st.load(Ordering::SeqCst) == 0 || rounds < 10 {
                let m = message(3, rounds as usize);
                hc.write_all(&m).await.unwrap();
                let mut got = vec![0; m.len()];
                (&hc).read_exact(&mut got).await.unwrap();
                assert_eq!(got, m);
                rounds += 1;
                coframe::time::sleep(Duration::from_millis(1)).await;
            }
            hc.shutdown(Shutdown::Write).unwrap();
            rounds
        });

        // Reset mid-read: the server waits for a 10-byte message of which
        // 4 bytes came.
        let (s, c) = connected(&l).await;
        let reader = coframe::spawn(async move {
            let mut buf = [0u8; 10];
            (&s).read_exact(&mut buf).await.unwrap_err()
        });
        c.write_all(b"half").await.unwrap();
        coframe::time::sleep(Duration::from_millis(5)).await;
        reset(c);
        let e = reader.await.unwrap();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");

        // Reset mid-write: the server writes until the kernel's buffers
        // are full; the client reads a little, then resets.
        let (s, c) = connected(&l).await;
        let writer = coframe::spawn(async move {
            let chunk = vec![7u8; 64 * 1024];
            loop {
                if let Err(e) = s.write_all(&chunk).await {
                    return e;
                }
            }
        });
        let mut buf = [0u8; 1024];
        (&c).read_exact(&mut buf).await.unwrap();
        reset(c);
        let e = writer.await.unwrap();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{e}"
        );

        // Half-close: the client shuts its write side; the server reads
        // to EOF and still answers on the open half.
        let (s, c) = connected(&l).await;
        let server = coframe::spawn(async move {
            let mut req = Vec::new();
            (&s).read_to_end(&mut req).await.unwrap();
            s.write_all(&[b"got ", &req[..]].concat()).await.unwrap();
        });
        c.write_all(b"question").await.unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        (&c).read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"got question");
        server.await.unwrap();

        // Never sends: the server's read is bounded by a timeout, which
        // becomes a TimedOut error; the connection is closed (the client
        // reads EOF).
        let (s, c) = connected(&l).await;
        let server = coframe::spawn(async move {
            let mut buf = [0u8; 64];
            let r = match timeout(Duration::from_millis(20), s.read(&mut buf)).await {
                Ok(r) => r,
                Err(elapsed) => Err(io::Error::new(io::ErrorKind::TimedOut, elapsed)),
            };
            r.unwrap_err()
        });
        let e = server.await.unwrap();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            c.read(&mut [0; 8]).await.unwrap(),
            0,
            "closed after the timeout"
        );

        // The healthy connection never noticed.
        stop.store(1, Ordering::SeqCst);
        let rounds = healthy_client.await.unwrap();
        assert!(rounds >= 10);
        assert!(healthy_server.await.unwrap().unwrap() > 0);
    });
}

/// Connections of the 10,000-connection test.
const MANY: usize = 10_000;
/// Descriptors a process of that test needs: one per connection, plus the
/// runtime's, the harness's and the pipes between the two processes.
const MANY_FDS: libc::rlim_t = MANY as libc::rlim_t + 500;

/// Raises this process's soft descriptor limit to the hard one and checks
/// that it allows `need` descriptors; fails naming the limit if not (the
/// test does not shrink itself to fit).
fn require_fd_limit(need: libc::rlim_t) {
    raise_fd_limit();
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit on a local struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) }, 0);
    assert!(
        l.rlim_cur >= need,
        "this test needs {need} descriptors per process ({MANY} connections and the \
         runtime's own), but RLIMIT_NOFILE allows {} (hard limit {}): raise the hard \
         limit (`ulimit -Hn`, needs CAP_SYS_RESOURCE) to run it",
        l.rlim_cur,
        l.rlim_max
    );
}

/// A connection handler of the 10,000-connection test, async: echoes
/// until EOF; `live` counts it from its first read to its end.
async fn echo_counted_async(s: TcpStream, live: Arc<AtomicUsize>) -> u64 {
    let mut buf = [0u8; 256];
    let mut n = s.read(&mut buf).await.unwrap();
    assert!(n > 0, "a client closed before its first message");
    live.fetch_add(1, Ordering::SeqCst);
    let mut total = 0;
    while n > 0 {
        s.write_all(&buf[..n]).await.unwrap();
        total += n as u64;
        n = s.read(&mut buf).await.unwrap();
    }
    live.fetch_sub(1, Ordering::SeqCst);
    total
}

/// The same as blocking-style code on a stackful task (`Blocking` panics
/// anywhere else).
fn echo_counted_blocking(s: TcpStream, live: Arc<AtomicUsize>) -> u64 {
    let mut io = Blocking::new(&s);
    let mut buf = [0u8; 256];
    let mut n = io.read(&mut buf).unwrap();
    assert!(n > 0, "a client closed before its first message");
    live.fetch_add(1, Ordering::SeqCst);
    let mut total = 0;
    while n > 0 {
        io.write_all(&buf[..n]).unwrap();
        total += n as u64;
        n = io.read(&mut buf).unwrap();
    }
    live.fetch_sub(1, Ordering::SeqCst);
    total
}

/// The client process of the 10,000-connection test (on a LocalExecutor):
/// opens [`MANY`] connections to `addr`, each sending a message and
/// reading its echo; once every connection has had its echo (all open at
/// once, each server handler mid-protocol) prints `held N` and waits for
/// the server's `go` on stdin; then each sends a second message, reads its
/// echo, closes its write side and reads EOF. Prints `sent BYTES`.
fn many_clients(addr: std::net::SocketAddr) {
    require_fd_limit(MANY_FDS);
    let (go_tx, go) = async_channel::bounded::<()>(1);
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = io::stdin().read_line(&mut line);
        if line.trim() != "go" {
            eprintln!("clients: expected `go` from the server, got {line:?}");
            std::process::exit(1);
        }
        drop(go_tx); // closes the channel: every client goes on
    });
    let report = |line: String| {
        let mut out = io::stdout().lock();
        writeln!(out, "helper: {line}").unwrap();
        out.flush().unwrap();
    };
    let ex = LocalExecutor::new();
    let sent = ex
        .run_until(ex.spawn(timeout_after(60, async move {
            let held = Arc::new(AtomicUsize::new(0));
            let connecting = Connecting::new();
            let clients: Vec<_> = (0..MANY)
                .map(|c| {
                    let (held, connecting, go) = (held.clone(), connecting.clone(), go.clone());
                    coframe::spawn(async move {
                        let mut permit = Some(connecting.acquire().await);
                        let s = TcpStream::connect(addr).await.unwrap();
                        let mut sent = 0;
                        for round in 0..2 {
                            let m = message(c, round);
                            s.write_all(&m).await.unwrap();
                            let mut got = vec![0; m.len()];
                            (&s).read_exact(&mut got).await.unwrap();
                            assert_eq!(got, m, "client {c} round {round}: wrong echo");
                            sent += m.len() as u64;
                            if round == 0 {
                                permit.take();
                                if held.fetch_add(1, Ordering::SeqCst) + 1 == MANY {
                                    report(format!("held {MANY}"));
                                }
                                assert!(go.recv().await.is_err());
                            }
                        }
                        s.shutdown(Shutdown::Write).unwrap();
                        assert_eq!(s.read(&mut [0; 8]).await.unwrap(), 0, "EOF after echo");
                        sent
                    })
                })
                .collect();
            let mut sent = 0;
            for c in clients {
                sent += c.await.unwrap();
            }
            sent
        })))
        .unwrap();
    report(format!("sent {sent}"));
}

/// The client process as the server sees it: its stdout read line by line
/// on the event loop, killed if dropped before it exited.
struct ClientProcess {
    child: std::process::Child,
    out: coframe::io::Async<std::fs::File>,
    buf: Vec<u8>,
}

impl ClientProcess {
    fn start(test: &str, addr: std::net::SocketAddr) -> ClientProcess {
        let mut child = crate::util::helper_process(test, &format!("clients {addr}"));
        let out = std::os::fd::OwnedFd::from(child.stdout.take().unwrap());
        ClientProcess {
            child,
            out: coframe::io::Async::new(std::fs::File::from(out)).unwrap(),
            buf: Vec::new(),
        }
    }

    /// The next report of the process (what follows `helper: ` on a line;
    /// the harness's own lines are skipped), or `None` at EOF.
    async fn report(&mut self) -> Option<String> {
        loop {
            while let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line = String::from_utf8(self.buf.drain(..=i).collect()).unwrap();
                // The harness's `test NAME ... ` may precede a report on
                // its line.
                if let Some(at) = line.find("helper: ") {
                    return Some(line[at + "helper: ".len()..].trim_end().to_string());
                }
            }
            let mut chunk = [0u8; 512];
            let n = self
                .out
                .read_with(|mut f| f.read(&mut chunk))
                .await
                .unwrap();
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next report, which must start with `what`: the rest of it.
    async fn expect(&mut self, what: &str) -> String {
        match self.report().await {
            Some(r) if r.starts_with(what) => r[what.len()..].trim().to_string(),
            Some(r) => panic!("the client process reported {r:?}, expected {what:?}"),
            None => panic!(
                "the client process ended before reporting {what:?} ({}; its stderr is above)",
                self.child.wait().unwrap()
            ),
        }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.child.stdin.as_mut().unwrap(), "{line}").unwrap();
    }

    /// Waits for the process to end (its stdout's EOF, then its status)
    /// and checks it succeeded.
    async fn finish(mut self) {
        if let Some(r) = self.report().await {
            panic!("the client process reported {r:?} after its total");
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the client process failed: {status}");
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// 10,000 concurrent connections on a 2-worker pool, served by async tasks
/// and then by stackful tasks: every connection open at once, each handler
/// between its first read and its end (the server's count of live handlers
/// is 10,000 while the clients wait for its `go`; 10,000 stacks are in use
/// in the stackful round, none in the async one), every byte echoed. Then
/// the pool shuts down: every socket is closed (the descriptor count is
/// back to its baseline), no frame of the counting allocator and no stack
/// is left. The server is alone in a child process (exact counts); the
/// clients are another process started by it (both ends in one process
/// would need 20,000 descriptors), holding every connection open until
/// the server has checked its count. Each process needs 10,500
/// descriptors and fails naming its limit if it cannot have them.
#[test]
fn ten_thousand_connections_on_the_pool_then_nothing_left() {
    const TEST: &str = "net::ten_thousand_connections_on_the_pool_then_nothing_left";
    if let Some(role) = crate::util::helper_role() {
        let addr = role.strip_prefix("clients ").expect("the clients role");
        return many_clients(addr.parse().unwrap());
    }
    alone_in_a_child(TEST, || {
        require_fd_limit(MANY_FDS);
        // `block_on` (and a pool's `block_on` from this thread) keeps one
        // event loop per thread for its next calls: make it part of the
        // baseline.
        coframe::block_on(async {});
        let before = open_fds();
        let frames = Arc::new(coframe::frame::Counting::new(coframe::frame::Recycling));
        let stacks =
            coframe::context::PooledStack::new(coframe::stackful::DEFAULT_STACK_SIZE).unwrap();
        {
            let pool = ThreadPool::builder()
                .worker_threads(2)
                .stack_allocator(stacks.clone())
                .build()
                .unwrap();
            for stackful in [false, true] {
                let stacks = stacks.clone();
                let root = coframe::run_async(
                    &pool,
                    frames.clone(),
                    timeout_after(60, async move {
                        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                        let addr = listener.local_addr().unwrap();
                        let live = Arc::new(AtomicUsize::new(0));
                        let l2 = live.clone();
                        let server = coframe::spawn(async move {
                            let mut handlers = Vec::with_capacity(MANY);
                            for _ in 0..MANY {
                                let (s, _) = listener.accept().await.unwrap();
                                let live = l2.clone();
                                handlers.push(if stackful {
                                    coframe::spawn_stackful(move || echo_counted_blocking(s, live))
                                } else {
                                    coframe::spawn(echo_counted_async(s, live))
                                });
                            }
                            let mut total = 0;
                            for h in handlers {
                                total += h.await.unwrap();
                            }
                            total
                        });
                        let mut clients = ClientProcess::start(TEST, addr);
                        assert_eq!(clients.expect("held").await, MANY.to_string());
                        assert_eq!(
                            live.load(Ordering::SeqCst),
                            MANY,
                            "every handler is mid-protocol at once"
                        );
                        if stackful {
                            assert!(stacks.live() >= MANY, "a stack per handler");
                        } else {
                            assert_eq!(stacks.live(), 0, "async handlers have no stack");
                        }
                        clients.send("go");
                        let sent: u64 = clients.expect("sent").await.parse().unwrap();
                        assert_eq!(server.await.unwrap(), sent, "every byte echoed");
                        assert_eq!(live.load(Ordering::SeqCst), 0);
                        clients.finish().await;
                    }),
                );
                pool.block_on(root).unwrap();
            }
            assert!(open_fds() > before, "the pool's event loop is open");
        }
        assert_eq!(frames.live_frames(), 0, "a frame was left");
        assert_eq!(stacks.live(), 0, "a stack was left");
        assert_eq!(open_fds(), before, "a descriptor was left open");
    });
}

/// `fut`, or a panic after `secs` seconds (a test that would hang fails
/// instead, with what its tasks printed).
async fn timeout_after<F: Future>(secs: u64, fut: F) -> F::Output {
    coframe::time::timeout(std::time::Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish in {secs} s"))
}

/// hyper 1.x on coframe: a hyper server and hyper clients, both on
/// coframe (I/O traits, timer, executor from `coframe::compat::hyper`),
/// exchange 1,000 requests over loopback keep-alive connections, on the
/// LocalExecutor and on the pool.
#[cfg(feature = "hyper")]
#[test]
fn hyper_server_and_client_exchange_a_thousand_requests() {
    use coframe::compat::hyper::{CoframeExecutor, CoframeTimer};
    use hyper::body::{Body, Bytes, Frame, Incoming};
    use hyper::{Request, Response};
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    struct Full(Option<Bytes>);
    impl Body for Full {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
        }
    }

    async fn collect(mut body: Incoming) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Ok(data) = frame.unwrap().into_data() {
                out.extend_from_slice(&data);
            }
        }
        out
    }

    const CONNS: usize = 10;
    const PER_CONN: usize = 100;
    on_both(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = coframe::spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..CONNS {
                let (s, _) = listener.accept().await.unwrap();
                conns.push(coframe::spawn(async move {
                    let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
                        let path = req.uri().path().to_string();
                        let body = collect(req.into_body()).await;
                        let answer = format!("{path} {}", String::from_utf8(body).unwrap());
                        Ok::<_, Infallible>(Response::new(Full(Some(answer.into()))))
                    });
                    hyper::server::conn::http1::Builder::new()
                        .timer(CoframeTimer)
                        .serve_connection(s, service)
                        .await
                        .unwrap();
                }));
            }
            for c in conns {
                c.await.unwrap();
            }
        });
        let clients: Vec<_> = (0..CONNS)
            .map(|c| {
                coframe::spawn(async move {
                    let s = TcpStream::connect(addr).await.unwrap();
                    let (mut send, conn) = hyper::client::conn::http1::handshake(s).await.unwrap();
                    let driver = coframe::spawn(conn);
                    for i in 0..PER_CONN {
                        let req = Request::post(format!("/{c}/{i}"))
                            .header("host", "coframe")
                            .body(Full(Some(Bytes::from(format!("body {i}")))))
                            .unwrap();
                        let res = send.send_request(req).await.unwrap();
                        assert_eq!(res.status(), 200);
                        let body = collect(res.into_body()).await;
                        assert_eq!(body, format!("/{c}/{i} body {i}").into_bytes());
                    }
                    drop(send); // the connection ends
                    driver.await.unwrap().unwrap();
                    PER_CONN
                })
            })
            .collect();
        let mut total = 0;
        for c in clients {
            total += c.await.unwrap();
        }
        assert_eq!(total, 1000);
        server.await.unwrap();
        // The executor adapter spawns on the current coframe executor.
        let (tx, rx) = async_channel::bounded(1);
        hyper::rt::Executor::execute(&CoframeExecutor, async move {
            tx.send(7).await.unwrap();
        });
        assert_eq!(rx.recv().await.unwrap(), 7);
    });
}

/// A listener queues a burst of 1,000 connections before its first accept
/// (its backlog is 1024; with the 128 that mio and std listen with, the
/// 130th handshake is dropped and its connect times out here).
#[test]
fn a_listener_queues_a_thousand_connections_before_accepting() {
    raise_fd_limit();
    let ex = LocalExecutor::new();
    ex.run_until(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let clients: Vec<std::net::TcpStream> = (0..1000)
            .map(|i| {
                std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(500))
                    .unwrap_or_else(|e| panic!("connection {i} was not queued: {e}"))
            })
            .collect();
        for _ in 0..clients.len() {
            listener.accept().await.unwrap();
        }
    });
}

/// While a stackful task is cancelled (its stack unwound), a `Blocking`
/// call in a destructor that cannot complete at once returns an
/// `Interrupted` error instead of suspending (which would abort the
/// process); one that can complete does.
#[test]
fn blocking_during_cancellation_returns_interrupted() {
    struct ReadOnDrop(Arc<UnixStream>, Arc<Mutex<Vec<io::Result<usize>>>>);
    impl Drop for ReadOnDrop {
        fn drop(&mut self) {
            let mut b = Blocking::new(&*self.0);
            let r = b.read(&mut [0; 8]);
            let w = b.write(b"bye");
            let mut seen = self.1.lock().unwrap();
            seen.push(r);
            seen.push(w);
        }
    }
    let ex = LocalExecutor::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = ex.run_until(async { UnixStream::pair().unwrap() });
    let a = Arc::new(a);
    let (a2, s2) = (a.clone(), seen.clone());
    let h = ex.spawn_stackful(move || {
        let _d = ReadOnDrop(a2.clone(), s2);
        // Waits for ever: nothing is written to `a`.
        let _ = Blocking::new(&*a2).read(&mut [0; 8]);
    });
    ex.run_until_stalled();
    h.abort();
    assert!(ex.run_until(h).unwrap_err().is_cancelled());
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.len(), 2);
    let e = seen[0].as_ref().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::Interrupted);
    assert!(e.to_string().contains("cancelled"), "{e}");
    assert_eq!(
        *seen[1].as_ref().unwrap(),
        3,
        "a write that can complete does"
    );
    let got = ex.run_until(async move {
        let mut buf = [0u8; 8];
        let n = b.read(&mut buf).await.unwrap();
        buf[..n].to_vec()
    });
    assert_eq!(got, b"bye");
}
