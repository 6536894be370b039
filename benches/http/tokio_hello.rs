//! The tokio peer of `examples/http_hello.rs` for `benches/http/run.sh`:
//! the same handler code (`examples/common/http.rs`: parsing with
//! httparse, keep-alive, pipelining, one write per read), on tokio's
//! `current_thread` or `multi_thread` runtime.
//!
//! ```text
//! cargo run --release --example tokio_hello -- [--flavor current|multi]
//!     [--workers N] [--addr 127.0.0.1:8080]
//! ```

#[path = "../../examples/common/http.rs"]
mod http;

use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn serve(mut s: tokio::net::TcpStream) -> io::Result<u64> {
    let mut c = http::Conn::new();
    loop {
        let n = s.read(c.spare()?).await?;
        if n == 0 {
            return Ok(c.served);
        }
        let next = c.filled(n);
        if !c.out.is_empty() {
            s.write_all(&c.out).await?;
        }
        if let http::Next::WriteAndClose = next {
            return Ok(c.served);
        }
    }
}

async fn accept_loop(addr: String) -> io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "tokio_hello: listening on http://{}",
        listener.local_addr()?
    );
    loop {
        match listener.accept().await {
            Ok((s, _)) => {
                let _ = s.set_nodelay(true);
                tokio::spawn(serve(s));
            }
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

fn main() {
    let mut flavor = "current".to_string();
    let mut workers = 2usize;
    let mut addr = "127.0.0.1:8080".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| {
            eprintln!("tokio_hello: {flag} needs a value");
            std::process::exit(2)
        });
        match flag.as_str() {
            "--flavor" => flavor = value,
            "--workers" => workers = value.parse().expect("--workers N"),
            "--addr" => addr = value,
            f => {
                eprintln!("tokio_hello: unknown option {f} (--flavor current|multi, --workers N, --addr A)");
                std::process::exit(2)
            }
        }
    }
    let rt = match flavor.as_str() {
        "current" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        "multi" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build(),
        f => {
            eprintln!("tokio_hello: --flavor {f}: expected current or multi");
            std::process::exit(2)
        }
    }
    .unwrap();
    if let Err(e) = rt.block_on(accept_loop(addr)) {
        eprintln!("tokio_hello: {e}");
        std::process::exit(1);
    }
}
