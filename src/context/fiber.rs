//! [`Fiber`]: Boost.Context's one-shot, move-only fiber in safe Rust.
//!
//! A `Fiber` is a handle to a suspended context. `resume` consumes it and
//! returns the handle of whichever context suspended to get back here; a
//! fiber's function receives its caller and returns the fiber to continue
//! with. Terminated fibers are empty handles
//! ([`Fiber::is_terminated`]).
//!
//! # Control block and termination
//!
//! As in Boost's `fiber_fcontext`, the record (allocator, closure, the
//! stack's description) sits at the top of the fiber's own stack. When the
//! function returns, the base switches to the fiber it returned *with an
//! ontop function* that releases the finished stack while already running on
//! the next one, and hands over an empty handle.
//!
//! # Unwinding and panics
//!
//! Dropping a suspended fiber switches into it with an ontop function that
//! makes its pending `resume` raise a private payload; the unwinding runs
//! every destructor on its stack, is caught at its base, and the base
//! switches back to the dropper. A never-started fiber drops its closure
//! without switching.
//!
//! A panic that escapes the fiber's function is caught at its base and
//! re-raised in the context that resumed the fiber last. To reach it, every
//! fiber records who resumed it (a thread-local names the running fiber's
//! record; its accessors are `#[inline(never)]`), and the handle to that
//! context, dropped by the unwinding frames that held it, is kept rather
//! than unwound. If the panicking fiber had already given that handle away
//! there is no one to deliver to, and the process aborts with a message —
//! Boost calls `std::terminate` in every such case.
//!
//! A handle for a thread's own stack (the `caller` a fiber receives from
//! `main`) cannot be unwound: dropping it while it is suspended panics in
//! that thread with a message, leaving the dropping fiber suspended.

use super::asan::{self, Bounds};
use super::control;
use super::coroutine::Payload;
use super::raw::{self, Ctx, Switch, Transfer};
use super::stack::{ProtectedStack, Stack, StackAllocator, StackError};
use std::cell::Cell;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};

/// Data word asking the resumed fiber to unwind.
const IN_UNWIND: usize = 1;
/// Data words at or above this are boxed panic payloads to re-raise.
const MIN_PTR: usize = 4096;

/// The payload that unwinds a fiber being dropped; carries the dropper.
struct FiberUnwind(*mut c_void);
// SAFETY: the pointer is an opaque context handle, only used on the thread
// that raised the payload.
unsafe impl Send for FiberUnwind {}

/// The fiber's control block, at the top of its stack.
#[repr(C)]
struct Header {
    switch: Switch,
    /// The context that switched into this fiber last.
    last_resumer: Cell<*mut c_void>,
    /// Set while a forced unwind runs: handles dropped then are unwound.
    forced: Cell<bool>,
    /// The handle kept (not unwound) for delivering an escaping panic.
    panic_target: Cell<*mut c_void>,
    panic_target_bounds: Cell<Bounds>,
    /// A panic from `resume_with` on an unstarted fiber.
    pending_panic: Cell<Option<Payload>>,
    /// What the exit function hands the next context (null or a payload).
    outgoing: Cell<*mut c_void>,
    stack: ManuallyDrop<Stack>,
    own_bounds: Bounds,
    extra: *mut u8,
    release: unsafe fn(*mut u8, Stack),
    drop_f: unsafe fn(*mut u8),
}

thread_local! {
    static CURRENT: Cell<*const Header> = const { Cell::new(ptr::null()) };
}

/// The record of the fiber running on this thread (null on a thread's own
/// stack or inside a coroutine). Never inlined: see invariant 7.
#[inline(never)]
fn current() -> *const Header {
    CURRENT.with(|c| c.get())
}

#[inline(never)]
fn set_current(h: *const Header) {
    CURRENT.with(|c| c.set(h))
}

