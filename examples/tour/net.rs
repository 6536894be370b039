//! Tour part: networking. A line-echo server on a 2-worker `ThreadPool`:
//! an async accept loop hands each connection to a stackful task that
//! serves it with ordinary blocking-style code (`BufRead::lines` over
//! `stackful::io::Blocking`), while async clients talk to it over
//! loopback TCP. Prints the requests served, how the stackful tasks were
//! spread over the workers, and the time taken.

use coframe::net::{TcpListener, TcpStream};
use coframe::stackful::io::Blocking;
use coframe::ThreadPool;
use futures_util::{AsyncBufReadExt, AsyncWriteExt, StreamExt};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const CONNECTIONS: usize = 64;
const LINES: usize = 100;

pub fn run() {
    println!("\n== networking: async clients, stackful blocking-style handlers, one pool");
    let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
    let placed: Arc<Mutex<HashMap<std::thread::ThreadId, usize>>> = Arc::default();
    let p = placed.clone();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let server = pool.spawn(async move {
        // Registered with the event loop of the pool it runs on.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        addr_tx.send(listener.local_addr().unwrap()).unwrap();
        let mut incoming = listener.incoming();
        let mut handlers = Vec::new();
        while handlers.len() < CONNECTIONS {
            let conn = incoming.next().await.unwrap().unwrap();
            let p = p.clone();
            // One stackful task per connection, placed on the least-loaded
            // worker before its first poll.
            handlers.push(coframe::spawn_stackful(move || {
                *p.lock()
                    .unwrap()
                    .entry(std::thread::current().id())
                    .or_insert(0) += 1;
                conn.set_nodelay(true).unwrap();
                let mut out = Blocking::new(&conn);
                let mut served = 0;
                for line in BufReader::new(Blocking::new(&conn)).lines() {
                    // One write per reply (`writeln!` would write in pieces).
                    out.write_all(format!("echo {}\n", line.unwrap()).as_bytes())
                        .unwrap();
                    served += 1;
                }
                served
            }));
        }
        let mut served = 0;
        for h in handlers {
            served += h.await.unwrap();
        }
        served
    });
    let addr = addr_rx.recv().unwrap();
    let t = Instant::now();
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            pool.spawn(async move {
                let stream = TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let (r, mut w) = stream.into_split();
                let mut r = futures_util::io::BufReader::new(r);
                let mut line = String::new();
                for i in 0..LINES {
                    w.write_all(format!("{c}:{i}\n").as_bytes()).await.unwrap();
                    line.clear();
                    r.read_line(&mut line).await.unwrap();
                    assert_eq!(line, format!("echo {c}:{i}\n"));
                }
                w.close().await.unwrap();
            })
        })
        .collect();
    for c in clients {
        pool.block_on(c).unwrap();
    }
    let served = pool.block_on(server).unwrap();
    let elapsed = t.elapsed();
    assert_eq!(served, CONNECTIONS * LINES);
    let shares: Vec<usize> = placed.lock().unwrap().values().copied().collect();
    println!(
        "{CONNECTIONS} connections x {LINES} lines = {served} round trips in {elapsed:.2?} \
         ({:.1} us each); stackful handlers per worker: {shares:?}",
        elapsed.as_secs_f64() * 1e6 / served as f64
    );
}
