//! Resource handles: what a frame keeps so that it can free itself
//! (rule 1), and the refcounted owner roots that keep an allocator alive
//! until its last frame is gone (rule 2).
//!
//! # One handle type, three kinds
//!
//! [`Handle<K>`] is the only handle type. Its kind `K` is a zero-sized
//! type that says, to the type system, where the handle may go and what its
//! resource may be (rule 4):
//!
//! | kind             | named                  | local roots | `Send + Sync` | frees          |
//! |------------------|------------------------|-------------|---------------|----------------|
//! | [`ThisThread`]   | [`ResourceHandle`]     | yes         | no            | directly       |
//! | [`AnyThread`]    | [`SyncResourceHandle`] | no          | yes           | directly       |
//! | `Frame` (crate)  | `RawHandle`            | yes         | yes           | on any thread  |
//!
//! `Frame` is the kind a frame records (task cells, [`FrameBox`](super::FrameBox)):
//! frames travel (a task cell's last waker may be dropped on a foreign
//! thread), so a frame handle is `Send + Sync` and its `deallocate` checks
//! the thread (below); allocating or making it current needs the owner
//! thread, which only its `unsafe` crate-internal users can promise.
//!
//! Every conversion moves the handle and its count: `AnyThread` →
//! `ThisThread` ([`From`]), any kind → `AnyThread` if the resource is
//! thread-safe ([`Handle::into_sync`]), `ThisThread` or `AnyThread` →
//! `Frame` (`into_raw`). Code that only reads a handle (allocation,
//! [`safe_resume_with`](super::safe_resume_with), [`set_current`](super::set_current),
//! [`FrameBox::new_in`](super::FrameBox::new_in)) is generic over the kind
//! instead of borrowing one kind as another.
//!
//! # Representation
//!
//! Every handle is the same three words, `HandleRepr`: a fat pointer to the
//! resource and an optional pointer to the root header that owns it.
//!
//! - No root: the resource is `'static` and thread-safe (the process-wide
//!   [`Recycling`](super::Recycling) default, or [`SyncResourceHandle::from_static`]).
//!   Cloning and dropping such a handle costs no atomic operation.
//! - A root: a heap block holding a `RootHeader` followed by the allocator
//!   by value. The header's atomic count is held once by every handle (and by
//!   every frame, which keeps a handle); the last decrement drops the
//!   allocator and frees the block (Arc's protocol: `Release` decrement,
//!   `Acquire` fence before destruction).
//!
//! # Sync and local roots
//!
//! [`SyncResourceHandle::owning`] takes `A: Send + Sync`: any thread may
//! allocate and free through it. [`ResourceHandle::owning_local`] takes an
//! `A: Send` that need not be `Sync` (e.g. `bumpalo::Bump`). Its `ThisThread`
//! handles are `!Send`, so every allocation happens on the thread that
//! created the root (the *owner*), by construction. A `Frame` handle's
//! `deallocate` checks the thread: on the owner it frees directly; on any
//! other thread it must not touch the allocator, so it queues
//! `(ptr, layout)` on the root's mutex-protected list. The owner gives the
//! queued blocks back on its next allocation through the root (one
//! relaxed-cost atomic flag load on that path, no lock around the
//! allocator), and the root's destruction gives back whatever is still
//! queued (the count is zero then, so access is exclusive). The count
//! itself is atomic because foreign threads drop counts. `A: Send` is what
//! makes dropping the allocator on whichever thread drops the last count
//! sound.
//!
//! Threads are identified by a per-thread token drawn from a process-wide
//! counter (never reused, unlike a thread-local address), stored in a
//! constant-initialised thread-local without destructor, so it is readable
//! even during thread-local teardown.

use super::recycling::{recycling_allocate, recycling_deallocate, DEFAULT_RESOURCE};
use super::resource::{AllocError, MemoryResource};
use crate::loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use crate::loom::sync::Mutex;
use std::alloc::Layout;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

/// The one fat pointer every default handle copies.
static DEFAULT_DYN: &(dyn MemoryResource + Sync) = &DEFAULT_RESOURCE;

/// The raw, uncounted three-word form inside every handle, and the value the
/// current-resource slot holds.
#[derive(Clone, Copy)]
pub(super) struct HandleRepr {
    res: NonNull<dyn MemoryResource>,
    root: Option<NonNull<RootHeader>>,
}

/// Header at the start of every owner root.
struct RootHeader {
    count: AtomicUsize,
    /// 0 for a thread-safe root, else the owner thread's token.
    owner: u64,
    /// The allocator stored after this header.
    res: NonNull<dyn MemoryResource>,
    /// Set when `pending` is non-empty (local roots only).
    has_pending: AtomicBool,
    /// Frees that arrived on a foreign thread (local roots only).
    pending: Mutex<Vec<(usize, Layout)>>,
    /// Drops the allocator and frees the root block.
    destroy: unsafe fn(NonNull<RootHeader>),
}

#[repr(C)]
struct Root<A> {
    header: RootHeader,
    alloc: A,
}

