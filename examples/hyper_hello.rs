//! hyper 1.x serving "Hello, World!" on coframe (feature `hyper`): hyper's
//! I/O traits on `coframe::net::TcpStream`, its timer on `coframe::time`.
//!
//! ```text
//! cargo run --release --features hyper --example hyper_hello -- \
//!     [--executor local|pool] [--workers N] [--addr 127.0.0.1:8080] [--requests N]
//! ```
//!
//! `--requests N` stops the server once its finished connections served N
//! requests.

#[path = "common/server.rs"]
mod server;

use coframe::compat::hyper::CoframeTimer;
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Request, Response};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// A whole body in one frame.
struct Full(Option<Bytes>);

impl hyper::body::Body for Full {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.len() as u64))
    }
}

/// Serves one connection with hyper's HTTP/1.1 server (keep-alive,
/// pipelining): the number of requests answered.
async fn serve(stream: coframe::net::TcpStream) -> std::io::Result<u64> {
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    let service = hyper::service::service_fn(move |_req: Request<Incoming>| {
        count.fetch_add(1, Ordering::Relaxed);
        async {
            Ok::<_, Infallible>(Response::new(Full(Some(Bytes::from_static(
                b"Hello, World!",
            )))))
        }
    });
    hyper::server::conn::http1::Builder::new()
        .timer(CoframeTimer)
        .pipeline_flush(true)
        .serve_connection(stream, service)
        .await
        .map_err(std::io::Error::other)?;
    Ok(served.load(Ordering::Relaxed))
}

fn main() {
    let args = match server::Args::parse(std::env::args().skip(1), "--requests") {
        Ok(a) if a.mode == server::Mode::Async => a,
        Ok(_) => {
            eprintln!("hyper_hello: hyper runs as async tasks only (no --mode stackful)");
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("hyper_hello: {e}");
            std::process::exit(2);
        }
    };
    let served = server::run(
        &args,
        |addr| println!("hyper_hello: listening on http://{addr}"),
        serve,
        |_| unreachable!("async mode only"),
    );
    match served {
        Ok(n) => println!("hyper_hello: served {n} requests"),
        Err(e) => {
            eprintln!("hyper_hello: {e}");
            std::process::exit(1);
        }
    }
}
