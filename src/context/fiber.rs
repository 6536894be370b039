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
//! # `resume_with`
//!
//! Boost runs the function given to `resume_with` in an ontop function,
//! inside the switch. coframe hands it over as data instead (a type-erased
//! [`OntopMsg`] on the resumer's suspended stack) and the resumed context
//! runs it first thing after it arrived, in its pending `resume` (or at the
//! start of an unstarted fiber): on the same stack, before the same code,
//! but after the switch is complete. So the function may switch itself
//! (resume the fiber it was handed, drop and so unwind another one) with
//! every per-switch record (the running fiber, AddressSanitizer's stack)
//! already up to date, and its panic simply unwinds from that `resume`.
//!
//! # Unwinding and panics
//!
//! Dropping a suspended fiber resumes it with a data word that makes its
//! pending `resume` raise [`ForcedUnwind`]; the unwinding runs every
//! destructor on its stack, is caught at its base, and the base switches
//! back to the dropper. A never-started fiber drops its closure without
//! switching.
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

use super::control;
use super::coroutine::Payload;
use super::raw::{self, Ctx, Switch, Transfer};
use super::sanitizer::{self, Bounds};
use super::stack::{ProtectedStack, Stack, StackAllocator, StackError};
use super::unwind::{ForcedUnwind, Target};
use std::cell::Cell;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};

/// Data word asking the resumed fiber to unwind.
const IN_UNWIND: usize = 1;
/// Data words at or above this are pointers: into a suspended context, an
/// [`OntopMsg`] to run; with a null context (the fiber switched to
/// terminated), a boxed panic payload to re-raise.
const MIN_PTR: usize = 4096;

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
    /// The `resume_with` message for a fiber that has not started (null:
    /// none); its base runs it before the fiber's function.
    ontop: Cell<*mut c_void>,
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
/// stack or inside a coroutine). Inlined: a fiber is not `Send`, so no
/// stack resumes on another thread and the thread-local's address holds
/// across a switch (rule 7).
#[inline(always)]
fn current() -> *const Header {
    CURRENT.with(|c| c.get())
}

#[inline(always)]
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
    /// The record of a fiber that has not started yet (null once it has),
    /// with the handle's [`Switch`] in bit 0 (set: `Lean`; records are
    /// word-aligned). Two words of the same width in all: a handle moved
    /// through memory (an `Option<Fiber>` kept between resumes) is stored
    /// and loaded whole, where a byte-wide field made the copies' wide loads
    /// wait for narrower stores (a store-forwarding stall per resume).
    word: usize,
    bounds: Bounds,
    _not_send: PhantomData<*mut ()>,
}

/// Bit 0 of [`Fiber::word`]: the handle switches with `Switch::Lean`.
const LEAN: usize = 1;

impl Fiber {
    #[inline(always)]
    fn from_parts(ctx: Option<Ctx>, fresh: *mut Header, switch: Switch, bounds: Bounds) -> Fiber {
        Fiber {
            ctx,
            word: fresh as usize | if switch == Switch::Lean { LEAN } else { 0 },
            bounds,
            _not_send: PhantomData,
        }
    }

    #[inline(always)]
    fn switch(&self) -> Switch {
        if self.word & LEAN != 0 {
            Switch::Lean
        } else {
            Switch::Full
        }
    }

    #[inline(always)]
    fn fresh(&self) -> *mut Header {
        (self.word & !LEAN) as *mut Header
    }

    /// The record of a fiber that has not started, which it no longer is
    /// once this is called (null if it had started).
    #[inline(always)]
    fn take_fresh(&mut self) -> *mut Header {
        let fresh = self.fresh();
        self.word &= LEAN;
        fresh
    }
}

