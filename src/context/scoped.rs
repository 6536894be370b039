//! Stackful code that borrows from its caller: [`ScopedCoroutine`] (a
//! coroutine whose closure is not `'static`) and [`on_stack`] (a closure
//! run to its end on another stack).
//!
//! Both are a [`Coroutine`] made without the `'static` bounds; what makes
//! that sound is that the coroutine cannot run, or be unwound, after the
//! borrows are gone:
//!
//! - a `ScopedCoroutine<'a, ..>` carries the lifetime `'a` of everything its
//!   closure borrows, and has a `Drop` of its own, so the borrow checker
//!   keeps the borrowed values alive wherever it is resumed *and* where it
//!   is dropped (dropping unwinds the stack, whose destructors may use
//!   them). Forgetting it (`mem::forget`) leaks its stack with the
//!   borrowing frames in it, never to run again; the allocator is still
//!   `'static`, so the memory stays valid;
//! - `on_stack` resumes its coroutine once, to the end, inside the call.
//!
//! A scoped closure can borrow a `&Yielder` of an enclosing coroutine and
//! suspend *that* coroutine from the nested stack. When that enclosing
//! coroutine is then unwound, its [`ForcedUnwind`](super::ForcedUnwind)
//! names it, so the nested base passes it on as an ordinary panic to its
//! resumer, on the enclosing stack, where the unwinding goes on.

use super::coroutine::is_owned_stack;
use super::stack::{Stack, StackAllocator, StackError};
use super::{Coroutine, CoroutineResult, OwnedStack, ProtectedStack, Switch, Yielder};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;

/// A [`Coroutine`] whose closure (and input, yield and return types) may
/// borrow from the caller for `'a` (corosensei's `ScopedCoroutine`).
///
/// ```
/// use coframe::context::{CoroutineResult, ScopedCoroutine};
/// let mut total = 0; // on the caller's stack, borrowed by the coroutine
/// let mut co = ScopedCoroutine::<i32, (), ()>::new(|y, mut n| loop {
///     total += n;
///     n = y.suspend(());
/// });
/// for n in 1..=4 {
///     assert_eq!(co.resume(n), CoroutineResult::Yield(()));
/// }
/// drop(co); // ends the borrow (unwinding the suspended closure)
/// assert_eq!(total, 10);
/// ```
///
/// The borrow cannot outlive what it borrows: the coroutine cannot be used
/// after `total` is gone...
///
/// ```compile_fail
/// use coframe::context::ScopedCoroutine;
/// let mut co;
/// {
///     let mut total = 0;
///     co = ScopedCoroutine::<i32, (), ()>::new(|y, mut n| loop {
///         total += n;
///         n = y.suspend(());
///     });
///     co.resume(1);
/// } // `total` goes here, while `co` still borrows it
/// co.resume(2);
/// ```
///
/// (Used and dropped inside the block, the same code compiles.)
///
/// ```
/// use coframe::context::ScopedCoroutine;
/// let mut co;
/// {
///     let mut total = 0;
///     co = ScopedCoroutine::<i32, (), ()>::new(|y, mut n| loop {
///         total += n;
///         n = y.suspend(());
///     });
///     co.resume(1);
///     co.resume(2);
///     drop(co);
/// }
/// ```
///
/// ...nor dropped after it: dropping a suspended coroutine unwinds its
/// stack, whose destructors may still use the borrow. Here `log` is
/// declared after `co`, so it would go first:
///
/// ```compile_fail
/// use coframe::context::ScopedCoroutine;
/// struct Note<'l>(&'l mut Vec<&'static str>);
/// impl Drop for Note<'_> {
///     fn drop(&mut self) { self.0.push("unwound") }
/// }
/// let mut co;
/// let mut log = Vec::new();
/// co = ScopedCoroutine::<(), (), ()>::new(|y, ()| {
///     let _note = Note(&mut log);
///     y.suspend(());
/// });
/// co.resume(());
/// ```
///
/// (Declared the other way round, it compiles.)
///
/// ```
/// use coframe::context::ScopedCoroutine;
/// struct Note<'l>(&'l mut Vec<&'static str>);
/// impl Drop for Note<'_> {
///     fn drop(&mut self) { self.0.push("unwound") }
/// }
/// let mut log = Vec::new();
/// let mut co;
/// co = ScopedCoroutine::<(), (), ()>::new(|y, ()| {
///     let _note = Note(&mut log);
///     y.suspend(());
/// });
/// co.resume(());
/// ```
pub struct ScopedCoroutine<'a, I, Y, R> {
    /// Dropped by hand, in the `Drop` below.
    inner: ManuallyDrop<Coroutine<I, Y, R>>,
    /// Ties the handle to the borrows of the closure.
    _borrows: PhantomData<&'a mut ()>,
}

