//! A keep-alive HTTP/1.1 "Hello, World!" server on coframe: requests
//! parsed with `httparse`, pipelined requests answered in order.
//!
//! ```text
//! cargo run --release --example http_hello -- [--mode async|stackful]
//!     [--executor local|pool] [--workers N] [--addr 127.0.0.1:8080] [--requests N]
//! ```
//!
//! `--mode stackful` serves each connection on its own stackful task with
//! blocking-style `std::io` code (`coframe::stackful::io::Blocking`);
//! `--requests N` stops the server once its finished connections served N
//! requests.

#[path = "common/http.rs"]
mod http;
#[path = "common/server.rs"]
mod server;

use coframe::stackful::io::Blocking;

fn main() {
    let args = match server::Args::parse(std::env::args().skip(1), "--requests") {
        Ok(a) => a,
        Err(e) => {
            eprintln!("http_hello: {e}");
            std::process::exit(2);
        }
    };
    let served = server::run(
        &args,
        |addr| println!("http_hello: listening on http://{addr}"),
        |s| async move { http::serve_async(&s).await },
        |s| http::serve_blocking(Blocking::new(&s), Blocking::new(&s)),
    );
    match served {
        Ok(n) => println!("http_hello: served {n} requests"),
        Err(e) => {
            eprintln!("http_hello: {e}");
            std::process::exit(1);
        }
    }
}