/// Drops the `Root<A>` behind `header` and frees its block.
///
/// # Safety
///
/// `header` must point to the header of a live `Root<A>` allocated by
/// `new_root::<A>`, whose count has reached zero.
unsafe fn destroy_root<A>(header: NonNull<RootHeader>) {
    // SAFETY: by contract this is a `Box<Root<A>>` with no other users
    // (`Root` is `repr(C)` with the header first, so the cast is exact).
    let root = unsafe { Box::from_raw(header.as_ptr().cast::<Root<A>>()) };
    // Give back frees that were queued by foreign threads: exclusive access.
    let pending = std::mem::take(&mut *lock(&root.header.pending));
    for (addr, layout) in pending {
        // SAFETY: queued by `RawHandle::deallocate`, which received a block
        // allocated by this root's allocator with this layout.
        unsafe {
            contained_deallocate(
                root.header.res.as_ref(),
                NonNull::new_unchecked(addr as *mut u8),
                layout,
            )
        };
    }
    // The allocator's own destructor is user code too.
    if catch_unwind(AssertUnwindSafe(move || drop(root))).is_err() {
        eprintln!("coframe: a run_async allocator panicked in its destructor (contained)");
    }
}

/// Returns a block to a user's resource, containing a panic from its
/// `deallocate` (the contract on [`MemoryResource::deallocate`]): the block
/// counts as lost to that resource, and the caller's bookkeeping (reference
/// counts, the root's lifetime, the executor's task accounting) goes on.
///
/// # Safety
/// As [`MemoryResource::deallocate`].
#[inline(always)]
unsafe fn contained_deallocate(res: &dyn MemoryResource, ptr: NonNull<u8>, layout: Layout) {
    // SAFETY: forwarded contract.
    let freed = catch_unwind(AssertUnwindSafe(|| unsafe { res.deallocate(ptr, layout) }));
    if freed.is_err() {
        deallocate_panicked(layout);
    }
}

#[cold]
#[inline(never)]
fn deallocate_panicked(layout: Layout) {
    eprintln!(
        "coframe: a frame memory resource panicked in deallocate ({} bytes, align {}): \
         the panic is contained and the block is lost to that resource",
        layout.size(),
        layout.align()
    );
}

fn lock<T>(m: &Mutex<T>) -> crate::loom::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn new_root<A: MemoryResource + Send + 'static>(alloc: A, owner: u64) -> HandleRepr {
    let dangling: NonNull<dyn MemoryResource> = NonNull::<A>::dangling();
    let boxed = Box::new(Root {
        header: RootHeader {
            count: AtomicUsize::new(1),
            owner,
            res: dangling,
            has_pending: AtomicBool::new(false),
            pending: Mutex::new(Vec::new()),
            destroy: destroy_root::<A>,
        },
        alloc,
    });
    let raw = Box::into_raw(boxed);
    // SAFETY: `raw` is a fresh, valid, exclusively owned allocation.
    unsafe {
        let res: NonNull<dyn MemoryResource> = NonNull::from(&(*raw).alloc);
        (*raw).header.res = res;
        HandleRepr {
            res,
            root: Some(NonNull::new_unchecked(raw.cast::<RootHeader>())),
        }
    }
}

impl HandleRepr {
    /// `*p`, read one word at a time (never as one wider load).
    #[inline(always)]
    fn read_words(p: &HandleRepr) -> HandleRepr {
        use std::mem::{size_of, MaybeUninit};
        const WORDS: usize = size_of::<HandleRepr>() / size_of::<usize>();
        const _: () = assert!(WORDS * size_of::<usize>() == size_of::<HandleRepr>());
        let src = (p as *const HandleRepr).cast::<MaybeUninit<usize>>();
        let mut words = [MaybeUninit::<usize>::uninit(); WORDS];
        for (i, w) in words.iter_mut().enumerate() {
            // SAFETY: inside `*p`, word-aligned (it holds pointers);
            // volatile, so one load per word.
            *w = unsafe { std::ptr::read_volatile(src.add(i)) };
        }
        // SAFETY: the very bytes of a valid `HandleRepr`.
        unsafe { std::mem::transmute::<[MaybeUninit<usize>; WORDS], HandleRepr>(words) }
    }

    /// The process-wide default (`Recycling`), unrooted.
    #[inline]
    fn default_repr() -> Self {
        let r: &'static dyn MemoryResource = DEFAULT_DYN;
        HandleRepr {
            res: NonNull::from(r),
            root: None,
        }
    }

    /// Adds one count (no-op when unrooted).
    #[inline]
    pub(super) fn acquire(self) -> Self {
        if let Some(root) = self.root {
            // SAFETY: the caller holds a count (or a borrow of a handle that
            // does), so the root is alive.
            let old = unsafe { root.as_ref() }
                .count
                .fetch_add(1, Ordering::Relaxed);
            if old > isize::MAX as usize {
                std::process::abort();
            }
        }
        self
    }

