//! The stackful layer: Boost.Context in safe Rust.
//!
//! - [`Fiber`]: one-shot, move-only, symmetric (Boost's `fiber`);
//! - [`Coroutine`] / [`Yielder`] / [`CoroutineResult`]: typed, asymmetric
//!   (Boost's `execution_context<Args...>` with values both ways);
//! - [`Generator`]: a coroutine as an [`Iterator`];
//! - [`ScopedCoroutine`]: a coroutine whose closure borrows from its
//!   caller; [`on_stack`]: a closure run to its end on another stack;
//! - [`ForcedUnwind`]: the payload that unwinds a dropped fiber or
//!   coroutine, which code that catches panics must pass on;
//! - stacks: [`StackTraits`], [`StackAllocator`], [`FixedSizeStack`],
//!   [`ProtectedStack`], [`PooledStack`], [`LocalPool`], [`OwnedStack`].
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

mod control;
mod coroutine;
mod fiber;
pub(crate) mod raw;
mod sanitizer;
mod scoped;
pub mod stack;
mod unwind;
pub(crate) mod valgrind;

pub(crate) use control::{coloured_top, prefetch_top};
pub use coroutine::{Coroutine, CoroutineResult, Generator, Yielder};
pub use fiber::Fiber;
pub use raw::Switch;
pub use scoped::{on_stack, ScopedCoroutine};
pub use stack::{
    FixedSizeStack, LocalPool, OwnedStack, PooledStack, PooledStackBuilder, ProtectedStack, Stack,
    StackAllocator, StackError, StackTraits,
};
pub use unwind::ForcedUnwind;
