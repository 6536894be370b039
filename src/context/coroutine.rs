//! [`Coroutine<I, Y, R>`]: typed, asymmetric coroutines on their own stack,
//! with [`Yielder`] and [`CoroutineResult`] (Boost's
//! `execution_context<Args...>`, typed both ways).
//!
//! # Layout
//!
//! The control block lives at the top of the coroutine's own stack, so a
//! coroutine is one stack allocation and nothing else:
//!
//! ```text
//!   top ─┬──────────────────────────────┐
//!        │ Extra<F, S>: closure, stack  │  moved out at start / release
//!        │ allocator                    │
//!        ├──────────────────────────────┤
//!        │ Record<I, Y, R>              │  yielder (parent ctx, input and
//!        │   Yielder<I, Y>              │  yield mailboxes), return slot,
//!        │   ret, stack, release fn     │  the stack's own description
//!        ├──────────────────────────────┤  <- 16-aligned sp = the record:
//!        │ frames of `f`                │     its first word, the parent
//!        ⋮                              ⋮     link, is the base's CFI link
//!   limit└──────────────────────────────┘
//! ```
//!
//! # Backtraces
//!
//! A backtrace taken inside a coroutine (a panic's, a debugger's) goes on
//! into the frames of the code that resumed it, as a call would. The
//! trampoline at the base of the stack (`asm/x86_64_sysv_elf.S`,
//! "Backtraces") describes its caller by CFI: the resumer's compact block,
//! whose address is the word at the trampoline's stack pointer. That word
//! is the record's first field, the yielder's `parent` (both `repr(C)`),
//! which holds the resumer's block whenever code runs on the coroutine's
//! stack: `entry`, every arrival and every ontop function write it before
//! anything else runs, and a fresh record names a block of zeros, whose
//! resume address 0 ends the walk.
//! Frame-pointer walkers still stop at the base (its frame pointer is 0).
//! Fibers have no fixed resumer: their base ends every walk.
//!
//! # Protocol
//!
//! Values never cross the switch in registers: the resumer writes the input
//! into the record's mailbox and jumps; the coroutine writes what it yields
//! into the other mailbox and jumps back. The data word of each switch says
//! what happened:
//!
//! | direction | data | meaning |
//! |---|---|---|
//! | in  | record pointer | first activation (`entry` reads the input) |
//! | in  | 0 | input is in the mailbox |
//! | in  | `IN_UNWIND` | unwind (raise the private `ForcedUnwind` payload) |
//! | in  | `IN_PANIC` | an ontop function panicked: re-raise it here |
//! | out | `OUT_YIELD` | a value is in the yield mailbox |
//! | out | `OUT_DONE` | `ret` holds `Ok(R)` or the panic payload |
//! | out | `OUT_UNWOUND` | forced unwinding reached the base |
//!
//! Coroutines switch with the *compact* convention of `asm/` (see
//! `raw.rs`): the resumer enters the coroutine with `start_compact` the
//! first time and `jump_compact` after that, the coroutine returns with
//! `yield_compact`, and only the registers the
//! compiler cannot spill around an inline call (and the FP control state
//! for [`Switch::Full`]) are saved in the assembly. The flavour chosen at
//! creation is used for every switch in both directions, as the compact
//! blocks require.
//!
//! Panics never cross the assembly: the base catches them and the resumer
//! re-raises them with `resume_unwind`. Dropping a suspended coroutine runs
//! an ontop function on its stack that makes `suspend` raise `ForcedUnwind`,
//! so every destructor on the coroutine's stack runs; a coroutine that was
//! never started has its closure dropped without any switch.
//! [`Coroutine::force_unwind`] does the same and keeps the handle. The
//! payload names the coroutine (its yielder's address), and a base takes
//! only its own as "unwound": another coroutine's, raised on this stack
//! because that coroutine was suspended from here (a scoped coroutine
//! borrowing an enclosing yielder), is reported as a panic to the resumer,
//! on the enclosing stack, where it goes on unwinding.
//!
//! # The end of a record
//!
//! When a coroutine finishes (or is unwound, or dropped unstarted), its
//! record's `release` function gives the stack back to its allocator — or,
//! for an [`OwnedStack`], puts it back into the `OwnedStack`, leaves that at
//! the start of the `Extra` and marks the handle's `started` word `KEPT`:
//! the handle then owns it, for [`Coroutine::into_stack`] or its drop.
//!
//! # On the resumer's stack
//!
//! [`Yielder::on_parent_stack`] switches to the suspended resumer with an
//! ontop function (`on_parent`) that calls the closure below the resumer's
//! suspended frame and jumps back. The resumer's context is then suspended
//! inside `on_parent`; the coroutine's next yield (or end) resumes it there,
//! and `on_parent` returns that switch as the result of the resumer's
//! pending one, so `resume` sees a plain yield (or end).

use super::control;
use super::raw::{self, from_ctx, Ctx, Switch, Transfer};
use super::sanitizer::{self, Bounds, FakeSlot};
use super::stack::{OwnedStack, ProtectedStack, Stack, StackAllocator, StackError};
use super::unwind::{ForcedUnwind, Target};
use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};

pub(crate) type Payload = Box<dyn Any + Send + 'static>;

const IN_UNWIND: usize = 1;
const IN_PANIC: usize = 2;
const OUT_YIELD: usize = 1;
const OUT_DONE: usize = 2;
const OUT_UNWOUND: usize = 3;

/// `Coroutine::started` bits: resumed at least once; the stack was kept
/// (an [`OwnedStack`]) when the coroutine finished.
const STARTED: usize = 1;
const KEPT: usize = 2;

/// What a [`Coroutine::resume`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoroutineResult<Y, R> {
    /// The coroutine suspended with this value.
    Yield(Y),
    /// The coroutine finished with this value.
    Return(R),
}

impl<Y, R> CoroutineResult<Y, R> {
    /// The yielded value, if any.
    pub fn as_yield(self) -> Option<Y> {
        match self {
            CoroutineResult::Yield(y) => Some(y),
            CoroutineResult::Return(_) => None,
        }
    }

