//! Stacks for fibers and coroutines: [`StackTraits`], the [`StackAllocator`]
//! trait and three allocators.
//!
//! | allocator | memory | guard page | reuse |
//! |---|---|---|---|
//! | [`FixedSizeStack`] | the system heap | no | no |
//! | [`ProtectedStack`] | its own `mmap`, committed lazily by the OS | yes, registered with the overflow handler | no |
//! | [`PooledStack`] | protected stacks | yes | a shared, thread-safe free list |
//! | [`LocalPool`] | any allocator's | as that allocator's | a one-thread cache |
//! | [`OwnedStack`] | one stack from any allocator | as that allocator's | that one stack, directly |
//!
//! A stack is laid out like a thread's: it grows down from `top`.
//!
//! ```text
//!   high addresses
//!   +---------------------------+ <- top (16-byte aligned)
//!   | control block (record)    |    placed by the fiber/coroutine: one
//!   |  + closure                |    mapping per fiber, no heap allocation
//!   +---------------------------+ <- sp handed to make_fcontext
//!   | frames of the running     |
//!   | code, growing down        |
//!   |            ...            |
//!   +---------------------------+ <- top - size (lowest usable byte)
//!   | guard page (PROT_NONE)    |    ProtectedStack / PooledStack only
//!   +---------------------------+ <- base
//!   low addresses
//! ```
//!
//! Sizes are validated when an allocator is built: below
//! [`StackTraits::minimum_size`] or above [`StackTraits::maximum_size`] is a
//! [`StackError`], never a crash deep inside.
//!
//! Segmented (split) stacks are not supported, as in Boost.Context's v2
//! fibers: Rust does not emit the `__morestack` prologues they need, and a
//! guard page plus a lazily committed mapping gives most of their benefit.

mod fixed;
mod local;
pub(crate) mod overflow;
mod owned;
mod pooled;
mod protected;

pub use fixed::FixedSizeStack;
pub use local::LocalPool;
pub use owned::OwnedStack;
pub use pooled::{PooledStack, PooledStackBuilder};
pub use protected::ProtectedStack;

use std::fmt;
use std::ptr::NonNull;

/// Alignment of a stack's top and of every frame the switch prepares.
pub(crate) const STACK_ALIGN: usize = 16;

/// Facts about stacks on this system, in the manner of Boost's
/// `stack_traits`.
///
/// ```
/// use coframe::context::StackTraits;
/// let page = StackTraits::page_size();
/// assert!(page.is_power_of_two());
/// assert!(StackTraits::minimum_size() <= StackTraits::default_size());
/// assert!(StackTraits::default_size() <= StackTraits::maximum_size());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StackTraits;

