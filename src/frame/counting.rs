//! [`Counting`]: a resource wrapper that counts what goes through it.
//!
//! Counters are atomics (relaxed: they are statistics, not synchronisation),
//! so an `Arc<Counting<R>>` can be given to a thread-safe root and read by
//! the user at the same time. `peak_bytes` is maintained with `fetch_max`
//! after every successful allocation.

use super::resource::{AllocError, MemoryResource};
use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Wraps any resource and reports live frames, live bytes, total
/// allocations, peak bytes, upstream calls and failures: all at once with
/// [`stats`](Self::stats) (a [`CountingStats`] snapshot, as
/// [`Recycling::stats`](super::Recycling::stats)), or one by one.
///
/// ```
/// use coframe::frame::{Counting, MemoryResource, System};
/// use std::alloc::Layout;
/// let c = Counting::new(System);
/// let l = Layout::from_size_align(128, 8).unwrap();
/// let p = c.allocate(l).unwrap();
/// assert_eq!((c.live_frames(), c.live_bytes()), (1, 128));
/// // SAFETY: allocated just above with `l`.
/// unsafe { c.deallocate(p, l) };
/// assert_eq!((c.live_frames(), c.peak_bytes(), c.total_allocations()), (0, 128, 1));
/// ```
#[derive(Debug, Default)]
pub struct Counting<R> {
    inner: R,
    live_frames: AtomicUsize,
    live_bytes: AtomicUsize,
    peak_bytes: AtomicUsize,
    total_allocations: AtomicU64,
    upstream_calls: AtomicU64,
    failed_allocations: AtomicU64,
}

impl<R> Counting<R> {
    /// Wraps `inner` with all counters at zero.
    ///
    /// ```
    /// use coframe::frame::{Counting, Recycling};
    /// let c = Counting::new(Recycling);
    /// assert_eq!(c.live_frames(), 0);
    /// ```
    pub const fn new(inner: R) -> Self {
        Counting {
            inner,
            live_frames: AtomicUsize::new(0),
            live_bytes: AtomicUsize::new(0),
            peak_bytes: AtomicUsize::new(0),
            total_allocations: AtomicU64::new(0),
            upstream_calls: AtomicU64::new(0),
            failed_allocations: AtomicU64::new(0),
        }
    }

    /// The wrapped resource.
    ///
    /// ```
    /// use coframe::frame::{Counting, System};
    /// let c = Counting::new(System);
    /// let _sys: &System = c.inner();
    /// ```
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// Unwraps the resource.
    ///
    /// ```
    /// use coframe::frame::{Counting, System};
    /// let _sys: System = Counting::new(System).into_inner();
    /// ```
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// A snapshot of every counter (each read once, relaxed: counters that
    /// other threads move meanwhile may be from slightly different
    /// moments).
    ///
    /// ```
    /// use coframe::frame::{Counting, CountingStats, MemoryResource, System};
    /// use std::alloc::Layout;
    /// let c = Counting::new(System);
    /// let l = Layout::from_size_align(64, 8).unwrap();
    /// let p = c.allocate(l).unwrap();
    /// let s: CountingStats = c.stats();
    /// assert_eq!((s.live_frames, s.live_bytes, s.peak_bytes), (1, 64, 64));
    /// assert_eq!((s.total_allocations, s.upstream_calls, s.failed_allocations), (1, 1, 0));
    /// // SAFETY: allocated just above with `l`.
    /// unsafe { c.deallocate(p, l) };
    /// assert_eq!(c.stats().live_frames, 0);
    /// ```
    pub fn stats(&self) -> CountingStats {
        CountingStats {
            live_frames: self.live_frames(),
            live_bytes: self.live_bytes(),
            peak_bytes: self.peak_bytes(),
            total_allocations: self.total_allocations(),
            upstream_calls: self.upstream_calls(),
            failed_allocations: self.failed_allocations(),
        }
    }

    /// Blocks allocated and not yet freed.
    ///
    /// ```
    /// use coframe::frame::{Counting, System};
    /// assert_eq!(Counting::new(System).live_frames(), 0);
    /// ```
    pub fn live_frames(&self) -> usize {
        self.live_frames.load(Relaxed)
    }

    /// Bytes (sum of requested sizes) allocated and not yet freed.
    ///
    /// ```
    /// use coframe::frame::{Counting, System};
    /// assert_eq!(Counting::new(System).live_bytes(), 0);
    /// ```
    pub fn live_bytes(&self) -> usize {
        self.live_bytes.load(Relaxed)
    }

    /// The largest `live_bytes` seen.
    ///
    /// ```
    /// use coframe::frame::{Counting, System};
    /// assert_eq!(Counting::new(System).peak_bytes(), 0);
    /// ```
    pub fn peak_bytes(&self) -> usize {
        self.peak_bytes.load(Relaxed)
    }

    /// Successful allocations so far.
    ///
    /// ```
    /// use coframe::frame::{Counting, System};
    /// assert_eq!(Counting::new(System).total_allocations(), 0);
    /// ```
    pub fn total_allocations(&self) -> u64 {
        self.total_allocations.load(Relaxed)
    }

    /// Allocation calls that reached the wrapped resource (successful or
    /// not).
    ///
    /// ```
    /// use coframe::frame::{Counting, System};
    /// assert_eq!(Counting::new(System).upstream_calls(), 0);
    /// ```
    pub fn upstream_calls(&self) -> u64 {
        self.upstream_calls.load(Relaxed)
    }

    /// Allocations the wrapped resource refused.
    ///
    /// ```
    /// use coframe::frame::{Counting, System};
    /// assert_eq!(Counting::new(System).failed_allocations(), 0);
    /// ```
    pub fn failed_allocations(&self) -> u64 {
        self.failed_allocations.load(Relaxed)
    }
}

/// The counters of a [`Counting`] resource at one moment
/// ([`Counting::stats`]).
///
/// ```
/// use coframe::frame::{Counting, Recycling};
/// let s = Counting::new(Recycling).stats();
/// assert_eq!(s, coframe::frame::CountingStats::default());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CountingStats {
    /// Blocks allocated and not yet freed.
    pub live_frames: usize,
    /// Bytes (sum of requested sizes) allocated and not yet freed.
    pub live_bytes: usize,
    /// The largest `live_bytes` seen.
    pub peak_bytes: usize,
    /// Successful allocations.
    pub total_allocations: u64,
    /// Allocation calls that reached the wrapped resource.
    pub upstream_calls: u64,
    /// Allocations the wrapped resource refused.
    pub failed_allocations: u64,
}

impl<R: MemoryResource> MemoryResource for Counting<R> {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.upstream_calls.fetch_add(1, Relaxed);
        match self.inner.allocate(layout) {
            Ok(p) => {
                self.total_allocations.fetch_add(1, Relaxed);
                self.live_frames.fetch_add(1, Relaxed);
                let now = self.live_bytes.fetch_add(layout.size(), Relaxed) + layout.size();
                self.peak_bytes.fetch_max(now, Relaxed);
                Ok(p)
            }
            Err(e) => {
                self.failed_allocations.fetch_add(1, Relaxed);
                Err(e)
            }
        }
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        self.live_frames.fetch_sub(1, Relaxed);
        self.live_bytes.fetch_sub(layout.size(), Relaxed);
        // SAFETY: forwarded contract.
        unsafe { self.inner.deallocate(ptr, layout) }
    }
}
