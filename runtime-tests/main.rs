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

/// The message of a panic payload (`String` or `&str`), or "".
pub(crate) fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The rounding-mode bits of the FP control register of this architecture
/// (MXCSR.RC on x86_64, FPCR.RMode on AArch64): read, write, the mask and
/// the "towards plus infinity" value.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) mod fp_mode {
    use std::arch::asm;

    #[cfg(target_arch = "x86_64")]
    pub fn get() -> u64 {
        let mut v = 0u32;
        // SAFETY: stores MXCSR into a local.
        unsafe { asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack)) };
        v.into()
    }
    #[cfg(target_arch = "x86_64")]
    pub fn set(v: u64) {
        let v = v as u32;
        // SAFETY: loads MXCSR from a local; callers restore the original
        // value before any floating-point code depends on it.
        unsafe { asm!("ldmxcsr [{}]", in(reg) &v, options(nostack)) };
    }
    #[cfg(target_arch = "x86_64")]
    pub const ROUND_MASK: u64 = 0x6000;
    #[cfg(target_arch = "x86_64")]
    pub const ROUND_UP: u64 = 0x4000;

    #[cfg(target_arch = "aarch64")]
    pub fn get() -> u64 {
        let v: u64;
        // SAFETY: reads FPCR.
        unsafe { asm!("mrs {}, fpcr", out(reg) v, options(nomem, nostack)) };
        v
    }
    #[cfg(target_arch = "aarch64")]
    pub fn set(v: u64) {
        // SAFETY: writes FPCR; callers restore the original value before any
        // floating-point code depends on it.
        unsafe { asm!("msr fpcr, {}", in(reg) v, options(nomem, nostack)) };
    }
    #[cfg(target_arch = "aarch64")]
    pub const ROUND_MASK: u64 = 0x00c0_0000; // FPCR.RMode, bits 23:22
    #[cfg(target_arch = "aarch64")]
    pub const ROUND_UP: u64 = 0x0040_0000; // 0b01: towards plus infinity
}

mod util;

mod api;
mod context;
mod event_loop;
mod frame;
mod local;
mod nesting;
mod net;
mod panic_safety;
mod pool;
mod stackful;
mod strand;
