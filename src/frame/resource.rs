//! The [`MemoryResource`] interface every frame allocation goes through, the
//! [`AllocError`] it reports, and the [`System`] adapter.
//!
//! The trait is object-safe: the current-resource slot and every frame hold a
//! `dyn MemoryResource` pointer. Alignment is part of the contract: a resource
//! must return memory aligned to `layout.align()` or fail (capy's recycler
//! ignored alignment; ours must not).

use std::alloc::Layout;
use std::fmt;
use std::ptr::NonNull;

/// A resource refused an allocation.
///
/// Returned by the fallible (`try_`) paths; the infallible paths panic with a
/// message that names the resource failure.
///
/// ```
/// use coframe::frame::AllocError;
/// assert_eq!(AllocError.to_string(), "frame memory resource refused the allocation");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AllocError;

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("frame memory resource refused the allocation")
    }
}

impl std::error::Error for AllocError {}

/// An allocator of frames: the object-safe interface behind the current
/// resource slot, the task cell allocation path and [`FrameBox`](crate::frame).
///
/// Implementations must return blocks of at least `layout.size()` bytes
/// aligned to `layout.align()`, and must accept zero-sized layouts (returning
/// any well-aligned non-null pointer that `deallocate` accepts back).
///
/// ```
/// use coframe::frame::{MemoryResource, System};
/// use std::alloc::Layout;
///
/// let layout = Layout::from_size_align(256, 64).unwrap();
/// let block = System.allocate(layout).unwrap();
/// assert_eq!(block.as_ptr() as usize % 64, 0);
/// // SAFETY: `block` came from `System.allocate` with this layout.
/// unsafe { System.deallocate(block, layout) };
/// ```
///
/// A type that is not one fails with a message that names this trait and
/// the `allocator-api2` adapter:
///
/// ```compile_fail,E0277
/// // error: `String` is not a coframe frame allocator (`MemoryResource`)
/// let _ = coframe::frame::ResourceHandle::owning_local(String::new());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a coframe frame allocator (`MemoryResource`)",
    label = "not a `coframe::frame::MemoryResource`",
    note = "implement `coframe::frame::MemoryResource` for it",
    note = "an `allocator_api2` allocator (`bumpalo::Bump`, ...) becomes one wrapped in \
            `coframe::frame::Allocator2` (feature `allocator-api2`)"
)]
pub trait MemoryResource {
    /// Allocates a block for `layout`, or reports that the resource refused.
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError>;

    /// Returns a block to the resource.
    ///
    /// # Panics
    ///
    /// It should not. If it does, coframe contains the panic wherever it
    /// frees a frame (a task cell, a [`FrameBox`](super::FrameBox), a block
    /// queued for a `run_async` root): the standard panic hook prints it,
    /// coframe adds a line saying it was contained, the block counts as
    /// lost to this resource, and everything else goes on (reference counts
    /// are released, the worker keeps running, the root is still dropped
    /// after its last frame). The same holds for a panic in the destructor
    /// of an allocator owned by [`run_async`](crate::run_async).
    ///
    /// # Safety
    ///
    /// `ptr` must have been returned by `allocate` on this same resource (or
    /// one that shares its memory, such as a clone of an `Arc`) with this same
    /// `layout`, and must not have been deallocated since.
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout);
}

impl<R: MemoryResource + ?Sized> MemoryResource for &R {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        (**self).allocate(layout)
    }
    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { (**self).deallocate(ptr, layout) }
    }
}

impl<R: MemoryResource + ?Sized> MemoryResource for std::sync::Arc<R> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        (**self).allocate(layout)
    }
    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { (**self).deallocate(ptr, layout) }
    }
}

impl<R: MemoryResource + ?Sized> MemoryResource for std::rc::Rc<R> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        (**self).allocate(layout)
    }
    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { (**self).deallocate(ptr, layout) }
    }
}

impl<R: MemoryResource + ?Sized> MemoryResource for Box<R> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        (**self).allocate(layout)
    }
    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { (**self).deallocate(ptr, layout) }
    }
}

/// The system allocator (`std::alloc::System`) as a frame resource.
///
/// Zero-sized layouts get a dangling, well-aligned pointer and no call.
///
/// ```
/// use coframe::frame::{MemoryResource, System};
/// use std::alloc::Layout;
/// let zst = Layout::from_size_align(0, 8).unwrap();
/// let p = System.allocate(zst).unwrap();
/// // SAFETY: `p` came from `System.allocate(zst)`.
/// unsafe { System.deallocate(p, zst) };
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct System;

impl MemoryResource for System {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { std::alloc::GlobalAlloc::alloc(&std::alloc::System, layout) };
        NonNull::new(p).ok_or(AllocError)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            // SAFETY: by the caller's contract `ptr` came from `allocate` with
            // this non-zero layout, which used `System.alloc`.
            unsafe { std::alloc::GlobalAlloc::dealloc(&std::alloc::System, ptr.as_ptr(), layout) }
        }
    }
}

/// A well-aligned non-null pointer for a zero-sized block.
#[inline]
pub(crate) fn dangling(layout: Layout) -> NonNull<u8> {
    // SAFETY: an alignment is a non-zero power of two, so the address is
    // non-null.
    unsafe { NonNull::new_unchecked(layout.align() as *mut u8) }
}