    /// The returned value, if any.
    pub fn as_return(self) -> Option<R> {
        match self {
            CoroutineResult::Yield(_) => None,
            CoroutineResult::Return(r) => Some(r),
        }
    }
}

/// The coroutine's side of the switch: passed to its closure, it suspends
/// the coroutine with a value and returns the next input.
///
/// A `Yielder` lives at the top of the coroutine's stack and is only ever
/// seen by reference from code running on that stack.
#[repr(C)]
pub struct Yielder<I, Y> {
    parent: Cell<*mut c_void>,
    switch: Switch,
    switch_finished: Cell<bool>,
    input: UnsafeCell<MaybeUninit<I>>,
    yielded: UnsafeCell<MaybeUninit<Y>>,
    /// The panic of an ontop function, from the moment `ontop_input`
    /// writes it (and switches with `IN_PANIC`) until `inbound` takes it,
    /// a moment later on the same stack; uninitialised at any other time,
    /// so a record needs neither an initial `None` nor a drop for it.
    ontop_panic: UnsafeCell<MaybeUninit<Payload>>,
    parent_bounds: Cell<Bounds>,
    /// This coroutine's ASan fake-stack save while it is suspended
    /// (feature `asan` only).
    fake_stack: FakeSlot,
    /// The resumer's ASan fake-stack save while it is suspended (feature
    /// `asan` only), for `on_parent_stack`, which runs on its stack.
    parent_fake: FakeSlot,
    /// The stack the suspended coroutine's context lives on, for the
    /// sanitizers: its own, except when it suspended through this yielder
    /// from a stack nested in its frames (a scoped coroutine's).
    resume_bounds: Cell<Bounds>,
    _not_send: PhantomData<*mut ()>,
}

impl<I, Y> Yielder<I, Y> {
    /// Suspends the coroutine, handing `value` to the resumer; returns the
    /// input of the next [`Coroutine::resume`].
    ///
    /// ```
    /// use coframe::context::{Coroutine, CoroutineResult};
    /// let mut co = Coroutine::<i32, i32, ()>::new(|y, mut x| loop {
    ///     x = y.suspend(x * 2);
    /// });
    /// assert_eq!(co.resume(1), CoroutineResult::Yield(2));
    /// assert_eq!(co.resume(21), CoroutineResult::Yield(42));
    /// ```
    #[inline]
    pub fn suspend(&self, value: Y) -> I {
        // SAFETY: we run on the coroutine's stack (a `&Yielder` never leaves
        // it); `parent` is the suspended resumer, which waits in `resume` for
        // exactly this switch; the mailbox is read back only after the
        // resumer wrote the next input.
        unsafe {
            (*self.yielded.get()).write(value);
            let parent = self.leaving_for_parent();
            let t = self.switch.yield_compact(parent, OUT_YIELD as *mut c_void);
            self.arrived(t);
            (*self.input.get()).assume_init_read()
        }
    }

    /// The sanitizer bookkeeping of a switch from the coroutine to its
    /// resumer (where this stack resumes, the hand-over of the fake stack),
    /// and the resumer's context to switch to.
    ///
    /// # Safety
    /// Called on the coroutine's stack, right before switching to the
    /// suspended resumer.
    #[inline(always)]
    unsafe fn leaving_for_parent(&self) -> NonNull<c_void> {
        if sanitizer::ACTIVE {
            self.resume_bounds.set(sanitizer::current());
        }
        let mut fake = ptr::null_mut();
        sanitizer::start(&mut fake, self.parent_bounds.get());
        self.fake_stack.set(fake);
        // SAFETY: a running coroutine's resumer is suspended and non-null.
        unsafe { NonNull::new_unchecked(self.parent.get()) }
    }

    /// Bookkeeping on every arrival in the coroutine.
    #[inline(always)]
    fn arrived(&self, t: Transfer) {
        self.parent.set(t.ctx);
        if sanitizer::ACTIVE && !self.switch_finished.replace(false) {
            self.parent_bounds
                .set(sanitizer::finish(self.fake_stack.take()));
        }
        if !t.data.is_null() {
            self.inbound(t.data as usize);
        }
    }

    #[cold]
    #[inline(never)]
    fn inbound(&self, code: usize) -> ! {
        if code == IN_PANIC {
            // SAFETY: IN_PANIC: `ontop_input` wrote the payload right
            // before this switch, and nothing else reads it.
            let payload = unsafe { (*self.ontop_panic.get()).assume_init_read() };
            panic::resume_unwind(payload)
        }
        debug_assert_eq!(code, IN_UNWIND);
        panic::resume_unwind(Box::new(ForcedUnwind::new(Target::Coroutine(self.id()))))
    }

    /// This coroutine's identity in its [`ForcedUnwind`].
    fn id(&self) -> *const () {
        (self as *const Self).cast()
    }

    /// Whether `p` is the forced unwind of this coroutine (and not of
    /// another one, suspended from a stack nested in this one's frames).
    fn is_own_unwind(&self, p: &Payload) -> bool {
        matches!(
            p.downcast_ref::<ForcedUnwind>().map(ForcedUnwind::target),
            Some(Target::Coroutine(id)) if id == self.id()
        )
    }

    /// Sanitizer bookkeeping for ontop functions, which run before
    /// `arrived`.
    #[inline(always)]
    fn ontop_arrived(&self, parent: *mut c_void) {
        // The resumer's block, as `arrived` will note it: a backtrace taken
        // in the ontop function walks into the resumer through it.
        self.parent.set(parent);
        if sanitizer::ACTIVE {
            self.parent_bounds
                .set(sanitizer::finish(self.fake_stack.take()));
            self.switch_finished.set(true);
        }
    }

