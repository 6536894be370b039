//! Sanitizer hooks around every stack switch: AddressSanitizer's fiber
//! annotations (feature `asan`) and ThreadSanitizer's fibers (feature
//! `tsan`). One layer, called at every switch of a fiber or coroutine, so
//! the two cannot drift apart.
//!
//! A stack as the sanitizers know it is a [`Bounds`]: its lowest address
//! and size for ASan, its TSan fiber for TSan. The stack's own `Bounds` is
//! made with the stack ([`Bounds::create`]) and ended with it
//! ([`destroy`]); a handle to a suspended context carries that context's
//! `Bounds`, learnt when it switched to us ([`finish`]).
//!
//! The protocol, per switch from A to B:
//!
//! 1. on A, just before: `start(&mut fake_a, bounds of B)`. ASan: a null
//!    save slot when A is finishing for good, so ASan frees A's fake stack.
//!    TSan: notes A's fiber (a thread-local) and switches TSan to B's;
//! 2. on B, first thing after: `finish(fake_b)`, which returns A's bounds
//!    (ASan's record of A's stack, and the noted TSan fiber).
//!
//! "Bounds of B" are those of the stack B's context lives on. For a fiber
//! handle that is what `finish` returned when the context switched to us;
//! a coroutine records it when it suspends ([`current`]), because its
//! context is not always on its own stack: suspended through its yielder
//! from a scoped coroutine nested in its frames, it lives on that one's.
//! (Told the wrong stack, ASan unpoisons the wrong range when a panic
//! unwinds there, and TSan's per-fiber shadow call stacks go out of step.)
//!
//! A stack's TSan fiber is destroyed when the stack is given back, which
//! always happens on another stack (the resumer of a finished coroutine,
//! the next fiber's `fiber_exit`), as TSan requires. ASan: the same moment
//! unpoisons the whole stack (frames that never returned leave redzones).
//!
//! Without the features, `Bounds` is a zero-sized type and every hook is
//! empty and inlines to nothing. Each feature only links when the binary is
//! built with the matching `-Zsanitizer=...`.

use std::ffi::c_void;

/// A stack as the sanitizers know it (see the module docs). Zero-sized
/// without the features, so handles that carry one cost nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// The lowest usable address (ASan).
    #[cfg(feature = "asan")]
    bottom: *const c_void,
    /// The usable size (ASan).
    #[cfg(feature = "asan")]
    size: usize,
    /// The stack's TSan fiber (null: not known).
    #[cfg(feature = "tsan")]
    fiber: *mut c_void,
}

impl Bounds {
    /// A stack the sanitizers are told nothing about.
    pub(crate) const UNKNOWN: Bounds = Bounds {
        #[cfg(feature = "asan")]
        bottom: std::ptr::null(),
        #[cfg(feature = "asan")]
        size: 0,
        #[cfg(feature = "tsan")]
        fiber: std::ptr::null_mut(),
    };

    /// The `Bounds` of a new fiber's or coroutine's `stack` (with `tsan`,
    /// a new TSan fiber); [`destroy`] ends it when the stack goes back.
    #[inline(always)]
    pub(crate) fn create(stack: &super::Stack) -> Bounds {
        let _ = stack;
        Bounds {
            #[cfg(feature = "asan")]
            bottom: stack.limit() as *const c_void,
            #[cfg(feature = "asan")]
            size: stack.size(),
            #[cfg(feature = "tsan")]
            fiber: tsan::create(),
        }
    }
}

/// Ends the `Bounds` made by [`Bounds::create`], when its stack is given
/// back: never while running on that stack. ASan: the frames that never
/// returned (the base's, those abandoned by the last switch) leave their
/// redzones poisoned, and the next fiber or coroutine on the same memory
/// (a pooled or kept stack, or a new mapping at the same address) would
/// trip over them: unpoison the whole stack.
#[inline(always)]
pub(crate) fn destroy(own: Bounds) {
    #[cfg(feature = "asan")]
    asan::unpoison(own.bottom, own.size);
    #[cfg(feature = "tsan")]
    tsan::destroy(own.fiber);
    let _ = own;
}

