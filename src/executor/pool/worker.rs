//! A pool worker: its thread-owned core (local queue, LIFO slot, search
//! state) and its loop.
//!
//! # Where the next task comes from
//!
//! 1. The **LIFO slot**, right after a task returns: the task it spawned or
//!    woke last runs next, while its data is hot in cache. At most
//!    [`MAX_LIFO_POLLS`] in a row; then the slot's task goes to the back of
//!    the local queue and the slot is off until a task from the queue runs,
//!    so two tasks waking each other cannot starve the rest. A task that
//!    wakes *itself* (a yield) goes to the back of the queue, never to the
//!    slot. Stealers never see the slot.
//! 2. Every [`GLOBAL_INTERVAL`]-th tick, the pinned inbox and the injector
//!    before the local queue (the bound on local work before the injector is
//!    looked at).
//! 3. The local queue, then the pinned inbox, then a batch from the
//!    injector.
//! 4. Out of work: *search* (if the searching cap allows, `idle.rs`):
//!    steal about half of a victim's queue, starting at a random victim,
//!    then the injector again.
//! 5. Still nothing: park (`idle.rs` protocol: register as sleeper, the
//!    last searcher re-checks every queue, the pinned inbox is always
//!    re-checked).
//!
//! A task spawned or woken on a worker goes to its LIFO slot (the previous
//! occupant to the local queue, then an idle worker is notified so it can
//! steal). From other threads, tasks go to the injector (`shared.rs`).
//!
//! Invariants: the `worker` field of the thread's context points to the
//! core of the worker running on this thread, from the start of the loop
//! to the end of the exit path (so "am I a worker of this pool" holds while
//! the exit path cancels tasks: a pool dropped there is never joined from
//! its own thread), and `schedule` on this thread may touch the core's
//! `Cell`s. The
//! frame slot is saved once around the whole loop (`safe_resume`) and each
//! poll writes its task's resource into it (`run_batched`); nothing between
//! two polls reads the slot, and the exit path (cancellations) runs after
//! the slot is restored.

use super::queue::Local;
use super::shared::{bump, PoolState};
use crate::task::{Header, Runnable};
use std::cell::Cell;
use std::ptr;
use std::sync::Arc;

/// Consecutive polls from the LIFO slot before it is turned off (tokio: 3).
pub(crate) const MAX_LIFO_POLLS: u32 = 3;

/// Ticks between two looks at the injector ahead of local work (tokio's
/// starting value is 61, a number copied from Go).
pub(crate) const GLOBAL_INTERVAL: u32 = 61;

/// The core of the worker running on this thread (the `worker` field of the
/// thread's context), or null.
#[inline]
fn current_ptr() -> *const Core {
    crate::thread_context::with(|cx| cx.worker.get())
}

/// The core of the worker running on this thread, if it belongs to `shared`.
#[inline]
pub(crate) fn current_for(shared: &PoolState) -> Option<&'static Core> {
    let p = current_ptr();
    if p.is_null() {
        return None;
    }
    // SAFETY: CURRENT points to a core that lives on this thread's worker
    // loop frame for as long as it is set; the returned borrow is only used
    // within the caller's call on this thread.
    let core = unsafe { &*p };
    ptr::eq(Arc::as_ptr(&core.shared), shared).then_some(core)
}

/// Whether this thread is a worker of any coframe pool.
pub(crate) fn on_any_worker() -> bool {
    !current_ptr().is_null()
}

/// The pool and index of the worker running on this thread (for pinned
/// tasks, rule 7).
pub(crate) fn current_worker() -> Option<(Arc<PoolState>, usize)> {
    let p = current_ptr();
    // SAFETY: as in `current_for`.
    (!p.is_null()).then(|| unsafe { ((*p).shared.clone(), (*p).index) })
}

/// A worker's own state; lives on its thread's stack.
pub(crate) struct Core {
    pub(crate) index: usize,
    shared: Arc<PoolState>,
    local: Local,
    lifo: Cell<Option<Runnable>>,
    lifo_enabled: Cell<bool>,
    /// The task being polled (to tell a self-wake from a wake of another).
    running: Cell<*const Header>,
    searching: Cell<bool>,
    tick: Cell<u32>,
    rng: Cell<u32>,
}