    /// Runs `f` on the stack of the context that resumed this coroutine (as
    /// if that context had called it where it waits in `resume`), then
    /// comes back here with its result (corosensei's `on_parent_stack`).
    /// For code that needs more stack than the coroutine has, or a thread's
    /// native stack. A panic in `f` is raised here.
    ///
    /// `f` must be `Send`: that keeps every `&Yielder` out of it (a
    /// `Yielder` is not `Sync`), since suspending this coroutine from its
    /// resumer's own stack would switch to the very stack it runs on.
    ///
    /// ```
    /// use coframe::context::{Coroutine, CoroutineResult, ProtectedStack};
    /// // 256 KiB of locals: too much for the coroutine's 64 KiB stack (its
    /// // guard page would end the process), fine on the thread's.
    /// fn big_frame() -> u32 {
    ///     let big = std::hint::black_box([1u8; 256 * 1024]);
    ///     big.iter().map(|&b| u32::from(b)).sum()
    /// }
    /// let mut co = Coroutine::<(), (), u32>::with_stack(
    ///     ProtectedStack::new(64 * 1024).unwrap(),
    ///     |y, ()| y.on_parent_stack(big_frame) + 1,
    /// );
    /// assert_eq!(co.resume(()), CoroutineResult::Return(256 * 1024 + 1));
    /// ```
    pub fn on_parent_stack<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send,
    {
        let mut msg = ParentCall {
            f: ManuallyDrop::new(f),
            result: None,
            switch: self.switch,
            fake: &self.parent_fake,
        };
        // SAFETY: we run on the coroutine's stack; `parent` is the suspended
        // resumer (a compact block), on whose stack `on_parent` runs and
        // from where it switches straight back here; `msg` outlives that.
        unsafe {
            let parent = self.leaving_for_parent();
            let t =
                self.switch
                    .ontop_compact(parent, ptr::addr_of_mut!(msg).cast(), on_parent::<F, T>);
            self.arrived(t);
        }
        match msg.result.take() {
            Some(Ok(v)) => v,
            Some(Err(p)) => panic::resume_unwind(p),
            None => unreachable!("on_parent_stack came back without a result"),
        }
    }
}

/// What `on_parent_stack` hands the resumer's stack.
struct ParentCall<F, T> {
    f: ManuallyDrop<F>,
    result: Option<Result<T, Payload>>,
    switch: Switch,
    /// The yielder's slot for the resumer's ASan fake-stack save.
    fake: *const FakeSlot,
}

/// Runs on the resumer's stack, below its suspended `resume`: calls `f`,
/// then switches back to the coroutine. The coroutine's next switch to its
/// resumer (a yield, its end) lands after that jump, and this function
/// returns it as the result of the resumer's pending switch.
unsafe extern "C-unwind" fn on_parent<F: FnOnce() -> T, T>(t: Transfer) -> Transfer {
    // SAFETY: `data` is the `ParentCall` on the coroutine's suspended
    // stack, alive until we switch back; `t.ctx` is the coroutine, which
    // waits in `on_parent_stack` for exactly this jump.
    unsafe {
        let msg = &mut *(t.data as *mut ParentCall<F, T>);
        let slot = &*msg.fake;
        let coroutine_bounds = sanitizer::finish(slot.get());
        let f = ManuallyDrop::take(&mut msg.f);
        msg.result = Some(panic::catch_unwind(AssertUnwindSafe(f)));
        let switch = msg.switch;
        let mut fake = ptr::null_mut();
        sanitizer::start(&mut fake, coroutine_bounds);
        // The coroutine continues with us as its parent: code it runs on
        // our stack again restores this fake stack.
        slot.set(fake);
        let back = switch.jump_compact(from_ctx(&t), ptr::null_mut());
        // Whoever comes back (the coroutine's yield or end) is for the
        // pending `resume` we run under, which ends the ASan switch.
        back
    }
}

/// What a fresh coroutine's parent link names: a compact block of zeros,
/// whose resume address 0 ends a backtrace at the trampoline (module docs,
/// "Backtraces"). Never written; four words cover both architectures'
/// blocks.
#[repr(align(16))]
struct ZeroBlock([usize; 4]);
static NO_RESUMER: ZeroBlock = ZeroBlock([0; 4]);

/// The control block at the top of a coroutine's stack. `repr(C)`, the
/// yielder first, whose `parent` is first: the record's first word is the
/// parent link the trampoline's CFI reads (module docs, "Backtraces").
#[repr(C)]
struct Record<I, Y, R> {
    yielder: Yielder<I, Y>,
    ret: UnsafeCell<MaybeUninit<Result<R, Payload>>>,
    /// The coroutine's stack until the record ends. A kept stack
    /// ([`keep_record`]) leaves its first word holding where the kept
    /// [`OwnedStack`] is (code that knows `F` and `S` finds the `Extra`
    /// with `control::extra_above`; `take_kept` does not): no field of its
    /// own, so the record stays 96 bytes, a line and a half, and with the
    /// first frames below it the hot part of a suspended task's stack
    /// spans one line fewer (README, Design measurements).
    stack: ManuallyDrop<Stack>,
    own_bounds: Bounds,
    /// Gives the stack back to its allocator, or keeps it (an
    /// [`OwnedStack`]): [`release_record`] or [`keep_record`].
    release: ReleaseFn,
    /// Drops the closure of a coroutine that never ran, given the record:
    /// [`drop_closure`].
    drop_f: unsafe fn(*mut u8),
}

/// Ends a record: called with the record once nothing runs on the stack;
/// returns the bits to set in the handle's `started` word ([`keep_record`]:
/// `KEPT`). A result rather than a pointer to the word, which would keep
/// the handle in memory wherever it is made and run.
type ReleaseFn = unsafe fn(*mut u8) -> usize;

/// Gives the stack of the finished coroutine whose record is `rec` back to
/// its allocator.
///
/// # Safety
///
/// `rec` is a `Record<I, Y, R>` with an `Extra<F, S>`, whose closure was
/// taken or dropped, and nothing runs on its stack any more.
unsafe fn release_record<I, Y, R, F, S: StackAllocator>(rec: *mut u8) -> usize {
    let rec = rec.cast::<Record<I, Y, R>>();
    // SAFETY: per the contract; the record's fields are read out before the
    // memory they live in is handed back.
    unsafe {
        let stack = Stack::read_words(ptr::addr_of!((*rec).stack).cast());
        let extra = control::extra_above::<_, F, S>(rec);
        sanitizer::destroy((*rec).own_bounds);
        control::release::<F, S>(extra.cast(), stack);
    }
    0
}