impl std::fmt::Debug for Fiber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fiber")
            .field("terminated", &self.ctx.is_none())
            .field("started", &self.fresh().is_null())
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
        let own_bounds = Bounds::create(&stack);
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
                ontop: Cell::new(ptr::null_mut()),
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
        Ok(Fiber::from_parts(Some(ctx), rec, switch, own_bounds))
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
    // Always inlined: a round trip is two of these around the switch; the
    // rare arrivals (a request, a termination) are out of line.
    #[inline(always)]
    pub fn resume(mut self) -> Fiber {
        let ctx = self.take_ctx();
        let data: *mut c_void = self.take_fresh().cast();
        // SAFETY: `ctx` is a suspended context this handle owns; a fresh
        // fiber gets its record, a started one a plain resume.
        unsafe { self.switch_to(ctx, data) }
    }

    /// Suspends the current context into `ctx` with `data`; interprets the
    /// switch that comes back.
    ///
    /// # Safety
    ///
    /// `ctx` is this handle's suspended context (taken out of it), and
    /// `data` is what that context expects: its record if it never ran,
    /// else null or an [`OntopMsg`] that stays alive until it ran.
    #[inline(always)]
    unsafe fn switch_to(&self, ctx: Ctx, data: *mut c_void) -> Fiber {
        let me = current();
        let mut fake = ptr::null_mut();
        sanitizer::start(&mut fake, self.bounds);
        // SAFETY: forwarded contract (contexts are one-shot).
        let t = unsafe { self.switch().jump(ctx, data) };
        let from = sanitizer::finish(fake);
        set_current(me);
        // SAFETY: `t` is the transfer that just brought us back here.
        unsafe { arrived(me, t, self.switch(), from) }
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
    ///
    /// `g` is `'static`: it may resume the context it is handed, which then
    /// returns from this call while `g` is still suspended on the other
    /// stack, so `g` must not borrow from this frame.
    ///
    /// ```compile_fail
    /// use coframe::context::Fiber;
    /// let f = Fiber::new(|c| c.resume()).resume();
    /// let local = String::from("mine");
    /// let r = &local;
    /// f.resume_with(move |c| {
    ///     assert_eq!(r, "mine");
    ///     c
    /// });
    /// ```
    ///
    /// (Moving an owned value in instead compiles.)
    ///
    /// ```
    /// use coframe::context::Fiber;
    /// let f = Fiber::new(|c| c.resume()).resume();
    /// let local = String::from("mine");
    /// let r = local.clone();
    /// f.resume_with(move |c| {
    ///     assert_eq!(r, "mine");
    ///     c
    /// });
    /// ```
    pub fn resume_with<G>(mut self, g: G) -> Fiber
    where
        G: FnOnce(Fiber) -> Fiber + 'static,
    {
        let ctx = self.take_ctx();
        let fresh = self.take_fresh();
        let mut msg = OntopMsg {
            run: run_ontop::<G>,
            g: ManuallyDrop::new(g),
        };
        let msg_ptr: *mut c_void = ptr::addr_of_mut!(msg).cast();
        let data = if fresh.is_null() {
            msg_ptr
        } else {
            // SAFETY: the record of a fiber that has not run: its base
            // takes the message before anything else.
            unsafe { (*fresh).ontop.set(msg_ptr) };
            fresh.cast()
        };
        // SAFETY: as in `resume`; `msg` stays on this suspended stack until
        // the resumed context ran it, which it does on arrival, before
        // anything can resume us.
        unsafe { self.switch_to(ctx, data) }
    }

    /// Unwinds the fiber now, as dropping it would, and leaves this handle
    /// terminated: every destructor on the fiber's stack runs, and its base
    /// switches back here. A panic from one of those destructors is raised
    /// here. On a terminated handle it does nothing; on a fiber that never
    /// ran it drops the function.
    ///
    /// ```
    /// use coframe::context::Fiber;
    /// use std::{cell::Cell, rc::Rc};
    /// struct Flag(Rc<Cell<bool>>);
    /// impl Drop for Flag {
    ///     fn drop(&mut self) { self.0.set(true) }
    /// }
    /// let dropped = Rc::new(Cell::new(false));
    /// let flag = Flag(dropped.clone());
    /// let mut f = Fiber::new(move |caller| {
    ///     let _flag = flag;
    ///     caller.resume() // never returns: the fiber is unwound here
    /// })
    /// .resume();
    /// f.force_unwind();
    /// assert!(dropped.get());
    /// assert!(f.is_terminated());
    /// ```
    pub fn force_unwind(&mut self) {
        let switch = self.switch();
        drop(std::mem::replace(self, Fiber::terminated(switch)));
    }

    /// An empty handle.
    fn terminated(switch: Switch) -> Fiber {
        Fiber::from_parts(None, ptr::null_mut(), switch, Bounds::UNKNOWN)
    }

    #[inline(always)]
    fn take_ctx(&mut self) -> Ctx {
        match self.ctx.take() {
            Some(ctx) => ctx,
            None => resumed_terminated(),
        }
    }
}

