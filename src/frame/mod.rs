//! Frame allocators: where task memory comes from (capy's frame allocator
//! system, in Rust).
//!
//! Every frame — a task cell, a [`FrameBox`], a stackful task's control
//! data — is allocated from a [`MemoryResource`]. Which one is decided once,
//! at the root (`run_async(executor, allocator, future)`), and inherited by
//! every child spawn through a thread-local *current resource* slot that
//! executors set around each poll.
//!
//! Rules (numbered as in ARCHITECTURE.md):
//! 1. every frame records how to free itself: freeing never reads the slot;
//! 2. an allocator owned by a root outlives every frame allocated through it;
//! 3. the slot is a stack: whoever polls or resumes saves and restores it;
//! 4. a resource that is not `Sync` never reaches another thread's allocation
//!    path: the type system keeps local-only resources off thread pools.
//!
//! What lives where:
//! - `resource.rs`: [`MemoryResource`], [`AllocError`], [`System`];
//! - `handle.rs`: the one handle type [`Handle<K>`](Handle) and its kinds:
//!   [`ResourceHandle`] (kind [`ThisThread`], `!Send`),
//!   [`SyncResourceHandle`] (kind [`AnyThread`], `Send + Sync`) and the
//!   crate-internal `RawHandle` (kind `Frame`) that task cells and boxes
//!   keep; conversions between kinds move the handle; the owner roots
//!   (`SyncResourceHandle::owning`, `ResourceHandle::owning_local`);
//! - `current.rs`: the slot (a handle's raw value and whether the slot owns
//!   its count), [`current`], [`set_current`], [`safe_resume`],
//!   [`safe_resume_with`];
//! - `recycling.rs`: [`Recycling`], the default (classes, batches and their
//!   measurements are in its module docs), [`RecyclingStats`];
//! - `counting.rs`: [`Counting`], [`CountingStats`]; `frame_box.rs`: [`FrameBox`];
//! - `api2.rs` (feature `allocator-api2`): `Allocator2`, any
//!   `allocator_api2` 0.2 allocator (bumpalo 3's `Bump`) as a resource.

#[cfg(feature = "allocator-api2")]
mod api2;
mod counting;
mod current;
mod frame_box;
mod handle;
mod recycling;
mod resource;

#[cfg(feature = "allocator-api2")]
pub use api2::Allocator2;
pub use counting::{Counting, CountingStats};
pub use current::{current, safe_resume, safe_resume_with, set_current, CurrentGuard};
#[allow(unused_imports)] // consumed by executor batch loops
pub(crate) use current::{
    load_slot, replace_current_uncounted, safe_resume_with_unchecked, Slot as FrameSlot,
};
pub use frame_box::FrameBox;
#[allow(unused_imports)] // consumed by task cells
pub(crate) use handle::RawHandle;
pub use handle::{AnyThread, Direct, Handle, Kind, ResourceHandle, SyncResourceHandle, ThisThread};
pub use recycling::{Recycling, RecyclingStats};
pub use resource::{AllocError, MemoryResource, System};