/// A one-shot handle to a suspended context.
///
/// ```
/// use coframe::context::Fiber;
/// // Ping-pong: the fiber doubles what it finds in a shared cell.
/// use std::{cell::Cell, rc::Rc};
/// let v = Rc::new(Cell::new(1));
/// let v2 = v.clone();
/// let mut f = Fiber::new(move |mut caller| {
///     for _ in 0..3 {
///         v2.set(v2.get() * 2);
///         caller = caller.resume();
///     }
///     caller
/// });
/// for _ in 0..3 {
///     f = f.resume();
/// }
/// assert_eq!(v.get(), 8);
/// assert!(f.resume().is_terminated());
/// ```
///
/// Not `Send`: a fiber runs where it is resumed.
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(coframe::context::Fiber::new(|c| c));
/// ```
///
/// (Without the bound the same code compiles.)
///
/// ```
/// fn assert_sized<T>(_: T) {}
/// assert_sized(coframe::context::Fiber::new(|c| c));
/// ```
pub struct Fiber {
    ctx: Option<Ctx>,
    /// The record of a fiber that has not started yet.
    fresh: *mut Header,
    switch: Switch,
    bounds: Bounds,
    _not_send: PhantomData<*mut ()>,
}

impl std::fmt::Debug for Fiber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fiber")
            .field("terminated", &self.ctx.is_none())
            .field("started", &self.fresh.is_null())
            .finish()
    }
}

impl Fiber {
    /// A fiber on a default [`ProtectedStack`], not started yet.
    ///
    /// Panics if the stack cannot be mapped.
    pub fn new<F>(f: F) -> Fiber
    where
        F: FnOnce(Fiber) -> Fiber + 'static,
    {
        Self::with_stack(ProtectedStack::default(), f)
    }

    /// A fiber on a stack from `alloc`. Panics with the [`StackError`] if no
    /// stack can be had; see [`Fiber::try_with`].
    pub fn with_stack<S, F>(alloc: S, f: F) -> Fiber
    where
        S: StackAllocator + 'static,
        F: FnOnce(Fiber) -> Fiber + 'static,
    {
        match Self::try_with(alloc, Switch::Full, f) {
            Ok(fiber) => fiber,
            Err(e) => panic!("coframe: cannot create a fiber: {e}"),
        }
    }

    /// A fiber on a stack from `alloc` that switches with `switch`.
    ///
    /// ```
    /// use coframe::context::{Fiber, FixedSizeStack, Switch};
    /// let f = Fiber::try_with(FixedSizeStack::default(), Switch::Lean, |c| c).unwrap();
    /// assert!(f.resume().is_terminated());
    /// ```
    pub fn try_with<S, F>(alloc: S, switch: Switch, f: F) -> Result<Fiber, StackError>
    where
        S: StackAllocator + 'static,
        F: FnOnce(Fiber) -> Fiber + 'static,
    {
        let (stack, at) = control::place::<Header, F, S>(&alloc)?;
        let (rec, extra) = (at.rec, at.extra);
        let own_bounds = Bounds::of(&stack);
        // SAFETY: aligned, disjoint, inside a stack we own.
        unsafe {
            extra.write(control::Extra {
                f: ManuallyDrop::new(f),
                alloc: ManuallyDrop::new(alloc),
            });
            rec.write(Header {
                switch,
                last_resumer: Cell::new(ptr::null_mut()),
                forced: Cell::new(false),
                panic_target: Cell::new(ptr::null_mut()),
                panic_target_bounds: Cell::new(Bounds::UNKNOWN),
                pending_panic: Cell::new(None),
                outgoing: Cell::new(ptr::null_mut()),
                stack: ManuallyDrop::new(stack),
                own_bounds,
                extra: extra.cast(),
                release: control::release::<F, S>,
                drop_f: control::drop_f::<F, S>,
            });
        }
        // SAFETY: `at.sp` lies inside the stack (non-null); the `at.frames`
        // bytes below it are ours; `entry` never returns.
        let ctx = unsafe { raw::make(NonNull::new_unchecked(at.sp), at.frames, entry::<F, S>) };
        Ok(Fiber {
            ctx: Some(ctx),
            fresh: rec,
            switch,
            bounds: own_bounds,
            _not_send: PhantomData,
        })
    }