/// For a coroutine made on an [`OwnedStack`]: puts the stack back into the
/// `OwnedStack` and leaves that at the start of the `Extra` (it fits: the
/// `Extra` holds one), for [`Coroutine::into_stack`] or the handle's drop.
///
/// # Safety
///
/// As for [`release_record`] with `S = OwnedStack`.
unsafe fn keep_record<I, Y, R, F>(rec: *mut u8) -> usize {
    let rec = rec.cast::<Record<I, Y, R>>();
    // SAFETY: per the contract. The `Extra` is aligned for the
    // `OwnedStack` inside it and at least as large; its closure is gone.
    unsafe {
        let stack = ManuallyDrop::take(&mut (*rec).stack);
        let extra = control::extra_above::<_, F, OwnedStack>(rec);
        sanitizer::destroy((*rec).own_bounds);
        let owned = ManuallyDrop::take(&mut (*extra).alloc);
        owned.deallocate(stack);
        let kept = extra.cast::<OwnedStack>();
        kept.write(owned);
        // The stack was moved out of its field just above: its first word
        // names the kept stack from now on (see `Record::stack`).
        kept_slot(rec).write(kept);
    }
    KEPT
}

/// Where a kept stack's record says where the kept [`OwnedStack`] is: the
/// first word of the record's `stack` field, free once the stack was moved
/// out of it (`Stack` is word-aligned and at least a word).
fn kept_slot<I, Y, R>(rec: *mut Record<I, Y, R>) -> *mut *mut OwnedStack {
    const {
        assert!(std::mem::size_of::<Stack>() >= std::mem::size_of::<*mut OwnedStack>());
        assert!(std::mem::align_of::<Stack>() >= std::mem::align_of::<*mut OwnedStack>());
    }
    // SAFETY: no access: an address inside the record.
    unsafe { ptr::addr_of_mut!((*rec).stack).cast() }
}

/// Drops the closure of a coroutine that never ran.
///
/// # Safety
///
/// `rec` is a `Record<I, Y, R>` with an `Extra<F, S>` whose closure was
/// never taken.
unsafe fn drop_closure<I, Y, R, F, S>(rec: *mut u8) {
    let extra = control::extra_above::<Record<I, Y, R>, F, S>(rec.cast());
    // SAFETY: per the contract.
    unsafe { control::drop_f::<F, S>(extra.cast()) }
}

/// `!Send`, `!Sync`, and owning values of `I`, `Y` and `R` (for drop check).
type Marker<I, Y, R> = (*mut (), I, Y, R);

/// A typed coroutine on its own stack: `resume(I)` runs it until it
/// suspends with a `Y` or returns an `R`.
///
/// The closure receives the [`Yielder`] and the first input. Panics inside
/// are re-raised by `resume`; dropping an unfinished coroutine unwinds its
/// stack so every destructor runs.
///
/// ```
/// use coframe::context::{Coroutine, CoroutineResult};
/// // One type in, another out (the manual's `execution_context<int>` → string).
/// let mut co = Coroutine::<i32, String, &'static str>::new(|y, mut n| {
///     for _ in 0..2 {
///         n = y.suspend(format!("got {n}"));
///     }
///     "done"
/// });
/// assert_eq!(co.resume(1), CoroutineResult::Yield("got 1".to_string()));
/// assert_eq!(co.resume(2), CoroutineResult::Yield("got 2".to_string()));
/// assert_eq!(co.resume(3), CoroutineResult::Return("done"));
/// assert!(co.is_done());
/// ```
///
/// A coroutine is not `Send`: values on its stack may not be.
///
/// ```compile_fail
/// use coframe::context::Coroutine;
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(Coroutine::<(), (), ()>::new(|_, ()| ()));
/// ```
///
/// (The same code without the `Send` bound compiles, so the bound is what
/// the check above rejects.)
///
/// ```
/// use coframe::context::Coroutine;
/// fn assert_sized<T>(_: T) {}
/// assert_sized(Coroutine::<(), (), ()>::new(|_, ()| ()));
/// ```
pub struct Coroutine<I, Y, R> {
    rec: NonNull<Record<I, Y, R>>,
    /// The suspended coroutine; `None` once it finished (stack released).
    ctx: Option<Ctx>,
    /// Whether the coroutine was resumed; a whole word, not a `bool`: a
    /// `Coroutine` is moved right after it is made (into a task cell, say),
    /// and a word-sized copy of a one-byte store plus padding cannot be
    /// forwarded from the store buffer (seen with perf on stackful spawns).
    started: usize,
    _marker: PhantomData<Marker<I, Y, R>>,
}