    /// Drops one count, destroying the root when it was the last.
    ///
    /// # Safety
    ///
    /// The caller owns one count of this repr and gives it up.
    #[inline]
    pub(super) unsafe fn release(self) {
        if let Some(root) = self.root {
            // SAFETY: we own a count, so the root is alive.
            let header = unsafe { root.as_ref() };
            if header.count.fetch_sub(1, Ordering::Release) == 1 {
                fence(Ordering::Acquire);
                let destroy = header.destroy;
                // SAFETY: the count reached zero: nobody else refers to it.
                unsafe { destroy(root) };
            }
        }
    }

    #[inline]
    fn is_local(&self) -> bool {
        match self.root {
            // SAFETY: a repr is only inspected while a count or borrow keeps
            // its root alive.
            Some(r) => unsafe { r.as_ref() }.owner != 0,
            None => false,
        }
    }

    #[inline]
    fn is_default(&self) -> bool {
        // Every default handle copies the fat pointer stored in
        // `DEFAULT_DYN`, so the comparison (data and vtable) is exact; a
        // zero-sized static that happens to share the address differs in its
        // vtable.
        let d: *const dyn MemoryResource = DEFAULT_DYN;
        self.root.is_none() && std::ptr::eq(self.res.as_ptr() as *const dyn MemoryResource, d)
    }

    #[inline]
    fn same(&self, other: &Self) -> bool {
        // Thin data pointers plus roots; for unrooted handles also compare
        // the vtable so two distinct zero-sized statics never compare equal.
        self.root == other.root
            && std::ptr::addr_eq(self.res.as_ptr(), other.res.as_ptr())
            && (self.root.is_some() || std::ptr::eq(self.res.as_ptr(), other.res.as_ptr()))
    }

    /// Allocation on the owner thread (or through a thread-safe resource).
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        match self.root {
            // The default: a direct call, no virtual dispatch (as capy).
            None if self.is_default() => recycling_allocate(layout),
            Some(root) => {
                // SAFETY: a count or borrow keeps the root alive.
                let header = unsafe { root.as_ref() };
                if header.owner != 0 && header.has_pending.load(Ordering::Acquire) {
                    self.give_back_then_allocate(header, layout)
                } else {
                    // SAFETY: the resource lives as long as the root.
                    unsafe { self.res.as_ref() }.allocate(layout)
                }
            }
            // SAFETY: an unrooted resource is 'static.
            None => unsafe { self.res.as_ref() }.allocate(layout),
        }
    }

    /// Owner thread of a local root with queued foreign frees: gives them
    /// back, then allocates (out of line: the fast paths stay tail calls).
    #[cold]
    #[inline(never)]
    fn give_back_then_allocate(
        &self,
        header: &RootHeader,
        layout: Layout,
    ) -> Result<NonNull<u8>, AllocError> {
        give_back_pending(header);
        // SAFETY: the resource lives as long as the root.
        unsafe { self.res.as_ref() }.allocate(layout)
    }

    /// Deallocation, without the foreign-thread check (callers do it).
    ///
    /// # Safety
    ///
    /// `ptr` came from this resource with `layout`; for a local root the
    /// caller is on the owner thread.
    #[inline]
    unsafe fn deallocate_here(&self, ptr: NonNull<u8>, layout: Layout) {
        if self.is_default() {
            // SAFETY: the block came from the default resource.
            unsafe { recycling_deallocate(ptr, layout) }
        } else {
            // SAFETY: by contract.
            unsafe { contained_deallocate(self.res.as_ref(), ptr, layout) }
        }
    }
}

/// Owner thread: frees blocks that foreign threads queued.
#[cold]
fn give_back_pending(header: &RootHeader) {
    header.has_pending.store(false, Ordering::Relaxed);
    let pending = std::mem::take(&mut *lock(&header.pending));
    for (addr, layout) in pending {
        // SAFETY: queued by `RawHandle::deallocate` with a block of this
        // root's allocator; we are on the owner thread.
        unsafe {
            contained_deallocate(
                header.res.as_ref(),
                NonNull::new_unchecked(addr as *mut u8),
                layout,
            )
        };
    }
}

#[cfg(not(loom))]
thread_local! {
    static THREAD_TOKEN: Cell<u64> = const { Cell::new(0) };
}
// Loom runs its model threads on one OS thread: use its thread-locals.
#[cfg(loom)]
loom::thread_local! {
    static THREAD_TOKEN: Cell<u64> = Cell::new(0);
}
static NEXT_TOKEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// This thread's never-reused token (`#[inline(never)]`: rule 7).
#[inline(never)]
fn thread_token() -> u64 {
    THREAD_TOKEN.with(|t| {
        let v = t.get();
        if v != 0 {
            v
        } else {
            let n = NEXT_TOKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            t.set(n);
            n
        }
    })
}

mod sealed {
    pub trait Sealed {}
}