#[cold]
#[inline(never)]
fn resumed_terminated() -> ! {
    panic!("coframe: resumed a terminated fiber")
}

/// Interprets an arrival on the context whose record is `me`.
///
/// # Safety
///
/// `t` is the transfer a switch into this context just returned.
#[inline(always)]
unsafe fn arrived(me: *const Header, t: Transfer, switch: Switch, from: Bounds) -> Fiber {
    let data = t.data as usize;
    if t.ctx.is_null() {
        // SAFETY: forwarded contract.
        return unsafe { terminated_arrival(t, switch) };
    }
    if !me.is_null() {
        // SAFETY: `me` is the running fiber's record (on our own stack).
        unsafe { (*me).last_resumer.set(t.ctx) };
    }
    if data != 0 {
        // SAFETY: forwarded contract.
        return unsafe { inbound(me, t, switch, from) };
    }
    Fiber::from_parts(
        // SAFETY: checked non-null above.
        Some(unsafe { NonNull::new_unchecked(t.ctx) }),
        ptr::null_mut(),
        switch,
        from,
    )
}

/// The fiber we switched to terminated, maybe with a panic for us.
///
/// # Safety
///
/// `t` is the transfer of that termination (a null context).
#[cold]
#[inline(never)]
unsafe fn terminated_arrival(t: Transfer, switch: Switch) -> Fiber {
    if t.data as usize >= MIN_PTR {
        // SAFETY: a boxed payload made by the terminating base.
        let p = unsafe { Box::from_raw(t.data as *mut Payload) };
        panic::resume_unwind(*p);
    }
    Fiber::terminated(switch)
}

/// An arrival with a request: unwind, or run a `resume_with` function.
///
/// # Safety
///
/// As for [`arrived`], with a non-null context and a non-zero data word.
#[cold]
#[inline(never)]
unsafe fn inbound(me: *const Header, t: Transfer, switch: Switch, from: Bounds) -> Fiber {
    if t.data as usize == IN_UNWIND {
        if me.is_null() {
            panic!(
                "coframe: a Fiber handle for a thread's own stack was dropped while \
                 suspended; a thread's stack cannot be unwound from another fiber"
            );
        }
        // SAFETY: `me` is the running fiber's record.
        unsafe { (*me).forced.set(true) };
        panic::resume_unwind(Box::new(ForcedUnwind::new(Target::Fiber(t.ctx, from))));
    }
    let caller = Fiber::from_parts(
        // SAFETY: non-null per the contract.
        Some(unsafe { NonNull::new_unchecked(t.ctx) }),
        ptr::null_mut(),
        switch,
        from,
    );
    // SAFETY: a data word of MIN_PTR or more into a suspended context is an
    // `OntopMsg`, alive on the resumer's suspended stack.
    unsafe { run_msg(t.data, caller) }
}

impl Drop for Fiber {
    /// A handle that was resumed (or is terminated) owns nothing: that test
    /// is inlined; dropping a live fiber is out of line.
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            self.drop_live(ctx);
        }
    }
}