impl<I, Y, R> Coroutine<I, Y, R> {
    /// A coroutine on a default [`ProtectedStack`] (guard page, 128 KiB).
    ///
    /// Panics if the stack cannot be mapped; see [`Coroutine::try_with`].
    pub fn new<F>(f: F) -> Self
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        Self::with_stack(ProtectedStack::default(), f)
    }

    /// A coroutine on a stack from `alloc`.
    ///
    /// Panics with the [`StackError`] if no stack can be had.
    // Always inlined, as `try_with` is (see there).
    #[inline(always)]
    pub fn with_stack<S, F>(alloc: S, f: F) -> Self
    where
        S: StackAllocator + 'static,
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        match Self::try_with(alloc, Switch::Full, f) {
            Ok(co) => co,
            Err(e) => no_stack(e),
        }
    }

    /// A coroutine on a stack from `alloc`, switching with `switch`
    /// ([`Switch::Lean`] skips the floating-point control state).
    ///
    /// ```
    /// use coframe::context::{Coroutine, CoroutineResult, PooledStack, Switch};
    /// let pool = PooledStack::new(64 * 1024).unwrap();
    /// let mut co = Coroutine::<(), u8, ()>::try_with(pool, Switch::Lean, |y, ()| {
    ///     y.suspend(7);
    /// }).unwrap();
    /// assert_eq!(co.resume(()), CoroutineResult::Yield(7));
    /// ```
    // Always inlined: a `Result<Coroutine, StackError>` in memory has a
    // niche-packed layout whose moves are misaligned partial copies that
    // defeat store forwarding (seen with perf on stackful spawns).
    #[inline(always)]
    pub fn try_with<S, F>(alloc: S, switch: Switch, f: F) -> Result<Self, StackError>
    where
        S: StackAllocator + 'static,
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        // SAFETY: `f` is 'static: it borrows nothing the handle could outlive.
        unsafe { Self::make(alloc, switch, f, is_owned_stack::<S>()) }
    }

    /// [`Coroutine::try_with`] without the `'static` bounds; `keep` says
    /// that `S` is [`OwnedStack`], whose stack the coroutine keeps when it
    /// finishes (for `into_stack`).
    ///
    /// # Safety
    ///
    /// The coroutine must not be resumed or dropped after what `f` and
    /// `alloc` borrow has gone (a [`ScopedCoroutine`](super::ScopedCoroutine)
    /// ties it to a lifetime; [`on_stack`](super::on_stack) runs it to its
    /// end within the call). `keep` only if `S` is `OwnedStack`.
    #[inline(always)]
    pub(crate) unsafe fn make<S, F>(
        alloc: S,
        switch: Switch,
        f: F,
        keep: bool,
    ) -> Result<Self, StackError>
    where
        S: StackAllocator,
        F: FnOnce(&Yielder<I, Y>, I) -> R,
    {
        let release: ReleaseFn = if keep {
            keep_record::<I, Y, R, F>
        } else {
            release_record::<I, Y, R, F, S>
        };
        let (stack, at) = control::place::<Record<I, Y, R>, F, S>(&alloc)?;
        let (rec, extra) = (at.rec, at.extra);
        let own_bounds = Bounds::create(&stack);
        // SAFETY: both addresses are aligned, inside `[limit, top)` of a
        // stack we own, and do not overlap (checked layout above).
        unsafe {
            extra.write(control::Extra {
                f: ManuallyDrop::new(f),
                alloc: ManuallyDrop::new(alloc),
            });
            // Field by field, in place, rather than through a temporary
            // record copied as a whole (which also copied the uninitialised
            // mailboxes). Left unwritten: the mailboxes, `ret` and
            // `ontop_panic`, which are written before they are read.
            let y = ptr::addr_of_mut!((*rec).yielder);
            // No resumer yet: a link to a block of zeros ends a walk at
            // the trampoline (`entry` writes the first resumer's block).
            ptr::addr_of_mut!((*y).parent).write(Cell::new(NO_RESUMER.0.as_ptr() as *mut c_void));
            ptr::addr_of_mut!((*y).switch).write(switch);
            ptr::addr_of_mut!((*y).switch_finished).write(Cell::new(false));
            ptr::addr_of_mut!((*y).parent_bounds).write(Cell::new(Bounds::UNKNOWN));
            ptr::addr_of_mut!((*y).fake_stack).write(FakeSlot::empty());
            ptr::addr_of_mut!((*y).parent_fake).write(FakeSlot::empty());
            ptr::addr_of_mut!((*y).resume_bounds).write(Cell::new(own_bounds));
            ptr::addr_of_mut!((*rec).stack).write(ManuallyDrop::new(stack));
            ptr::addr_of_mut!((*rec).own_bounds).write(own_bounds);
            ptr::addr_of_mut!((*rec).release).write(release);
            ptr::addr_of_mut!((*rec).drop_f).write(drop_closure::<I, Y, R, F, S>);
        }
        // SAFETY: `at.sp` lies inside the stack (non-null) with writable
        // stack memory below it, owned by the record; `resume` enters the
        // context with `start_compact` and nothing else enters a fresh one
        // (an unstarted coroutine is dropped or unwound without a switch);
        // `entry` never returns.
        let ctx = unsafe {
            raw::make_fresh_compact(NonNull::new_unchecked(at.sp), entry::<I, Y, R, F, S>)
        };
        Ok(Coroutine {
            // SAFETY: `rec` is non-null (inside the stack).
            rec: unsafe { NonNull::new_unchecked(rec) },
            ctx: Some(ctx),
            started: 0,
            _marker: PhantomData,
        })
    }

    /// Whether the coroutine has finished (returned, panicked or unwound).
    pub fn is_done(&self) -> bool {
        self.ctx.is_none()
    }

    /// The coroutine's [`Yielder`]: it lives at the top of the coroutine's
    /// stack, so the address is fixed for the coroutine's whole life (a
    /// stackful task publishes it for `stackful::wait`). Only code running
    /// on the coroutine may use it, while the coroutine is not finished.
    #[inline(always)]
    pub(crate) fn yielder(&self) -> *const Yielder<I, Y> {
        // SAFETY: no access: an address inside the live record.
        unsafe { ptr::addr_of!((*self.rec.as_ptr()).yielder) }
    }

    /// Whether the coroutine has been resumed at least once.
    pub fn is_started(&self) -> bool {
        self.started & STARTED != 0
    }

    /// Runs the coroutine until it suspends or returns, handing it `input`.
    ///
    /// Re-raises a panic from inside the coroutine (the coroutine is then
    /// finished). Panics if the coroutine has already finished.
    // Always inlined: a resume is a handful of instructions around the
    // switch, and as a call of its own it measurably slowed the lean round
    // trip (benches/context.rs; README, Design measurements).
    #[inline(always)]
    pub fn resume(&mut self, input: I) -> CoroutineResult<Y, R> {
        let ctx = self.suspended_ctx();
        let rec = self.rec.as_ptr();
        // SAFETY: the record is alive while `ctx` is Some; the coroutine is
        // suspended (or fresh) and waits for exactly this switch.
        unsafe {
            (*(*rec).yielder.input.get()).write(input);
            let mut fake = ptr::null_mut();
            sanitizer::start(&mut fake, (*rec).yielder.resume_bounds.get());
            (*rec).yielder.parent_fake.set(fake);
            let switch = (*rec).yielder.switch;
            let t = if self.started != 0 {
                switch.jump_compact(ctx, ptr::null_mut())
            } else {
                // The first activation carries the record pointer, through
                // the switch made for fresh blocks.
                self.started = STARTED;
                switch.start_compact(ctx, rec.cast())
            };
            sanitizer::finish(fake);
            self.came_back(t)
        }
    }

    /// Runs `g` on top of the coroutine's stack, as if it were called where
    /// the coroutine is suspended; its result becomes the input that
    /// `suspend` returns (Boost's `exec_ontop_arg`). A panic in `g` is raised
    /// inside the coroutine, at its suspension point.
    ///
    /// On a coroutine that has not started yet there is nothing on its stack
    /// to run on top of: `g` runs first, here, and its result is the first
    /// input.
    ///
    /// ```
    /// use coframe::context::{Coroutine, CoroutineResult};
    /// let mut co = Coroutine::<i32, i32, ()>::new(|y, mut x| loop {
    ///     x = y.suspend(x);
    /// });
    /// assert_eq!(co.resume(1), CoroutineResult::Yield(1));
    /// assert_eq!(co.resume_with(|| 40 + 2), CoroutineResult::Yield(42));
    /// ```
    pub fn resume_with<G>(&mut self, g: G) -> CoroutineResult<Y, R>
    where
        G: FnOnce() -> I,
    {
        if self.started == 0 {
            return self.resume(g());
        }
        let ctx = self.suspended_ctx();
        let rec = self.rec.as_ptr();
        let mut msg = OntopMsg {
            g: ManuallyDrop::new(g),
            // SAFETY: the record is alive while the coroutine is suspended.
            yielder: unsafe { ptr::addr_of!((*rec).yielder) },
        };
        // SAFETY: as in `resume`; `msg` outlives the switch (the ontop
        // function consumes it before the coroutine runs on).
        unsafe {
            let mut fake = ptr::null_mut();
            sanitizer::start(&mut fake, (*rec).yielder.resume_bounds.get());
            (*rec).yielder.parent_fake.set(fake);
            let t = (*rec).yielder.switch.ontop_compact(
                ctx,
                ptr::addr_of_mut!(msg).cast(),
                ontop_input::<I, Y, G>,
            );
            sanitizer::finish(fake);
            self.came_back(t)
        }
    }

    /// The suspended context, left in place: `came_back` replaces it (a
    /// yield) or clears it (the end) before anything can observe it.
    #[inline(always)]
    fn suspended_ctx(&mut self) -> Ctx {
        match self.ctx {
            Some(ctx) => ctx,
            None => panic!("coframe: resumed a coroutine that has already finished"),
        }
    }

    /// Interprets the switch back from the coroutine.
    #[inline(always)]
    unsafe fn came_back(&mut self, t: Transfer) -> CoroutineResult<Y, R> {
        let rec = self.rec.as_ptr();
        if t.data as usize == OUT_YIELD {
            self.ctx = Some(from_ctx(&t));
            // SAFETY: OUT_YIELD means the yield mailbox was just written.
            return CoroutineResult::Yield(unsafe {
                (*(*rec).yielder.yielded.get()).assume_init_read()
            });
        }
        self.ctx = None;
        // SAFETY: OUT_DONE: `ret` was written and the coroutine's frames are
        // dead (its last switch never returns), so its stack can go.
        let ret = unsafe { self.finish(t) };
        match ret {
            Ok(r) => CoroutineResult::Return(r),
            Err(payload) => panic::resume_unwind(payload),
        }
    }

    /// Takes the return slot and gives the stack back.
    ///
    /// # Safety
    ///
    /// The coroutine's last switch (`OUT_DONE`) has happened.
    // Inlined into `resume`, not cold: for a short-lived coroutine this is
    // the hot path, and the call saved and restored six registers, a
    // measurable share of create, run and drop (README, Design
    // measurements).
    #[inline(always)]
    unsafe fn finish(&mut self, t: Transfer) -> Result<R, Payload> {
        debug_assert_eq!(t.data as usize, OUT_DONE);
        let rec = self.rec.as_ptr();
        // SAFETY: per the contract the return slot is written, the stack is
        // unused; `release` moves the allocator out before freeing.
        unsafe {
            // The variant, then its payload, rather than the whole slot:
            // the coroutine stored it a moment ago as a tag (or niche) and a
            // payload of their own sizes; loads that match those stores are
            // forwarded from the store buffer, a wholesale copy straddling
            // them waits for them to retire (seen with perf).
            let ret = match &*(*(*rec).ret.get()).as_ptr() {
                Ok(r) => Ok(ptr::read(r)),
                Err(p) => Err(ptr::read(p)),
            };
            self.release_stack();
            ret
        }
    }

    /// Ends the record: the stack goes back to its allocator, or is kept
    /// (an [`OwnedStack`], marked in `started`).
    ///
    /// # Safety
    ///
    /// Nothing runs on the coroutine's stack any more and the record is not
    /// used afterwards (but by `take_kept`, if it was kept).
    #[inline(always)]
    unsafe fn release_stack(&mut self) {
        let rec = self.rec.as_ptr();
        // SAFETY: per the contract.
        self.started |= unsafe { ((*rec).release)(rec.cast()) };
    }

    /// The kept [`OwnedStack`] of a finished coroutine, if it has one; the
    /// handle no longer owns it.
    fn take_kept(&mut self) -> Option<OwnedStack> {
        if self.started & KEPT == 0 {
            return None;
        }
        self.started &= !KEPT;
        // SAFETY: KEPT: `keep_record` left the `OwnedStack` at the start of
        // the `Extra`, in memory it owns; reading it out moves the stack.
        Some(unsafe { ptr::read(kept_slot(self.rec.as_ptr()).read()) })
    }

    /// Unwinds the coroutine now, as dropping it would, and keeps the
    /// handle (corosensei's `force_unwind`): every destructor on its stack
    /// runs, then it is finished ([`is_done`](Self::is_done)), and
    /// [`is_started`](Self::is_started) still tells whether it ever ran. On
    /// a coroutine that never ran it drops the closure; on a finished one
    /// it does nothing. If the coroutine's code catches the
    /// [`ForcedUnwind`] and panics instead, that panic is raised here (the
    /// coroutine is finished all the same).
    ///
    /// ```
    /// use coframe::context::{Coroutine, CoroutineResult};
    /// use std::{cell::Cell, rc::Rc};
    /// struct Flag(Rc<Cell<bool>>);
    /// impl Drop for Flag {
    ///     fn drop(&mut self) { self.0.set(true) }
    /// }
    /// let dropped = Rc::new(Cell::new(false));
    /// let flag = Flag(dropped.clone());
    /// let mut co = Coroutine::<(), (), ()>::new(move |y, ()| {
    ///     let _flag = flag;
    ///     loop { y.suspend(()) }
    /// });
    /// assert_eq!(co.resume(()), CoroutineResult::Yield(()));
    /// co.force_unwind();
    /// assert!(dropped.get());
    /// assert!(co.is_done() && co.is_started());
    /// ```
    pub fn force_unwind(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            self.drop_unfinished(ctx, false);
        }
    }

    /// Takes back the stack of a finished coroutine made on an
    /// [`OwnedStack`], to use it again directly (corosensei's
    /// `into_stack`). `None` for a coroutine made on any other allocator:
    /// its stack went back to that allocator when it finished.
    ///
    /// Panics if the coroutine has not finished: [`force_unwind`] it first.
    ///
    /// ```
    /// use coframe::context::{Coroutine, CoroutineResult, OwnedStack, ProtectedStack};
    /// let mut stack = OwnedStack::new(ProtectedStack::default()).unwrap();
    /// for i in 0..3 {
    ///     let mut co = Coroutine::<(), (), i32>::with_stack(stack, move |_, ()| i);
    ///     assert_eq!(co.resume(()), CoroutineResult::Return(i));
    ///     stack = co.into_stack().unwrap(); // the same memory, every time
    /// }
    /// // Any other allocator took its stack back already.
    /// let mut co = Coroutine::<(), (), ()>::new(|_, ()| ());
    /// co.resume(());
    /// assert!(co.into_stack().is_none());
    /// ```
    ///
    /// [`force_unwind`]: Self::force_unwind
    pub fn into_stack(mut self) -> Option<OwnedStack> {
        if !self.is_done() {
            panic!(
                "coframe: into_stack on a coroutine that has not finished; \
                 force_unwind it first"
            );
        }
        self.take_kept()
    }
}

