//! coframe's integration tests: one binary, one module per area.

/// A global allocator that counts this thread's heap allocations while a
/// test asks it to (see [`heap_allocations_in`]); otherwise the system
/// allocator, untouched.
mod heap_count {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static COUNTING: Cell<bool> = const { Cell::new(false) };
        static COUNT: Cell<usize> = const { Cell::new(0) };
    }

    pub struct Counter;

    // SAFETY: forwards to the system allocator; the bookkeeping touches only
    // const-initialised thread-locals (no allocation, no reentrancy).
    unsafe impl GlobalAlloc for Counter {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = COUNTING.try_with(|c| {
                if c.get() {
                    COUNT.with(|n| n.set(n.get() + 1));
                }
            });
            // SAFETY: forwarded contract.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded contract.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counter = Counter;

    /// Runs `f` and returns how many heap allocations this thread made in it.
    pub fn heap_allocations_in(f: impl FnOnce()) -> usize {
        COUNT.with(|n| n.set(0));
        COUNTING.with(|c| c.set(true));
        f();
        COUNTING.with(|c| c.set(false));
        COUNT.with(|n| n.get())
    }
}

mod context;
mod frame;
mod local;
mod pool;
mod stackful;
mod strand;
