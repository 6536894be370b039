//! [`ProtectedStack`]: an `mmap`ed stack with a guard page below it.
//!
//! The mapping is reserved with `MAP_NORESERVE`, so the OS commits pages
//! only as the stack first touches them: a 128 KiB stack whose code uses
//! 6 KiB costs two pages of memory. The lowest page is `PROT_NONE` and is
//! registered with the overflow handler ([`super::overflow`]), so running
//! into it ends the process with a message naming a coframe stack overflow
//! instead of corrupting memory.

use super::{overflow, round_up, Stack, StackAllocator, StackError, StackTraits};
use std::ptr::NonNull;

/// Guard-page protected stacks, one `mmap` each.
///
/// ```
/// use coframe::context::{Fiber, ProtectedStack, StackAllocator};
/// let alloc = ProtectedStack::new(256 * 1024).unwrap();
/// let stack = alloc.allocate().unwrap();
/// assert!(stack.size() >= 256 * 1024);
/// // SAFETY: the stack came from `alloc` and is unused.
/// unsafe { alloc.deallocate(stack) };
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ProtectedStack {
    /// Usable size, a multiple of the page size.
    size: usize,
}

impl ProtectedStack {
    /// Stacks of at least `size` usable bytes (rounded up to whole pages),
    /// plus one guard page, validated against [`StackTraits`].
    pub fn new(size: usize) -> Result<Self, StackError> {
        let size = StackTraits::validate(size)?;
        let size = round_up(size, StackTraits::page_size()).ok_or(StackError::TooLarge {
            requested: size,
            maximum: StackTraits::maximum_size(),
        })?;
        Ok(ProtectedStack { size })
    }

    /// The usable size of each stack.
    pub fn stack_size(&self) -> usize {
        self.size
    }

    /// Maps one stack (used by [`PooledStack`](super::PooledStack) too).
    pub(crate) fn map(size: usize) -> Result<Stack, StackError> {
        let page = StackTraits::page_size();
        let len = size.checked_add(page).ok_or(StackError::TooLarge {
            requested: size,
            maximum: StackTraits::maximum_size(),
        })?;
        // SAFETY: an anonymous private mapping has no preconditions.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(StackError::Os(std::io::Error::last_os_error()));
        }
        if let Err(err) = install_guard(base, page) {
            // SAFETY: unmapping the mapping just made.
            unsafe { libc::munmap(base, len) };
            return Err(StackError::Os(err));
        }
        overflow::register_guard(base as usize);
        let base = base.cast::<u8>();
        // SAFETY: one past the end of the mapping; page aligned.
        let top = unsafe { NonNull::new_unchecked(base.add(len)) };
        // SAFETY: mmap never returns null on success.
        let base = unsafe { NonNull::new_unchecked(base) };
        crate::context::valgrind::register(top.as_ptr().wrapping_sub(size), top.as_ptr());
        // SAFETY: `[top - size, top)` is read-write and ours.
        Ok(unsafe { Stack::from_raw_parts(top, size, base, len) })
    }

    /// Unmaps a stack made by [`ProtectedStack::map`].
    ///
    /// # Safety
    ///
    /// `stack` came from `map` and no code runs on it.
    pub(crate) unsafe fn unmap(stack: Stack) {
        crate::context::valgrind::deregister(stack.limit());
        overflow::unregister_guard(stack.base().as_ptr() as usize);
        // SAFETY: by contract the mapping is ours and unused.
        let rc = unsafe { libc::munmap(stack.base().as_ptr().cast(), stack.len()) };
        debug_assert_eq!(rc, 0, "munmap of a coframe stack failed");
    }
}

/// `MADV_GUARD_INSTALL` (Linux 6.13): a guard region inside an existing
/// mapping, without changing its protection.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Makes the page at `base` a guard page.
///
/// Preferred: `madvise(MADV_GUARD_INSTALL)`, which leaves the mapping one
/// VMA — and lets the kernel merge neighbouring stacks into one VMA, so a
/// process can hold far more than `vm.max_map_count / 2` stacks (100,000
/// suspended stackful tasks need that). Older kernels answer `EINVAL`; then
/// `mprotect(PROT_NONE)`, which splits the mapping into two VMAs. Either way
/// a touch of the page raises SIGSEGV.
fn install_guard(base: *mut libc::c_void, page: usize) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static NO_GUARD_REGIONS: AtomicBool = AtomicBool::new(false);
    if !NO_GUARD_REGIONS.load(Ordering::Relaxed) {
        // SAFETY: advising on the first page of a mapping we own.
        if unsafe { libc::madvise(base, page, MADV_GUARD_INSTALL) } == 0 {
            return Ok(());
        }
        NO_GUARD_REGIONS.store(true, Ordering::Relaxed);
    }
    // SAFETY: the first page belongs to the mapping just made.
    if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Default for ProtectedStack {
    fn default() -> Self {
        ProtectedStack::new(StackTraits::default_size()).expect("the default size is valid")
    }
}

// SAFETY: `map` returns a fresh mapping owned by the caller until `unmap`.
unsafe impl StackAllocator for ProtectedStack {
    fn allocate(&self) -> Result<Stack, StackError> {
        Self::map(self.size)
    }

    unsafe fn deallocate(&self, stack: Stack) {
        // SAFETY: forwarded contract: the stack came from `map`.
        unsafe { Self::unmap(stack) }
    }
}
