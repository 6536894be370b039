//! [`LocalPool`]: a single-thread cache of stacks in front of any allocator.
//!
//! [`PooledStack`](super::PooledStack) is shared between threads, so every
//! hand-out costs a lock and an atomic count. Fibers and coroutines never
//! leave their thread, so a thread that creates many short-lived ones can
//! keep its stacks in a `LocalPool` instead: a `Vec` behind an `Rc`, no
//! atomics, no locks. Stacks beyond the capacity go back to the inner
//! allocator; dropping the last handle gives every cached stack back.
//!
//! The stack returned last waits in a one-stack slot in front of the
//! `Vec`: a thread that creates, runs and drops coroutines one after
//! another hands the same stack back and forth through that slot alone (a
//! `Cell`: no borrow flag, no length, no capacity check), which measured
//! faster for create-run-drop of a lean coroutine on a cloned handle than
//! the `Vec` alone (README, Design measurements).

use super::{Stack, StackAllocator, StackError};
use std::cell::{Cell, RefCell};
use std::fmt;
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
///
/// (Without the bound the same code compiles.)
///
/// ```
/// fn assert_sized<T>(_: T) {}
/// assert_sized(coframe::context::LocalPool::new(coframe::context::ProtectedStack::default(), 1));
/// ```
#[derive(Debug)]
pub struct LocalPool<S: StackAllocator> {
    inner: Rc<Inner<S>>,
}

struct Inner<S: StackAllocator> {
    alloc: S,
    /// The most recently returned stack, if any (counts toward `capacity`).
    last: Slot,
    /// The others; `last` is filled first and emptied first.
    free: RefCell<Vec<Stack>>,
    capacity: usize,
}

/// A one-stack slot, kept as the four words of a [`Stack`] (a null `top`:
/// empty) and read and written word by word: a stack goes in from
/// registers and comes out into registers, and each load is forwarded
/// from the store of the same word (an `Option<Stack>` moved as a whole
/// was copied with 16-byte moves through the stack, whose word-sized
/// reloads waited on them: seen with perf). The accesses are volatile
/// because LLVM otherwise merges them into 16-byte ones where it copies
/// a stack between memory locations.
struct Slot {
    top: Cell<*mut u8>,
    size: Cell<usize>,
    base: Cell<*mut u8>,
    len: Cell<usize>,
}

/// One word of the slot, read as a load of its own.
#[inline(always)]
fn load<T: Copy>(word: &Cell<T>) -> T {
    // SAFETY: a volatile read of a `Cell`'s value, which nothing else
    // accesses meanwhile (`Slot` is neither `Sync` nor reentrant).
    unsafe { word.as_ptr().read_volatile() }
}

/// One word of the slot, written as a store of its own.
#[inline(always)]
fn store<T: Copy>(word: &Cell<T>, value: T) {
    // SAFETY: as in `load`.
    unsafe { word.as_ptr().write_volatile(value) }
}

impl Slot {
    fn empty() -> Slot {
        Slot {
            top: Cell::new(std::ptr::null_mut()),
            size: Cell::new(0),
            base: Cell::new(std::ptr::null_mut()),
            len: Cell::new(0),
        }
    }

    fn is_empty(&self) -> bool {
        load(&self.top).is_null()
    }

    #[inline(always)]
    fn take(&self) -> Option<Stack> {
        let top = load(&self.top);
        if top.is_null() {
            return None;
        }
        store(&self.top, std::ptr::null_mut());
        Some(Stack {
            top,
            size: load(&self.size),
            base: load(&self.base),
            len: load(&self.len),
        })
    }

    /// Puts `stack` in the slot, which must be empty.
    #[inline(always)]
    fn put(&self, stack: Stack) {
        debug_assert!(self.is_empty());
        store(&self.top, stack.top);
        store(&self.size, stack.size);
        store(&self.base, stack.base);
        store(&self.len, stack.len);
    }
}

impl<S: StackAllocator> Inner<S> {
    /// Stacks in the slot and the `Vec`.
    fn cached(&self) -> usize {
        usize::from(!self.last.is_empty()) + self.free.borrow().len()
    }
}

impl<S: StackAllocator + fmt::Debug> fmt::Debug for Inner<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("alloc", &self.alloc)
            .field("cached", &self.cached())
            .field("capacity", &self.capacity)
            .finish()
    }
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
                last: Slot::empty(),
                free: RefCell::new(Vec::with_capacity(capacity.saturating_sub(1))),
                capacity,
            }),
        }
    }

    /// Stacks waiting in the cache.
    pub fn cached(&self) -> usize {
        self.inner.cached()
    }
}

// SAFETY: stacks come from the inner allocator and are handed to one user at
// a time; cached stacks are unused.
unsafe impl<S: StackAllocator> StackAllocator for LocalPool<S> {
    #[inline]
    fn allocate(&self) -> Result<Stack, StackError> {
        match self.inner.last.take() {
            Some(stack) => Ok(stack),
            None => self.allocate_slow(),
        }
    }

    #[inline]
    unsafe fn deallocate(&self, stack: Stack) {
        if self.inner.capacity != 0 && self.inner.last.is_empty() {
            return self.inner.last.put(stack);
        }
        // Word by word, in registers: a `Stack` argument is passed by
        // reference, which kept a copy of every stack given back in memory.
        let Stack {
            top,
            size,
            base,
            len,
        } = stack;
        // SAFETY: forwarded contract.
        unsafe { self.deallocate_slow(top, size, base, len) }
    }
}

impl<S: StackAllocator> LocalPool<S> {
    /// `allocate` with an empty slot: from the `Vec`, else from `alloc`.
    #[cold]
    #[inline(never)]
    fn allocate_slow(&self) -> Result<Stack, StackError> {
        if let Some(stack) = self.inner.free.borrow_mut().pop() {
            return Ok(stack);
        }
        self.inner.alloc.allocate()
    }

    /// `deallocate` with a full slot (or no capacity), of the stack made of
    /// these words.
    ///
    /// # Safety
    ///
    /// As for [`StackAllocator::deallocate`].
    #[cold]
    #[inline(never)]
    unsafe fn deallocate_slow(&self, top: *mut u8, size: usize, base: *mut u8, len: usize) {
        let stack = Stack {
            top,
            size,
            base,
            len,
        };
        if self.inner.capacity == 0 {
            // SAFETY: forwarded contract: the stack came from `alloc`.
            return unsafe { self.inner.alloc.deallocate(stack) };
        }
        let stack = match self.inner.last.take() {
            None => return self.inner.last.put(stack),
            // The slot held an older stack: that one goes to the `Vec`.
            Some(older) => {
                self.inner.last.put(stack);
                older
            }
        };
        let mut free = self.inner.free.borrow_mut();
        if free.len() + 1 < self.inner.capacity {
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
        for stack in self
            .last
            .take()
            .into_iter()
            .chain(self.free.get_mut().drain(..))
        {
            // SAFETY: cached stacks came from `alloc` and are unused.
            unsafe { self.alloc.deallocate(stack) };
        }
    }
}
