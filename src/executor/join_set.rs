//! [`JoinSet`]: a set of tasks whose results come out as they finish.
//!
//! Owns the [`JoinHandle`]s of its tasks, each in a slab slot with a waker
//! of its own. A handle's waker pushes the slot's index on the set's ready
//! list (once per wake, guarded by a flag) and wakes whoever waits in
//! [`JoinSet::join_next`]; `join_next` polls only the handles on the list,
//! so taking `n` results costs `O(n)` polls, not `O(n²)`.
//!
//! Invariants: every slot's index is on the ready list when it is inserted
//! (its first poll registers its waker); a stale index (its slot freed or
//! reused) costs at most one spurious poll. Dropping the set aborts every
//! task still in it.

use super::{Executor, SpawnableOn};
use crate::task::{JoinError, JoinHandle};
use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// What the slot wakers share with the set.
#[derive(Default)]
struct Ready {
    /// Slots whose handle may have finished, in the order they were woken
    /// (so results come out in the order the tasks finished).
    list: Mutex<VecDeque<usize>>,
    /// The task waiting in `join_next`, if any.
    waiter: Mutex<Option<Waker>>,
}

/// The waker of one slot's handle.
struct SlotWaker {
    ready: Arc<Ready>,
    index: usize,
    queued: AtomicBool,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        lock(&self.ready.list).push_back(self.index);
        let waiter = lock(&self.ready.waiter).take();
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Slot<T> {
    handle: JoinHandle<T>,
    waker: Arc<SlotWaker>,
}

/// A set of tasks of one output type: spawn into it, then take their
/// results in the order they finish with [`join_next`](Self::join_next)
/// (or as a [`Stream`](futures_core::Stream)). Dropping the set aborts the
/// tasks still in it.
///
/// ```
/// use coframe::JoinSet;
/// let ex = coframe::LocalExecutor::new();
/// let sum = ex.run_until(async {
///     let mut set = JoinSet::new();
///     for i in 1..=4u32 {
///         set.spawn(async move { i * 10 });
///     }
///     let mut sum = 0;
///     while let Some(r) = set.join_next().await {
///         sum += r.unwrap();
///     }
///     sum
/// });
/// assert_eq!(sum, 100);
/// ```
pub struct JoinSet<T> {
    slots: slab::Slab<Slot<T>>,
    ready: Arc<Ready>,
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl<T> JoinSet<T> {
    /// An empty set.
    ///
    /// ```
    /// let set = coframe::JoinSet::<()>::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> Self {
        JoinSet {
            slots: slab::Slab::new(),
            ready: Arc::default(),
        }
    }

    /// Tasks in the set (finished ones count until `join_next` takes
    /// their result).
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(1).build().unwrap();
    /// let mut set = coframe::JoinSet::new();
    /// set.insert(pool.spawn(async { 1 }));
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the set holds no task.
    ///
    /// ```
    /// assert!(coframe::JoinSet::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Adds a task spawned elsewhere (say with
    /// [`ThreadPool::spawn`](crate::ThreadPool::spawn)) to the set.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(2).build().unwrap();
    /// let mut set = coframe::JoinSet::new();
    /// for i in 0..3 {
    ///     set.insert(pool.spawn(async move { i }));
    /// }
    /// let mut got: Vec<i32> = pool.block_on(async {
    ///     let mut v = Vec::new();
    ///     while let Some(r) = set.join_next().await { v.push(r.unwrap()); }
    ///     v
    /// });
    /// got.sort();
    /// assert_eq!(got, [0, 1, 2]);
    /// ```
    pub fn insert(&mut self, handle: JoinHandle<T>) {
        let entry = self.slots.vacant_entry();
        let index = entry.key();
        let waker = Arc::new(SlotWaker {
            ready: self.ready.clone(),
            index,
            queued: AtomicBool::new(true),
        });
        entry.insert(Slot { handle, waker });
        lock(&self.ready.list).push_back(index);
    }

    /// Spawns a `Send` future on the executor running the current task
    /// (as [`coframe::spawn`](crate::spawn)) into the set.
    ///
    /// # Panics
    ///
    /// Outside a task, as `coframe::spawn`.
    ///
    /// ```
    /// let pool = coframe::ThreadPool::builder().worker_threads(2).build().unwrap();
    /// let n = pool.block_on(async {
    ///     let mut set = coframe::JoinSet::new();
    ///     set.spawn(async { 1 });
    ///     set.spawn(async { 2 });
    ///     let mut n = 0;
    ///     while let Some(r) = set.join_next().await { n += r.unwrap(); }
    ///     n
    /// });
    /// assert_eq!(n, 3);
    /// ```
    pub fn spawn<F>(&mut self, future: F)
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.insert(crate::spawn(future))
    }

    /// Spawns a future that may be `!Send` on the `LocalExecutor` running
    /// the current task (as [`coframe::spawn_local`](crate::spawn_local))
    /// into the set.
    ///
    /// # Panics
    ///
    /// As `coframe::spawn_local`: outside a task or on a pool.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let out = ex.run_until(async {
    ///     let mut set = coframe::JoinSet::new();
    ///     let rc = std::rc::Rc::new(5);
    ///     set.spawn_local(async move { *rc });
    ///     set.join_next().await.unwrap().unwrap()
    /// });
    /// assert_eq!(out, 5);
    /// ```
    pub fn spawn_local<F>(&mut self, future: F)
    where
        F: Future<Output = T> + 'static,
        T: 'static,
    {
        self.insert(crate::spawn_local(future))
    }

