//! [`Pinned`]: the scheduler of a task that must stay on one pool worker.
//!
//! Stackful tasks never migrate between threads (rule 7, see
//! `stackful.rs`). On a [`ThreadPool`](super::ThreadPool) such a task gets a
//! `Pinned` scheduler instead of the pool's own. A stackful task's is
//! [placed](Pinned::placed) when it is made, before its first poll: on the
//! worker with the fewest live pinned tasks, the spawning worker on a tie.
//! So an accept loop on one worker spreads its connections' stackful tasks
//! over all of them (pinning each where it was first polled put nearly all
//! on the accepting worker). A strand's drain gets a [lazy](Pinned::lazy)
//! one: scheduled like any task (so any worker may run it) until a stackful
//! task bound to the strand first runs, which pins it to that worker.
//! Once pinned, every schedule goes to that worker's pinned inbox, which no
//! other worker steals from. Registration and release go to the pool's live
//! list as for every task, and [`Schedule::pinned_worker`] lets the pool's
//! shutdown cancel the task on its own worker, so even its unwinding runs
//! on its thread. Each pinned scheduler counts in its worker's load until
//! it is dropped (with its task's cell).
//!
//! Ordering (lazy): `pin_here` runs inside the first poll, while the task
//! is `RUNNING`; wakes during that poll do not reach `schedule` (the runner
//! re-queues after the poll, through this scheduler, after the store). So
//! every `schedule` call that can happen after the first poll began sees the
//! worker index.

use super::pool::{current_worker, Shared};
use crate::task::{Header, Runnable, Schedule};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const UNPINNED: usize = usize::MAX;

/// A per-task scheduler that keeps the task on one pool worker.
pub(crate) struct Pinned {
    pool: Arc<Shared>,
    worker: AtomicUsize,
}

impl Pinned {
    /// A scheduler for a new stackful task of `pool`, placed on a worker
    /// now (see the module docs).
    pub(crate) fn placed(pool: Arc<Shared>) -> Arc<Self> {
        let here = current_worker()
            .filter(|(p, _)| Arc::ptr_eq(p, &pool))
            .map(|(_, w)| w);
        let worker = pool.place_pinned(here);
        Arc::new(Pinned {
            pool,
            worker: AtomicUsize::new(worker),
        })
    }

    /// A scheduler that pins its task to the worker of the first
    /// [`pin_here`](Schedule::pin_here) (a strand's drain).
    pub(crate) fn lazy(pool: Arc<Shared>) -> Arc<Self> {
        Arc::new(Pinned {
            pool,
            worker: AtomicUsize::new(UNPINNED),
        })
    }

    /// Pins the task to the worker running the current poll (first call
    /// only).
    fn pin_to_current(&self) {
        if self.worker.load(Ordering::Relaxed) != UNPINNED {
            return;
        }
        let (pool, index) =
            current_worker().expect("coframe: a pinned task was polled outside its pool's workers");
        assert!(
            Arc::ptr_eq(&pool, &self.pool),
            "coframe: a pinned task was polled by another pool"
        );
        self.pool.count_pinned(index);
        self.worker.store(index, Ordering::Release);
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        match *self.worker.get_mut() {
            UNPINNED => {}
            w => self.pool.unplace_pinned(w),
        }
    }
}

// SAFETY: lives in an `Arc`; forwards to the pool (its live list, its
// queues and inboxes), whose contract it shares.
unsafe impl Schedule for Pinned {
    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        Some(&*self.pool)
    }

    fn task_panicked(&self) {
        self.pool.task_panicked()
    }

    fn schedule(&self, runnable: Runnable) {
        match self.worker.load(Ordering::Acquire) {
            UNPINNED => self.pool.schedule(runnable),
            w => self.pool.schedule_on(w, runnable),
        }
    }

    fn bind(&self, runnable: Runnable) {
        self.pool.bind_on(self.pinned_worker(), runnable)
    }

    fn release(&self, task: NonNull<Header>) {
        self.pool.release(task)
    }

    fn is_local(&self) -> bool {
        false
    }

    fn stacks(&self) -> Option<crate::context::PooledStack> {
        Some(self.pool.stacks().clone())
    }

    fn pin_here(&self) {
        self.pin_to_current()
    }

    fn pinned_worker(&self) -> Option<usize> {
        match self.worker.load(Ordering::Acquire) {
            UNPINNED => None,
            w => Some(w),
        }
    }
}
