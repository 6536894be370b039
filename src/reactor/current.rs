//! Which event loop is current on this thread: the `reactor` field of the
//! per-thread context (rule 11), set by [`enter`] for as long as its guard
//! lives, read by [`Handle::current`] when a source is registered or a
//! timer armed.
//!
//! The field is part of the context's ambient part, so it is saved and
//! restored with the rest on every executor entry and around every stackful
//! switch: a stackful task that suspends inside a nested executor takes
//! that executor's event loop with it.
//!
//! # Invariant
//!
//! The field is null or points at the shared state of a [`Handle`] that
//! outlives the [`EnterGuard`] that set it; the guard puts the previous
//! value back when it is dropped (also when unwinding), so entries nest.

use super::driver::{Handle, LoopState};
use std::marker::PhantomData;
use std::sync::Arc;

/// The message of the panic when no event loop is current.
const NO_EVENT_LOOP: &str = "coframe::time and coframe::io need a coframe event loop on this \
     thread, and none runs here: run this inside a coframe executor (LocalExecutor, ThreadPool) \
     or coframe::block_on";

impl Handle {
    /// The event loop current on this thread, if any.
    pub(crate) fn try_current() -> Option<Handle> {
        let p = crate::thread_context::with(|cx| cx.reactor.get());
        if p.is_null() {
            return None;
        }
        // SAFETY: a non-null field came from `Arc::as_ptr` of a live
        // handle's state, which outlives the guard that set it (module
        // invariant); taking one more count keeps it alive in the new
        // handle.
        unsafe {
            Arc::increment_strong_count(p);
            Some(Handle {
                shared: Arc::from_raw(p),
            })
        }
    }

    /// The event loop current on this thread.
    ///
    /// # Panics
    /// If none is: the message says so and names the fix.
    #[track_caller]
    pub(crate) fn current() -> Handle {
        match Handle::try_current() {
            Some(h) => h,
            None => panic!("{NO_EVENT_LOOP}"),
        }
    }
}

/// The current event loop's state and the calling thread's token
/// (`time::timers::thread_token`), in one read of the context: what arming
/// a timer needs.
///
/// # Panics
/// If no event loop is current: the message says so and names the fix.
#[inline]
pub(crate) fn current_raw() -> (*const LoopState, usize) {
    let (p, token) = crate::thread_context::with(|cx| (cx.reactor.get(), cx as *const _ as usize));
    if p.is_null() {
        no_event_loop();
    }
    (p, token)
}

#[cold]
#[inline(never)]
fn no_event_loop() -> ! {
    panic!("{NO_EVENT_LOOP}")
}

/// Makes `handle`'s event loop current on this thread until the guard is
/// dropped. The executors enter their driver's handle around their loops;
/// nested entries nest.
#[cfg_attr(any(not(test), loom), allow(dead_code))] // the executors use `make_current_in_entry`; tests use this
pub(crate) fn enter(handle: &Handle) -> EnterGuard<'_> {
    let this = Arc::as_ptr(&handle.shared);
    let prev = crate::thread_context::with(|cx| {
        cx.bump();
        cx.reactor.replace(this)
    });
    EnterGuard {
        prev,
        _handle: PhantomData,
    }
}

/// Restores the previous current event loop when dropped (see [`enter`]).
/// Not `Send`: it restores this thread's context.
/// Makes `handle` the current event loop for the rest of an executor's
/// entry: the entry's saved context (`thread_context::Saved`, which holds
/// the `reactor` field with the rest) puts the previous one back. The
/// handle must outlive that entry.
pub(crate) fn make_current_in_entry(handle: &Handle) {
    let this = Arc::as_ptr(&handle.shared);
    crate::thread_context::with(|cx| {
        cx.bump();
        cx.reactor.set(this)
    });
}

#[must_use = "the event loop is current only while the guard lives"]
pub(crate) struct EnterGuard<'a> {
    prev: *const LoopState,
    _handle: PhantomData<&'a Handle>,
}

impl Drop for EnterGuard<'_> {
    fn drop(&mut self) {
        let prev = self.prev;
        crate::thread_context::with(|cx| {
            cx.bump();
            cx.reactor.set(prev)
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::reactor::test_util::fd_lock;
    use crate::reactor::Driver;

    #[test]
    fn entries_nest_and_restore() {
        let _fd = fd_lock();
        assert!(Handle::try_current().is_none());
        let (d1, d2) = (Driver::new().unwrap(), Driver::new().unwrap());
        {
            let _a = enter(d1.handle());
            assert!(Handle::current().ptr_eq(d1.handle()));
            {
                let _b = enter(d2.handle());
                assert!(Handle::current().ptr_eq(d2.handle()));
            }
            assert!(Handle::current().ptr_eq(d1.handle()));
            // Restored when unwinding too.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _b = enter(d2.handle());
                panic!("inside");
            }));
            assert!(r.is_err());
            assert!(Handle::current().ptr_eq(d1.handle()));
        }
        assert!(Handle::try_current().is_none());
    }

    /// The field is ambient: an executor entry's saved context restores it.
    #[test]
    fn an_executor_entry_restores_it() {
        let _fd = fd_lock();
        let (d, inner) = (Driver::new().unwrap(), Driver::new().unwrap());
        let _a = enter(d.handle());
        {
            let _saved = crate::thread_context::Saved::new();
            // Leaked on purpose: the saved context puts the field back.
            std::mem::forget(enter(inner.handle()));
            assert!(Handle::current().ptr_eq(inner.handle()));
        }
        assert!(Handle::current().ptr_eq(d.handle()));
    }
}
