//! Frame allocators: where task memory comes from (capy's frame allocator
//! system, in Rust).
//!
//! Every frame — a task cell, a [`FrameBox`](self), a stackful task's control
//! data — is allocated from a [`MemoryResource`]. Which one is decided once,
//! at the root (`run_async(executor, allocator, future)`), and inherited by
//! every child spawn through a thread-local *current resource* slot that
//! executors set around each poll.
//!
//! Invariants (see `design.md`):
//! 1. every frame records how to free itself: freeing never reads the slot;
//! 2. an allocator owned by a root outlives every frame allocated through it;
//! 3. the slot is a stack: whoever polls or resumes saves and restores it;
//! 4. a resource that is not `Sync` never reaches another thread's allocation
//!    path: the type system keeps local-only resources off thread pools.

mod resource;

pub use resource::{AllocError, MemoryResource, System};
