//! Crate-internal shim: every synchronisation primitive the runtime's
//! hand-rolled concurrency uses is imported from here, so that `--cfg loom`
//! swaps `std`'s for loom's model-checked versions in one place.
#![allow(unused_imports, dead_code)]

#[cfg(not(loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{
            fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
        };
    }
}

#[cfg(loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{
            fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
        };
    }
}

/// The non-poisoning mutex with `try_lock` the event loop uses
/// (`parking_lot`'s API): `parking_lot::Mutex` itself outside loom, a thin
/// wrapper over loom's mutex under loom (same methods, so the code using it
/// is the same in both builds).
#[cfg(not(loom))]
pub(crate) mod lock {
    pub(crate) use parking_lot::{Mutex, MutexGuard};
}

#[cfg(loom)]
pub(crate) mod lock {
    /// loom's mutex with `parking_lot`'s signatures (no poisoning in the
    /// API: a poisoned loom mutex means a model already failed).
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }

        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            match self.0.try_lock() {
                Ok(g) => Some(g),
                Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            }
        }
    }
}

#[cfg(not(loom))]
pub(crate) mod thread {
    pub(crate) use std::thread::{current, park, spawn, yield_now, JoinHandle, Thread};
}

#[cfg(loom)]
pub(crate) mod thread {
    pub(crate) use loom::thread::{current, park, spawn, yield_now, JoinHandle, Thread};
}

/// `UnsafeCell` with loom's `with`/`with_mut` API under both configurations.
pub(crate) mod cell {
    #[cfg(loom)]
    pub(crate) use loom::cell::UnsafeCell;

    /// std-backed stand-in for `loom::cell::UnsafeCell`.
    #[cfg(not(loom))]
    #[derive(Debug, Default)]
    pub(crate) struct UnsafeCell<T: ?Sized>(std::cell::UnsafeCell<T>);

    #[cfg(not(loom))]
    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(data: T) -> Self {
            Self(std::cell::UnsafeCell::new(data))
        }
    }

    #[cfg(not(loom))]
    impl<T: ?Sized> UnsafeCell<T> {
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}
