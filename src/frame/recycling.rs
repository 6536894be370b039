//! [`Recycling`]: the default frame resource (capy's
//! `recycling_memory_resource`, with alignment honoured and bounded batches).
//!
//! # Structure
//!
//! - **Size classes.** Powers of two from 64 to [`Recycling::MAX_CLASS_SIZE`]
//!   bytes. A request of `size` bytes goes to the smallest class that holds
//!   it. Every pooled block is aligned to [`Recycling::BLOCK_ALIGN`] (64, a
//!   cache line), so any alignment up to 64 is honoured by every class.
//!   Zero-sized requests get a dangling well-aligned pointer (no memory);
//!   requests above the largest class or aligned above 64 go to the system
//!   allocator directly ("large" in the statistics).
//! - **Thread caches.** Per thread and per class, an intrusive LIFO free
//!   list (the `next` pointer lives in the free block) with a length and a
//!   limit of `2 * batch`. Allocation pops, free pushes: a thread-local load,
//!   two or three plain loads and stores, no atomics, no locks, no `RefCell`.
//! - **Global pool.** Per class, a mutex-protected stack of *batches* (a
//!   batch is a ready-linked list of `batch` blocks, chained through the
//!   second word of its first block). An empty thread list takes a whole
//!   batch under one lock acquisition (O(1): one pointer pop); a full thread
//!   list (length reaching `2 * batch`) detaches `batch` blocks from its top
//!   and pushes them as one batch. The pool is bounded (see the table); a
//!   batch that does not fit is returned to the system allocator. Blocks are
//!   interchangeable, so a block freed on another thread simply joins the
//!   freeing thread's cache (cross-thread frees need no synchronisation).
//! - **Thread exit.** The cache itself is a constant-initialised thread-local
//!   *without* destructor (so the hot path has no destructor-state check and
//!   the memory stays valid during the whole thread-local teardown). A second
//!   thread-local, the *janitor*, is armed on the thread's first slow-path
//!   visit (every thread starts with empty lists and a limit of zero, so its
//!   first allocation *and* its first free take the slow path). The janitor's
//!   destructor hands every cached block back to the global pool in batches
//!   and marks the cache dead (lists empty, limit zero). Any allocation or
//!   free after that — from another thread-local's destructor that runs later
//!   — takes the slow path, sees the dead state and goes straight to the
//!   system allocator: a block is never pushed into a cache that nobody will
//!   drain, and never handed back twice (the janitor empties the lists it
//!   hands back). If the janitor cannot be armed (the thread is already past
//!   its teardown), the cache goes dead at once.
//! - **No re-entrancy.** The cache is reached through an `UnsafeCell`; the
//!   code holding the `&mut` only calls `std::alloc::System` (never the
//!   global allocator, which a user could route back here) and a
//!   `std::sync::Mutex`, so no second `&mut` can be created while one lives.
//!   Signal handlers must not allocate frames (as with `malloc`), and
//!   `Recycling` must not be used to implement the `#[global_allocator]`
//!   (arming the janitor registers a thread-local destructor, which may
//!   allocate through the global allocator).
//! - **Out of line.** The fast paths are each one `#[inline(never)]`
//!   function that computes the thread-local address itself (rule 7 makes
//!   an inlined form sound too; it measured the same: README, Design
//!   measurements).
//!
//! The pools are process-wide statics that are never destroyed, so frees
//! during process shutdown are safe. Cached memory is not returned to the
//! system while the process runs except when the global pool is full.
//!
//! # Why these classes and batches
//!
//! Batch sizes from 8 to 64 blocks per class were measured against the
//! system allocator (README, Design measurements). Batches
//! of 8 make a mixed workload spill and refill every few frames; from 16 up
//! the differences are within the noise, so the batch is chosen by memory:
//! 64 blocks for the classes up to 512 bytes, 32 for 1–2 KiB, 16 for 4 KiB,
//! which bounds a thread cache (limit `2 * batch` per class) to about
//! 420 KiB. The largest class is 4 KiB rather than capy's 2 KiB because Rust
//! futures keep every live-across-await local in the frame and are commonly
//! larger than C++ coroutine frames; doubling it again would double the
//! worst-case cache memory for rare sizes. Power-of-two classes waste at
//! most half a block and make the class a leading-zero count.
//!
//! Making the cache access `#[inline(always)]` instead of `#[inline(never)]`
//! (rule 7) measured no difference beyond the noise, so the
//! `#[inline(never)]` form is kept. The default handle
//! calls the recycler directly (no virtual call), as capy does.
//!
//! # Statistics
//!
//! [`Recycling::stats`] (process-wide) and [`Recycling::thread_stats`] (the
//! calling thread). Process-wide thread-cache hits are published by each
//! thread on its slow paths and at exit, so another live thread's most recent
//! hits may not be included yet; everything else is exact.