/// Step 1 of a switch to the stack `to` (module docs). `fake` is null, or
/// ASan's save slot for the stack we leave. `to` is the stack the target
/// context lives on, which is not always the target coroutine's own: a
/// coroutine suspended from a stack nested in its frames is resumed on
/// that one (see [`current`]).
#[inline(always)]
pub(crate) fn start(fake: *mut *mut c_void, to: Bounds) {
    #[cfg(feature = "asan")]
    asan::start(fake, to.bottom, to.size);
    #[cfg(feature = "tsan")]
    tsan::switch_to(to.fiber);
    let _ = (fake, to);
}

/// Step 2 of a switch: on the stack we arrived on, with ASan's save from
/// when it was left (or null); returns the stack we came from.
#[inline(always)]
pub(crate) fn finish(fake: *mut c_void) -> Bounds {
    let _ = fake;
    #[allow(unused_mut)]
    let mut from = Bounds::UNKNOWN;
    #[cfg(feature = "asan")]
    {
        (from.bottom, from.size) = asan::finish(fake);
    }
    #[cfg(feature = "tsan")]
    {
        from.fiber = tsan::came_from();
    }
    from
}

/// The stack we run on, as the last `start` on this thread named it (and,
/// for TSan, as TSan knows it): what a context that suspends now must be
/// resumed with.
#[inline(always)]
pub(crate) fn current() -> Bounds {
    #[allow(unused_mut)]
    let mut here = Bounds::UNKNOWN;
    #[cfg(feature = "asan")]
    {
        (here.bottom, here.size) = asan::current();
    }
    #[cfg(feature = "tsan")]
    {
        here.fiber = tsan::current();
    }
    here
}

/// Whether any sanitizer needs the hooks (the coroutine skips some
/// bookkeeping otherwise).
pub(crate) const ACTIVE: bool = cfg!(any(feature = "asan", feature = "tsan"));

/// Where a suspended resumer's fake-stack save waits for code that runs on
/// its stack before it resumes itself (`Yielder::on_parent_stack`): a cell
/// with the feature, a zero-sized nothing without.
#[cfg(feature = "asan")]
pub(crate) struct FakeSlot(std::cell::Cell<*mut c_void>);

#[cfg(feature = "asan")]
impl FakeSlot {
    #[inline(always)]
    pub(crate) fn empty() -> FakeSlot {
        FakeSlot(std::cell::Cell::new(std::ptr::null_mut()))
    }

    #[inline(always)]
    pub(crate) fn set(&self, fake: *mut c_void) {
        self.0.set(fake)
    }

    #[inline(always)]
    pub(crate) fn get(&self) -> *mut c_void {
        self.0.get()
    }

    /// The save, leaving the slot empty.
    #[inline(always)]
    pub(crate) fn take(&self) -> *mut c_void {
        self.0.replace(std::ptr::null_mut())
    }
}

/// Without the feature: nothing to keep.
#[cfg(not(feature = "asan"))]
pub(crate) struct FakeSlot;

#[cfg(not(feature = "asan"))]
impl FakeSlot {
    #[inline(always)]
    pub(crate) fn empty() -> FakeSlot {
        FakeSlot
    }

    #[inline(always)]
    pub(crate) fn set(&self, _fake: *mut c_void) {}

    #[inline(always)]
    pub(crate) fn get(&self) -> *mut c_void {
        std::ptr::null_mut()
    }

    #[inline(always)]
    pub(crate) fn take(&self) -> *mut c_void {
        std::ptr::null_mut()
    }
}

/// AddressSanitizer's fiber-switch API, and the thread-local that names
/// the stack we run on.
#[cfg(feature = "asan")]
mod asan {
    use std::cell::Cell;
    use std::ffi::c_void;

    extern "C" {
        fn __sanitizer_start_switch_fiber(
            fake_stack_save: *mut *mut c_void,
            bottom: *const c_void,
            size: usize,
        );
        fn __sanitizer_finish_switch_fiber(
            fake_stack_save: *mut c_void,
            bottom_old: *mut *const c_void,
            size_old: *mut usize,
        );
        fn __asan_unpoison_memory_region(addr: *const c_void, size: usize);
    }