    /// Whether this handle is empty: the context it came from terminated.
    pub fn is_terminated(&self) -> bool {
        self.ctx.is_none()
    }

    /// Suspends the current context and resumes this fiber; returns the
    /// handle of the context that switches back here.
    ///
    /// Re-raises a panic delivered by a fiber that panicked. Panics if this
    /// handle is terminated.
    pub fn resume(mut self) -> Fiber {
        let ctx = self.take_ctx();
        let data: *mut c_void = std::mem::replace(&mut self.fresh, ptr::null_mut()).cast();
        let me = current();
        let mut fake = ptr::null_mut();
        asan::start(&mut fake, self.bounds);
        // SAFETY: `ctx` is a suspended context this handle owns (one-shot).
        let t = unsafe { self.switch.jump(ctx, data) };
        let from = asan::finish(fake);
        set_current(me);
        // SAFETY: `t` is the transfer that just brought us back here.
        unsafe { arrived(me, t, self.switch, from) }
    }

    /// Resumes this fiber and runs `g` on top of it first (Boost's
    /// `resume_with`): `g` receives the handle of the context that just
    /// suspended, and the fiber it returns is what the resumed fiber's
    /// pending `resume` returns. A panic in `g` is raised inside the resumed
    /// fiber, at that `resume`.
    ///
    /// ```
    /// use coframe::context::Fiber;
    /// use std::{cell::Cell, rc::Rc};
    /// let log = Rc::new(Cell::new(0));
    /// let l = log.clone();
    /// let f = Fiber::new(move |caller| {
    ///     let caller = caller.resume();
    ///     l.set(l.get() + 10); // runs after `g`
    ///     caller
    /// });
    /// let f = f.resume();
    /// let l = log.clone();
    /// let f = f.resume_with(move |caller| {
    ///     l.set(1);
    ///     caller
    /// });
    /// assert!(f.is_terminated());
    /// assert_eq!(log.get(), 11);
    /// ```
    pub fn resume_with<G>(mut self, g: G) -> Fiber
    where
        G: FnOnce(Fiber) -> Fiber,
    {
        let ctx = self.take_ctx();
        let fresh = std::mem::replace(&mut self.fresh, ptr::null_mut());
        let mut msg = OntopMsg {
            g: ManuallyDrop::new(g),
            fresh,
            switch: self.switch,
        };
        let me = current();
        let mut fake = ptr::null_mut();
        asan::start(&mut fake, self.bounds);
        // SAFETY: as in `resume`; `msg` lives on this suspended stack until
        // the ontop function has consumed it.
        let t = unsafe {
            self.switch
                .ontop(ctx, ptr::addr_of_mut!(msg).cast(), fiber_ontop::<G>)
        };
        let from = asan::finish(fake);
        set_current(me);
        // SAFETY: `t` is the transfer that just brought us back here.
        unsafe { arrived(me, t, self.switch, from) }
    }

    fn take_ctx(&mut self) -> Ctx {
        match self.ctx.take() {
            Some(ctx) => ctx,
            None => panic!("coframe: resumed a terminated fiber"),
        }
    }
}

/// Interprets an arrival on the context whose record is `me`.
///
/// # Safety
///
/// `t` is the transfer a switch into this context just returned.
unsafe fn arrived(me: *const Header, t: Transfer, switch: Switch, from: Bounds) -> Fiber {
    let data = t.data as usize;
    if t.ctx.is_null() {
        // The fiber we switched to terminated, maybe with a panic for us.
        if data >= MIN_PTR {
            // SAFETY: a boxed payload made by the terminating base.
            let p = unsafe { Box::from_raw(t.data as *mut Payload) };
            panic::resume_unwind(*p);
        }
        return Fiber {
            ctx: None,
            fresh: ptr::null_mut(),
            switch,
            bounds: Bounds::UNKNOWN,
            _not_send: PhantomData,
        };
    }
    if !me.is_null() {
        // SAFETY: `me` is the running fiber's record (on our own stack).
        unsafe { (*me).last_resumer.set(t.ctx) };
    }
    if data != 0 {
        // SAFETY: forwarded contract.
        unsafe { inbound(me, t) };
    }
    Fiber {
        // SAFETY: checked non-null above.
        ctx: Some(unsafe { NonNull::new_unchecked(t.ctx) }),
        fresh: ptr::null_mut(),
        switch,
        bounds: from,
        _not_send: PhantomData,
    }
}