/// A [`Handle`]'s kind: what the type system knows about where the handle
/// may go and what its resource may be. Sealed; the public kinds are
/// [`ThisThread`] and [`AnyThread`].
///
/// ```
/// use coframe::frame::{AnyThread, Handle, Kind, ThisThread};
/// fn describe<K: Kind>(h: &Handle<K>) -> &'static str {
///     if h.is_local() { "local root" } else { "thread-safe" }
/// }
/// assert_eq!(describe(&Handle::<ThisThread>::default()), "thread-safe");
/// assert_eq!(describe(&Handle::<AnyThread>::default()), "thread-safe");
/// ```
pub trait Kind: sealed::Sealed + Sized + 'static {
    /// Whether a handle of this kind may refer to a local-only root.
    #[doc(hidden)]
    const MAY_BE_LOCAL: bool;
    /// The name `Debug` prints.
    #[doc(hidden)]
    const NAME: &'static str;
}

/// The kinds whose handles use their resource directly wherever the handle
/// is: [`ThisThread`] (the handle never leaves the owner thread of a local
/// root) and [`AnyThread`] (the resource is `Sync`). Allocating, freeing and
/// making the resource current are safe through them.
///
/// ```
/// use coframe::frame::{Direct, Handle, ResourceHandle, SyncResourceHandle};
/// use std::alloc::Layout;
/// fn roundtrip<K: Direct>(h: &Handle<K>) {
///     let l = Layout::new::<u64>();
///     let p = h.allocate(l).unwrap();
///     // SAFETY: allocated just above with `l`.
///     unsafe { h.deallocate(p, l) };
/// }
/// roundtrip(&ResourceHandle::default());
/// roundtrip(&SyncResourceHandle::default());
/// ```
pub trait Direct: Kind {}

/// The kind of a handle that may refer to any resource, local-only roots
/// included, and so never leaves its thread: [`ResourceHandle`].
///
/// ```
/// use coframe::frame::{Handle, System, ThisThread};
/// let h: Handle<ThisThread> = Handle::owning_local(System);
/// assert!(h.is_local());
/// ```
#[derive(Debug)]
pub enum ThisThread {}

/// The kind of a handle to a thread-safe resource, which may go to any
/// thread (thread pools take these): [`SyncResourceHandle`].
///
/// ```
/// use coframe::frame::{AnyThread, Handle, System};
/// let h: Handle<AnyThread> = Handle::owning(System);
/// std::thread::spawn(move || assert!(!h.is_local())).join().unwrap();
/// ```
#[derive(Debug)]
pub enum AnyThread {}

/// The kind of the handle a frame records (task cells, `FrameBox`): any
/// resource, `Send + Sync`, frees from any thread (queued for a local root
/// off its owner thread); allocating or making it current needs the owner
/// thread (crate-internal `unsafe` callers only).
pub(crate) enum Frame {}

impl sealed::Sealed for ThisThread {}
impl sealed::Sealed for AnyThread {}
impl sealed::Sealed for Frame {}
impl Kind for ThisThread {
    const MAY_BE_LOCAL: bool = true;
    const NAME: &'static str = "ResourceHandle";
}
impl Kind for AnyThread {
    const MAY_BE_LOCAL: bool = false;
    const NAME: &'static str = "SyncResourceHandle";
}
impl Kind for Frame {
    const MAY_BE_LOCAL: bool = true;
    const NAME: &'static str = "RawHandle";
}
impl Direct for ThisThread {}
impl Direct for AnyThread {}

/// An owned, counted reference to a frame memory resource, of kind `K`
/// ([`ThisThread`] or [`AnyThread`]; see [`ResourceHandle`] and
/// [`SyncResourceHandle`], the names the crate uses).
///
/// Cloning adds one count on the resource's root (none for the default
/// resource); the last count drops the allocator. Conversions between
/// kinds move the handle.
///
/// ```
/// use coframe::frame::{AnyThread, Handle, System, ThisThread};
/// let shared: Handle<AnyThread> = Handle::owning(System);
/// let local: Handle<ThisThread> = shared.clone().into(); // always allowed
/// assert!(local.same_resource(&shared));
/// assert!(local.into_sync().is_ok()); // the resource is thread-safe
/// ```
pub struct Handle<K: Kind> {
    pub(super) repr: HandleRepr,
    _kind: PhantomData<K>,
}

/// An owned, counted reference to any frame memory resource: what a frame
/// keeps to free itself.
///
/// `!Send` and `!Sync`: it may refer to a local-only root (an allocator that
/// is not `Sync`). Cloning adds one count on the root (none for the default
/// resource); the last count drops the allocator.
///
/// ```
/// use coframe::frame::ResourceHandle;
/// use std::alloc::Layout;
///
/// let h = ResourceHandle::current(); // the default Recycling if unset
/// assert!(h.is_default());
/// let layout = Layout::from_size_align(100, 8).unwrap();
/// let p = h.allocate(layout).unwrap();
/// // SAFETY: `p` came from `h.allocate(layout)`.
/// unsafe { h.deallocate(p, layout) };
/// ```
///
/// It cannot leave its thread (rule 4):
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(coframe::frame::ResourceHandle::default());
/// ```
pub type ResourceHandle = Handle<ThisThread>;

