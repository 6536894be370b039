//! [`FixedSizeStack`]: stacks from the system heap, without a guard page.
//!
//! The cheapest stack to make; an overflow runs into whatever the heap holds
//! below it, so use it only for code whose depth you know (Boost's
//! `fixedsize_stack`). Prefer [`ProtectedStack`](super::ProtectedStack).

use super::{round_up, Stack, StackAllocator, StackError, StackTraits, STACK_ALIGN};
use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Heap-allocated stacks of one size, no guard page.
///
/// ```
/// use coframe::context::{Fiber, FixedSizeStack};
/// let stack = FixedSizeStack::new(64 * 1024).unwrap();
/// let fiber = Fiber::with_stack(stack, |caller| caller);
/// assert!(fiber.resume().is_terminated());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FixedSizeStack {
    size: usize,
}

impl FixedSizeStack {
    /// Stacks of `size` usable bytes (rounded up to 16), validated against
    /// [`StackTraits`].
    pub fn new(size: usize) -> Result<Self, StackError> {
        let size = StackTraits::validate(size)?;
        let size = round_up(size, STACK_ALIGN).ok_or(StackError::TooLarge {
            requested: size,
            maximum: StackTraits::maximum_size(),
        })?;
        Ok(FixedSizeStack { size })
    }

    /// The usable size of each stack.
    pub fn stack_size(&self) -> usize {
        self.size
    }

    fn layout(&self) -> Layout {
        // Page alignment keeps the stack's pages its own.
        Layout::from_size_align(self.size, StackTraits::page_size().max(STACK_ALIGN))
            .expect("validated stack size")
    }
}

impl Default for FixedSizeStack {
    fn default() -> Self {
        FixedSizeStack {
            size: StackTraits::default_size(),
        }
    }
}

// SAFETY: `allocate` hands out a fresh heap block of `size` bytes, exclusively
// owned until `deallocate` frees it with the same layout.
unsafe impl StackAllocator for FixedSizeStack {
    fn allocate(&self) -> Result<Stack, StackError> {
        let layout = self.layout();
        // SAFETY: the layout has a non-zero size (validated >= minimum).
        let base = unsafe { alloc::alloc(layout) };
        let base = NonNull::new(base).ok_or_else(|| {
            StackError::Os(std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                "heap allocation for a stack failed",
            ))
        })?;
        // SAFETY: in bounds of the block just allocated (one past the end).
        let top = unsafe { NonNull::new_unchecked(base.as_ptr().add(self.size)) };
        crate::context::valgrind::register(base.as_ptr(), top.as_ptr());
        // SAFETY: the block is ours, `top` is page aligned, hence 16-aligned.
        Ok(unsafe { Stack::from_raw_parts(top, self.size, base, self.size) })
    }

    unsafe fn deallocate(&self, stack: Stack) {
        crate::context::valgrind::deregister(stack.base().as_ptr());
        // SAFETY: by contract the stack came from `allocate` with this layout.
        unsafe { alloc::dealloc(stack.base().as_ptr(), self.layout()) }
    }
}