#[cold]
#[inline(never)]
unsafe fn inbound(me: *const Header, t: Transfer) -> ! {
    if t.data as usize == IN_UNWIND {
        if me.is_null() {
            panic!(
                "coframe: a Fiber handle for a thread's own stack was dropped while \
                 suspended; a thread's stack cannot be unwound from another fiber"
            );
        }
        // SAFETY: `me` is the running fiber's record.
        unsafe { (*me).forced.set(true) };
        panic::resume_unwind(Box::new(FiberUnwind(t.ctx)));
    }
    // SAFETY: a boxed payload made by `fiber_ontop`.
    let p = unsafe { Box::from_raw(t.data as *mut Payload) };
    panic::resume_unwind(*p)
}

impl Drop for Fiber {
    fn drop(&mut self) {
        let Some(ctx) = self.ctx.take() else {
            return;
        };
        if !self.fresh.is_null() {
            let rec = self.fresh;
            // SAFETY: never started: the closure is in `Extra`, nothing ran.
            unsafe {
                ((*rec).drop_f)((*rec).extra);
                release_stack(rec);
            }
            return;
        }
        let me = current();
        if std::thread::panicking() && !me.is_null() {
            // SAFETY: `me` is the running fiber's record.
            let h = unsafe { &*me };
            if !h.forced.get()
                && h.last_resumer.get() == ctx.as_ptr()
                && h.panic_target.get().is_null()
            {
                // Keep the way back for the panic this fiber is unwinding.
                h.panic_target.set(ctx.as_ptr());
                h.panic_target_bounds.set(self.bounds);
                return;
            }
        }
        let mut fake = ptr::null_mut();
        asan::start(&mut fake, self.bounds);
        // SAFETY: a suspended context this handle owns.
        let t = unsafe { self.switch.ontop(ctx, ptr::null_mut(), unwind_ontop) };
        asan::finish(fake);
        set_current(me);
        debug_assert!(t.ctx.is_null());
        if t.data as usize >= MIN_PTR {
            // SAFETY: a boxed payload from the unwound fiber's base.
            let p = unsafe { Box::from_raw(t.data as *mut Payload) };
            if std::thread::panicking() {
                eprintln!("coframe: a destructor panicked while a fiber was unwound during another panic; aborting");
                std::process::abort();
            }
            panic::resume_unwind(*p);
        }
    }
}

struct OntopMsg<G> {
    g: ManuallyDrop<G>,
    fresh: *mut Header,
    switch: Switch,
}

unsafe extern "C-unwind" fn fiber_ontop<G: FnOnce(Fiber) -> Fiber>(t: Transfer) -> Transfer {
    // SAFETY: `data` is the `OntopMsg` on the resumer's suspended stack.
    let msg = unsafe { &mut *(t.data as *mut OntopMsg<G>) };
    // SAFETY: taken exactly once.
    let g = unsafe { ManuallyDrop::take(&mut msg.g) };
    let caller = Fiber {
        // SAFETY: the resumer just suspended: non-null.
        ctx: Some(unsafe { NonNull::new_unchecked(t.ctx) }),
        fresh: ptr::null_mut(),
        switch: msg.switch,
        bounds: Bounds::UNKNOWN,
        _not_send: PhantomData,
    };
    let fresh = msg.fresh;
    match panic::catch_unwind(AssertUnwindSafe(move || g(caller))) {
        // A terminated `next` arrives as a null context: the pending
        // `resume` (or the unstarted fiber's function) gets an empty handle.
        Ok(mut next) => Transfer {
            ctx: next.ctx.take().map_or(ptr::null_mut(), |c| c.as_ptr()),
            data: fresh.cast(),
        },
        Err(p) if !fresh.is_null() => {
            // SAFETY: the unstarted fiber's record; its base re-raises.
            unsafe { (*fresh).pending_panic.set(Some(p)) };
            Transfer {
                ctx: t.ctx,
                data: fresh.cast(),
            }
        }
        Err(p) => Transfer {
            ctx: t.ctx,
            data: Box::into_raw(Box::new(p)).cast(),
        },
    }
}

