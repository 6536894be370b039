//! The pool's run queues: each worker's local queue (and the [`Stealer`]
//! other workers take from), the global [`Injector`] and the per-worker
//! pinned inboxes (an `Injector` that only its worker pops).
//!
//! Normally these are `crossbeam-deque`'s lock-free `Worker` (FIFO),
//! `Stealer` and `Injector`. Under `--cfg loom` they are a loom mutex around
//! a `VecDeque` with the same API: crossbeam-deque is not instrumented for
//! loom, and the pool's own protocol (parking, the remote gate, shutdown) is
//! what the loom models check; the deque itself is crossbeam's, tested by
//! crossbeam.
//!
//! The LIFO slot is not here: it is a plain `Cell` on the worker's own
//! thread (`worker.rs`), never seen by stealers.
//!
//! Invariants: a `Runnable` popped or stolen from any of these is owned by
//! exactly one thread (crossbeam's `Steal::Success` is exclusive); the local
//! queue is pushed and popped only by its worker thread; the queues must be
//! empty when dropped (shutdown forgets their contents first), because
//! dropping a `Runnable` cancels its task on the spot.

use crate::task::Runnable;

/// Most tasks moved by one steal: about half of the victim's queue, at most
/// this many (tokio moves half of a 256-slot ring).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const MAX_STEAL: usize = 128;

#[cfg(not(loom))]
mod imp {
    use super::{Runnable, MAX_STEAL};
    use crossbeam_deque::{
        Injector as CbInjector, Steal, Stealer as CbStealer, Worker as CbWorker,
    };

    /// A worker's own queue (push and pop on its thread only).
    pub(crate) struct Local(CbWorker<Runnable>);

    /// The side of a local queue other workers steal from.
    pub(crate) struct Stealer(CbStealer<Runnable>);

    /// A multi-producer queue (global injector, pinned inbox).
    pub(crate) struct Injector(CbInjector<Runnable>);

    impl Local {
        pub(crate) fn new() -> (Self, Stealer) {
            let w = CbWorker::new_fifo();
            let s = w.stealer();
            (Local(w), Stealer(s))
        }
        #[inline]
        pub(crate) fn push(&self, r: Runnable) {
            self.0.push(r)
        }
        #[inline]
        pub(crate) fn pop(&self) -> Option<Runnable> {
            self.0.pop()
        }
        #[inline]
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
        #[inline]
        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }

    impl Stealer {
        /// Moves about half of the victim's tasks to `dest` and returns one
        /// of them.
        pub(crate) fn steal_half_into(&self, dest: &Local) -> Option<Runnable> {
            loop {
                match self.0.steal_batch_with_limit_and_pop(&dest.0, MAX_STEAL) {
                    Steal::Success(r) => return Some(r),
                    Steal::Empty => return None,
                    Steal::Retry => std::hint::spin_loop(),
                }
            }
        }
        #[inline]
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    impl Injector {
        pub(crate) fn new() -> Self {
            Injector(CbInjector::new())
        }
        #[inline]
        pub(crate) fn push(&self, r: Runnable) {
            self.0.push(r)
        }
        /// Pops one task.
        pub(crate) fn pop(&self) -> Option<Runnable> {
            loop {
                match self.0.steal() {
                    Steal::Success(r) => return Some(r),
                    Steal::Empty => return None,
                    Steal::Retry => std::hint::spin_loop(),
                }
            }
        }
        /// Pops one task and moves a batch of others to `dest`.
        pub(crate) fn pop_batch_into(&self, dest: &Local) -> Option<Runnable> {
            loop {
                match self.0.steal_batch_with_limit_and_pop(&dest.0, MAX_STEAL) {
                    Steal::Success(r) => return Some(r),
                    Steal::Empty => return None,
                    Steal::Retry => std::hint::spin_loop(),
                }
            }
        }
        #[inline]
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }
}

#[cfg(loom)]
mod imp {
    use super::Runnable;
    use crate::loom::sync::{Arc, Mutex};
    use std::collections::VecDeque;

    type Q = Arc<Mutex<VecDeque<Runnable>>>;

    pub(crate) struct Local(Q);
    pub(crate) struct Stealer(Q);
    pub(crate) struct Injector(Mutex<VecDeque<Runnable>>);

    impl Local {
        pub(crate) fn new() -> (Self, Stealer) {
            let q: Q = Arc::new(Mutex::new(VecDeque::new()));
            (Local(q.clone()), Stealer(q))
        }
        pub(crate) fn push(&self, r: Runnable) {
            self.0.lock().unwrap().push_back(r)
        }
        pub(crate) fn pop(&self) -> Option<Runnable> {
            self.0.lock().unwrap().pop_front()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().unwrap().is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().unwrap().len()
        }
    }

    impl Stealer {
        pub(crate) fn steal_half_into(&self, dest: &Local) -> Option<Runnable> {
            let mut src = self.0.lock().unwrap();
            let first = src.pop_front()?;
            let n = src.len() / 2;
            let moved: Vec<Runnable> = src.drain(..n).collect();
            drop(src);
            let mut d = dest.0.lock().unwrap();
            d.extend(moved);
            Some(first)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().unwrap().is_empty()
        }
    }

    impl Injector {
        pub(crate) fn new() -> Self {
            Injector(Mutex::new(VecDeque::new()))
        }
        pub(crate) fn push(&self, r: Runnable) {
            self.0.lock().unwrap().push_back(r)
        }
        pub(crate) fn pop(&self) -> Option<Runnable> {
            self.0.lock().unwrap().pop_front()
        }
        pub(crate) fn pop_batch_into(&self, _dest: &Local) -> Option<Runnable> {
            self.pop()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().unwrap().is_empty()
        }
    }
}

pub(crate) use imp::{Injector, Local, Stealer};

impl Injector {
    /// Forgets every queued `Runnable` (shutdown: the tasks stay on the live
    /// list and are cancelled by its pass, which needs them not `RUNNING`
    /// and tolerates their stale `SCHEDULED` bit).
    pub(crate) fn forget_all(&self) {
        while let Some(r) = self.pop() {
            r.into_raw();
        }
    }
}

impl Local {
    /// Forgets every queued `Runnable` (see [`Injector::forget_all`]).
    pub(crate) fn forget_all(&self) {
        while let Some(r) = self.pop() {
            r.into_raw();
        }
    }
}