impl Fiber {
    #[cold]
    #[inline(never)]
    fn drop_live(&mut self, ctx: Ctx) {
        if !self.fresh().is_null() {
            let rec = self.fresh();
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
        sanitizer::start(&mut fake, self.bounds);
        // SAFETY: a suspended context this handle owns; its pending
        // `resume` raises `ForcedUnwind` on this data word.
        let t = unsafe { self.switch().jump(ctx, IN_UNWIND as *mut c_void) };
        sanitizer::finish(fake);
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

/// What `resume_with` hands the resumed context: the function, and how to
/// run it without knowing its type (`run` first: read through a pointer to
/// the whole message).
#[repr(C)]
struct OntopMsg<G> {
    run: unsafe fn(*mut c_void, Fiber) -> Fiber,
    g: ManuallyDrop<G>,
}

unsafe fn run_ontop<G: FnOnce(Fiber) -> Fiber>(msg: *mut c_void, caller: Fiber) -> Fiber {
    // SAFETY: an `OntopMsg<G>` whose function is taken exactly once, here.
    let g = unsafe { ManuallyDrop::take(&mut (*msg.cast::<OntopMsg<G>>()).g) };
    g(caller)
}

/// Runs the `resume_with` function of the message at `msg` with `caller`.
///
/// # Safety
///
/// `msg` is an `OntopMsg` that was not run yet, alive on its sender's
/// suspended stack.
unsafe fn run_msg(msg: *mut c_void, caller: Fiber) -> Fiber {
    // SAFETY: `run` is the first field of the `repr(C)` message.
    unsafe {
        let run = *msg.cast::<unsafe fn(*mut c_void, Fiber) -> Fiber>();
        run(msg, caller)
    }
}

unsafe extern "C-unwind" fn entry<F, S>(t: Transfer) -> !
where
    F: FnOnce(Fiber) -> Fiber,
{
    let rec = t.data as *mut Header;
    set_current(rec);
    let from = sanitizer::finish(ptr::null_mut());
    // SAFETY: the first activation carries the record; the closure is in
    // `Extra` until taken here.
    let (next, next_bounds, out) = unsafe {
        let h = &*rec;
        h.last_resumer.set(t.ctx);
        let f = ManuallyDrop::take(&mut (*(h.extra as *mut control::Extra<F, S>)).f);
        let caller = Fiber::from_parts(NonNull::new(t.ctx), ptr::null_mut(), h.switch, from);
        let ontop = h.ontop.replace(ptr::null_mut());
        let result = panic::catch_unwind(AssertUnwindSafe(move || {
            // A `resume_with` on the unstarted fiber: its function first.
            let caller = if ontop.is_null() {
                caller
            } else {
                run_msg(ontop, caller)
            };
            f(caller)
        }));
        if h.forced.get() && result.is_ok() {
            eprintln!(
                "coframe: a fiber caught its ForcedUnwind and returned: the fiber that \
                 dropped it can never continue; aborting"
            );
            std::process::abort();
        }
        match result {
            Ok(mut next) => match next.ctx.take() {
                Some(c) => (c.as_ptr(), next.bounds, ptr::null_mut()),
                None => {
                    eprintln!("coframe: a fiber's function returned a terminated fiber: there is nothing to continue with");
                    std::process::abort();
                }
            },
            Err(p) => match fiber_unwind(&p) {
                Some((dropper, bounds)) => (dropper, bounds, ptr::null_mut()),
                // Any other panic, a coroutine's ForcedUnwind included (a
                // coroutine suspended from this stack and unwound): to the
                // resumer, where it goes on.
                None => {
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
        sanitizer::start(ptr::null_mut(), next_bounds);
        let next = NonNull::new_unchecked(next);
        (*rec).switch.ontop(next, rec.cast(), fiber_exit);
    }
    std::process::abort()
}

/// The dropper and its stack, if `p` is a fiber's [`ForcedUnwind`].
fn fiber_unwind(p: &Payload) -> Option<(*mut c_void, Bounds)> {
    match p.downcast_ref::<ForcedUnwind>()?.target() {
        Target::Fiber(dropper, bounds) => Some((dropper, bounds)),
        Target::Coroutine(_) => None,
    }
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
        sanitizer::destroy((*rec).own_bounds);
        let stack = ManuallyDrop::take(&mut (*rec).stack);
        ((*rec).release)((*rec).extra, stack);
    }
}
