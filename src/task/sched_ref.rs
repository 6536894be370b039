//! [`SchedRef`]: a counted reference to a scheduler, the one way anything
//! in the crate holds a count on one (every task cell's, the local
//! executor's own, its wakers' and spawners').
//!
//! Every scheduler lives in a `std::sync::Arc`. How a reference is counted
//! is the scheduler's to say ([`Schedule::credits`]), and `SchedRef` alone
//! asks it:
//!
//! - no credits (every scheduler but the local executor's): a reference
//!   *is* one strong count of that `Arc`. Taking one from an `Arc` the
//!   caller hands over adopts its count (no atomic).
//! - [`Credits`] (the `LocalExecutor`'s): the scheduler counts its
//!   references in its [`Credits`], and all of them together hold *one*
//!   strong count of the `Arc`, dropped with the last reference. On the
//!   owner thread references are spent from and given back to a stock of
//!   credits taken [`CREDIT_BATCH`] at a time, so spawning, running and
//!   freeing a task on the local executor touches no atomic for its
//!   scheduler reference.
//!
//! Invariants: a `SchedRef` holds one reference for its whole life (its
//! `Drop` gives it back); `refs` of a `Credits` is the number of
//! references plus the unspent credits, and is non-zero exactly while the
//! shared strong count exists. The spare credits (a `Cell`) are touched only
//! on the owner thread: when spending from a borrow or an `Arc` (the
//! constructors' contract: a credits-counted scheduler is borrowed only on
//! its owner thread) and where [`Schedule::credits_here`] says so.
//!
//! Cost: spawning asks `credits()` (one virtual call, its answer in a
//! register); freeing and cloning ask `credits_here()` (one virtual call,
//! its answer in a register pair; for the local executor a thread-local
//! compare).

use super::runnable::Schedule;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use std::cell::Cell;
use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::Arc;

/// References a [`Credits`] owner takes in one atomic operation and then
/// hands out without atomics.
pub(crate) const CREDIT_BATCH: usize = 1024;

/// The reference count of a scheduler that counts its references itself
/// (see the module docs). Crate-internal (not exported).
pub struct Credits {
    /// References (counted by `SchedRef`s) plus unspent credits. The
    /// shared strong count of the scheduler's `Arc` exists while it is not
    /// zero.
    refs: AtomicUsize,
    /// Credits counted in `refs` and not handed out (owner thread only).
    spare: Cell<usize>,
}

// SAFETY: `spare` is touched only on the owner thread (the contract of
// `acquire` and `release`); `refs` is atomic.
unsafe impl Sync for Credits {}

impl Credits {
    /// A count with no reference (the first `SchedRef` makes the caller's
    /// `Arc` the shared strong count).
    pub(crate) fn new() -> Self {
        Credits {
            refs: AtomicUsize::new(0),
            spare: Cell::new(0),
        }
    }

    /// Takes one reference: a credit if `spend`, else one atomic
    /// increment. Returns `true` if there was none before (the caller must
    /// supply the shared strong count).
    ///
    /// # Safety
    /// With `spend`, the calling thread owns the count.
    #[inline(always)]
    unsafe fn acquire(&self, spend: bool) -> bool {
        if spend {
            let c = self.spare.get();
            if c != 0 {
                self.spare.set(c - 1);
                return false;
            }
            self.spare.set(CREDIT_BATCH - 1);
            self.refs.fetch_add(CREDIT_BATCH, Ordering::Relaxed) == 0
        } else {
            self.refs.fetch_add(1, Ordering::Relaxed) == 0
        }
    }

