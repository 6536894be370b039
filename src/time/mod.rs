//! Timers on coframe's own event loop: [`sleep`], [`sleep_until`],
//! [`timeout`], [`timeout_at`] and [`interval`].
//!
//! Timers live in one hierarchical timing wheel per event loop (six levels
//! of 64 slots, 1 ms resolution), whose nodes are recycled slab slots:
//! arming a timer makes no heap allocation once the wheel has grown. A
//! timer armed on one thread may be reset or cancelled (dropped) on
//! another, and firing it wakes its task wherever the task lives: the
//! pool's wheel is shared behind a lock; a thread-owned loop's wheel
//! (`LocalExecutor`, `block_on`) is used without a lock by its thread, and
//! other threads post their operations to it (`timers.rs`). The executor
//! thread that would otherwise sleep fires them (no timer thread).
//!
//! Guarantees:
//! - **never early**: a timer completes only once `Instant::now()` has
//!   reached its deadline (deadlines are rounded up to the next
//!   millisecond tick);
//! - `sleep(Duration::MAX)` never completes and arms nothing (no overflow);
//!   `sleep_until` an instant already passed completes at its first poll;
//!   `sleep(Duration::ZERO)` yields once.
//!
//! Using this module where no coframe executor or `coframe::block_on` runs
//! the event loop panics at the first poll, with a message saying so.
//!
//! | file          | owns                                                        |
//! |---------------|-------------------------------------------------------------|
//! | `clock.rs`    | the per-thread clock cache `sleep(d)` anchors on            |
//! | `wheel.rs`    | the timing wheel (levels, slots, slab of nodes)             |
//! | `timers.rs`   | who reaches the wheel how, its clock, the driver's hints    |
//! | `sleep.rs`    | `Sleep`, `sleep`, `sleep_until`                             |
//! | `timeout.rs`  | `Timeout`, `timeout`, `timeout_at`, `Elapsed`               |
//! | `interval.rs` | `Interval`, `interval`, `interval_at`                       |

pub(crate) mod clock;
mod interval;
#[cfg(all(test, loom))]
mod loom_tests;
mod sleep;
mod timeout;
pub(crate) mod timers;
pub(crate) mod wheel;

pub use interval::{interval, interval_at, Interval};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};
