//! The thread-local *current resource* slot (rule 3: it is a stack).
//!
//! The slot is the `frame` field of the per-thread runtime context
//! (`thread_context.rs`): a constant-initialised thread-local of `Copy`
//! values with no destructor, so reading it is a bare thread-local load (no
//! lazy-init or destructor-state check) and it stays readable during
//! thread-local teardown. Its address is the context's, which holds across
//! stack switches because no stack changes threads (rule 7). The executors
//! save and restore it with the rest of the context on entry and around
//! stackful switches (rule 11).
//!
//! Invariant: the slot's value is alive and may be used on this thread (a
//! thread-safe resource, or a local root on its owner thread), so
//! [`current`] hands out a `ThisThread` handle to it. The safe setters take
//! only `Direct` handles (a [`ResourceHandle`] never leaves its owner
//! thread); task cells, which keep `Frame` handles, install theirs through
//! the crate-internal `unsafe` setters on the owner thread.
//!
//! # Ownership of the slot's value
//!
//! The slot holds a raw `HandleRepr` (or nothing: the default) and a
//! `Count` saying whether the slot owns one reference count of it:
//!
//! - *borrowed*: installed by [`safe_resume_with`] (the executors' per-poll
//!   call, which must not touch the refcount) or by [`safe_resume`] (which
//!   keeps the saved value in its own frame). It is kept alive by that call's
//!   borrow, and the call restores the slot before returning, also when
//!   unwinding: a borrowed value never outlives its backing frame.
//! - *owned*: installed by [`set_current`]; the slot owns one count.
//!
//! [`CurrentGuard`] owns the previous value, upgraded to an owned one if it
//! was borrowed. So a guard that is leaked (`mem::forget`) or dropped out of
//! order, or that escapes a `safe_resume_with` closure, can only leak a count
//! or restore a value out of order — never leave a dangling pointer in the
//! slot. In correct (LIFO) use the slot behaves exactly like a stack.
//!
//! # Cost
//!
//! The slot is four machine words (the three-word value and the word-sized
//! count), written on every poll and restored after every poll or batch, and
//! copied with the rest of the ambient context. Every copy out of the live
//! slot reads it a word at a time (`load_slot`), so a read never spans two
//! of the narrower stores that wrote it; the count is a whole word for the
//! same reason (a `bool` would be a byte store under a word load).

use super::handle::{Direct, Handle, HandleRepr, Kind, ResourceHandle};
use std::marker::PhantomData;

/// Whether the slot's value owns one reference count. A whole word (see the
/// module docs: the slot is read a word at a time).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum Count {
    /// Kept alive by a borrow that outlives the value's stay in the slot.
    Borrowed = 0,
    /// The slot (or the copy holding the value) owns one count.
    Owned = 1,
}

/// The slot's value: the resource (`None`: unset, the default) and whether
/// the value owns a count. Four machine words, no byte fields.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct Slot {
    value: Option<HandleRepr>,
    count: Count,
}

impl Slot {
    pub(crate) const EMPTY: Slot = Slot {
        value: None,
        count: Count::Borrowed,
    };

    /// The same value, not owning a count.
    #[inline(always)]
    pub(crate) fn uncounted(self) -> Slot {
        Slot {
            count: Count::Borrowed,
            ..self
        }
    }

    #[inline(always)]
    fn borrowed(r: HandleRepr) -> Slot {
        Slot {
            value: Some(r),
            count: Count::Borrowed,
        }
    }

    #[inline(always)]
    fn owned(r: HandleRepr) -> Slot {
        Slot {
            value: Some(r),
            count: Count::Owned,
        }
    }

    /// Gives up the slot's count if it owns one.
    #[inline]
    pub(crate) fn release(self) {
        // The count first: one compare on the common path (borrowed).
        if matches!(self.count, Count::Owned) {
            if let Some(r) = self.value {
                // SAFETY: an owned slot value owns one count.
                unsafe { r.release() }
            }
        }
    }

    /// A value that owns its count (for a guard that may outlive the
    /// frame backing a borrowed value).
    #[inline]
    fn into_counted(self) -> Slot {
        match (self.count, self.value) {
            (Count::Borrowed, Some(r)) => Slot::owned(r.acquire()),
            _ => self,
        }
    }
}

#[inline]
fn slot_get() -> Slot {
    // SAFETY: the address is this thread's slot, used at once.
    unsafe { load_slot(slot_ptr()) }
}

