//! [`LocalPool`]: a single-thread cache of stacks in front of any allocator.
//!
//! [`PooledStack`](super::PooledStack) is shared between threads, so every
//! hand-out costs a lock and an atomic count. Fibers and coroutines never
//! leave their thread, so a thread that creates many short-lived ones can
//! keep its stacks in a `LocalPool` instead: a `Vec` behind an `Rc`, no
//! atomics, no locks. Stacks beyond the capacity go back to the inner
//! allocator; dropping the last handle gives every cached stack back.

use super::{Stack, StackAllocator, StackError};
use std::cell::RefCell;
use std::rc::Rc;

/// A thread-local cache of up to `capacity` stacks from `S`; clones share it.
///
/// ```
/// use coframe::context::{Coroutine, CoroutineResult, LocalPool, ProtectedStack};
/// let pool = LocalPool::new(ProtectedStack::new(64 * 1024).unwrap(), 4);
/// for i in 0..100 {
///     let mut co = Coroutine::<(), (), i32>::with_stack(pool.clone(), move |_, ()| i);
///     assert_eq!(co.resume(()), CoroutineResult::Return(i));
/// }
/// assert_eq!(pool.cached(), 1); // one stack served all hundred
/// ```
///
/// Not `Send`: the cache belongs to one thread.
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(coframe::context::LocalPool::new(coframe::context::ProtectedStack::default(), 1));
/// ```
#[derive(Debug)]
pub struct LocalPool<S: StackAllocator> {
    inner: Rc<Inner<S>>,
}

#[derive(Debug)]
struct Inner<S: StackAllocator> {
    alloc: S,
    free: RefCell<Vec<Stack>>,
    capacity: usize,
}

impl<S: StackAllocator> Clone for LocalPool<S> {
    fn clone(&self) -> Self {
        LocalPool {
            inner: self.inner.clone(),
        }
    }
}

impl<S: StackAllocator> LocalPool<S> {
    /// A cache keeping up to `capacity` stacks from `alloc`.
    pub fn new(alloc: S, capacity: usize) -> Self {
        LocalPool {
            inner: Rc::new(Inner {
                alloc,
                free: RefCell::new(Vec::with_capacity(capacity)),
                capacity,
            }),
        }
    }

    /// Stacks waiting in the cache.
    pub fn cached(&self) -> usize {
        self.inner.free.borrow().len()
    }
}

// SAFETY: stacks come from the inner allocator and are handed to one user at
// a time; cached stacks are unused.
unsafe impl<S: StackAllocator> StackAllocator for LocalPool<S> {
    #[inline]
    fn allocate(&self) -> Result<Stack, StackError> {
        if let Some(stack) = self.inner.free.borrow_mut().pop() {
            return Ok(stack);
        }
        self.inner.alloc.allocate()
    }

    #[inline]
    unsafe fn deallocate(&self, stack: Stack) {
        let mut free = self.inner.free.borrow_mut();
        if free.len() < self.inner.capacity {
            free.push(stack);
        } else {
            drop(free);
            // SAFETY: forwarded contract: the stack came from `alloc`.
            unsafe { self.inner.alloc.deallocate(stack) }
        }
    }
}

impl<S: StackAllocator> Drop for Inner<S> {
    fn drop(&mut self) {
        for stack in self.free.get_mut().drain(..) {
            // SAFETY: cached stacks came from `alloc` and are unused.
            unsafe { self.alloc.deallocate(stack) };
        }
    }
}
