//! The tour: exercises every capability of coframe and prints what it did
//! (allocator statistics, timings). Run it with
//! `cargo run --release --example tour`.
//!
//! Each part lives in its own module; `main` runs them in order.

mod api;
mod event_loop;
mod frames;
mod local;
mod net;
mod pool;
mod stackful;
mod stackful_tasks;
mod strand;

fn main() {
    println!("coframe tour");
    stackful::run();
    frames::run();
    local::run();
    pool::run();
    stackful_tasks::run();
    strand::run();
    event_loop::run();
    net::run();
    api::run();
    println!("\ntour complete");
}