    /// Drops one reference: as a credit if `give_back`, else one atomic
    /// decrement. Returns `true` if it was the last (the caller drops the
    /// shared strong count).
    ///
    /// # Safety
    /// With `give_back`, the calling thread owns the count and another
    /// reference (the owner's own) outlives the call.
    #[inline(always)]
    unsafe fn release(&self, give_back: bool) -> bool {
        if give_back {
            self.spare.set(self.spare.get() + 1);
            return false;
        }
        self.refs.fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// Gives the unspent credits back (the owner, before its own reference
    /// goes), so that the last reference frees the scheduler.
    ///
    /// # Safety
    /// The calling thread owns the count and holds a reference (so this
    /// is never the last); it spends no credit afterwards.
    pub(crate) unsafe fn return_spare(&self) {
        let n = self.spare.replace(0);
        if n != 0 {
            let prev = self.refs.fetch_sub(n, Ordering::AcqRel);
            debug_assert!(prev > n, "coframe: spare credits returned by a non-owner");
        }
    }
}

/// A counted reference to a scheduler `S` (see the module docs): `Clone`
/// takes another, `Drop` gives it back, freeing the scheduler with its
/// last reference. `SchedRef<dyn Schedule>` is what a task cell holds.
pub(crate) struct SchedRef<S: ?Sized + Schedule = dyn Schedule> {
    ptr: NonNull<S>,
}

// SAFETY: schedulers are `Send + Sync`; the count is atomic, or spent and
// given back only on its owner thread (`Schedule::credits_here`).
unsafe impl<S: ?Sized + Schedule> Send for SchedRef<S> {}
// SAFETY: as above.
unsafe impl<S: ?Sized + Schedule> Sync for SchedRef<S> {}

impl<S: ?Sized + Schedule> SchedRef<S> {
    /// A reference made of `arc`: its strong count is adopted as the
    /// reference (no credits) or, for a credits-counted scheduler, a
    /// credit is spent and `arc` is dropped (or kept as the shared strong
    /// count if there was no reference).
    ///
    /// # Safety
    /// If `S` counts with credits, the calling thread owns them.
    #[inline(always)]
    pub(crate) unsafe fn from_arc(arc: Arc<S>) -> Self {
        let ptr = Arc::into_raw(arc);
        // SAFETY: `Arc::into_raw` is non-null, and alive through `arc`'s
        // count.
        let (ptr, sched) = unsafe { (NonNull::new_unchecked(ptr as *mut S), &*ptr) };
        if let Some(credits) = sched.credits() {
            // SAFETY: owner thread (contract).
            if !unsafe { credits.acquire(true) } {
                // SAFETY: the count `arc` held; a reference holds another.
                unsafe { drop(Arc::from_raw(ptr.as_ptr())) };
            }
        }
        SchedRef { ptr }
    }

    /// A new reference to a borrowed scheduler.
    ///
    /// # Safety
    /// `sched` lives in an `Arc` with a strong count held for the call; if
    /// `S` counts with credits, the calling thread owns them.
    #[inline(always)]
    pub(crate) unsafe fn from_ref(sched: &S) -> Self {
        match sched.credits() {
            // SAFETY: `sched` lives in an `Arc` whose count is held.
            None => unsafe { Arc::increment_strong_count(sched) },
            // SAFETY: owner thread (contract); with no reference before,
            // the new one holds the shared strong count.
            Some(credits) => unsafe {
                if credits.acquire(true) {
                    Arc::increment_strong_count(sched)
                }
            },
        }
        SchedRef {
            ptr: NonNull::from(sched),
        }
    }

    /// The scheduler's address.
    #[inline(always)]
    pub(crate) fn as_ptr(&self) -> *const S {
        self.ptr.as_ptr()
    }
}

impl<S: Schedule> SchedRef<S> {
    /// The same reference, type-erased.
    #[inline(always)]
    pub(crate) fn into_dyn(self) -> SchedRef {
        let me = ManuallyDrop::new(self);
        let ptr: NonNull<dyn Schedule> = me.ptr;
        SchedRef { ptr }
    }
}

impl<S: ?Sized + Schedule> Deref for SchedRef<S> {
    type Target = S;
    #[inline(always)]
    fn deref(&self) -> &S {
        // SAFETY: the reference keeps the scheduler alive.
        unsafe { self.ptr.as_ref() }
    }
}

impl<S: ?Sized + Schedule> Clone for SchedRef<S> {
    #[inline]
    fn clone(&self) -> Self {
        match (**self).credits_here() {
            // SAFETY: the scheduler lives in an `Arc`; this reference is one
            // of its strong counts.
            None => unsafe { Arc::increment_strong_count(self.ptr.as_ptr()) },
            Some((credits, owner_here)) => {
                // SAFETY: spends only on the owner thread (`credits_here`);
                // `self` is a reference, so there was one before.
                let first = unsafe { credits.acquire(owner_here) };
                debug_assert!(!first);
            }
        }
        SchedRef { ptr: self.ptr }
    }
}

impl<S: ?Sized + Schedule> Drop for SchedRef<S> {
    #[inline]
    fn drop(&mut self) {
        let last = match (**self).credits_here() {
            None => true,
            // SAFETY: gives back as a credit only on the owner thread
            // while the owner's own reference is held (`credits_here`).
            Some((credits, owner_here)) => unsafe { credits.release(owner_here) },
        };
        if last {
            // SAFETY: the strong count this reference was (no credits), or
            // the shared one, which the last reference drops.
            unsafe { drop(Arc::from_raw(self.ptr.as_ptr())) }
        }
    }
}

impl<S: ?Sized + Schedule> fmt::Debug for SchedRef<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SchedRef").field(&self.ptr).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::task::{Header, Runnable};
    use std::sync::atomic::AtomicBool;
    use std::sync::Weak;

    /// A scheduler counted by `Arc` strong counts.
    struct Plain;

