//! AddressSanitizer fiber-switch annotations (feature `asan`).
//!
//! ASan keeps a shadow of "the current stack"; a switch it is not told about
//! makes it misreport stack accesses. The protocol, per switch from A to B:
//!
//! 1. on A, just before: `start(&mut fake_a, bounds of B)` (a null save
//!    slot when A is finishing for good, so ASan frees A's fake stack);
//! 2. on B, first thing after: `finish(fake_b)`, which returns A's bounds.
//!
//! Without the feature both are empty and inline to nothing. The feature
//! only links when the binary is built with `-Zsanitizer=address`.

#[cfg(feature = "asan")]
use std::ffi::c_void;

/// A stack's lowest usable address and its size, as ASan wants them. A
/// zero-sized type without the feature, so handles that carry one cost
/// nothing.
#[cfg(feature = "asan")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) bottom: *const c_void,
    pub(crate) size: usize,
}

#[cfg(feature = "asan")]
impl Bounds {
    pub(crate) const UNKNOWN: Bounds = Bounds {
        bottom: std::ptr::null(),
        size: 0,
    };

    pub(crate) fn of(stack: &super::Stack) -> Bounds {
        Bounds {
            bottom: stack.limit() as *const c_void,
            size: stack.size(),
        }
    }
}

/// Without the feature: nothing to carry.
#[cfg(not(feature = "asan"))]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds;

#[cfg(not(feature = "asan"))]
impl Bounds {
    pub(crate) const UNKNOWN: Bounds = Bounds;

    #[inline(always)]
    pub(crate) fn of(_stack: &super::Stack) -> Bounds {
        Bounds
    }
}

/// Where a suspended resumer's fake-stack save waits for code that runs on
/// its stack before it resumes itself (`Yielder::on_parent_stack`): a cell
/// with the feature, a zero-sized nothing without.
#[cfg(feature = "asan")]
pub(crate) struct FakeSlot(std::cell::Cell<*mut c_void>);

#[cfg(feature = "asan")]
impl FakeSlot {
    pub(crate) const EMPTY: FakeSlot = FakeSlot(std::cell::Cell::new(std::ptr::null_mut()));

    #[inline(always)]
    pub(crate) fn set(&self, fake: *mut c_void) {
        self.0.set(fake)
    }

    #[inline(always)]
    pub(crate) fn get(&self) -> *mut c_void {
        self.0.get()
    }
}

/// Without the feature: nothing to keep.
#[cfg(not(feature = "asan"))]
pub(crate) struct FakeSlot;

#[cfg(not(feature = "asan"))]
impl FakeSlot {
    pub(crate) const EMPTY: FakeSlot = FakeSlot;

    #[inline(always)]
    pub(crate) fn set(&self, _fake: *mut std::ffi::c_void) {}

    #[inline(always)]
    pub(crate) fn get(&self) -> *mut std::ffi::c_void {
        std::ptr::null_mut()
    }
}

#[cfg(feature = "asan")]
mod imp {
    use super::Bounds;
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
    }

    #[inline(always)]
    pub(crate) fn start(fake: *mut *mut c_void, to: Bounds) {
        // SAFETY: ASan's documented fiber API; `fake` is null or a valid slot.
        unsafe { __sanitizer_start_switch_fiber(fake, to.bottom, to.size) }
    }

    #[inline(always)]
    pub(crate) fn finish(fake: *mut c_void) -> Bounds {
        let mut b = Bounds::UNKNOWN;
        // SAFETY: ASan's documented fiber API with valid out-pointers.
        unsafe { __sanitizer_finish_switch_fiber(fake, &mut b.bottom, &mut b.size) };
        b
    }
}

#[cfg(not(feature = "asan"))]
mod imp {
    use super::Bounds;
    use std::ffi::c_void;

    #[inline(always)]
    pub(crate) fn start(_fake: *mut *mut c_void, _to: Bounds) {}

    #[inline(always)]
    pub(crate) fn finish(_fake: *mut c_void) -> Bounds {
        Bounds::UNKNOWN
    }
}

pub(crate) use imp::{finish, start};
