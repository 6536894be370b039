//! # coframe
//!
//! An async runtime with pluggable **frame allocators** and **stackful tasks**.
//!
//! coframe runs two kinds of work on the same executors:
//!
//! - ordinary Rust futures, whose task memory ("frames") comes from an
//!   allocator chosen once at the root ([`frame`]) and inherited by every
//!   child spawn;
//! - stackful tasks: closures on their own stack, switched by hand-written
//!   assembly ([`context`]), that can wait on any future as if it were a
//!   blocking call.
//!
//! The layers go one way: [`context`] and [`frame`] know nothing of
//! executors; tasks know [`frame`]; executors know all three.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod context;
pub mod executor;
pub mod frame;
pub mod task;

/// Stackful tasks: closures on their own stack that [`wait`](stackful::wait)
/// on futures as if they were blocking calls. Spawn them with
/// [`spawn_stackful`] inside a task, or with `spawn_stackful` on an
/// executor; see the executor module's `stackful` docs for stacks and the
/// thread-local policy (a stackful task never migrates between threads).
pub mod stackful {
    pub use crate::executor::stackful::{
        default_stacks, in_stackful_task, wait, DEFAULT_STACK_SIZE,
    };
}

pub use executor::stackful::{spawn_stackful, spawn_stackful_with};
pub use executor::{
    block_on, run_async, spawn, spawn_local, try_run_async, Executor, LocalExecutor, Strand,
    ThreadPool, ThreadPoolBuilder,
};
pub use task::{JoinError, JoinHandle};

mod loom;

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