    /// Spawns `future` on `executor` into the set, with its cell from the
    /// current frame resource (outside a task: the default one).
    ///
    /// # Panics
    ///
    /// If the resource refuses the task cell.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let mut set = coframe::JoinSet::new();
    /// set.spawn_on(&ex, async { "done" });
    /// let r = ex.run_until(set.join_next());
    /// assert_eq!(r.unwrap().unwrap(), "done");
    /// ```
    pub fn spawn_on<E, F>(&mut self, executor: &E, future: F)
    where
        E: Executor,
        F: SpawnableOn<E::Affinity> + Future<Output = T>,
    {
        let resource = if <E::Affinity as super::sealed::Affinity>::LOCAL {
            crate::frame::ResourceHandle::current()
        } else {
            crate::frame::SyncResourceHandle::current().into()
        };
        let sched = super::sealed::Executor::scheduler(executor).clone();
        let handle = super::sealed::Spawn::spawn_task(future, sched, resource)
            .unwrap_or_else(|e| super::refused(e));
        self.insert(handle)
    }

    /// The next result, of whichever task finishes first; `None` once the
    /// set is empty. Cancel-safe: dropping the future loses no result.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let mut set = coframe::JoinSet::new();
    /// set.spawn_on(&ex, std::future::pending::<()>());
    /// set.spawn_on(&ex, async {});
    /// assert!(ex.run_until(set.join_next()).unwrap().is_ok()); // the ready one
    /// assert_eq!(set.len(), 1);
    /// ```
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Polls for the next result: `Ready(None)` when the set is empty.
    ///
    /// ```
    /// use std::task::Poll;
    /// let ex = coframe::LocalExecutor::new();
    /// let mut set = coframe::JoinSet::<()>::new();
    /// let r = ex.run_until(std::future::poll_fn(|cx| Poll::Ready(set.poll_join_next(cx))));
    /// assert!(matches!(r, Poll::Ready(None)));
    /// ```
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        if self.slots.is_empty() {
            return Poll::Ready(None);
        }
        // Register first: a wake after the list is found empty finds it.
        {
            let mut w = lock(&self.ready.waiter);
            match &*w {
                Some(old) if old.will_wake(cx.waker()) => {}
                _ => *w = Some(cx.waker().clone()),
            }
        }
        // At most the slots queued now: a handle that yields for the
        // cooperative budget queues itself again, and must not be polled
        // again in this poll.
        let mut left = lock(&self.ready.list).len();
        loop {
            if left == 0 {
                if !lock(&self.ready.list).is_empty() {
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
            left -= 1;
            let Some(index) = lock(&self.ready.list).pop_front() else {
                return Poll::Pending;
            };
            let Some(slot) = self.slots.get_mut(index) else {
                continue; // stale: the slot was taken
            };
            slot.waker.queued.store(false, Ordering::Release);
            let waker = Waker::from(slot.waker.clone());
            if let Poll::Ready(r) =
                Pin::new(&mut slot.handle).poll(&mut Context::from_waker(&waker))
            {
                self.slots.remove(index);
                return Poll::Ready(Some(r));
            }
        }
    }

    /// Aborts every task in the set (they stay in it: `join_next` then
    /// gives their cancellations, or the results of those that finished
    /// first).
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let mut set = coframe::JoinSet::new();
    /// set.spawn_on(&ex, std::future::pending::<()>());
    /// set.abort_all();
    /// assert!(ex.run_until(set.join_next()).unwrap().unwrap_err().is_cancelled());
    /// ```
    pub fn abort_all(&self) {
        for (_, slot) in self.slots.iter() {
            slot.handle.abort();
        }
    }

    /// Removes every task from the set without aborting them (they run on,
    /// detached).
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// let mut set = coframe::JoinSet::new();
    /// set.spawn_on(&ex, async {});
    /// set.detach_all();
    /// assert!(set.is_empty());
    /// ```
    pub fn detach_all(&mut self) {
        self.slots.clear();
        lock(&self.ready.list).clear();
    }
}

impl<T> Drop for JoinSet<T> {
    /// Aborts the tasks still in the set.
    fn drop(&mut self) {
        self.abort_all();
    }
}

/// The set as a stream of results, in the order the tasks finish; it ends
/// when the set is empty.
///
/// ```
/// use futures_util::StreamExt;
/// let ex = coframe::LocalExecutor::new();
/// let mut set = coframe::JoinSet::new();
/// for i in 0..3 { set.spawn_on(&ex, async move { i }); }
/// let mut all: Vec<i32> = ex.run_until(set.map(|r| r.unwrap()).collect());
/// all.sort();
/// assert_eq!(all, [0, 1, 2]);
/// ```
impl<T> futures_core::Stream for JoinSet<T> {
    type Item = Result<T, JoinError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_join_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}
