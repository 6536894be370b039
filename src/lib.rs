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
//! The executors are a single-threaded [`LocalExecutor`] and a
//! work-stealing [`ThreadPool`], with what a tokio or smol user reaches for:
//! [`spawn`] / [`try_spawn`], [`yield_now`], [`JoinSet`],
//! [`spawn_blocking`], handles ([`ThreadPool::handle`],
//! [`LocalExecutor::spawner`]), [`LocalExecutor::run`] to drive one
//! executor from another, and a [`JoinError`] that `?` turns into a
//! `Box<dyn Error + Send + Sync>`.
//!
//! ```
//! use coframe::{JoinSet, ThreadPool};
//! fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!     let pool = ThreadPool::builder().worker_threads(2).build()?;
//!     let total = pool.block_on(async {
//!         let mut set = JoinSet::new();
//!         for i in 1..=3u64 {
//!             set.spawn(async move { i * i });
//!         }
//!         let io = coframe::spawn_blocking(|| std::env::current_dir().is_ok());
//!         let mut total = 0;
//!         while let Some(r) = set.join_next().await {
//!             total += r?;
//!         }
//!         assert!(io.await?);
//!         Ok::<_, coframe::JoinError>(total)
//!     })?;
//!     assert_eq!(total, 14);
//!     Ok(())
//! }
//! ```
//!
//! The layers go one way: [`context`] and [`frame`] know nothing of
//! executors; tasks know [`frame`]; executors know all three.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod compat;
pub mod context;
pub mod executor;
pub mod frame;
pub mod io;
pub mod net;
pub mod task;
pub mod time;

/// Stackful tasks: closures on their own stack that [`wait`](stackful::wait)
/// on futures as if they were blocking calls.
///
/// Spawn them with [`spawn_stackful`] inside a task, or with
/// `spawn_stackful` on a [`LocalExecutor`], a [`ThreadPool`] or a
/// [`Strand`]; await their [`JoinHandle`] like any task's. A panic inside
/// becomes a panic [`JoinError`]; `abort()`, executor drop and pool shutdown
/// unwind the task's stack (its destructors run) and return the stack to
/// its allocator.
///
/// # Thread-locals: a stackful task never migrates
///
/// LLVM may keep a thread-local's address in a register across a call, and
/// a call to `wait` could return on another thread if the stack migrated:
/// the code after it would then read the first thread's thread-locals (or
/// freed memory, if that thread exited). So a stackful task runs on the
/// thread that first polled it for its whole life, including its
/// cancellation. On a `LocalExecutor` that is automatic; on a `ThreadPool`
/// the task is pinned to the worker of its first poll (its wake-ups go to
/// that worker's own queue, which no other worker steals from); on a strand
/// over a pool the strand's drain is pinned to that worker. There is no
/// opt-in to migration: the cost of pinning is load balance, and the cost
/// of migrating is undefined behaviour in ordinary-looking code.
///
/// # Stacks
///
/// Stacks come from the executor's [`PooledStack`](context::PooledStack)
/// of guard-page protected stacks ([`ThreadPool::stack_allocator`],
/// [`LocalExecutor::with_stack_allocator`]), else from
/// [`default_stacks`](stackful::default_stacks). Unless configured, every
/// executor's stacks are
/// [`DEFAULT_STACK_SIZE`](stackful::DEFAULT_STACK_SIZE) (64 KiB) each, so
/// a closure that runs on one runs on the others:
/// enough for ordinary blocking-style code, formatting and a panic, while
/// 100,000 suspended tasks reserve under 7 GiB of address space and commit
/// only the pages they touch (a few KiB each: README, Benchmarks). Use
/// [`spawn_stackful_with`] for another allocator per spawn. Running into a
/// guard page ends the process with a message naming a coframe stack
/// overflow.
///
/// ```
/// let pool = coframe::ThreadPool::builder().worker_threads(2).build().unwrap();
/// let h = pool.spawn_stackful(|| {
///     let here = std::thread::current().id();
///     let v = coframe::stackful::wait(coframe::spawn(async { 21 })).unwrap();
///     assert_eq!(std::thread::current().id(), here); // never migrates
///     v * 2
/// });
/// assert_eq!(pool.block_on(h).unwrap(), 42);
/// ```
pub mod stackful {
    pub use crate::executor::stackful::{
        default_stacks, in_stackful_task, sleep, try_wait, wait, Cancelled, DEFAULT_STACK_SIZE,
    };

    pub mod io;
}

pub use executor::stackful::{spawn_stackful, spawn_stackful_with};
pub use executor::{
    block_on, run_async, spawn, spawn_blocking, spawn_local, try_run_async, try_spawn, Executor,
    JoinSet, LocalExecutor, Strand, ThreadPool, ThreadPoolBuilder,
};
pub use task::{yield_now, JoinError, JoinHandle};

mod coop;
mod loom;
mod reactor;
mod thread_context;

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