/// Whether `S` is [`OwnedStack`]: a comparison of two constants, which
/// leaves no code behind.
#[inline(always)]
pub(crate) fn is_owned_stack<S: 'static>() -> bool {
    std::any::TypeId::of::<S>() == std::any::TypeId::of::<OwnedStack>()
}

impl<I, Y, R> Drop for Coroutine<I, Y, R> {
    // Always inlined: the finished case is two tests (a stackful task's
    // cell drops its coroutine after every completion), the rest is cold.
    #[inline(always)]
    fn drop(&mut self) {
        // Finished, with no kept stack: nothing to do (the stack is already
        // released). Everything else is out of line, so that the test is
        // all a finished coroutine's drop costs where it is inlined.
        if self.ctx.is_some() || self.started & KEPT != 0 {
            Self::drop_slow(self.rec, self.ctx.take(), self.started);
        }
    }
}

impl<I, Y, R> Coroutine<I, Y, R> {
    /// The drop of a coroutine that is unfinished, or finished on an
    /// `OwnedStack` it kept, given the handle's words: by value, not by
    /// reference, so that the handle need not be kept in memory wherever
    /// it is dropped.
    #[cold]
    #[inline(never)]
    fn drop_slow(rec: NonNull<Record<I, Y, R>>, ctx: Option<Ctx>, started: usize) {
        let mut co = ManuallyDrop::new(Coroutine {
            rec,
            ctx: None,
            started,
            _marker: PhantomData,
        });
        if let Some(ctx) = ctx {
            co.drop_unfinished(ctx, true);
        } else {
            // Finished on an `OwnedStack`, which it kept: give it back.
            drop(co.take_kept());
        }
    }

