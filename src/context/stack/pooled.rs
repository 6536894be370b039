//! [`PooledStack`]: a thread-safe pool of protected stacks.
//!
//! Mapping a stack costs two system calls and first-touch page faults;
//! reusing one costs a lock and a pointer move. The pool keeps stacks that
//! come back on a free list (their pages stay committed, so a reused stack
//! runs without faults) and maps new ones only when the list is empty, up to
//! a maximum count of stacks alive at once. Clones share the pool.
//!
//! Invariant: `live + free.len() == mapped`, and `mapped <= max_count`.

use super::{ProtectedStack, Stack, StackAllocator, StackError, StackTraits};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A shared pool of guard-page protected stacks.
///
/// ```
/// use coframe::context::{Coroutine, CoroutineResult, PooledStack};
/// let pool = PooledStack::builder().stack_size(64 * 1024).initial(2).build().unwrap();
/// for i in 0..10 {
///     let mut co = Coroutine::<(), (), i32>::with_stack(pool.clone(), move |_, ()| i);
///     assert_eq!(co.resume(()), CoroutineResult::Return(i));
/// }
/// assert_eq!(pool.live(), 0);
/// assert_eq!(pool.mapped(), 2); // the two initial stacks served every coroutine
/// ```
#[derive(Debug, Clone)]
pub struct PooledStack {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    size: usize,
    max_count: usize,
    free: Mutex<Vec<Stack>>,
    live: AtomicUsize,
    mapped: AtomicUsize,
}

/// Configures a [`PooledStack`].
#[derive(Debug, Clone)]
pub struct PooledStackBuilder {
    size: usize,
    initial: usize,
    max_count: usize,
}

impl PooledStackBuilder {
    /// Usable bytes per stack (default [`StackTraits::default_size`]).
    pub fn stack_size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    /// Stacks mapped up front (default 0).
    pub fn initial(mut self, n: usize) -> Self {
        self.initial = n;
        self
    }

    /// Maximum stacks alive at once, in use or free (default unlimited).
    /// Beyond it, `allocate` returns [`StackError::PoolExhausted`].
    pub fn max_count(mut self, n: usize) -> Self {
        self.max_count = n;
        self
    }

    /// Builds the pool, mapping the initial stacks.
    pub fn build(self) -> Result<PooledStack, StackError> {
        let size = ProtectedStack::new(self.size)?.stack_size();
        if self.max_count == 0 {
            return Err(StackError::Invalid("max_count must be at least 1"));
        }
        if self.initial > self.max_count {
            return Err(StackError::Invalid("initial is above max_count"));
        }
        let mut free = Vec::with_capacity(self.initial);
        for _ in 0..self.initial {
            free.push(ProtectedStack::map(size)?);
        }
        let mapped = free.len();
        Ok(PooledStack {
            inner: Arc::new(Inner {
                size,
                max_count: self.max_count,
                free: Mutex::new(free),
                live: AtomicUsize::new(0),
                mapped: AtomicUsize::new(mapped),
            }),
        })
    }
}

impl PooledStack {
    /// A builder with the defaults (default size, none mapped, unlimited).
    pub fn builder() -> PooledStackBuilder {
        PooledStackBuilder {
            size: StackTraits::default_size(),
            initial: 0,
            max_count: usize::MAX,
        }
    }

    /// A pool of stacks of `size` usable bytes.
    pub fn new(size: usize) -> Result<Self, StackError> {
        Self::builder().stack_size(size).build()
    }

    /// Usable bytes per stack.
    pub fn stack_size(&self) -> usize {
        self.inner.size
    }

    /// Stacks handed out and not yet given back.
    pub fn live(&self) -> usize {
        self.inner.live.load(Ordering::Relaxed)
    }

    /// Stacks currently mapped (in use plus free).
    pub fn mapped(&self) -> usize {
        self.inner.mapped.load(Ordering::Relaxed)
    }

    /// Stacks waiting on the free list.
    pub fn cached(&self) -> usize {
        self.inner.free.lock().len()
    }

    /// Unmaps every free stack (stacks in use are not affected).
    pub fn trim(&self) {
        let free = std::mem::take(&mut *self.inner.free.lock());
        self.inner.mapped.fetch_sub(free.len(), Ordering::Relaxed);
        for stack in free {
            // SAFETY: stacks on the free list came from `map` and are unused.
            unsafe { ProtectedStack::unmap(stack) };
        }
    }
}

impl PooledStack {
    /// Moves up to `n` free stacks into `out` under one lock (a thread
    /// cache refilling itself); maps one stack if none is free. Returns how
    /// many were added (at least one on success).
    pub(crate) fn take_batch(&self, n: usize, out: &mut Vec<Stack>) -> Result<usize, StackError> {
        let inner = &*self.inner;
        {
            let mut free = inner.free.lock();
            let k = n.min(free.len());
            if k > 0 {
                let from = free.len() - k;
                out.extend(free.drain(from..));
                inner.live.fetch_add(k, Ordering::Relaxed);
                return Ok(k);
            }
        }
        out.push(self.allocate()?);
        Ok(1)
    }

    /// Gives back every stack `stacks` yields under one lock.
    ///
    /// # Safety
    ///
    /// As for [`StackAllocator::deallocate`], for each stack.
    pub(crate) unsafe fn give_batch(&self, stacks: impl Iterator<Item = Stack>) {
        let mut free = self.inner.free.lock();
        let before = free.len();
        free.extend(stacks);
        self.inner
            .live
            .fetch_sub(free.len() - before, Ordering::Relaxed);
    }
}

impl Default for PooledStack {
    fn default() -> Self {
        Self::builder().build().expect("the default pool is valid")
    }
}

// SAFETY: stacks come from `ProtectedStack::map` and are handed to one user at
// a time: popped off the free list under its lock, pushed back on return.
unsafe impl StackAllocator for PooledStack {
    fn allocate(&self) -> Result<Stack, StackError> {
        let inner = &*self.inner;
        if let Some(stack) = inner.free.lock().pop() {
            inner.live.fetch_add(1, Ordering::Relaxed);
            return Ok(stack);
        }
        // Reserve a slot under the maximum before mapping.
        let mut mapped = inner.mapped.load(Ordering::Relaxed);
        loop {
            if mapped >= inner.max_count {
                return Err(StackError::PoolExhausted {
                    max_count: inner.max_count,
                });
            }
            match inner.mapped.compare_exchange_weak(
                mapped,
                mapped + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => mapped = now,
            }
        }
        match ProtectedStack::map(inner.size) {
            Ok(stack) => {
                inner.live.fetch_add(1, Ordering::Relaxed);
                Ok(stack)
            }
            Err(e) => {
                inner.mapped.fetch_sub(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    unsafe fn deallocate(&self, stack: Stack) {
        self.inner.live.fetch_sub(1, Ordering::Relaxed);
        self.inner.free.lock().push(stack);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for stack in self.free.get_mut().drain(..) {
            // SAFETY: the last handle is gone: free stacks are unused.
            unsafe { ProtectedStack::unmap(stack) };
        }
    }
}