/// A counted, `Send + Sync` reference to a thread-safe frame resource.
///
/// It can only ever refer to a resource that is `Sync` (the default, a
/// `'static` `Sync` resource, or a root made by
/// [`owning`](Handle::owning)), so it may reach thread pools (rule 4).
/// Everything that takes a handle by reference (such as
/// [`safe_resume_with`](super::safe_resume_with)) is generic over the kind,
/// so it takes this one too.
///
/// ```
/// use coframe::frame::{SyncResourceHandle, System};
/// use std::alloc::Layout;
/// let h = SyncResourceHandle::owning(System);
/// let h2 = h.clone();
/// std::thread::spawn(move || {
///     let l = Layout::new::<[u64; 4]>();
///     let p = h2.allocate(l).unwrap();
///     // SAFETY: allocated just above with `l`.
///     unsafe { h2.deallocate(p, l) };
/// })
/// .join()
/// .unwrap();
/// ```
pub type SyncResourceHandle = Handle<AnyThread>;

/// The handle a frame records (task cells name it so): moves only (no
/// `Clone`), `Send + Sync`, and frees from any thread (see the module docs).
pub(crate) type RawHandle = Handle<Frame>;

// SAFETY: an `AnyThread` handle only refers to resources that are `Send +
// Sync` (the default, `from_static` with `R: Sync`, `owning` with `A: Send
// + Sync`, or a handle of another kind whose root `into_sync` found not
// local) and its count is atomic.
unsafe impl Send for Handle<AnyThread> {}
// SAFETY: as above; `&Handle<AnyThread>` only allows allocate/deallocate
// through a `Sync` resource and atomic count increments.
unsafe impl Sync for Handle<AnyThread> {}
// SAFETY: a `Frame` handle's deallocation through a local root from a
// foreign thread only touches the root's mutex-protected queue and atomic
// count; thread-safe resources are `Sync`. Allocating through it or making
// it current is `unsafe` (owner thread only), and a local root's allocator
// is `Send`, so dropping the last count anywhere is sound.
unsafe impl Send for Handle<Frame> {}
// SAFETY: as above; `&Handle<Frame>` exposes the same thread-checked
// operations.
unsafe impl Sync for Handle<Frame> {}

impl<K: Kind> Handle<K> {
    /// Takes ownership of one count held by `repr`.
    ///
    /// # Safety
    ///
    /// The caller gives up that count, and `repr` fits the kind: for
    /// `AnyThread`, not a local root; for `ThisThread`, a local root only on
    /// its owner thread.
    #[inline]
    pub(super) unsafe fn from_repr(repr: HandleRepr) -> Self {
        Handle {
            repr,
            _kind: PhantomData,
        }
    }

    /// The same handle and count, as kind `K2`.
    ///
    /// # Safety
    ///
    /// The resource fits `K2` (as for [`from_repr`](Self::from_repr)).
    #[inline]
    unsafe fn into_kind<K2: Kind>(self) -> Handle<K2> {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so its count moves; fit by
        // contract. Read a word at a time: a handle just made from the slot
        // (`current()`) was stored a word at a time, and the 16-byte copy
        // the compiler makes of the fat pointer otherwise cannot be
        // forwarded from those stores (perf, `local_spawn_join`: the stall
        // on every spawn's cell header write).
        unsafe { Handle::from_repr(HandleRepr::read_words(&this.repr)) }
    }

    /// Whether this is the process-wide default ([`Recycling`](super::Recycling)).
    ///
    /// ```
    /// use coframe::frame::{ResourceHandle, System};
    /// assert!(ResourceHandle::default().is_default());
    /// assert!(!ResourceHandle::owning_local(System).is_default());
    /// ```
    #[inline]
    pub fn is_default(&self) -> bool {
        self.repr.is_default()
    }

    /// Whether this refers to a local-only root (created by
    /// [`owning_local`](Handle::owning_local)); never for a
    /// [`SyncResourceHandle`].
    ///
    /// ```
    /// use coframe::frame::{ResourceHandle, SyncResourceHandle, System};
    /// assert!(ResourceHandle::owning_local(System).is_local());
    /// assert!(!ResourceHandle::from(SyncResourceHandle::owning(System)).is_local());
    /// ```
    #[inline]
    pub fn is_local(&self) -> bool {
        K::MAY_BE_LOCAL && self.repr.is_local()
    }

    /// Whether both handles (of any kinds) refer to the same resource.
    ///
    /// ```
    /// use coframe::frame::{ResourceHandle, System};
    /// let a = ResourceHandle::owning_local(System);
    /// let b = a.clone();
    /// assert!(a.same_resource(&b));
    /// assert!(!a.same_resource(&ResourceHandle::default()));
    /// ```
    #[inline]
    pub fn same_resource<K2: Kind>(&self, other: &Handle<K2>) -> bool {
        self.repr.same(&other.repr)
    }