impl Core {
    pub(crate) fn new(shared: Arc<PoolState>, index: usize, local: Local) -> Self {
        Core {
            index,
            shared,
            local,
            lifo: Cell::new(None),
            lifo_enabled: Cell::new(true),
            running: Cell::new(ptr::null()),
            searching: Cell::new(false),
            tick: Cell::new(0),
            rng: Cell::new(0x9E37_79B9 ^ (index as u32).wrapping_mul(0x85EB_CA6B) | 1),
        }
    }

    /// This worker's local queue (the loom models push to it).
    #[cfg(all(test, loom))]
    pub(super) fn local(&self) -> &Local {
        &self.local
    }

    /// Queues a task spawned or woken on this worker.
    #[inline]
    pub(crate) fn schedule_local(&self, r: Runnable) {
        if self.shared.is_closed() {
            // Shutting down: the task stays on the live list and is
            // cancelled by the shutdown.
            r.into_raw();
            return;
        }
        let p = r.into_raw();
        let r = Runnable::from_raw(p);
        let running = self.running.get();
        let is_yield = ptr::eq(p.as_ptr(), running);
        // The LIFO slot is for what a running task spawns or wakes; wakes
        // from outside a task (the event loop's, turned by this worker) go
        // to the queue, where the loop looks first.
        if running.is_null() {
            // Woken by the event loop this worker is turning: it runs the
            // task itself when the turn ends, and wakes another worker only
            // if it got more than one (`park`), as tokio does.
            self.local.push(r);
            return;
        }
        if is_yield || !self.lifo_enabled.get() {
            self.local.push(r);
        } else {
            match self.lifo.replace(Some(r)) {
                None => return,
                Some(prev) => self.local.push(prev),
            }
        }
        self.shared.notify_parked();
    }

