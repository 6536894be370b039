//! [`ForcedUnwind`]: the panic payload that unwinds a fiber's or a
//! coroutine's stack when it is dropped (or [`Coroutine::force_unwind`]
//! is called) while suspended.
//!
//! The payload names its target, so that a base that catches it can tell
//! its own unwind from one passing through: a coroutine nested in another's
//! stack frames (a scoped coroutine, [`on_stack`]) reports somebody else's
//! forced unwind to its resumer as an ordinary panic, which goes on
//! unwinding there, until the base it was raised for catches it.
//!
//! [`Coroutine::force_unwind`]: super::Coroutine::force_unwind
//! [`on_stack`]: super::on_stack

use super::sanitizer::Bounds;
use std::ffi::c_void;
use std::fmt;

/// The panic payload with which coframe unwinds a suspended fiber or
/// coroutine that is dropped (or [`force_unwind`]-ed): every destructor on
/// its stack runs, and its base catches the payload and switches back.
///
/// Code that catches panics inside a fiber or coroutine must let this one
/// go on: test for it with `payload.is::<ForcedUnwind>()` and
/// [`resume_unwind`] it, as Boost.Context asks of `forced_unwind` ("catch
/// it, rethrow it"). Swallowing it breaks the unwind:
///
/// - a coroutine that suspends again is unwound again, from that new
///   suspension point; one that returns normally is finished, its return
///   value dropped;
/// - a fiber cannot be unwound again (its dropper waits for the end of
///   that one unwind): the process aborts with a message when the fiber's
///   function returns, and a fiber that never returns leaves its dropper
///   suspended for ever.
///
/// ```
/// use coframe::context::{Coroutine, ForcedUnwind};
/// use std::panic::{self, AssertUnwindSafe};
/// let mut co = Coroutine::<(), (), ()>::new(|y, ()| {
///     let r = panic::catch_unwind(AssertUnwindSafe(|| loop {
///         y.suspend(());
///     }));
///     match r {
///         // coframe's unwind: not ours to stop.
///         Err(p) if p.is::<ForcedUnwind>() => panic::resume_unwind(p),
///         Err(_) => { /* a real panic: handled here */ }
///         Ok(()) => unreachable!(),
///     }
/// });
/// co.resume(());
/// co.force_unwind(); // the catch_unwind above sees the payload, passes it on
/// assert!(co.is_done());
/// ```
///
/// [`force_unwind`]: super::Coroutine::force_unwind
/// [`resume_unwind`]: std::panic::resume_unwind
pub struct ForcedUnwind {
    target: Target,
}

/// Whose unwind a [`ForcedUnwind`] is.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    /// The coroutine with this yielder (its address).
    Coroutine(*const ()),
    /// A fiber: the context that dropped it and that context's stack.
    Fiber(*mut c_void, Bounds),
}

// SAFETY: the pointers are opaque identities and a context handle, used only
// on the thread that raised the payload (fibers and coroutines are not Send).
unsafe impl Send for ForcedUnwind {}

impl ForcedUnwind {
    pub(crate) fn new(target: Target) -> ForcedUnwind {
        ForcedUnwind { target }
    }

    pub(crate) fn target(&self) -> Target {
        self.target
    }
}

impl fmt::Debug for ForcedUnwind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.target {
            Target::Coroutine(_) => "coroutine",
            Target::Fiber(..) => "fiber",
        };
        f.debug_struct("ForcedUnwind").field("of", &kind).finish()
    }
}