/// Reads a slot one word at a time. The executors write the slot for every
/// poll and restore it after every poll or batch; a copy of the slot made
/// with a 16-byte load spanning two of those 8-byte stores cannot be
/// forwarded from the store buffer (perf on `stackful_wait`, AMD EPYC VM:
/// half of the `LocalExecutor`'s tick waited on that load).
///
/// # Safety
///
/// `p` points to a valid, aligned slot value (this thread's slot or a copy).
#[inline(always)]
pub(crate) unsafe fn load_slot(p: *const Slot) -> Slot {
    use std::mem::{size_of, MaybeUninit};
    const WORDS: usize = size_of::<Slot>() / size_of::<usize>();
    const _: () = assert!(WORDS * size_of::<usize>() == size_of::<Slot>());
    let src = p.cast::<MaybeUninit<usize>>();
    let mut words = [MaybeUninit::<usize>::uninit(); WORDS];
    for (i, w) in words.iter_mut().enumerate() {
        // SAFETY: inside `*p` (per the contract), word-aligned (a slot
        // holds pointers); `MaybeUninit` holds any byte, including the
        // unused vtable word of an empty slot. Volatile: one load per word,
        // never merged into a wider one.
        *w = unsafe { std::ptr::read_volatile(src.add(i)) };
    }
    // SAFETY: the very bytes of a valid `Slot`, in place.
    unsafe { std::mem::transmute::<[MaybeUninit<usize>; WORDS], Slot>(words) }
}

/// This thread's slot address (the context's field: see rule 7 for why it
/// may be kept across a stack switch).
#[inline(always)]
fn slot_ptr() -> *mut Slot {
    // SAFETY: this thread's context record; only the address leaves.
    unsafe { (*crate::thread_context::get()).frame.as_ptr() }
}

#[inline(always)]
fn slot_replace(new: Slot) -> Slot {
    slot_replace_with(|| new)
}

/// [`slot_replace`] with the new value made once the slot's address is
/// known: a handle's words are then read right before they are stored,
/// not kept across the thread-local lookup (in a vector register that the
/// lookup's call would make the compiler spill, as it did on the per-poll
/// path in `task/raw.rs`).
#[inline(always)]
fn slot_replace_with(new: impl FnOnce() -> Slot) -> Slot {
    crate::thread_context::with(|t| {
        // A write of the slot: a stackful task that suspends after one
        // keeps its own value (`thread_context.rs`).
        t.bump();
        // SAFETY: this thread's slot.
        let old = unsafe { load_slot(t.frame.as_ptr()) };
        t.frame.set(new());
        old
    })
}

/// A counted copy of the current resource (the default
/// [`Recycling`](super::Recycling) if the slot is unset).
///
/// ```
/// use coframe::frame::current;
/// assert!(current().is_default());
/// ```
#[inline]
pub fn current() -> ResourceHandle {
    match slot_get().value {
        None => ResourceHandle::default_resource(),
        // SAFETY: the value is alive and may be used on this thread (slot
        // invariants); we take our own count.
        Some(r) => unsafe { ResourceHandle::from_repr(r.acquire()) },
    }
}

/// Restores the value saved on drop (also during unwinding).
struct Restore(Slot);

impl Drop for Restore {
    #[inline]
    fn drop(&mut self) {
        // Word by word: the copy was stored a word at a time right before
        // a poll that may be short (see `load_slot`).
        // SAFETY: our own slot copy, valid and aligned.
        let saved = unsafe { load_slot(&self.0) };
        slot_replace(saved).release();
    }
}

/// Sets the current resource; the guard restores the previous value on drop.
///
/// The slot takes its own count of `h`, so the guard is safe even when
/// leaked (which leaks that count) — see the module docs.
///
/// ```
/// use coframe::frame::{current, set_current, ResourceHandle, System};
/// let h = ResourceHandle::owning_local(System);
/// {
///     let _g = set_current(&h);
///     assert!(current().same_resource(&h));
/// }
/// assert!(current().is_default());
/// ```
#[must_use = "the slot is restored when the guard is dropped"]
pub fn set_current<K: Direct>(h: &Handle<K>) -> CurrentGuard<'_> {
    let prev = slot_replace(Slot::owned(h.repr.acquire()));
    CurrentGuard {
        prev: prev.into_counted(),
        _borrow: PhantomData,
        _not_send: PhantomData,
    }
}

/// Restores the previous current resource when dropped. See [`set_current`].
///
/// ```
/// use coframe::frame::{current, set_current, ResourceHandle, System};
/// let h = ResourceHandle::owning_local(System);
/// let g = set_current(&h);
/// drop(g);
/// assert!(current().is_default());
/// ```
pub struct CurrentGuard<'a> {
    prev: Slot,
    _borrow: PhantomData<&'a ()>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for CurrentGuard<'_> {
    fn drop(&mut self) {
        slot_replace(self.prev).release();
    }
}

impl std::fmt::Debug for CurrentGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentGuard").finish_non_exhaustive()
    }
}

