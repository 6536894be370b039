//! The live-task list every executor keeps for its shutdown (tokio's
//! `OwnedTasks`): the tasks bound to it and not yet completed, linked
//! through their headers' [`Links`] (no allocation per task).
//!
//! One list, two guards: [`LocalTasks`] has no lock (the local executor's,
//! touched only on its owner thread), [`SharedTasks`] a mutex (a strand's:
//! its tasks are bound on the spawner's thread and complete wherever the
//! drain runs), and [`ShardedTasks`] spreads the pool's over several
//! mutex-guarded shards by cell address, so binds and completions on
//! different workers rarely meet on one lock.
//!
//! # Shutdown: every task cancelled exactly once
//!
//! The executor's part: `bind` every new task here, `release` it when it
//! completes (its `Schedule::release`, called before its executor reference
//! goes), forget its runnables once shut down, then `close` and
//! `cancel_where` on a thread that may drop the futures, when none of the
//! tasks it names can run. The list's part, argued once here:
//!
//! - **No task is missed.** `bind` and `close` take the same lock: a bind
//!   that comes first links the task, which the cancelling pass (after
//!   `close`) finds; one that comes after finds the list closed, does not
//!   link the task and cancels it at once, on the binding thread. A
//!   linked task stays linked until its completion unlinks it, and its
//!   executor reference keeps its cell alive until then.
//! - **None is cancelled twice.** The pass takes one linked task under
//!   the lock, releases the lock and cancels it (`cancel_now`, which runs
//!   destructors that may bind or wake). A linked task is not completed
//!   (completion unlinks first), and it is not running (the caller's
//!   contract), so `cancel_now` is allowed; it completes the task, whose
//!   `release` unlinks it, so no later look finds it again. Completions of
//!   tasks the pass does not name (another worker's pinned tasks) unlink
//!   under the same lock and never touch the one being cancelled.
//! - **The pass ends.** Each round unlinks one task, and a closed list
//!   links none, so it stops when no named task is left.
//!
//! The loom model `loom_list_close_races_with_completion_and_bind`
//! (`task/loom_tests.rs`) runs a close-and-cancel pass against a
//! completion and a bind on other threads.

use super::raw::{cancel_now, Header};
use super::runnable::Runnable;
use crate::loom::sync::Mutex;
use std::cell::{Cell, UnsafeCell};
use std::ptr::NonNull;

/// A task's links in its executor's live list (in the task header), read
/// and written only by the holder of that list's guard.
#[derive(Default)]
pub(crate) struct Links {
    prev: Cell<Option<NonNull<Header>>>,
    next: Cell<Option<NonNull<Header>>>,
}

/// The list itself: plain data, touched only through its guard.
pub(crate) struct List {
    head: Option<NonNull<Header>>,
    closed: bool,
}

// SAFETY: the nodes are followed only by the holder of the list's guard
// (a mutex, or the single thread an `Unlocked` list belongs to).
unsafe impl Send for List {}

impl List {
    const fn new() -> Self {
        List {
            head: None,
            closed: false,
        }
    }

    /// Links `h` at the head; `false` (and not linked) if closed.
    ///
    /// # Safety
    /// `h` is alive and not linked.
    #[inline]
    unsafe fn push(&mut self, h: NonNull<Header>) -> bool {
        if self.closed {
            return false;
        }
        // SAFETY: `h` and the linked head are alive (linked tasks hold
        // their executor reference until they unlink).
        unsafe {
            let hd = &*h.as_ptr();
            hd.links.prev.set(None);
            hd.links.next.set(self.head);
            if let Some(old) = self.head {
                (*old.as_ptr()).links.prev.set(Some(h));
            }
        }
        self.head = Some(h);
        true
    }

    /// Unlinks `h` if it is linked (a task cancelled at its bind never
    /// was).
    ///
    /// # Safety
    /// `h` is alive, was bound to this list, and is removed once.
    #[inline]
    unsafe fn remove(&mut self, h: NonNull<Header>) {
        // SAFETY: `h` and its linked neighbours are alive.
        unsafe {
            let hd = &*h.as_ptr();
            let prev = hd.links.prev.get();
            let next = hd.links.next.get();
            match prev {
                Some(p) => (*p.as_ptr()).links.next.set(next),
                None if self.head == Some(h) => self.head = next,
                None => return,
            }
            if let Some(n) = next {
                (*n.as_ptr()).links.prev.set(prev);
            }
        }
    }

    /// The first linked task `filter` accepts.
    fn find(&self, filter: &impl Fn(&Header) -> bool) -> Option<NonNull<Header>> {
        let mut cur = self.head;
        while let Some(h) = cur {
            // SAFETY: linked tasks are alive.
            let hd = unsafe { &*h.as_ptr() };
            if filter(hd) {
                break;
            }
            cur = hd.links.next.get();
        }
        cur
    }
}

/// How a [`TaskList`] guards its list: `with` lends it to a closure that
/// neither panics nor runs user code nor re-enters the list.
pub(crate) trait Guard {
    /// A guard around an empty list.
    fn new() -> Self;
    /// Runs `f` with exclusive access to the list.
    fn with<R>(&self, f: impl FnOnce(&mut List) -> R) -> R;
}

/// No lock: the list belongs to one thread (`!Sync`; an owner that shares
/// it anyway, like the local executor's state, keeps every call on its
/// owner thread).
pub(crate) struct Unlocked(UnsafeCell<List>);