use super::resource::{dangling, AllocError, MemoryResource};
use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// log2 of the smallest class.
const MIN_SHIFT: u32 = 6;
/// Number of size classes (64 .. 4096 bytes).
const NUM_CLASSES: usize = 7;
/// Blocks per batch moved between a thread cache and the global pool.
const TRANSFER_BLOCKS: [u32; NUM_CLASSES] = [64, 64, 64, 32, 32, 32, 16];
/// The global pool keeps at most this many bytes per class.
const GLOBAL_BYTES_PER_CLASS: usize = 4 << 20;

const STATE_NEW: u8 = 0;
const STATE_LIVE: u8 = 1;
const STATE_DEAD: u8 = 2;

/// The header a free block carries.
#[repr(C)]
struct FreeBlock {
    /// Next block in a thread list or in a batch.
    next: *mut FreeBlock,
    /// First block of a batch: the next batch in the global pool.
    next_batch: *mut FreeBlock,
    /// First block of a batch: number of blocks in it.
    batch_len: usize,
}

#[derive(Clone, Copy)]
struct ClassCache {
    head: *mut FreeBlock,
    len: u32,
    limit: u32,
}

struct ThreadCache {
    classes: [ClassCache; NUM_CLASSES],
    state: u8,
    hits: u64,
    hits_published: u64,
    refills: u64,
    spills: u64,
    system_allocations: u64,
    system_frees: u64,
    large_allocations: u64,
}

impl ThreadCache {
    const NEW: ThreadCache = ThreadCache {
        classes: [ClassCache {
            head: ptr::null_mut(),
            len: 0,
            limit: 0,
        }; NUM_CLASSES],
        state: STATE_NEW,
        hits: 0,
        hits_published: 0,
        refills: 0,
        spills: 0,
        system_allocations: 0,
        system_frees: 0,
        large_allocations: 0,
    };
}

struct GlobalClass {
    batches: *mut FreeBlock,
    n_batches: usize,
    blocks: usize,
}

// SAFETY: the pointers are owned free blocks, only touched under the mutex.
unsafe impl Send for GlobalClass {}

static GLOBAL: [Mutex<GlobalClass>; NUM_CLASSES] = [const {
    Mutex::new(GlobalClass {
        batches: ptr::null_mut(),
        n_batches: 0,
        blocks: 0,
    })
}; NUM_CLASSES];

struct GlobalStats {
    hits: AtomicU64,
    refills: AtomicU64,
    spills: AtomicU64,
    system_allocations: AtomicU64,
    system_frees: AtomicU64,
    large_allocations: AtomicU64,
    handed_back: AtomicU64,
}

static STATS: GlobalStats = GlobalStats {
    hits: AtomicU64::new(0),
    refills: AtomicU64::new(0),
    spills: AtomicU64::new(0),
    system_allocations: AtomicU64::new(0),
    system_frees: AtomicU64::new(0),
    large_allocations: AtomicU64::new(0),
    handed_back: AtomicU64::new(0),
};

thread_local! {
    static CACHE: UnsafeCell<ThreadCache> = const { UnsafeCell::new(ThreadCache::NEW) };
    static JANITOR: Janitor = const { Janitor };
}

/// Hands the thread's cache back at thread exit (see the module docs).
struct Janitor;

impl Drop for Janitor {
    fn drop(&mut self) {
        CACHE.with(|c| {
            // SAFETY: thread-local destructors do not nest inside the
            // allocator's own code, so no other `&mut` to the cache exists.
            let cache = unsafe { &mut *c.get() };
            publish_hits(cache);
            let mut handed = 0u64;
            for (class, cc) in cache.classes.iter_mut().enumerate() {
                let mut head = cc.head;
                cc.head = ptr::null_mut();
                cc.len = 0;
                cc.limit = 0;
                while !head.is_null() {
                    // Detach up to one batch.
                    let first = head;
                    let mut n = 1usize;
                    let mut tail = first;
                    // SAFETY: the list links valid free blocks we own.
                    unsafe {
                        while n < TRANSFER_BLOCKS[class] as usize && !(*tail).next.is_null() {
                            tail = (*tail).next;
                            n += 1;
                        }
                        head = (*tail).next;
                        (*tail).next = ptr::null_mut();
                    }
                    handed += n as u64;
                    // SAFETY: `first..tail` is an owned list of `n` blocks.
                    let freed = unsafe { push_batch(class, first, n) };
                    cache.system_frees += freed;
                }
            }
            cache.state = STATE_DEAD;
            STATS.handed_back.fetch_add(handed, Relaxed);
        });
    }
}