/// Saves the slot, runs `f`, and restores the slot afterwards, even if `f`
/// panics. Every loop that resumes foreign work must go through this (or
/// [`safe_resume_with`]) so the slot behaves like a stack.
///
/// ```
/// use coframe::frame::{current, safe_resume, set_current, ResourceHandle, System};
/// let h = ResourceHandle::owning_local(System);
/// let mut escaped = None;
/// safe_resume(|| {
///     escaped = Some(set_current(&h)); // clobbers the slot, not restored
/// });
/// assert!(current().is_default()); // restored anyway
/// ```
#[inline]
pub fn safe_resume<R>(f: impl FnOnce() -> R) -> R {
    let p = slot_ptr();
    // SAFETY: this thread's slot, used at once. The slot keeps an uncounted
    // copy; `saved` (in `Restore`) owns the value's count, if any, for the
    // duration.
    let saved = unsafe {
        let saved = load_slot(p);
        *p = saved.uncounted();
        saved
    };
    let _restore = Restore(saved);
    f()
}

/// Installs `h` as the current resource for the duration of `f`, then
/// restores the previous value (also when `f` panics). This is the call
/// executors make around every poll or resume: it costs two thread-local
/// accesses and no reference-count traffic (the slot holds an uncounted copy
/// kept alive by the borrow of `h`).
///
/// It takes a handle of either kind: a [`ResourceHandle`] or a
/// [`SyncResourceHandle`](super::SyncResourceHandle).
///
/// ```
/// use coframe::frame::{current, safe_resume_with, SyncResourceHandle, System};
/// let h = SyncResourceHandle::owning(System);
/// let same = safe_resume_with(&h, || current().same_resource(&h));
/// assert!(same);
/// assert!(current().is_default());
/// ```
#[inline]
pub fn safe_resume_with<K: Direct, R>(h: &Handle<K>, f: impl FnOnce() -> R) -> R {
    // SAFETY: a `Direct` handle's resource may be used on this thread.
    unsafe { safe_resume_with_unchecked(h, f) }
}

/// [`safe_resume_with`] for a handle of any kind (task cells keep `Frame`
/// handles).
///
/// # Safety
///
/// `h`'s resource may be used on this thread: it is thread-safe, or this is
/// its root's owner thread (what is allocated while it is current goes
/// through it, unchecked).
#[inline]
pub(crate) unsafe fn safe_resume_with_unchecked<K: Kind, R>(
    h: &Handle<K>,
    f: impl FnOnce() -> R,
) -> R {
    let saved = slot_replace_with(|| Slot::borrowed(h.repr));
    let _restore = Restore(saved);
    f()
}

/// Executor batch loops: makes `h` current without saving the previous
/// value and without touching its count (one thread-local write per poll;
/// the loop saves and restores the slot once per batch with
/// [`safe_resume`]). Releases the slot's previous value if the slot owned a
/// count (a guard leaked by the previous task).
///
/// # Safety
///
/// The caller runs inside a [`safe_resume`] (or [`safe_resume_with`]) on
/// this thread and keeps `h` alive for as long as it is current: until the
/// next `replace_current_uncounted` or `set_current` on this slot, or the end
/// of the enclosing `safe_resume`, whichever comes first. `h`'s resource may
/// be used on this thread (as for [`safe_resume_with_unchecked`]).
#[inline]
#[allow(dead_code)] // used by the executors' batch loops
pub(crate) unsafe fn replace_current_uncounted<K: Kind>(h: &Handle<K>) {
    slot_replace_with(|| Slot::borrowed(h.repr)).release();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::System;

    #[test]
    fn out_of_order_and_forgotten_guards_stay_sound() {
        let a = ResourceHandle::owning_local(System);
        let b = ResourceHandle::owning_local(System);
        let ga = set_current(&a);
        let gb = set_current(&b);
        drop(ga); // out of order: slot = default
        drop(a);
        drop(gb); // restores `a`, whose count the guard kept
        assert!(!current().is_default());
        safe_resume(|| {
            let g = set_current(&b);
            std::mem::forget(g);
        });
        // Reset the slot (releasing `a`'s count) for other tests.
        slot_replace(Slot::EMPTY).release();
        assert!(current().is_default());
    }

    #[test]
    fn batch_loop_replaces_without_restoring() {
        let a = ResourceHandle::owning_local(System);
        let b = ResourceHandle::owning_local(System);
        safe_resume(|| {
            for h in [&a, &b, &a] {
                // SAFETY: inside safe_resume; `a` and `b` outlive it.
                unsafe { replace_current_uncounted(h) };
                assert!(current().same_resource(h));
            }
        });
        assert!(current().is_default());
    }
}