    /// Finishes a coroutine that has not finished: drops its closure if it
    /// never ran, else unwinds its stack; then releases the stack (or keeps
    /// it, an `OwnedStack`, which `dropping` gives back too).
    #[cold]
    #[inline(never)]
    fn drop_unfinished(&mut self, mut ctx: Ctx, dropping: bool) {
        let rec = self.rec.as_ptr();
        if self.started == 0 {
            // SAFETY: never started: the closure is still in `Extra` and
            // nothing ran on the stack.
            unsafe {
                ((*rec).drop_f)(rec.cast());
                self.release_stack();
            }
            if dropping {
                drop(self.take_kept());
            }
            return;
        }
        // Unwind: make `suspend` raise ForcedUnwind until the base reports
        // it has unwound (code that catches it and suspends again is unwound
        // again).
        let mut escaped: Option<Payload> = None;
        loop {
            // SAFETY: the coroutine is suspended; the record is alive.
            let t = unsafe {
                let mut fake = ptr::null_mut();
                sanitizer::start(&mut fake, (*rec).yielder.resume_bounds.get());
                (*rec).yielder.parent_fake.set(fake);
                let t =
                    (*rec)
                        .yielder
                        .switch
                        .ontop_compact(ctx, rec.cast(), unwind_ontop::<I, Y, R>);
                sanitizer::finish(fake);
                t
            };
            match t.data as usize {
                OUT_YIELD => {
                    // SAFETY: a value was yielded while unwinding: drop it.
                    unsafe { (*(*rec).yielder.yielded.get()).assume_init_drop() };
                    ctx = from_ctx(&t);
                }
                OUT_UNWOUND => {
                    // SAFETY: the base finished unwinding; stack unused.
                    unsafe { self.release_stack() };
                    break;
                }
                _ => {
                    // A destructor panicked during the unwind, or the code
                    // swallowed ForcedUnwind and returned normally.
                    // SAFETY: OUT_DONE, as in `finish`.
                    if let Err(p) = unsafe { self.finish(t) } {
                        escaped = Some(p);
                    }
                    break;
                }
            }
        }
        if dropping {
            drop(self.take_kept());
        }
        if let Some(p) = escaped {
            if std::thread::panicking() {
                eprintln!("coframe: a destructor panicked while a coroutine was unwound during another panic; aborting");
                std::process::abort();
            }
            panic::resume_unwind(p);
        }
    }
}