    fn next_rand(&self) -> u32 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }

    /// The worker loop; returns when the pool shuts down.
    pub(crate) fn run(&self) {
        let shared = &*self.shared;
        loop {
            if shared.is_closed() {
                return;
            }
            let tick = self.tick.get().wrapping_add(1);
            self.tick.set(tick);
            if let Some(r) = self.next_task(tick) {
                self.run_task(r);
                continue;
            }
            if let Some(r) = self.search() {
                self.run_task(r);
                continue;
            }
            self.park();
        }
    }

    #[inline]
    pub(super) fn next_task(&self, tick: u32) -> Option<Runnable> {
        let shared = &*self.shared;
        let inbox = &shared.inboxes[self.index];
        if tick % GLOBAL_INTERVAL == 0 {
            self.poll_events();
            if let Some(r) = inbox.pop().or_else(|| shared.injector.pop()) {
                return Some(r);
            }
        }
        if let Some(r) = self.local.pop() {
            return Some(r);
        }
        if !inbox.is_empty() {
            if let Some(r) = inbox.pop() {
                return Some(r);
            }
        }
        if shared.injector.is_empty() {
            return None;
        }
        shared.injector.pop_batch_into(&self.local)
    }

    /// Steals from other workers (only as a searcher), then the injector.
    pub(super) fn search(&self) -> Option<Runnable> {
        let shared = &*self.shared;
        if !self.searching.get() {
            if !shared.idle.try_start_searching() {
                return None;
            }
            self.searching.set(true);
        }
        let n = shared.stealers.len();
        let start = self.next_rand() as usize % n;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            if let Some(r) = shared.stealers[victim].steal_half_into(&self.local) {
                let stats = &shared.stats[self.index];
                bump(&stats.steals);
                return Some(r);
            }
        }
        shared.injector.pop_batch_into(&self.local)
    }

    /// Runs `r`, then whatever lands in the LIFO slot (capped).
    #[inline]
    fn run_task(&self, r: Runnable) {
        let shared = &*self.shared;
        if self.searching.replace(false) && shared.idle.stop_searching() {
            // The last searcher found work: wake another to keep looking.
            shared.notify_parked();
        }
        self.lifo_enabled.set(true);
        let mut r = r;
        let mut lifo_polls = 0;
        loop {
            self.poll(r);
            let Some(next) = self.lifo.take() else { return };
            if lifo_polls >= MAX_LIFO_POLLS {
                self.lifo_enabled.set(false);
                self.local.push(next);
                shared.notify_parked();
                return;
            }
            lifo_polls += 1;
            r = next;
        }
    }

    #[inline]
    fn poll(&self, r: Runnable) {
        let p = r.into_raw();
        self.running.set(p.as_ptr());
        bump(&self.shared.stats[self.index].polls);
        // The task's resource is made current for the poll (panics are
        // caught in the cell).
        // SAFETY: `worker_main` runs the whole loop inside one
        // `frame::safe_resume`, and between two runs the loop only touches
        // queues, the idle word and the parker, none of which reads the
        // current-resource slot.
        if let Some(again) = unsafe { Runnable::from_raw(p).run_batched() } {
            if again.pinned_worker().is_some() {
                // A pinned (stackful) task woken while it ran: back to this
                // worker's pinned inbox, which nobody steals from.
                self.shared.schedule_on(self.index, again);
            } else {
                // Woken while running (a yield): `running` is still this
                // task, so it goes to the back of the local queue, not the
                // LIFO slot.
                self.schedule_local(again);
            }
        }
        self.running.set(ptr::null());
    }

    /// Sleeps until notified or shut down.
    pub(super) fn park(&self) {
        let shared = &*self.shared;
        let idle = &shared.idle;
        let stats = &shared.stats[self.index];
        let was_searching = self.searching.replace(false);
        let last = idle.park(self.index, was_searching);
        bump(&stats.parks);
        if last && shared.has_stealable_work() {
            // Work arrived while we were the last searcher: make sure
            // somebody (maybe us) handles it.
            shared.notify_parked();
        }
        if !shared.inboxes[self.index].is_empty() && idle.unpark_worker(self.index) {
            // Our pinned inbox got work meanwhile; we are counted as woken.
            self.searching.set(true);
            return;
        }
        loop {
            if shared.is_closed() {
                return;
            }
            shared.parkers[self.index].park(shared.event_loop.as_ref());
            if !idle.is_parked(self.index) {
                // Picked by a notifier: counted as unparked and searching.
                self.searching.set(true);
                return;
            }
            if self.has_own_work() && idle.unpark_self(self.index) {
                // The event loop woke tasks into our own queues (its wakers
                // run here): awake, not searching, and sharing the work if
                // there is more than one task.
                if self.local.len() > 1 {
                    shared.notify_parked();
                }
                return;
            }
        }
    }

    /// Work only this worker can run soon: its LIFO slot, local queue or
    /// pinned inbox.
    fn has_own_work(&self) -> bool {
        // SAFETY-free peek: the slot is this thread's.
        let lifo = self.lifo.take();
        let has = lifo.is_some();
        self.lifo.set(lifo);
        has || !self.local.is_empty() || !self.shared.inboxes[self.index].is_empty()
    }

    /// Checks the pool's event loop without blocking, if no other worker
    /// has it (busy workers, every `GLOBAL_INTERVAL` ticks): I/O and timers
    /// are not starved by ready tasks.
    pub(super) fn poll_events(&self) {
        if let Some(mut d) = self.shared.event_loop.as_ref().and_then(|l| l.try_lock()) {
            d.turn(Some(std::time::Duration::ZERO));
        }
    }

    /// The exit path (shutdown step 2, `shared.rs`).
    pub(crate) fn exit(&self) {
        if let Some(r) = self.lifo.take() {
            r.into_raw();
        }
        self.local.forget_all();
        let shared = &*self.shared;
        shared.gate_wait_drained();
        shared.inboxes[self.index].forget_all();
        shared.cancel_pinned(self.index);
        shared.finish_participant();
    }
}

/// A worker thread's body: sets this thread's current core and scheduler,
/// runs the loop, then the exit path.
pub(crate) fn worker_main(shared: Arc<PoolState>, index: usize, local: Local) {
    let core = Core::new(shared.clone(), index, local);
    let sched: Arc<dyn crate::task::Schedule> = shared;
    // SAFETY: `sched` outlives the guard (declared before it).
    let _enter = unsafe { crate::executor::EnterGuard::new(&sched) };
    crate::thread_context::with(|cx| cx.worker.set(&core));
    if let Some(h) = &core.shared.reactor {
        // The pool's state outlives its workers' entries.
        crate::reactor::make_current_in_entry(h);
    }
    // One save/restore of the current-resource slot for the whole loop;
    // each poll writes its task's resource (`Core::poll`).
    crate::frame::safe_resume(|| core.run());
    core.exit();
}