    /// Converts into a thread-safe handle if the resource is thread-safe
    /// (keeping the count); gives the handle back if it is a local root.
    ///
    /// ```
    /// use coframe::frame::{ResourceHandle, System};
    /// assert!(ResourceHandle::default().into_sync().is_ok());
    /// assert!(ResourceHandle::owning_local(System).into_sync().is_err());
    /// ```
    #[inline]
    pub fn into_sync(self) -> Result<SyncResourceHandle, Self> {
        if self.is_local() {
            Err(self)
        } else {
            // SAFETY: not a local root.
            Ok(unsafe { self.into_kind() })
        }
    }
}

impl<K: Direct> Handle<K> {
    /// The process-wide default resource, [`Recycling`](super::Recycling).
    ///
    /// ```
    /// use coframe::frame::ResourceHandle;
    /// assert!(ResourceHandle::default_resource().is_default());
    /// ```
    ///
    /// ```
    /// use coframe::frame::SyncResourceHandle;
    /// assert!(SyncResourceHandle::default_resource().is_default());
    /// ```
    #[inline]
    pub fn default_resource() -> Self {
        // SAFETY: the default is unrooted (no count) and thread-safe.
        unsafe { Self::from_repr(HandleRepr::default_repr()) }
    }

    /// Allocates through the resource.
    ///
    /// ```
    /// use coframe::frame::ResourceHandle;
    /// use std::alloc::Layout;
    /// let h = ResourceHandle::default();
    /// let l = Layout::from_size_align(64, 64).unwrap();
    /// let p = h.allocate(l).unwrap();
    /// assert_eq!(p.as_ptr() as usize % 64, 0);
    /// // SAFETY: allocated just above with `l`.
    /// unsafe { h.deallocate(p, l) };
    /// ```
    #[inline]
    pub fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.repr.allocate(layout)
    }

    /// Returns a block to the resource.
    ///
    /// # Safety
    ///
    /// `ptr` was returned by `allocate(layout)` on a handle to the same
    /// resource and has not been freed since.
    ///
    /// ```
    /// use coframe::frame::ResourceHandle;
    /// use std::alloc::Layout;
    /// let h = ResourceHandle::default();
    /// let l = Layout::new::<[u8; 300]>();
    /// let p = h.allocate(l).unwrap();
    /// // SAFETY: allocated just above with `l`.
    /// unsafe { h.deallocate(p, l) };
    /// ```
    #[inline]
    pub unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: a `Direct` handle is on a thread allowed to use its
        // resource (`ThisThread` is `!Send`, so a local root's owner;
        // `AnyThread` resources are `Sync`); the block belongs to this
        // resource by the caller's contract.
        unsafe { self.repr.deallocate_here(ptr, layout) }
    }

    /// Gives the handle and its count to a frame (the `Frame` kind).
    #[inline]
    pub(crate) fn into_raw(self) -> RawHandle {
        // SAFETY: any resource fits a `Frame` handle.
        unsafe { self.into_kind() }
    }
}

impl Handle<ThisThread> {
    /// A counted copy of the current resource slot (the default
    /// [`Recycling`](super::Recycling) when the slot is unset).
    ///
    /// ```
    /// use coframe::frame::{set_current, ResourceHandle, System, SyncResourceHandle};
    /// let sys: ResourceHandle = SyncResourceHandle::owning(System).into();
    /// let _g = set_current(&sys);
    /// assert!(ResourceHandle::current().same_resource(&sys));
    /// ```
    #[inline]
    pub fn current() -> Self {
        super::current::current()
    }

    /// Moves `alloc` into a local (non-thread-safe) root and returns the
    /// first handle to it.
    ///
    /// Allocation happens only on this thread (the handle is `!Send`);
    /// frames freed on other threads are queued and given back to `alloc`
    /// on this thread's next allocation through the root, or when the root
    /// is dropped. `alloc` is dropped exactly once, after the last frame
    /// allocated through the root is freed and the last handle is dropped.
    ///
    /// ```
    /// use coframe::frame::{ResourceHandle, System};
    /// use std::alloc::Layout;
    /// let h = ResourceHandle::owning_local(System);
    /// assert!(h.is_local());
    /// let l = Layout::new::<u64>();
    /// let p = h.allocate(l).unwrap();
    /// // SAFETY: allocated just above with `l`.
    /// unsafe { h.deallocate(p, l) };
    /// ```
    pub fn owning_local<A: MemoryResource + Send + 'static>(alloc: A) -> Self {
        // SAFETY: the root's first count; this thread is its owner.
        unsafe { Self::from_repr(new_root(alloc, thread_token())) }
    }
}

