//! [`Pinned`]: the scheduler of a task that must stay on one pool worker.
//!
//! Stackful tasks never migrate between threads (rule 7, see
//! `stackful.rs`). On a [`ThreadPool`](super::ThreadPool) such a task gets a
//! `Pinned` scheduler instead of the pool's own: until its first poll it is
//! scheduled like any task (so any worker may pick it up); at the start of
//! that poll it records the worker running it, and from then on every wake
//! goes to that worker's pinned inbox, which no other worker steals from.
//! Registration and release go to the pool's live list as for every task,
//! and [`Schedule::pinned_worker`] lets the pool's shutdown cancel the task
//! on its own worker, so even its unwinding runs on its thread.
//!
//! Ordering: `pin_here` runs inside the first poll, while the task is
//! `RUNNING`; wakes during that poll do not reach `schedule` (the runner
//! re-queues after the poll, through this scheduler, after the store). So
//! every `schedule` call that can happen after the first poll began sees the
//! worker index.

use super::pool::{current_worker, Shared};
use crate::task::{Header, Runnable, Schedule};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const UNPINNED: usize = usize::MAX;

/// A per-task scheduler that pins the task to the worker of its first poll.
pub(crate) struct Pinned {
    pool: Arc<Shared>,
    worker: AtomicUsize,
}

impl Pinned {
    pub(crate) fn new(pool: Arc<Shared>) -> Arc<Self> {
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
        self.worker.store(index, Ordering::Release);
    }
}

impl Schedule for Pinned {
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
        self.pool.bind(runnable)
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
