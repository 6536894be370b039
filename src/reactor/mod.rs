//! The event loop's I/O half (the *reactor*) and the driver that runs both
//! halves, I/O and timers (`crate::time`).
//!
//! | file              | owns                                                          |
//! |-------------------|---------------------------------------------------------------|
//! | `driver.rs`       | `Driver` (the `mio::Poll`, its turn) and `Handle` (shared)     |
//! | `registration.rs` | registered sources: the slab, tokens, per-source readiness    |
//! | `async_fd.rs`     | `coframe::io::Async`, the public building block               |
//! | `current.rs`      | the current event loop of a thread: `enter`, `Handle::current`|
//!
//! The reactor wakes; executors poll (rule 9): readiness and timers only
//! call `Waker`s, and tasks are polled only by the executors' loops, which
//! run them inside `safe_resume`. There is no reactor thread (rule 10):
//! the executor thread that would otherwise sleep turns the driver.
//!
//! The layering: the reactor knows `mio`, `Waker`s and the per-thread
//! context's `reactor` field; it knows nothing of tasks or executors.
//! Executors create a `Driver`, [`enter`] its handle around their loops,
//! turn it when idle (blocking) or now and then when busy (non-blocking),
//! and [`Handle::unpark`] it from other threads.

pub(crate) mod async_fd;
mod current;
pub(crate) mod driver;
pub(crate) mod registration;
#[cfg(all(test, not(loom)))]
pub(crate) mod test_util;

#[allow(unused_imports)] // `enter` and `EnterGuard` are used by tests only
pub(crate) use current::{current_raw, enter, make_current_in_entry, EnterGuard};
#[allow(unused_imports)]
pub(crate) use driver::{Driver, Handle, LoopState};
