//! Temporary bridge standing in for `crate::frame`'s handles until the frame
//! branch lands (same names and signatures as `/work/notes/frame-api.md`).
#![allow(dead_code)]

use crate::frame::{AllocError, MemoryResource, System};
use std::alloc::Layout;
use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::Arc;

type Dyn = Arc<dyn MemoryResource>;

/// Counted handle (bridge).
#[derive(Clone, Default)]
pub struct ResourceHandle(Option<Dyn>);
/// Sync handle (bridge).
#[derive(Clone, Default)]
pub struct SyncResourceHandle(Option<Dyn>);
/// Raw handle (bridge).
pub struct RawHandle(Option<Dyn>);
// SAFETY: bridge only; replaced by frame's RawHandle.
unsafe impl Send for RawHandle {}
// SAFETY: bridge only.
unsafe impl Send for SyncResourceHandle {}
// SAFETY: bridge only.
unsafe impl Sync for SyncResourceHandle {}

thread_local! {
    static SLOT: Cell<*const Option<Dyn>> = const { Cell::new(std::ptr::null()) };
}

impl ResourceHandle {
    pub(crate) fn current() -> Self {
        let p = SLOT.with(|s| s.get());
        if p.is_null() {
            Self(None)
        } else {
            // SAFETY: bridge: the slot's referent is borrowed for the scope.
            Self(unsafe { (*p).clone() })
        }
    }
    pub(crate) fn owning_local<A: MemoryResource + Send + 'static>(a: A) -> Self {
        Self(Some(Arc::new(a)))
    }
    pub(crate) fn allocate(&self, l: Layout) -> Result<NonNull<u8>, AllocError> {
        match &self.0 {
            Some(r) => r.allocate(l),
            None => System.allocate(l),
        }
    }
    pub(crate) fn into_raw(self) -> RawHandle {
        RawHandle(self.0)
    }
}
impl SyncResourceHandle {
    pub(crate) fn owning<A: MemoryResource + Send + Sync + 'static>(a: A) -> Self {
        Self(Some(Arc::new(a)))
    }
    pub(crate) fn current() -> Self {
        Self(ResourceHandle::current().0)
    }
}
impl From<SyncResourceHandle> for ResourceHandle {
    fn from(h: SyncResourceHandle) -> Self {
        Self(h.0)
    }
}
impl RawHandle {
    pub(crate) unsafe fn deallocate(&self, p: NonNull<u8>, l: Layout) {
        // SAFETY: bridge.
        unsafe {
            match &self.0 {
                Some(r) => r.deallocate(p, l),
                None => System.deallocate(p, l),
            }
        }
    }
}

pub(crate) struct CurrentGuard(*const Option<Dyn>);
impl Drop for CurrentGuard {
    fn drop(&mut self) {
        SLOT.with(|s| s.set(self.0));
    }
}
pub(crate) fn set_current(h: &ResourceHandle) -> CurrentGuard {
    CurrentGuard(SLOT.with(|s| s.replace(&h.0)))
}
pub(crate) fn safe_resume_raw<R>(h: &RawHandle, f: impl FnOnce() -> R) -> R {
    let _g = CurrentGuard(SLOT.with(|s| s.replace(&h.0)));
    f()
}
pub(crate) fn safe_resume<R>(f: impl FnOnce() -> R) -> R {
    let _g = CurrentGuard(SLOT.with(|s| s.get()));
    f()
}