impl StackTraits {
    /// The virtual-memory page size.
    pub fn page_size() -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static PAGE: AtomicUsize = AtomicUsize::new(0);
        let p = PAGE.load(Ordering::Relaxed);
        if p != 0 {
            return p;
        }
        // SAFETY: sysconf has no preconditions.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let p = if p > 0 { p as usize } else { 4096 };
        PAGE.store(p, Ordering::Relaxed);
        p
    }

    /// The size used when none is given: 128 KiB, as Boost.Context.
    ///
    /// Memory is committed lazily by the OS, so the default costs the pages a
    /// fiber touches, not 128 KiB each; it leaves room for a few kilobytes of
    /// formatting machinery (`println!`, panics with backtraces) on top of
    /// ordinary recursion.
    pub fn default_size() -> usize {
        (128 * 1024).clamp(Self::minimum_size(), Self::maximum_size())
    }

    /// The smallest usable size accepted: room for the control block, a
    /// signal frame (`MINSIGSTKSZ`) and the entry frames — two pages, and at
    /// least 8 KiB.
    pub fn minimum_size() -> usize {
        (2 * Self::page_size()).max(8 * 1024).max(libc::MINSIGSTKSZ)
    }

    /// The largest size accepted: the hard limit of `RLIMIT_STACK`, or,
    /// when that limit is unbounded (see [`StackTraits::is_unbounded`]), the
    /// largest size an allocation can describe: page-rounded, with a guard
    /// page on top, at most `isize::MAX` bytes. The OS may still refuse the
    /// memory; that is an error from `allocate`, not a panic.
    pub fn maximum_size() -> usize {
        let page = Self::page_size();
        let addressable = (isize::MAX as usize - page + 1) & !(page - 1);
        match Self::rlimit_max() {
            Some(max) => max.max(Self::minimum_size()).min(addressable),
            None => addressable,
        }
    }

    /// Whether `RLIMIT_STACK` has no hard limit.
    pub fn is_unbounded() -> bool {
        Self::rlimit_max().is_none()
    }

    fn rlimit_max() -> Option<usize> {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid out-pointer.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut lim) };
        if rc != 0 || lim.rlim_max == libc::RLIM_INFINITY {
            None
        } else {
            Some(usize::try_from(lim.rlim_max).unwrap_or(usize::MAX))
        }
    }

    /// Checks a requested usable size against the limits.
    pub fn validate(size: usize) -> Result<usize, StackError> {
        let minimum = Self::minimum_size();
        let maximum = Self::maximum_size();
        if size < minimum {
            Err(StackError::TooSmall {
                requested: size,
                minimum,
            })
        } else if size > maximum {
            Err(StackError::TooLarge {
                requested: size,
                maximum,
            })
        } else {
            Ok(size)
        }
    }
}

/// Why a stack could not be had.
///
/// ```
/// use coframe::context::{ProtectedStack, StackError};
/// let err = ProtectedStack::new(16).unwrap_err();
/// assert!(matches!(err, StackError::TooSmall { requested: 16, .. }));
/// assert!(err.to_string().contains("below the minimum"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum StackError {
    /// The requested size is below [`StackTraits::minimum_size`].
    TooSmall {
        /// What was asked for.
        requested: usize,
        /// The smallest size accepted.
        minimum: usize,
    },
    /// The requested size is above [`StackTraits::maximum_size`].
    TooLarge {
        /// What was asked for.
        requested: usize,
        /// The largest size accepted.
        maximum: usize,
    },
    /// The operating system refused the memory.
    Os(std::io::Error),
    /// A [`PooledStack`] has handed out its maximum number of stacks.
    PoolExhausted {
        /// The pool's maximum count.
        max_count: usize,
    },
    /// A configuration value is invalid.
    Invalid(&'static str),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::TooSmall { requested, minimum } => write!(
                f,
                "stack size {requested} bytes is below the minimum of {minimum} bytes"
            ),
            StackError::TooLarge { requested, maximum } => write!(
                f,
                "stack size {requested} bytes is above the maximum of {maximum} bytes (RLIMIT_STACK)"
            ),
            StackError::Os(e) => write!(f, "the OS refused stack memory: {e}"),
            StackError::PoolExhausted { max_count } => {
                write!(f, "stack pool exhausted: all {max_count} stacks are in use")
            }
            StackError::Invalid(what) => write!(f, "invalid stack configuration: {what}"),
        }
    }
}

impl std::error::Error for StackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StackError::Os(e) => Some(e),
            _ => None,
        }
    }
}

/// One stack handed out by a [`StackAllocator`]: the memory `[top - size,
/// top)` is usable; `base`/`len` describe the whole allocation (guard page
/// included) for the allocator that made it.
///
/// The pointers are stored as raw pointers (non-null by construction) on
/// purpose: `NonNull` fields would give `Result<Stack, StackError>` a niche,
/// and the packed enum layout that follows made every move of a `Stack` out
/// of an allocator's result a sequence of odd-sized, misaligned copies that
/// defeat store forwarding (measured on coroutine creation: README, Design
/// measurements).
#[derive(Debug)]
pub struct Stack {
    top: *mut u8,
    size: usize,
    base: *mut u8,
    len: usize,
}

// SAFETY: a `Stack` is an owned description of memory nobody else references;
// moving it between threads moves that ownership.
unsafe impl Send for Stack {}