#[inline]
const fn class_size(class: usize) -> usize {
    1 << (class as u32 + MIN_SHIFT)
}

#[inline]
fn block_layout(class: usize) -> Layout {
    // SAFETY: power-of-two alignment, size a multiple of it, far from
    // overflow.
    unsafe { Layout::from_size_align_unchecked(class_size(class), Recycling::BLOCK_ALIGN) }
}

/// The class serving `layout`, or `None` for the system allocator.
/// `layout.size()` must be non-zero.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if size > Recycling::MAX_CLASS_SIZE || layout.align() > Recycling::BLOCK_ALIGN {
        return None;
    }
    let bits = usize::BITS - (size - 1).leading_zeros();
    Some(bits.saturating_sub(MIN_SHIFT) as usize)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn publish_hits(cache: &mut ThreadCache) {
    let delta = cache.hits - cache.hits_published;
    if delta != 0 {
        STATS.hits.fetch_add(delta, Relaxed);
        cache.hits_published = cache.hits;
    }
}

/// Pushes a batch of `n` blocks (linked through `next`, null-terminated)
/// to the global pool, or frees it to the system if the pool is full.
/// Returns the number of blocks freed to the system.
///
/// # Safety
///
/// The caller owns the `n` blocks of class `class` starting at `first`.
unsafe fn push_batch(class: usize, first: *mut FreeBlock, n: usize) -> u64 {
    let cap = GLOBAL_BYTES_PER_CLASS / class_size(class);
    {
        let mut g = lock(&GLOBAL[class]);
        if g.blocks + n <= cap {
            // SAFETY: we own `first`.
            unsafe {
                (*first).batch_len = n;
                (*first).next_batch = g.batches;
            }
            g.batches = first;
            g.n_batches += 1;
            g.blocks += n;
            return 0;
        }
    }
    let mut b = first;
    while !b.is_null() {
        // SAFETY: owned block of this class, allocated with `block_layout`.
        unsafe {
            let next = (*b).next;
            std::alloc::System.dealloc(b.cast(), block_layout(class));
            b = next;
        }
    }
    STATS.system_frees.fetch_add(n as u64, Relaxed);
    n as u64
}

/// Pops a batch from the global pool: `(first, len)`.
fn pop_batch(class: usize) -> Option<(*mut FreeBlock, usize)> {
    let mut g = lock(&GLOBAL[class]);
    let first = g.batches;
    if first.is_null() {
        return None;
    }
    // SAFETY: `first` heads a batch owned by the pool, under the lock.
    let len = unsafe {
        g.batches = (*first).next_batch;
        (*first).batch_len
    };
    g.n_batches -= 1;
    g.blocks -= len;
    Some((first, len))
}

fn system_block(class: usize) -> Result<NonNull<u8>, AllocError> {
    // SAFETY: non-zero size.
    let p = unsafe { std::alloc::System.alloc(block_layout(class)) };
    STATS.system_allocations.fetch_add(1, Relaxed);
    NonNull::new(p).ok_or(AllocError)
}

/// Arms the janitor; returns whether the cache is live.
fn arm(cache: &mut ThreadCache) -> bool {
    if cache.state == STATE_NEW {
        if JANITOR.try_with(|_| ()).is_ok() {
            cache.state = STATE_LIVE;
            for (class, cc) in cache.classes.iter_mut().enumerate() {
                cc.limit = 2 * TRANSFER_BLOCKS[class];
            }
        } else {
            cache.state = STATE_DEAD;
        }
    }
    cache.state == STATE_LIVE
}

