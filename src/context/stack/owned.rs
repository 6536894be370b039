//! [`OwnedStack`]: one stack, held on to, with the allocator it goes back
//! to.
//!
//! The other allocators hand a fresh (or pooled) stack to every fiber or
//! coroutine and take it back when that one ends. An `OwnedStack` is a
//! single stack taken once from any allocator and then used directly, over
//! and over: by [`on_stack`](crate::context::on_stack) (borrowed), by one
//! coroutine at a time (moved in), and taken back out of a finished
//! coroutine with [`Coroutine::into_stack`](crate::context::Coroutine::into_stack).
//! Dropping it gives the stack back to the allocator it came from.
//!
//! Invariant: the stack is either here or handed out (at most once at a
//! time); `deallocate` puts it back.

use super::{Stack, StackAllocator, StackError};
use std::cell::Cell;
use std::fmt;

/// A stack allocator erased to "give this stack back".
trait GiveBack {
    /// # Safety
    ///
    /// As for [`StackAllocator::deallocate`].
    unsafe fn give_back(&self, stack: Stack);
}

impl<S: StackAllocator> GiveBack for S {
    unsafe fn give_back(&self, stack: Stack) {
        // SAFETY: forwarded contract.
        unsafe { self.deallocate(stack) }
    }
}

/// One stack taken from an allocator and kept: a [`StackAllocator`] that
/// hands out that same stack, again and again, one user at a time.
///
/// ```
/// use coframe::context::{on_stack, Coroutine, CoroutineResult, OwnedStack, ProtectedStack};
/// let stack = OwnedStack::new(ProtectedStack::new(256 * 1024).unwrap()).unwrap();
/// // Borrowed for a deep computation...
/// assert_eq!(on_stack(&stack, || 6 * 7), 42);
/// // ...moved into a coroutine, and taken back when it has finished.
/// let mut co = Coroutine::<(), (), u8>::with_stack(stack, |_, ()| 1);
/// assert_eq!(co.resume(()), CoroutineResult::Return(1));
/// let stack = co.into_stack().expect("made on an OwnedStack");
/// assert!(stack.size() >= 256 * 1024);
/// ```
///
/// Asking for its stack while it is in use is an error, not a second
/// stack:
///
/// ```
/// use coframe::context::{OwnedStack, StackAllocator, StackError, FixedSizeStack};
/// let owned = OwnedStack::new(FixedSizeStack::default()).unwrap();
/// let s = owned.allocate().unwrap();
/// assert!(matches!(owned.allocate(), Err(StackError::Invalid(_))));
/// // SAFETY: `s` came from `owned` and nothing runs on it.
/// unsafe { owned.deallocate(s) };
/// ```
pub struct OwnedStack {
    stack: Cell<Option<Stack>>,
    size: usize,
    origin: Box<dyn GiveBack>,
}

impl OwnedStack {
    /// Takes one stack from `alloc`, to keep until this is dropped.
    pub fn new<S: StackAllocator + 'static>(alloc: S) -> Result<OwnedStack, StackError> {
        let stack = alloc.allocate()?;
        Ok(OwnedStack {
            size: stack.size(),
            stack: Cell::new(Some(stack)),
            origin: Box::new(alloc),
        })
    }

    /// The stack's usable size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }
}

impl fmt::Debug for OwnedStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stack = self.stack.take();
        let in_use = stack.is_none();
        self.stack.set(stack);
        f.debug_struct("OwnedStack")
            .field("size", &self.size)
            .field("in_use", &in_use)
            .finish()
    }
}

// SAFETY: the one stack came from a real allocator and is handed out at
// most once at a time (taken out of the cell); it returns here only
// through `deallocate`.
unsafe impl StackAllocator for OwnedStack {
    fn allocate(&self) -> Result<Stack, StackError> {
        self.stack.take().ok_or(StackError::Invalid(
            "the OwnedStack's one stack is already in use",
        ))
    }

    unsafe fn deallocate(&self, stack: Stack) {
        debug_assert!(
            {
                let s = self.stack.take();
                let empty = s.is_none();
                self.stack.set(s);
                empty
            },
            "a second stack given back to an OwnedStack"
        );
        self.stack.set(Some(stack));
    }
}

impl Drop for OwnedStack {
    fn drop(&mut self) {
        if let Some(stack) = self.stack.take() {
            // SAFETY: the stack came from `origin` and is not in use (it is
            // back here).
            unsafe { self.origin.give_back(stack) }
        }
    }
}