impl Handle<AnyThread> {
    /// The slot's resource if it is thread-safe, else the default
    /// [`Recycling`](super::Recycling) (rule 4: a task on a pool that
    /// spawns while the slot holds a local-only resource falls back to the
    /// default, never to the local one).
    ///
    /// ```
    /// use coframe::frame::{set_current, ResourceHandle, SyncResourceHandle, System};
    /// let local = ResourceHandle::owning_local(System);
    /// let _g = set_current(&local);
    /// assert!(SyncResourceHandle::current().is_default());
    /// ```
    #[inline]
    pub fn current() -> Self {
        ResourceHandle::current().into_sync().unwrap_or_default()
    }

    /// Moves a thread-safe allocator into a refcounted root and returns the
    /// first handle. `alloc` is dropped exactly once, when the last handle
    /// (every frame holds one) is dropped, on whichever thread that is.
    ///
    /// ```
    /// use coframe::frame::{SyncResourceHandle, System};
    /// let h = SyncResourceHandle::owning(System);
    /// assert!(!h.is_default() && !h.is_local());
    /// ```
    ///
    /// An allocator that is not `Sync` (such as `bumpalo::Bump`) is
    /// rejected; it belongs in [`ResourceHandle::owning_local`]:
    ///
    /// ```compile_fail
    /// struct Bump(bumpalo::Bump);
    /// impl coframe::frame::MemoryResource for Bump {
    ///     fn allocate(&self, l: std::alloc::Layout)
    ///         -> Result<std::ptr::NonNull<u8>, coframe::frame::AllocError> {
    ///         self.0.try_alloc_layout(l).map_err(|_| coframe::frame::AllocError)
    ///     }
    ///     unsafe fn deallocate(&self, _: std::ptr::NonNull<u8>, _: std::alloc::Layout) {}
    /// }
    /// let _ = coframe::frame::SyncResourceHandle::owning(Bump(bumpalo::Bump::new()));
    /// ```
    pub fn owning<A: MemoryResource + Send + Sync + 'static>(alloc: A) -> Self {
        // SAFETY: the root's first count; a thread-safe root (`A: Sync`).
        unsafe { Self::from_repr(new_root(alloc, 0)) }
    }

    /// A handle to a `'static` thread-safe resource (no count, no root).
    ///
    /// ```
    /// use coframe::frame::{SyncResourceHandle, System};
    /// static SYS: System = System;
    /// let h = SyncResourceHandle::from_static(&SYS);
    /// assert!(!h.is_default());
    /// ```
    pub fn from_static<R: MemoryResource + Sync>(resource: &'static R) -> Self {
        let r: &'static dyn MemoryResource = resource;
        // SAFETY: unrooted (no count), `'static` and `Sync`.
        unsafe {
            Self::from_repr(HandleRepr {
                res: NonNull::from(r),
                root: None,
            })
        }
    }
}

impl Handle<Frame> {
    /// Returns a block to the resource, from any thread: off the owner
    /// thread of a local root, the block is queued on the root.
    ///
    /// # Safety
    ///
    /// `ptr` was allocated through this resource with `layout` and not
    /// freed since.
    #[inline]
    pub(crate) unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if let Some(root) = self.repr.root {
            // SAFETY: our count keeps the root alive.
            let header = unsafe { root.as_ref() };
            if header.owner != 0 && header.owner != thread_token() {
                lock(&header.pending).push((ptr.as_ptr() as usize, layout));
                header.has_pending.store(true, Ordering::Release);
                return;
            }
        }
        // SAFETY: thread-safe resource, or we are on the owner thread; the
        // block belongs to it by contract.
        unsafe { self.repr.deallocate_here(ptr, layout) }
    }
}

impl From<Handle<AnyThread>> for Handle<ThisThread> {
    /// Any resource may back a `ThisThread` handle; the count moves.
    #[inline]
    fn from(h: Handle<AnyThread>) -> Self {
        // SAFETY: a thread-safe resource fits any kind.
        unsafe { h.into_kind() }
    }
}

impl<K: Direct> Clone for Handle<K> {
    #[inline]
    fn clone(&self) -> Self {
        // SAFETY: a new count of a resource that already fits `K`.
        unsafe { Self::from_repr(self.repr.acquire()) }
    }
}

impl<K: Kind> Drop for Handle<K> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the handle owns one count (for a `Frame` handle on a
        // foreign thread too: the root's destruction is sound on any thread,
        // `A: Send`, exclusive access at count zero).
        unsafe { self.repr.release() }
    }
}

impl<K: Direct> Default for Handle<K> {
    /// The process-wide [`Recycling`](super::Recycling).
    #[inline]
    fn default() -> Self {
        Self::default_resource()
    }
}

impl<K: Kind> fmt::Debug for Handle<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct(K::NAME);
        d.field("resource", &self.repr.res.as_ptr())
            .field("default", &self.is_default());
        if K::MAY_BE_LOCAL {
            d.field("local", &self.is_local());
        }
        d.finish()
    }
}