/// Fast path: pop from this thread's list of `class`.
#[inline(never)]
fn small_alloc(class: usize) -> Result<NonNull<u8>, AllocError> {
    CACHE.with(|c| {
        // SAFETY: no re-entrancy (module docs): this is the only `&mut`.
        let cache = unsafe { &mut *c.get() };
        debug_assert!(class < NUM_CLASSES);
        // SAFETY: `class_of` only returns indices below `NUM_CLASSES`.
        let cc = unsafe { cache.classes.get_unchecked_mut(class) };
        let head = cc.head;
        if !head.is_null() {
            // SAFETY: `head` is a free block owned by this list.
            cc.head = unsafe { (*head).next };
            cc.len -= 1;
            cache.hits += 1;
            // SAFETY: non-null.
            return Ok(unsafe { NonNull::new_unchecked(head.cast()) });
        }
        refill(cache, class)
    })
}

#[cold]
#[inline(never)]
fn refill(cache: &mut ThreadCache, class: usize) -> Result<NonNull<u8>, AllocError> {
    if arm(cache) {
        publish_hits(cache);
        if let Some((first, len)) = pop_batch(class) {
            cache.refills += 1;
            STATS.refills.fetch_add(1, Relaxed);
            let cc = &mut cache.classes[class];
            // SAFETY: `first` heads an owned batch of `len` >= 1 blocks.
            cc.head = unsafe { (*first).next };
            cc.len = len as u32 - 1;
            // SAFETY: non-null batch head.
            return Ok(unsafe { NonNull::new_unchecked(first.cast()) });
        }
    }
    cache.system_allocations += 1;
    system_block(class)
}

/// Fast path: push onto this thread's list of `class`.
#[inline(never)]
fn small_free(ptr: NonNull<u8>, class: usize) {
    CACHE.with(|c| {
        // SAFETY: no re-entrancy (module docs): this is the only `&mut`.
        let cache = unsafe { &mut *c.get() };
        debug_assert!(class < NUM_CLASSES);
        // SAFETY: `class_of` only returns indices below `NUM_CLASSES`.
        let cc = unsafe { cache.classes.get_unchecked_mut(class) };
        if cc.len < cc.limit {
            let b = ptr.as_ptr().cast::<FreeBlock>();
            // SAFETY: the caller gave us the block (>= 64 bytes, 64-aligned).
            unsafe { (*b).next = cc.head };
            cc.head = b;
            cc.len += 1;
            return;
        }
        free_slow(cache, class, ptr)
    })
}

#[cold]
#[inline(never)]
fn free_slow(cache: &mut ThreadCache, class: usize, ptr: NonNull<u8>) {
    if !arm(cache) {
        cache.system_frees += 1;
        STATS.system_frees.fetch_add(1, Relaxed);
        // SAFETY: a block of this class, from `block_layout`.
        unsafe { std::alloc::System.dealloc(ptr.as_ptr(), block_layout(class)) };
        return;
    }
    publish_hits(cache);
    let batch = TRANSFER_BLOCKS[class];
    let cc = &mut cache.classes[class];
    let b = ptr.as_ptr().cast::<FreeBlock>();
    // SAFETY: we own the block.
    unsafe { (*b).next = cc.head };
    cc.head = b;
    cc.len += 1;
    if cc.len < cc.limit {
        return;
    }
    // Spill: detach the `batch` most recently freed blocks as one batch.
    let first = cc.head;
    let mut tail = first;
    // SAFETY: the list holds `len >= batch` owned blocks.
    unsafe {
        for _ in 1..batch {
            tail = (*tail).next;
        }
        cc.head = (*tail).next;
        (*tail).next = ptr::null_mut();
    }
    cc.len -= batch;
    cache.spills += 1;
    STATS.spills.fetch_add(1, Relaxed);
    // SAFETY: an owned list of `batch` blocks.
    cache.system_frees += unsafe { push_batch(class, first, batch as usize) };
}

#[inline(never)]
fn count_large(alloc: bool) {
    CACHE.with(|c| {
        // SAFETY: no re-entrancy (module docs).
        let cache = unsafe { &mut *c.get() };
        if alloc {
            cache.large_allocations += 1;
            cache.system_allocations += 1;
        } else {
            cache.system_frees += 1;
        }
    });
    if alloc {
        STATS.large_allocations.fetch_add(1, Relaxed);
        STATS.system_allocations.fetch_add(1, Relaxed);
    } else {
        STATS.system_frees.fetch_add(1, Relaxed);
    }
}

#[inline]
pub(crate) fn recycling_allocate(layout: Layout) -> Result<NonNull<u8>, AllocError> {
    if layout.size() == 0 {
        return Ok(dangling(layout));
    }
    match class_of(layout) {
        Some(class) => small_alloc(class),
        None => large_alloc(layout),
    }
}