impl Guard for Unlocked {
    fn new() -> Self {
        Unlocked(UnsafeCell::new(List::new()))
    }

    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(&mut List) -> R) -> R {
        // SAFETY: one thread (see the type), and `with`'s closures never
        // re-enter: the borrow is exclusive.
        f(unsafe { &mut *self.0.get() })
    }
}

/// A mutex (loom's in models). Its critical sections run no user code, so
/// a poisoned lock still guards a consistent list.
pub(crate) struct Locked(Mutex<List>);

impl Guard for Locked {
    fn new() -> Self {
        Locked(Mutex::new(List::new()))
    }

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut List) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The live tasks of one executor (see the module docs).
pub(crate) struct TaskList<G: Guard> {
    guard: G,
}

/// The local executor's list: no lock.
pub(crate) type LocalTasks = TaskList<Unlocked>;

/// A list shared by threads: one mutex.
pub(crate) type SharedTasks = TaskList<Locked>;

impl<G: Guard> TaskList<G> {
    /// An empty, open list.
    pub(crate) fn new() -> Self {
        TaskList { guard: G::new() }
    }

    /// Registers a newly spawned task: links it and returns its runnable
    /// for the caller to queue, or, if the list is closed, cancels the task
    /// at once (its handle sees `Cancelled`) and returns `None`.
    ///
    /// # Safety
    /// `runnable` is a fresh task's whose scheduler calls
    /// [`release`](Self::release) on this list when it completes, and the
    /// calling thread may drop its future.
    #[inline]
    pub(crate) unsafe fn bind(&self, runnable: Runnable) -> Option<Runnable> {
        let h = runnable.into_raw();
        // SAFETY: a fresh task: alive (its runnable) and not linked.
        if self.guard.with(|l| unsafe { l.push(h) }) {
            Some(Runnable::from_raw(h))
        } else {
            cancel_fresh(h);
            None
        }
    }

    /// Unlinks a completing task.
    ///
    /// # Safety
    /// `task` was bound to this list, is completing, and still holds its
    /// executor reference.
    #[inline]
    pub(crate) unsafe fn release(&self, task: NonNull<Header>) {
        // SAFETY: forwarded contract.
        self.guard.with(|l| unsafe { l.remove(task) })
    }

    /// Closes the list: later binds cancel their task at once.
    pub(crate) fn close(&self) {
        self.guard.with(|l| l.closed = true)
    }

    /// Cancels every linked task `filter` accepts, one at a time, each
    /// exactly once (module docs), without holding the guard while a
    /// future is dropped.
    ///
    /// # Safety
    /// No task `filter` accepts is running or can start running (its
    /// runnables are forgotten, or forgotten when pushed), and the calling
    /// thread may drop their futures.
    pub(crate) unsafe fn cancel_where(&self, filter: impl Fn(&Header) -> bool) {
        while let Some(h) = self.guard.with(|l| l.find(&filter)) {
            // SAFETY: linked, so not completed; alive through its executor
            // reference; not running (contract). Its completion unlinks it.
            unsafe { cancel_now(h) }
        }
    }
}

/// Cancels a task bound to a closed list.
#[cold]
#[inline(never)]
fn cancel_fresh(h: NonNull<Header>) {
    // Dropping the fresh task's only runnable cancels it on this thread.
    drop(Runnable::from_raw(h));
}

/// One shard of a [`ShardedTasks`], on its own cache-line pair.
#[repr(align(128))]
struct Shard(SharedTasks);

/// A list split into mutex-guarded shards by cell address (the pool's).
pub(crate) struct ShardedTasks {
    shards: Box<[Shard]>,
    mask: usize,
}

impl ShardedTasks {
    /// At least `n` shards (a power of two).
    pub(crate) fn new(n: usize) -> Self {
        let n = n.next_power_of_two();
        ShardedTasks {
            shards: (0..n).map(|_| Shard(SharedTasks::new())).collect(),
            mask: n - 1,
        }
    }

    #[inline]
    fn shard(&self, h: NonNull<Header>) -> &SharedTasks {
        // Cells are at least 64-byte aligned blocks: mix the higher bits.
        let a = h.as_ptr() as usize >> 6;
        &self.shards[(a ^ (a >> 7) ^ (a >> 13)) & self.mask].0
    }

    /// [`TaskList::bind`] on the task's shard.
    ///
    /// # Safety
    /// As [`TaskList::bind`].
    #[inline]
    pub(crate) unsafe fn bind(&self, runnable: Runnable) -> Option<Runnable> {
        let shard = self.shard(runnable.as_ptr());
        // SAFETY: forwarded contract.
        unsafe { shard.bind(runnable) }
    }

    /// [`TaskList::release`] on the task's shard.
    ///
    /// # Safety
    /// As [`TaskList::release`].
    #[inline]
    pub(crate) unsafe fn release(&self, task: NonNull<Header>) {
        // SAFETY: forwarded contract.
        unsafe { self.shard(task).release(task) }
    }

    /// Closes every shard.
    pub(crate) fn close(&self) {
        for s in self.shards.iter() {
            s.0.close();
        }
    }

    /// [`TaskList::cancel_where`] on every shard.
    ///
    /// # Safety
    /// As [`TaskList::cancel_where`].
    pub(crate) unsafe fn cancel_where(&self, filter: impl Fn(&Header) -> bool) {
        for s in self.shards.iter() {
            // SAFETY: forwarded contract.
            unsafe { s.0.cancel_where(&filter) }
        }
    }
}
