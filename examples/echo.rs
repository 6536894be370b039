//! A TCP echo server on coframe.
//!
//! ```text
//! cargo run --release --example echo -- [--mode async|stackful]
//!     [--executor local|pool] [--workers N] [--addr 127.0.0.1:8080] [--connections N]
//! ```
//!
//! `--mode stackful` serves each connection on its own stackful task with
//! blocking-style `std::io` code (`coframe::stackful::io::Blocking`);
//! `--connections N` stops the server once N connections have ended.

#[path = "common/echo.rs"]
mod echo;
#[path = "common/server.rs"]
mod server;

use coframe::stackful::io::Blocking;

fn main() {
    let args = match server::Args::parse(std::env::args().skip(1), "--connections") {
        Ok(a) => a,
        Err(e) => {
            eprintln!("echo: {e}");
            std::process::exit(2);
        }
    };
    let served = server::run(
        &args,
        |addr| println!("echo: listening on {addr}"),
        |s| async move { echo::serve_async(&s).await.map(|_| 1) },
        |s| {
            let r = echo::serve_blocking(Blocking::new(&s), Blocking::new(&s));
            let _ = s.shutdown(std::net::Shutdown::Write);
            r.map(|_| 1)
        },
    );
    match served {
        Ok(n) => println!("echo: served {n} connections"),
        Err(e) => {
            eprintln!("echo: {e}");
            std::process::exit(1);
        }
    }
}