    // SAFETY: lives in an `Arc`; runs nothing.
    unsafe impl Schedule for Plain {
        fn schedule(&self, r: Runnable) {
            r.into_raw();
        }
        fn bind(&self, r: Runnable) {
            r.into_raw();
        }
        fn release(&self, _: NonNull<Header>) {}
        fn is_local(&self) -> bool {
            false
        }
        fn pinning(self: Arc<Self>) -> crate::executor::pinning::Pinning {
            crate::executor::pinning::Pinning::Thread(self)
        }
    }

    /// A credits-counted scheduler whose owner is "here" when the test
    /// says so (the tests run on one thread).
    struct Owned {
        credits: Credits,
        here: AtomicBool,
    }

    // SAFETY: lives in an `Arc`; runs nothing; `here` is set only by
    // these single-threaded tests, while they hold another reference.
    unsafe impl Schedule for Owned {
        fn schedule(&self, r: Runnable) {
            r.into_raw();
        }
        fn bind(&self, r: Runnable) {
            r.into_raw();
        }
        fn release(&self, _: NonNull<Header>) {}
        fn is_local(&self) -> bool {
            true
        }
        fn pinning(self: Arc<Self>) -> crate::executor::pinning::Pinning {
            crate::executor::pinning::Pinning::Thread(self)
        }
        fn credits(&self) -> Option<&Credits> {
            Some(&self.credits)
        }
        fn credits_here(&self) -> Option<(&Credits, bool)> {
            Some((&self.credits, self.here.load(Ordering::Relaxed)))
        }
    }

    fn owned() -> (Arc<Owned>, Weak<Owned>) {
        let a = Arc::new(Owned {
            credits: Credits::new(),
            here: AtomicBool::new(false),
        });
        let w = Arc::downgrade(&a);
        (a, w)
    }

    #[test]
    fn an_arc_counted_reference_is_one_strong_count() {
        let a = Arc::new(Plain);
        let w = Arc::downgrade(&a);
        // SAFETY: `Plain` is not credits-counted.
        let r = unsafe { SchedRef::from_arc(a) };
        assert_eq!(w.strong_count(), 1, "the handed-over count is adopted");
        let r2 = r.clone().into_dyn();
        // SAFETY: `r` holds a strong count.
        let r3 = unsafe { SchedRef::from_ref(&*r) };
        assert_eq!(w.strong_count(), 3);
        drop((r, r2));
        assert_eq!(w.strong_count(), 1);
        drop(r3);
        assert_eq!(w.strong_count(), 0);
    }

    #[test]
    fn credits_counted_references_share_one_strong_count() {
        let (a, w) = owned();
        // SAFETY: this thread owns the credits.
        let r = unsafe { SchedRef::from_arc(a) };
        assert_eq!(w.strong_count(), 1, "the first reference adopts the count");
        assert_eq!(r.credits.refs.load(Ordering::Relaxed), CREDIT_BATCH);
        // From a borrow on the owner thread: a credit.
        // SAFETY: owner thread; `r` holds the shared count.
        let spent = unsafe { SchedRef::from_ref(&*r) };
        assert_eq!(r.credits.spare.get(), CREDIT_BATCH - 2);
        // Cloned where the owner is not running: an atomic increment.
        let remote = r.clone();
        assert_eq!(r.credits.refs.load(Ordering::Relaxed), CREDIT_BATCH + 1);
        assert_eq!(w.strong_count(), 1);
        // Dropped where the owner runs: back as a credit.
        r.here.store(true, Ordering::Relaxed);
        drop(spent);
        assert_eq!(r.credits.spare.get(), CREDIT_BATCH - 1);
        r.here.store(false, Ordering::Relaxed);
        drop(remote);
        assert_eq!(r.credits.refs.load(Ordering::Relaxed), CREDIT_BATCH);
        // The owner gives its credits back, then its own reference: freed.
        // SAFETY: owner thread; `r` outlives the call.
        unsafe { r.credits.return_spare() };
        assert_eq!(w.strong_count(), 1);
        drop(r);
        assert_eq!(w.strong_count(), 0, "the last reference frees it");
    }

    #[test]
    fn a_credits_counted_scheduler_with_no_reference_takes_a_strong_count_again() {
        let (a, w) = owned();
        let keep = a.clone();
        // SAFETY: this thread owns the credits.
        let r = unsafe { SchedRef::from_arc(a) };
        // SAFETY: owner thread; `r` outlives the call.
        unsafe { r.credits.return_spare() };
        drop(r);
        assert_eq!(w.strong_count(), 1, "only `keep` is left");
        // SAFETY: owner thread; `keep` holds a strong count.
        let again = unsafe { SchedRef::from_ref(&*keep) };
        assert_eq!(w.strong_count(), 2, "the new reference holds its own");
        drop(keep);
        let copy = again.clone();
        drop(again);
        assert_eq!(w.strong_count(), 1);
        // SAFETY: owner thread; `copy` outlives the call.
        unsafe { copy.credits.return_spare() };
        drop(copy);
        assert_eq!(w.strong_count(), 0);
    }
}