struct OntopMsg<I, Y, G> {
    g: ManuallyDrop<G>,
    yielder: *const Yielder<I, Y>,
}

/// Runs on the coroutine's stack: computes the input with `g`.
unsafe extern "C-unwind" fn ontop_input<I, Y, G: FnOnce() -> I>(t: Transfer) -> Transfer {
    // SAFETY: `data` is the `OntopMsg` of `resume_with`, alive on the
    // resumer's suspended stack; the yielder is the coroutine's.
    unsafe {
        let msg = &mut *(t.data as *mut OntopMsg<I, Y, G>);
        let y = &*msg.yielder;
        y.ontop_arrived(t.ctx);
        let g = ManuallyDrop::take(&mut msg.g);
        match panic::catch_unwind(AssertUnwindSafe(g)) {
            Ok(input) => {
                (*y.input.get()).write(input);
                Transfer {
                    ctx: t.ctx,
                    data: ptr::null_mut(),
                }
            }
            Err(p) => {
                (*y.ontop_panic.get()).write(p);
                Transfer {
                    ctx: t.ctx,
                    data: IN_PANIC as *mut c_void,
                }
            }
        }
    }
}

#[cold]
#[inline(never)]
fn no_stack(e: StackError) -> ! {
    panic!("coframe: cannot create a coroutine: {e}")
}

/// Runs on the coroutine's stack: makes `suspend` raise `ForcedUnwind`.
unsafe extern "C-unwind" fn unwind_ontop<I, Y, R>(t: Transfer) -> Transfer {
    // SAFETY: `data` is the coroutine's record.
    unsafe {
        (*(t.data as *const Record<I, Y, R>))
            .yielder
            .ontop_arrived(t.ctx)
    };
    Transfer {
        ctx: t.ctx,
        data: IN_UNWIND as *mut c_void,
    }
}

/// The base's end after a panic: a forced unwind of this coroutine is
/// over, any other panic goes to the resumer. Out of line, so that `entry`
/// keeps no registers for it.
///
/// # Safety
///
/// `rec` is the record of the coroutine whose base caught `p`.
#[cold]
#[inline(never)]
unsafe fn caught<I, Y, R>(rec: *mut Record<I, Y, R>, p: Payload) -> usize {
    // SAFETY: per the contract; the return slot is unused until now.
    unsafe {
        if (*rec).yielder.is_own_unwind(&p) {
            drop(p);
            OUT_UNWOUND
        } else {
            (*(*rec).ret.get()).write(Err(p));
            OUT_DONE
        }
    }
}

/// The base of every coroutine stack.
unsafe extern "C-unwind" fn entry<I, Y, R, F, S>(t: Transfer) -> !
where
    F: FnOnce(&Yielder<I, Y>, I) -> R,
{
    let rec = t.data as *mut Record<I, Y, R>;
    // SAFETY: the first activation carries the record pointer; the record
    // and `Extra` were written before the context was made, but for the
    // fields written before they are read (`parent`: right here, before
    // the yielder is borrowed).
    unsafe {
        ptr::addr_of_mut!((*rec).yielder.parent).write(Cell::new(t.ctx));
        let y = &(*rec).yielder;
        y.parent_bounds.set(sanitizer::finish(ptr::null_mut()));
        let extra = control::extra_above::<_, F, S>(rec);
        let f = ManuallyDrop::take(&mut (*extra).f);
        let result = panic::catch_unwind(AssertUnwindSafe(move || {
            let input = (*y.input.get()).assume_init_read();
            f(y, input)
        }));
        let code = match result {
            Ok(r) => {
                (*(*rec).ret.get()).write(Ok(r));
                OUT_DONE
            }
            Err(p) => caught(rec, p),
        };
        sanitizer::start(ptr::null_mut(), y.parent_bounds.get());
        let parent = NonNull::new_unchecked(y.parent.get());
        // The last switch is a yield like any other: it resumes the resumer
        // with the `ret` that pops the return address its `call` pushed. A
        // `jump` here would push a return-stack entry that no `ret` ever
        // pops and resume the resumer by `jmp`, leaving its own entry too:
        // the returns that follow in the executor then mispredict, which
        // measured as a large share of spawning and joining a stackful task
        // (README, Design measurements). A finished coroutine is never
        // resumed: the switch does not return.
        y.switch.yield_final(parent, code as *mut c_void)
    }
}

/// A generator: a coroutine that takes no input and yields `Y`s, as an
/// [`Iterator`].
///
/// ```
/// use coframe::context::Generator;
/// // The manual's Fibonacci generator.
/// let fib = Generator::new(|y| {
///     let (mut a, mut b) = (0u64, 1u64);
///     loop {
///         y.suspend(a);
///         (a, b) = (b, a + b);
///     }
/// });
/// let first: Vec<u64> = fib.take(10).collect();
/// assert_eq!(first, [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
/// ```
pub struct Generator<Y> {
    co: Coroutine<(), Y, ()>,
}

impl<Y> Generator<Y> {
    /// A generator on a default [`ProtectedStack`].
    pub fn new<F>(f: F) -> Self
    where
        F: FnOnce(&Yielder<(), Y>) + 'static,
    {
        Generator {
            co: Coroutine::new(move |y, ()| f(y)),
        }
    }

    /// A generator on a stack from `alloc`.
    pub fn with_stack<S, F>(alloc: S, f: F) -> Self
    where
        S: StackAllocator + 'static,
        F: FnOnce(&Yielder<(), Y>) + 'static,
    {
        Generator {
            co: Coroutine::with_stack(alloc, move |y, ()| f(y)),
        }
    }

    /// Whether the generator has finished.
    pub fn is_done(&self) -> bool {
        self.co.is_done()
    }
}

impl<Y> Iterator for Generator<Y> {
    type Item = Y;

    fn next(&mut self) -> Option<Y> {
        if self.co.is_done() {
            return None;
        }
        match self.co.resume(()) {
            CoroutineResult::Yield(y) => Some(y),
            CoroutineResult::Return(()) => None,
        }
    }
}

impl<Y> std::iter::FusedIterator for Generator<Y> {}