impl<I, Y, R> std::fmt::Debug for ScopedCoroutine<'_, I, Y, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedCoroutine")
            .field("started", &self.inner.is_started())
            .field("done", &self.inner.is_done())
            .finish()
    }
}

impl<'a, I, Y, R> ScopedCoroutine<'a, I, Y, R> {
    /// A scoped coroutine on a default [`ProtectedStack`]. Panics if the
    /// stack cannot be mapped; see [`ScopedCoroutine::try_with`].
    pub fn new<F>(f: F) -> Self
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'a,
    {
        Self::with_stack(ProtectedStack::default(), f)
    }

    /// A scoped coroutine on a stack from `alloc`. Panics with the
    /// [`StackError`] if no stack can be had.
    pub fn with_stack<S, F>(alloc: S, f: F) -> Self
    where
        S: StackAllocator + 'static,
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'a,
    {
        match Self::try_with(alloc, Switch::Full, f) {
            Ok(co) => co,
            Err(e) => panic!("coframe: cannot create a scoped coroutine: {e}"),
        }
    }

    /// A scoped coroutine on a stack from `alloc`, switching with `switch`.
    ///
    /// ```
    /// use coframe::context::{CoroutineResult, FixedSizeStack, ScopedCoroutine, Switch};
    /// let words = ["a", "b"];
    /// let mut co = ScopedCoroutine::<(), &str, usize>::try_with(
    ///     FixedSizeStack::default(),
    ///     Switch::Lean,
    ///     |y, ()| {
    ///         for w in &words {
    ///             y.suspend(w);
    ///         }
    ///         words.len()
    ///     },
    /// )
    /// .unwrap();
    /// assert_eq!(co.resume(()), CoroutineResult::Yield("a"));
    /// assert_eq!(co.resume(()), CoroutineResult::Yield("b"));
    /// assert_eq!(co.resume(()), CoroutineResult::Return(2));
    /// ```
    pub fn try_with<S, F>(alloc: S, switch: Switch, f: F) -> Result<Self, StackError>
    where
        S: StackAllocator + 'static,
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'a,
    {
        // SAFETY: the handle carries `'a` and has a `Drop` (below), so it is
        // neither resumed nor dropped after the borrows of `f` end; the
        // allocator is 'static.
        let inner = unsafe { Coroutine::make(alloc, switch, f, is_owned_stack::<S>())? };
        Ok(ScopedCoroutine {
            inner: ManuallyDrop::new(inner),
            _borrows: PhantomData,
        })
    }

    /// As [`Coroutine::resume`].
    pub fn resume(&mut self, input: I) -> CoroutineResult<Y, R> {
        self.inner.resume(input)
    }

    /// As [`Coroutine::resume_with`].
    ///
    /// ```
    /// use coframe::context::{CoroutineResult, ScopedCoroutine};
    /// let base = 40;
    /// let mut co = ScopedCoroutine::<i32, i32, ()>::new(|y, mut x| loop {
    ///     x = y.suspend(x);
    /// });
    /// co.resume(0);
    /// assert_eq!(co.resume_with(|| base + 2), CoroutineResult::Yield(42));
    /// ```
    pub fn resume_with<G>(&mut self, g: G) -> CoroutineResult<Y, R>
    where
        G: FnOnce() -> I,
    {
        self.inner.resume_with(g)
    }

    /// As [`Coroutine::force_unwind`].
    ///
    /// ```
    /// use coframe::context::ScopedCoroutine;
    /// let mut log = Vec::new();
    /// {
    ///     struct Note<'l>(&'l mut Vec<&'static str>);
    ///     impl Drop for Note<'_> {
    ///         fn drop(&mut self) { self.0.push("unwound") }
    ///     }
    ///     let mut co = ScopedCoroutine::<(), (), ()>::new(|y, ()| {
    ///         let _note = Note(&mut log);
    ///         y.suspend(());
    ///     });
    ///     co.resume(());
    ///     co.force_unwind();
    ///     assert!(co.is_done());
    /// }
    /// assert_eq!(log, ["unwound"]);
    /// ```
    pub fn force_unwind(&mut self) {
        self.inner.force_unwind()
    }