impl<K: Direct> MemoryResource for Handle<K> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        Handle::<K>::allocate(self, layout)
    }
    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { Handle::<K>::deallocate(self, ptr, layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::System;

    #[test]
    fn local_root_foreign_free_is_queued_and_given_back() {
        let h = ResourceHandle::owning_local(System);
        let l = Layout::new::<[u8; 48]>();
        let p = h.allocate(l).unwrap();
        let raw = h.clone().into_raw();
        let addr = p.as_ptr() as usize;
        std::thread::spawn(move || {
            // SAFETY: allocated above with `l`.
            unsafe { raw.deallocate(NonNull::new(addr as *mut u8).unwrap(), l) };
            drop(raw);
        })
        .join()
        .unwrap();
        // SAFETY: root alive (we hold `h`).
        let header = unsafe { h.repr.root.unwrap().as_ref() };
        assert!(header.has_pending.load(Ordering::Acquire));
        assert_eq!(lock(&header.pending).len(), 1);
        let q = h.allocate(l).unwrap();
        assert!(lock(&header.pending).is_empty());
        // SAFETY: allocated just above.
        unsafe { h.deallocate(q, l) };
        let raw = h.into_raw();
        assert!(raw.is_local());
        let back = raw.into_sync().unwrap_err();
        assert!(back.is_local());
    }

    #[test]
    fn sync_raw_roundtrip() {
        let h = SyncResourceHandle::owning(System);
        let raw = h.clone().into_raw();
        assert!(!raw.is_local());
        assert!(raw.same_resource(&h));
        let back = raw.into_sync().unwrap();
        assert!(back.same_resource(&h));
        let raw = ResourceHandle::default().into_raw();
        assert!(raw.is_default());
        assert!(raw.into_sync().unwrap().is_default());
    }

    #[test]
    fn conversions_keep_the_count() {
        let h = SyncResourceHandle::owning(System);
        let count = || {
            // SAFETY: root alive (we hold `h`).
            unsafe { h.repr.root.unwrap().as_ref() }
                .count
                .load(Ordering::Relaxed)
        };
        let local: ResourceHandle = h.clone().into();
        assert_eq!(count(), 2);
        let raw = local.into_raw();
        assert_eq!(count(), 2);
        let shared = raw.into_sync().unwrap();
        assert_eq!(count(), 2);
        drop(shared);
        assert_eq!(count(), 1);
    }
}

/// Loom models of the hand-rolled root protocol: count, foreign-free queue,
/// destruction exactly once with every queued block given back. They run in
/// `.ci/run`'s loom step (`RUSTFLAGS="--cfg loom" cargo test --lib --release
/// loom_`). Checked: skipping the drain of queued frees in `destroy_root`
/// makes the first model fail.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::frame::System;
    use crate::loom::sync::atomic::AtomicUsize;
    use crate::loom::sync::Arc;
    use std::sync::atomic::Ordering::SeqCst;

    struct Tracked {
        live: Arc<AtomicUsize>,
        drops: Arc<AtomicUsize>,
    }

    impl MemoryResource for Tracked {
        fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
            let p = System.allocate(layout)?;
            self.live.fetch_add(1, SeqCst);
            Ok(p)
        }
        unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
            self.live.fetch_sub(1, SeqCst);
            // SAFETY: forwarded contract.
            unsafe { System.deallocate(ptr, layout) }
        }
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            assert_eq!(
                self.live.load(SeqCst),
                0,
                "allocator dropped with live frames"
            );
            self.drops.fetch_add(1, SeqCst);
        }
    }

    fn tracked() -> (Tracked, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let live = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let t = Tracked {
            live: live.clone(),
            drops: drops.clone(),
        };
        (t, live, drops)
    }

    #[test]
    fn local_root_foreign_free_races_the_owner() {
        loom::model(|| {
            let (t, live, drops) = tracked();
            let h = ResourceHandle::owning_local(t);
            let l = Layout::new::<u64>();
            let addr = h.allocate(l).unwrap().as_ptr() as usize;
            let raw = h.clone().into_raw();
            let foreign = loom::thread::spawn(move || {
                // SAFETY: allocated above with `l`, freed once.
                unsafe { raw.deallocate(NonNull::new(addr as *mut u8).unwrap(), l) };
                drop(raw);
            });
            let b = h.allocate(l).unwrap();
            // SAFETY: allocated just above.
            unsafe { h.deallocate(b, l) };
            drop(h);
            foreign.join().unwrap();
            assert_eq!(drops.load(SeqCst), 1);
            assert_eq!(live.load(SeqCst), 0);
        });
    }

    #[test]
    fn sync_root_last_counts_dropped_concurrently() {
        loom::model(|| {
            let (t, _live, drops) = tracked();
            let h = SyncResourceHandle::owning(t);
            let l = Layout::new::<u32>();
            let p = h.allocate(l).unwrap().as_ptr() as usize;
            let h2 = h.clone();
            let other = loom::thread::spawn(move || {
                // SAFETY: allocated above with `l`, freed once.
                unsafe { h2.deallocate(NonNull::new(p as *mut u8).unwrap(), l) };
                drop(h2);
            });
            drop(h);
            other.join().unwrap();
            assert_eq!(drops.load(SeqCst), 1);
        });
    }
}