    #[inline(always)]
    pub(super) fn unpoison(bottom: *const c_void, size: usize) {
        // SAFETY: ASan's documented API; `[bottom, bottom + size)` is a
        // stack of ours that nothing runs on any more.
        unsafe { __asan_unpoison_memory_region(bottom, size) }
    }

    thread_local! {
        /// The stack the last `start` on this thread switched to.
        static CURRENT: Cell<(*const c_void, usize)> =
            const { Cell::new((std::ptr::null(), 0)) };
    }

    #[inline(always)]
    pub(super) fn start(fake: *mut *mut c_void, bottom: *const c_void, size: usize) {
        note_current(bottom, size);
        // SAFETY: ASan's documented fiber API; `fake` is null or a valid slot.
        unsafe { __sanitizer_start_switch_fiber(fake, bottom, size) }
    }

    /// Kept out of line: sanitizer builds only, never hot.
    #[inline(never)]
    fn note_current(bottom: *const c_void, size: usize) {
        CURRENT.with(|c| c.set((bottom, size)))
    }

    #[inline(never)]
    pub(super) fn current() -> (*const c_void, usize) {
        CURRENT.with(|c| c.get())
    }

    #[inline(always)]
    pub(super) fn finish(fake: *mut c_void) -> (*const c_void, usize) {
        let (mut bottom, mut size) = (std::ptr::null(), 0);
        // SAFETY: ASan's documented fiber API with valid out-pointers.
        unsafe { __sanitizer_finish_switch_fiber(fake, &mut bottom, &mut size) };
        (bottom, size)
    }
}

/// ThreadSanitizer's fiber API, and the thread-local that tells the stack
/// we arrive on which TSan fiber we came from.
#[cfg(feature = "tsan")]
mod tsan {
    use std::cell::Cell;
    use std::ffi::c_void;

    extern "C" {
        fn __tsan_get_current_fiber() -> *mut c_void;
        fn __tsan_create_fiber(flags: u32) -> *mut c_void;
        fn __tsan_destroy_fiber(fiber: *mut c_void);
        fn __tsan_switch_to_fiber(fiber: *mut c_void, flags: u32);
    }

    thread_local! {
        static CAME_FROM: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
    }

    pub(super) fn create() -> *mut c_void {
        // SAFETY: TSan's documented fiber API; no flags.
        unsafe { __tsan_create_fiber(0) }
    }

    pub(super) fn destroy(fiber: *mut c_void) {
        if !fiber.is_null() {
            // SAFETY: a fiber from `create`, destroyed once (with its
            // stack), never the current one (the stack is left already).
            unsafe { __tsan_destroy_fiber(fiber) }
        }
    }

    /// Notes the current fiber for the other side and makes `to` current;
    /// called right before the stack switch. Always inlined: TSan keeps a
    /// shadow call stack per fiber, so no instrumented function may return
    /// between the switch of fibers and the switch of stacks (it would pop
    /// the new fiber's stack); the function that switches stacks returns
    /// only when switched back, on its own fiber again.
    #[inline(always)]
    pub(super) fn switch_to(to: *mut c_void) {
        // SAFETY: TSan's documented fiber API.
        note_came_from(unsafe { __tsan_get_current_fiber() });
        if !to.is_null() {
            // SAFETY: TSan's documented fiber API; `to` is a live fiber
            // (the target's, from `create` or `came_from`). Flags 0: the
            // switch orders everything before it before everything after.
            unsafe { __tsan_switch_to_fiber(to, 0) }
        }
    }

    /// Kept out of line: sanitizer builds only, never hot.
    #[inline(never)]
    fn note_came_from(fiber: *mut c_void) {
        CAME_FROM.with(|c| c.set(fiber))
    }

    /// The fiber we run on.
    #[inline(always)]
    pub(super) fn current() -> *mut c_void {
        // SAFETY: TSan's documented fiber API.
        unsafe { __tsan_get_current_fiber() }
    }

    /// The fiber noted by the `switch_to` that brought us here.
    #[inline(never)]
    pub(super) fn came_from() -> *mut c_void {
        CAME_FROM.with(|c| c.get())
    }
}