/// Above the largest class or over-aligned: the system allocator. Out of
/// line so the pooled path stays a leaf with tail calls.
#[cold]
#[inline(never)]
fn large_alloc(layout: Layout) -> Result<NonNull<u8>, AllocError> {
    count_large(true);
    // SAFETY: non-zero size (zero-sized layouts never get here).
    NonNull::new(unsafe { std::alloc::System.alloc(layout) }).ok_or(AllocError)
}

/// # Safety
///
/// `ptr` came from `large_alloc(layout)`.
#[cold]
#[inline(never)]
unsafe fn large_free(ptr: NonNull<u8>, layout: Layout) {
    count_large(false);
    // SAFETY: allocated by `System.alloc(layout)` in `large_alloc`.
    unsafe { std::alloc::System.dealloc(ptr.as_ptr(), layout) }
}

/// # Safety
///
/// `ptr` came from `recycling_allocate(layout)`.
#[inline]
pub(crate) unsafe fn recycling_deallocate(ptr: NonNull<u8>, layout: Layout) {
    if layout.size() == 0 {
        return;
    }
    match class_of(layout) {
        Some(class) => small_free(ptr, class),
        // SAFETY: such a layout was served by `large_alloc`.
        None => unsafe { large_free(ptr, layout) },
    }
}

/// The default frame resource: per-thread caches by size class over a
/// bounded global pool (see the module docs of `frame::recycling`).
///
/// A zero-sized handle to the process-wide recycler (capy: a static):
/// every `Recycling` value shares the same pools.
///
/// ```
/// use coframe::frame::{MemoryResource, Recycling};
/// use std::alloc::Layout;
/// let l = Layout::from_size_align(200, 16).unwrap();
/// let before = Recycling::thread_stats();
/// let a = Recycling.allocate(l).unwrap();
/// // SAFETY: allocated just above with `l`.
/// unsafe { Recycling.deallocate(a, l) };
/// let b = Recycling.allocate(l).unwrap(); // reuses the cached block
/// assert_eq!(a, b);
/// // SAFETY: allocated just above with `l`.
/// unsafe { Recycling.deallocate(b, l) };
/// assert!(Recycling::thread_stats().thread_cache_hits > before.thread_cache_hits);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recycling;

/// Statistics of the [`Recycling`] resource.
///
/// ```
/// use coframe::frame::Recycling;
/// let s = Recycling::stats();
/// assert!(s.system_allocations >= s.large_allocations);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecyclingStats {
    /// Allocations served from a thread cache.
    pub thread_cache_hits: u64,
    /// Batches taken from the global pool into a thread cache.
    pub global_refills: u64,
    /// Batches pushed from a thread cache to the global pool (or, when it
    /// was full, to the system).
    pub spills: u64,
    /// Calls to the system allocator's `alloc` (pooled blocks and large).
    pub system_allocations: u64,
    /// Calls to the system allocator's `dealloc`.
    pub system_frees: u64,
    /// Allocations above the largest class or aligned above 64 bytes
    /// (included in `system_allocations`).
    pub large_allocations: u64,
    /// Blocks handed back to the global pool by exiting threads
    /// (process-wide only; zero in thread statistics).
    pub handed_back: u64,
    /// Blocks currently cached: in the global pool (process-wide) or in the
    /// calling thread's cache (thread statistics).
    pub cached_blocks: u64,
}

impl Recycling {
    /// Largest pooled size: bigger requests go to the system allocator.
    ///
    /// ```
    /// use coframe::frame::Recycling;
    /// assert!(Recycling::MAX_CLASS_SIZE.is_power_of_two());
    /// ```
    pub const MAX_CLASS_SIZE: usize = class_size(NUM_CLASSES - 1);

    /// Alignment of every pooled block; requests aligned above it go to the
    /// system allocator.
    ///
    /// ```
    /// use coframe::frame::Recycling;
    /// assert_eq!(Recycling::BLOCK_ALIGN, 64);
    /// ```
    pub const BLOCK_ALIGN: usize = 64;

