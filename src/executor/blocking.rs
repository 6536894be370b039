//! `spawn_blocking`: closures that block (file I/O, a C library, a long
//! computation) run on a bounded, elastic pool of blocking threads owned
//! by the executor, and their results come back through an ordinary task.
//!
//! Owns: the [`BlockingPool`] (a job queue, its threads and their
//! counts, under one mutex and a condvar) and the task future that waits
//! for a job's result.
//!
//! Invariants:
//! - at most `max_threads` threads exist; a job is given to an idle thread
//!   if one is waiting and not already notified, else to a new thread below
//!   the bound, else it waits in the queue for the next free thread;
//! - an idle thread exits when no job comes for `keep_alive`;
//! - a job's closure runs at most once; a panic in it is caught on the
//!   blocking thread and re-raised in the waiting task's poll, so the task's
//!   handle gives a panic `JoinError`;
//! - shutdown (the executor's drop) drops the queued jobs that have not
//!   started and lets idle threads exit at once; a closure that is running
//!   finishes on its thread, which then exits (it is detached, not joined:
//!   a blocking call may never return).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Default bound on blocking threads per executor (tokio's).
pub(crate) const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;
/// Default time an idle blocking thread waits for a job before it exits.
pub(crate) const DEFAULT_BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send + 'static>;

struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    /// Idle threads already notified of a job (not yet awake).
    notified: usize,
    shutdown: bool,
}

struct Inner {
    state: Mutex<State>,
    work: Condvar,
    max_threads: usize,
    keep_alive: Duration,
    name: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A bounded, elastic pool of blocking threads (module docs).
pub(crate) struct BlockingPool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingPool")
            .field("threads", &self.threads())
            .finish_non_exhaustive()
    }
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize, keep_alive: Duration, name: String) -> Self {
        BlockingPool {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    threads: 0,
                    idle: 0,
                    notified: 0,
                    shutdown: false,
                }),
                work: Condvar::new(),
                max_threads: max_threads.max(1),
                keep_alive,
                name,
            }),
        }
    }

    /// Blocking threads alive now (busy or idle).
    pub(crate) fn threads(&self) -> usize {
        lock(&self.inner.state).threads
    }

    /// Queues `job`; gives it back if the pool is shut down or no thread
    /// exists and none can be started.
    fn execute(&self, job: Job) -> Result<(), Job> {
        let mut st = lock(&self.inner.state);
        if st.shutdown {
            return Err(job);
        }
        st.queue.push_back(job);
        if st.idle > st.notified {
            st.notified += 1;
            drop(st);
            self.inner.work.notify_one();
            return Ok(());
        }
        if st.threads >= self.inner.max_threads {
            return Ok(()); // the next thread that finishes takes it
        }
        st.threads += 1;
        drop(st);
        let inner = self.inner.clone();
        let started = std::thread::Builder::new()
            .name(self.inner.name.clone())
            .spawn(move || run_thread(inner));
        if let Err(e) = started {
            let mut st = lock(&self.inner.state);
            st.threads -= 1;
            if st.threads == 0 {
                // Nobody will run the job: give it back.
                let job = st.queue.pop_back().expect("the job just queued");
                drop(st);
                eprintln!("coframe: cannot start a blocking thread: {e}");
                return Err(job);
            }
        }
        Ok(())
    }

    /// Stops taking jobs, drops the queued ones and lets idle threads exit
    /// (running closures finish first). Idempotent.
    pub(crate) fn shutdown(&self) {
        let queued = {
            let mut st = lock(&self.inner.state);
            st.shutdown = true;
            std::mem::take(&mut st.queue)
        };
        self.inner.work.notify_all();
        // Their tasks were cancelled with the executor; a job's destructor
        // only drops the closure and the result slot.
        drop(queued);
    }
}

fn run_thread(inner: Arc<Inner>) {
    let mut st = lock(&inner.state);
    loop {
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            job(); // never unwinds: the job catches its closure's panic
            st = lock(&inner.state);
            continue;
        }
        if st.shutdown {
            break;
        }
        st.idle += 1;
        let (guard, timeout) = inner
            .work
            .wait_timeout(st, inner.keep_alive)
            .unwrap_or_else(|e| e.into_inner());
        st = guard;
        st.idle -= 1;
        if st.notified > 0 {
            st.notified -= 1;
        } else if timeout.timed_out() && st.queue.is_empty() {
            break; // idle for the whole keep-alive
        }
    }
    st.threads -= 1;
}

/// Where a job's result meets its task.
struct Slot<R> {
    result: Option<std::thread::Result<R>>,
    waker: Option<Waker>,
    /// The task is gone (aborted, executor shut down): skip the closure if
    /// it has not started.
    cancelled: bool,
    /// The pool refused the job (shut down).
    refused: bool,
}

/// The task future of a blocking job: ready with the closure's result, or
/// re-raising its panic.
struct Blocking<R> {
    slot: Arc<Mutex<Slot<R>>>,
}

impl<R> Future for Blocking<R> {
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let mut slot = lock(&self.slot);
        match slot.result.take() {
            Some(Ok(v)) => Poll::Ready(v),
            Some(Err(payload)) => {
                drop(slot);
                // The task cell catches it: the handle gives a panic
                // JoinError with the closure's payload.
                std::panic::resume_unwind(payload)
            }
            None if slot.refused => {
                drop(slot);
                panic!("coframe: spawn_blocking: the executor's blocking pool is shut down")
            }
            None => {
                match &slot.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => slot.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

impl<R> Drop for Blocking<R> {
    fn drop(&mut self) {
        let result = {
            let mut slot = lock(&self.slot);
            slot.cancelled = true;
            slot.waker = None;
            slot.result.take()
        };
        drop(result); // outside the lock: it may run user destructors
    }
}

/// Queues `f` on `pool` and returns the future a task awaits for its
/// result.
pub(crate) fn blocking_future<F, R>(pool: &BlockingPool, f: F) -> impl Future<Output = R> + Send
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let slot = Arc::new(Mutex::new(Slot {
        result: None,
        waker: None,
        cancelled: false,
        refused: false,
    }));
    let job_slot = slot.clone();
    let job: Job = Box::new(move || {
        if lock(&job_slot).cancelled {
            return; // the task is gone: never start the closure
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let mut slot = lock(&job_slot);
        if slot.cancelled {
            drop(slot);
            // Nobody waits: drop the output (or payload) here, contained.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(r)));
            return;
        }
        slot.result = Some(r);
        let waker = slot.waker.take();
        drop(slot);
        if let Some(w) = waker {
            // A panicking waker must not kill the blocking thread.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || w.wake()));
        }
    });
    if pool.execute(job).is_err() {
        lock(&slot).refused = true;
    }
    Blocking { slot }
}

/// The process-wide blocking pool, for `spawn_blocking` where the current
/// executor has none of its own (a strand, a thread in `ThreadPool::block_on`).
pub(crate) fn fallback_pool() -> &'static BlockingPool {
    static POOL: std::sync::OnceLock<BlockingPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        BlockingPool::new(
            DEFAULT_MAX_BLOCKING_THREADS,
            DEFAULT_BLOCKING_KEEP_ALIVE,
            "coframe-blocking".into(),
        )
    })
}