    /// As [`Coroutine::is_done`].
    pub fn is_done(&self) -> bool {
        self.inner.is_done()
    }

    /// As [`Coroutine::is_started`].
    pub fn is_started(&self) -> bool {
        self.inner.is_started()
    }

    /// As [`Coroutine::into_stack`].
    ///
    /// ```
    /// use coframe::context::{CoroutineResult, FixedSizeStack, OwnedStack, ScopedCoroutine};
    /// let stack = OwnedStack::new(FixedSizeStack::default()).unwrap();
    /// let name = String::from("scoped");
    /// let mut co = ScopedCoroutine::<(), (), usize>::with_stack(stack, |_, ()| name.len());
    /// assert_eq!(co.resume(()), CoroutineResult::Return(6));
    /// let _again: OwnedStack = co.into_stack().unwrap();
    /// ```
    pub fn into_stack(self) -> Option<OwnedStack> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; the coroutine
        // (finished, or unwound when `into_stack` panics) no longer runs
        // code that borrows, and the borrows are alive during this call.
        let inner = unsafe { ManuallyDrop::take(&mut this.inner) };
        inner.into_stack()
    }
}

impl<I, Y, R> Drop for ScopedCoroutine<'_, I, Y, R> {
    /// Unwinds the coroutine if it is suspended (as `Coroutine` does); a
    /// `Drop` of its own makes the borrow checker keep the borrowed values
    /// alive until here.
    fn drop(&mut self) {
        // SAFETY: dropped once, here.
        unsafe { ManuallyDrop::drop(&mut self.inner) }
    }
}

/// Runs `f` to its end on a stack from `stack` and returns its result
/// (corosensei's `on_stack`): for deep recursion on a big, guard-paged stack
/// without a thread. `f` may borrow from the caller. A panic in `f` is
/// raised here; an overflow of that stack ends the process with coframe's
/// message, as in any coframe stack. The stack goes back to `stack` at the
/// end (an [`OwnedStack`] gives the same stack every time).
///
/// Panics if `stack` has no stack to give, with its [`StackError`].
///
/// ```
/// use coframe::context::{on_stack, OwnedStack, ProtectedStack};
/// fn depth(n: u32) -> u32 {
///     let pad = std::hint::black_box([n as u8; 512]);
///     if n == 0 { pad[0].into() } else { depth(n - 1) + 1 }
/// }
/// // Several MiB of frames (more than a spawned thread's 2 MiB stack), on a
/// // 32 MiB stack that the OS commits as it is touched.
/// let big = OwnedStack::new(ProtectedStack::new(32 << 20).unwrap()).unwrap();
/// let levels = 8_000;
/// assert_eq!(on_stack(&big, || depth(levels)), levels);
/// ```
pub fn on_stack<S, T>(stack: &S, f: impl FnOnce() -> T) -> T
where
    S: StackAllocator + ?Sized,
{
    /// `stack`, by reference.
    struct Borrowed<'s, S: ?Sized>(&'s S);
    // SAFETY: forwards to the borrowed allocator.
    unsafe impl<S: StackAllocator + ?Sized> StackAllocator for Borrowed<'_, S> {
        fn allocate(&self) -> Result<Stack, StackError> {
            self.0.allocate()
        }
        unsafe fn deallocate(&self, stack: Stack) {
            // SAFETY: forwarded contract.
            unsafe { self.0.deallocate(stack) }
        }
    }
    // SAFETY: the coroutine is resumed once, to its end, and dropped inside
    // this call, while `stack` and everything `f` borrows are alive. (If
    // `f` suspends an enclosing coroutine, this frame waits with it.)
    let made =
        unsafe { Coroutine::<(), (), T>::make(Borrowed(stack), Switch::Full, |_, ()| f(), false) };
    let mut co = match made {
        Ok(co) => co,
        Err(e) => panic!("coframe: on_stack: no stack to run on: {e}"),
    };
    match co.resume(()) {
        CoroutineResult::Return(v) => v,
        CoroutineResult::Yield(()) => unreachable!("on_stack's closure has no yielder"),
    }
}