    /// Process-wide statistics (see the module docs for how current the
    /// thread-cache hits of other live threads are).
    ///
    /// ```
    /// use coframe::frame::Recycling;
    /// let s = Recycling::stats();
    /// assert!(s.thread_cache_hits <= u64::MAX);
    /// ```
    pub fn stats() -> RecyclingStats {
        // Publish this thread's hits first.
        CACHE.with(|c| {
            // SAFETY: no re-entrancy (module docs).
            publish_hits(unsafe { &mut *c.get() })
        });
        let cached_blocks = GLOBAL.iter().map(|g| lock(g).blocks as u64).sum();
        RecyclingStats {
            thread_cache_hits: STATS.hits.load(Relaxed),
            global_refills: STATS.refills.load(Relaxed),
            spills: STATS.spills.load(Relaxed),
            system_allocations: STATS.system_allocations.load(Relaxed),
            system_frees: STATS.system_frees.load(Relaxed),
            large_allocations: STATS.large_allocations.load(Relaxed),
            handed_back: STATS.handed_back.load(Relaxed),
            cached_blocks,
        }
    }

    /// The calling thread's statistics (unaffected by other threads).
    ///
    /// ```
    /// use coframe::frame::{MemoryResource, Recycling};
    /// use std::alloc::Layout;
    /// let l = Layout::from_size_align(8192, 8).unwrap(); // above the largest class
    /// let before = Recycling::thread_stats();
    /// let p = Recycling.allocate(l).unwrap();
    /// // SAFETY: allocated just above with `l`.
    /// unsafe { Recycling.deallocate(p, l) };
    /// let after = Recycling::thread_stats();
    /// assert_eq!(after.large_allocations, before.large_allocations + 1);
    /// ```
    pub fn thread_stats() -> RecyclingStats {
        CACHE.with(|c| {
            // SAFETY: no re-entrancy (module docs).
            let cache = unsafe { &*c.get() };
            RecyclingStats {
                thread_cache_hits: cache.hits,
                global_refills: cache.refills,
                spills: cache.spills,
                system_allocations: cache.system_allocations,
                system_frees: cache.system_frees,
                large_allocations: cache.large_allocations,
                handed_back: 0,
                cached_blocks: cache.classes.iter().map(|c| c.len as u64).sum(),
            }
        })
    }

    /// The pooled block size that serves `layout`, or `None` if it goes to
    /// the system allocator (or is zero-sized).
    ///
    /// ```
    /// use coframe::frame::Recycling;
    /// use std::alloc::Layout;
    /// assert_eq!(Recycling::class_size_for(Layout::from_size_align(65, 8).unwrap()), Some(128));
    /// assert_eq!(Recycling::class_size_for(Layout::from_size_align(64, 128).unwrap()), None);
    /// ```
    pub fn class_size_for(layout: Layout) -> Option<usize> {
        if layout.size() == 0 {
            return None;
        }
        class_of(layout).map(class_size)
    }
}

impl MemoryResource for Recycling {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        recycling_allocate(layout)
    }
    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract (all `Recycling` values share pools).
        unsafe { recycling_deallocate(ptr, layout) }
    }
}

/// The static behind the default handle: not zero-sized, so its address is
/// unique and `is_default` can compare it.
pub(crate) struct DefaultResource {
    _anchor: u8,
}

pub(crate) static DEFAULT_RESOURCE: DefaultResource = DefaultResource { _anchor: 0 };

impl MemoryResource for DefaultResource {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        recycling_allocate(layout)
    }
    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { recycling_deallocate(ptr, layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let l = |s, a| Layout::from_size_align(s, a).unwrap();
        assert_eq!(class_of(l(1, 1)), Some(0));
        assert_eq!(class_of(l(64, 64)), Some(0));
        assert_eq!(class_of(l(65, 1)), Some(1));
        assert_eq!(class_of(l(4096, 8)), Some(NUM_CLASSES - 1));
        assert_eq!(class_of(l(4097, 8)), None);
        assert_eq!(class_of(l(8, 128)), None);
    }

    #[test]
    fn spill_and_refill_move_batches() {
        let l = Layout::from_size_align(100, 8).unwrap();
        let n = 3 * TRANSFER_BLOCKS[1] as usize;
        let blocks: Vec<_> = (0..n).map(|_| Recycling.allocate(l).unwrap()).collect();
        let before = Recycling::thread_stats();
        for b in &blocks {
            // SAFETY: allocated above with `l`.
            unsafe { Recycling.deallocate(*b, l) };
        }
        let mid = Recycling::thread_stats();
        assert!(mid.spills > before.spills);
        let again: Vec<_> = (0..n).map(|_| Recycling.allocate(l).unwrap()).collect();
        let after = Recycling::thread_stats();
        assert!(after.global_refills > mid.global_refills);
        for b in again {
            // SAFETY: allocated above with `l`.
            unsafe { Recycling.deallocate(b, l) };
        }
    }
}
