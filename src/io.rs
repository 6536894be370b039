//! Asynchronous I/O on coframe's own event loop.
//!
//! [`Async`] wraps any non-blocking file descriptor (sockets, pipes,
//! eventfds, ...): it is registered once with the event loop of the thread
//! that made it and waits for readiness without blocking the thread. The
//! event loop is driven by coframe's executors themselves (no reactor
//! thread): a waiting task is woken when its descriptor becomes ready and
//! polled by its executor as usual.
//!
//! Using this module where no coframe executor or `coframe::block_on` runs
//! the event loop panics with a message saying so.

pub use crate::reactor::async_fd::Async;
