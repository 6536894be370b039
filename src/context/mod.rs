//! The stackful layer: Boost.Context in safe Rust.
//!
//! - [`Fiber`]: one-shot, move-only, symmetric (Boost's `fiber`);
//! - [`Coroutine`] / [`Yielder`] / [`CoroutineResult`]: typed, asymmetric
//!   (Boost's `execution_context<Args...>` with values both ways);
//! - [`Generator`]: a coroutine as an [`Iterator`];
//! - stacks: [`StackTraits`], [`StackAllocator`], [`FixedSizeStack`],
//!   [`ProtectedStack`], [`PooledStack`].
//!
//! The switch itself is hand-written assembly in `asm/` (`raw`). Panics
//! never cross it: they are caught at the base of each stack and re-raised
//! in the resumer. Dropping an unfinished fiber or coroutine unwinds its
//! stack, so destructors run.
//!
//! # Thread-locals
//!
//! A fiber or coroutine runs on the thread that resumes it; none of the
//! types here is `Send`, so one never migrates. (Stackful *tasks* on the
//! thread pool face the thread-local question; see the executor docs.)

mod asan;
mod control;
mod coroutine;
mod fiber;
pub(crate) mod raw;
pub mod stack;
mod unwind;
pub(crate) mod valgrind;

pub(crate) use control::prefetch_top;
pub use coroutine::{Coroutine, CoroutineResult, Generator, Yielder};
pub use fiber::Fiber;
pub use raw::Switch;
pub use stack::{
    FixedSizeStack, LocalPool, PooledStack, PooledStackBuilder, ProtectedStack, Stack,
    StackAllocator, StackError, StackTraits,
};
pub use unwind::ForcedUnwind;