unsafe extern "C-unwind" fn unwind_ontop(t: Transfer) -> Transfer {
    Transfer {
        ctx: t.ctx,
        data: IN_UNWIND as *mut c_void,
    }
}

unsafe extern "C-unwind" fn entry<F, S>(t: Transfer) -> !
where
    F: FnOnce(Fiber) -> Fiber,
{
    let rec = t.data as *mut Header;
    set_current(rec);
    let from = asan::finish(ptr::null_mut());
    // SAFETY: the first activation carries the record; the closure is in
    // `Extra` until taken here.
    let (next, next_bounds, out) = unsafe {
        let h = &*rec;
        h.last_resumer.set(t.ctx);
        let f = ManuallyDrop::take(&mut (*(h.extra as *mut control::Extra<F, S>)).f);
        let caller = Fiber {
            ctx: NonNull::new(t.ctx),
            fresh: ptr::null_mut(),
            switch: h.switch,
            bounds: from,
            _not_send: PhantomData,
        };
        let pending = h.pending_panic.take();
        let result = panic::catch_unwind(AssertUnwindSafe(move || {
            if let Some(p) = pending {
                drop(caller);
                panic::resume_unwind(p);
            }
            f(caller)
        }));
        match result {
            Ok(mut next) => match next.ctx.take() {
                Some(c) => (c.as_ptr(), next.bounds, ptr::null_mut()),
                None => {
                    eprintln!("coframe: a fiber's function returned a terminated fiber: there is nothing to continue with");
                    std::process::abort();
                }
            },
            Err(p) => match p.downcast::<FiberUnwind>() {
                Ok(u) => (u.0, Bounds::UNKNOWN, ptr::null_mut()),
                Err(p) => {
                    let target = h.panic_target.replace(ptr::null_mut());
                    if target.is_null() {
                        let msg = p
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        eprintln!(
                            "coframe: a panic escaped a fiber ({msg}) and the handle of the context that \
                             resumed it last had been given away: there is no one to deliver it to; aborting"
                        );
                        std::process::abort();
                    }
                    (
                        target,
                        h.panic_target_bounds.get(),
                        Box::into_raw(Box::new(p)).cast::<c_void>(),
                    )
                }
            },
        }
    };
    // SAFETY: the record stays valid until `fiber_exit` releases the stack,
    // which runs on top of `next`, after we left this stack for good.
    unsafe {
        (*rec).outgoing.set(out);
        asan::start(ptr::null_mut(), next_bounds);
        let next = NonNull::new_unchecked(next);
        (*rec).switch.ontop(next, rec.cast(), fiber_exit);
    }
    std::process::abort()
}

/// Runs on the next context: releases the finished fiber's stack.
unsafe extern "C-unwind" fn fiber_exit(t: Transfer) -> Transfer {
    let rec = t.data as *mut Header;
    // SAFETY: the finished fiber never runs again; its record is read out
    // before its stack is released.
    unsafe {
        let out = (*rec).outgoing.get();
        release_stack(rec);
        Transfer {
            ctx: ptr::null_mut(),
            data: out,
        }
    }
}

/// # Safety
///
/// Nothing runs on the fiber's stack any more.
unsafe fn release_stack(rec: *mut Header) {
    // SAFETY: per the contract; fields are read before the memory goes.
    unsafe {
        drop((*rec).pending_panic.take());
        let stack = ManuallyDrop::take(&mut (*rec).stack);
        ((*rec).release)((*rec).extra, stack);
    }
}