impl Stack {
    /// Describes an allocation.
    ///
    /// # Safety
    ///
    /// `[top - size, top)` must be readable and writable memory owned by the
    /// caller, `top` 16-byte aligned, and `[base, base + len)` the whole
    /// allocation it belongs to.
    pub unsafe fn from_raw_parts(
        top: NonNull<u8>,
        size: usize,
        base: NonNull<u8>,
        len: usize,
    ) -> Stack {
        debug_assert_eq!(top.as_ptr() as usize % STACK_ALIGN, 0);
        Stack {
            top: top.as_ptr(),
            size,
            base: base.as_ptr(),
            len,
        }
    }

    /// The highest usable address (exclusive); the stack grows down from it.
    pub fn top(&self) -> NonNull<u8> {
        // SAFETY: set from a `NonNull` in `from_raw_parts`.
        unsafe { NonNull::new_unchecked(self.top) }
    }

    /// Usable bytes below [`Stack::top`].
    pub fn size(&self) -> usize {
        self.size
    }

    /// The lowest usable address.
    pub fn limit(&self) -> *mut u8 {
        self.top.wrapping_sub(self.size)
    }

    /// Start of the whole allocation (the guard page, where there is one).
    pub fn base(&self) -> NonNull<u8> {
        // SAFETY: set from a `NonNull` in `from_raw_parts`.
        unsafe { NonNull::new_unchecked(self.base) }
    }

    /// Length of the whole allocation.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Reads the `Stack` at `p` word by word (a move out of it): the loads
    /// match the word-sized stores a `Stack` is usually written with, so
    /// they are forwarded from the store buffer, where a 16-byte load
    /// spanning two of them waits for them to retire. Volatile, because
    /// LLVM otherwise merges the words into 16-byte loads wherever the
    /// stack is then copied to memory (seen with perf in the benches).
    ///
    /// # Safety
    ///
    /// As for [`std::ptr::read`].
    #[inline(always)]
    pub(crate) unsafe fn read_words(p: *const Stack) -> Stack {
        // SAFETY: per the contract; volatile reads of ordinary memory.
        unsafe {
            Stack {
                top: std::ptr::addr_of!((*p).top).read_volatile(),
                size: std::ptr::addr_of!((*p).size).read_volatile(),
                base: std::ptr::addr_of!((*p).base).read_volatile(),
                len: std::ptr::addr_of!((*p).len).read_volatile(),
            }
        }
    }

    /// Whether the stack has no usable bytes (never true for stacks from
    /// coframe's allocators).
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
}

/// A source of stacks, in the manner of Boost's stack allocator concept.
///
/// A fiber or coroutine takes its allocator by value, keeps it in its
/// control block and gives the stack back to it when it ends.
///
/// # Safety
///
/// `allocate` must return a [`Stack`] whose usable memory is valid and
/// exclusively owned until it is passed to `deallocate` of the same
/// allocator (or a clone sharing its state), and at least
/// [`StackTraits::minimum_size`] bytes.
///
/// ```
/// use coframe::context::{StackAllocator, FixedSizeStack};
/// let alloc = FixedSizeStack::new(64 * 1024).unwrap();
/// let stack = alloc.allocate().unwrap();
/// assert!(stack.size() >= 64 * 1024);
/// // SAFETY: the stack came from this allocator and is not in use.
/// unsafe { alloc.deallocate(stack) };
/// ```
pub unsafe trait StackAllocator {
    /// Hands out a stack.
    fn allocate(&self) -> Result<Stack, StackError>;

    /// Takes a stack back.
    ///
    /// # Safety
    ///
    /// `stack` came from `allocate` of this allocator (or a clone sharing its
    /// state) and no code runs on it any more.
    unsafe fn deallocate(&self, stack: Stack);
}

/// Rounds `n` up to a multiple of `to` (a power of two).
#[inline]
pub(crate) fn round_up(n: usize, to: usize) -> Option<usize> {
    Some(n.checked_add(to - 1)? & !(to - 1))
}
