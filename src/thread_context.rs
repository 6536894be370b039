//! The one per-thread runtime context (ARCHITECTURE.md, rule 11).
//!
//! Everything coframe keeps per thread *about what is running here* lives
//! in one record, [`ThreadContext`], in one constant-initialised
//! thread-local without a destructor (a bare thread-local load to reach it,
//! readable during thread-local teardown):
//!
//! | field        | owner (the only writer)        | meaning                                   |
//! |--------------|--------------------------------|-------------------------------------------|
//! | `scheduler`  | executor entry (`EnterGuard`)  | where `coframe::spawn` puts new tasks     |
//! | `local`      | `LocalExecutor` entry          | the local executor whose loop runs here   |
//! | `worker`     | a pool worker's `worker_main`  | the pool worker core running this thread  |
//! | `strand`     | a strand's drain               | the strand whose drain runs here          |
//! | `frame`      | `frame::current`               | the current frame resource (rule 3)       |
//! | `reactor`    | `reactor::enter` (executors)   | the event loop `io` and `time` work with  |
//! | `resume`     | `Stackful::poll`               | the stackful resume in progress ([`Resume`]): what `stackful::wait` suspends and wakes |
//! | `epoch`      | every write of the ambient part | "has the context changed since ..."      |
//!
//! Each layer reads and writes only its own fields, through its own
//! accessors; the record is where the layers meet, not a layer that knows
//! them. Caches and identities are not context and keep their own
//! thread-locals: the frame allocator's and the stack pool's per-thread
//! caches (they have destructors), the thread token, the alternate signal
//! stack, the running fiber (the stackful layer's own bookkeeping, restored
//! by every fiber switch).
//!
//! # Who saves and restores it
//!
//! The *ambient* part ([`Ambient`]: scheduler, local executor, worker,
//! strand, frame resource, event loop) is saved and restored as a unit in three places,
//! and only there:
//!
//! 1. **Entering an executor** (`run_until`, `run_until_stalled`, a pool
//!    worker's loop, `block_on`, a strand's drain, an executor's shutdown):
//!    [`Saved`] is taken on entry and restores everything on exit, also when
//!    unwinding. Nested entries nest.
//! 2. **Polling a task**: the frame resource is set for each poll
//!    (`frame::safe_resume_with`, or one save per batch around
//!    `replace_current_uncounted` in the executors' loops); the other fields
//!    can only change inside a poll through a nested entry (1), which
//!    restores them before the poll returns.
//! 3. **Switching into or out of a stackful task**: `Stackful::poll`
//!    holds a [`Resuming`] around the resume. It notes the `epoch` before
//!    the switch; when the task suspends, returns or unwinds, the epoch
//!    says whether anything wrote the context meanwhile, and only then are
//!    the executor's fields put back and, if the task suspended, the task's
//!    own context kept (in its [`TaskContext`]) and put back before its
//!    next resume. So a task that suspends from inside a nested executor
//!    (its `run_until` on the task's stack), or with a frame resource of
//!    its own current, takes that with it, and the executor that polled it
//!    never sees it. Everything happens on the executor's side of the
//!    switch: reading the context on the task's side right after the
//!    switch measured much slower (README, Design measurements).
//!
//! The executor's fields are not copied for every resume (that copy was
//! measured: README, Design measurements). They can change during a resume
//! only through an executor entry, and every entry begins with
//! [`Saved::new`], which writes nothing but may read: the
//! first entry of a resume notes the fields, as they still are, in the
//! resume's [`Resume`] record. Rule: **the executor fields (`scheduler`,
//! `local`, `worker`, `strand`, `reactor`) are written only inside an
//! entry, after its `Saved::new`** (or by a `Saved` restoring them). So a
//! resume with no entry has nothing to put back, and one with an entry
//! finds the fields to put back in its record.
//!
//! The stackful slot (`resume`) is not ambient: it names the record of
//! the resume in progress, which holds the stackful task's yielder and the
//! waker of its poll, so it belongs to `Stackful::poll`, which sets it for
//! the resume and restores the previous value afterwards (stackful tasks
//! may nest). One word: saving and restoring it is one load and two stores
//! per resume.
//!
//! # Frame slot ownership
//!
//! The `frame` field may own one reference count (a value installed by
//! `frame::set_current`; see `frame/current.rs`). A [`Saved`] snapshot
//! takes that count with it and leaves the live slot an uncounted copy of
//! the same value, exactly as `frame::safe_resume` does; restoring releases
//! whatever count the live slot owns by then. A task's kept context moves
//! the count into its `TaskContext` the same way, and back at its resume.
//! The frame slot after a stackful resume is the executor's to restore:
//! it writes it before every poll and restores it after every poll or
//! batch (rule 3).
//!
//! # Stack switches and thread-local addresses
//!
//! The accessor [`get`] is inlined, so the compiler may keep the record's
//! address across a call that switches stacks. That is sound only because
//! no stack ever resumes on another thread (rule 7): a stackful task is
//! pinned to the thread of its first poll, and coroutines and fibers are
//! not `Send`. Calling a non-inlined accessor instead, eight times per
//! stackful task, measured slower on spawning and joining stackful tasks
//! (README, Design measurements).

use crate::context::Yielder;
use crate::executor::local::Inner as LocalInner;
use crate::executor::pool::Core;
use crate::executor::strand::StrandState;
use crate::frame::FrameSlot;
use crate::reactor::LoopState;
use crate::task::Schedule;
use std::cell::Cell;
use std::ptr;
use std::ptr::NonNull;
use std::task::Waker;

/// The per-thread runtime context. See the module docs for who owns each
/// field.
pub(crate) struct ThreadContext {
    /// The scheduler of the executor running on this thread: the value
    /// inside its `Arc` (borrowed from the executor, which outlives the
    /// entry that set it). The value itself rather than the `Arc`, so a
    /// spawn reaches it with one load, not three dependent ones.
    pub(crate) scheduler: Cell<Option<NonNull<dyn Schedule>>>,
    /// The `LocalExecutor` whose loop runs on this thread.
    pub(crate) local: Cell<*const LocalInner>,
    /// The core of the pool worker running on this thread.
    pub(crate) worker: Cell<*const Core>,
    /// The strand whose drain runs on this thread.
    pub(crate) strand: Cell<*const StrandState>,
    /// The current frame resource (`frame/current.rs`).
    pub(crate) frame: Cell<FrameSlot>,
    /// The event loop current here (`reactor/current.rs`): the shared
    /// state of a handle that outlives the guard that set it.
    pub(crate) reactor: Cell<*const LoopState>,
    /// The record of the stackful resume in progress (null outside one),
    /// in the frame of the `Stackful::poll` that resumed the task.
    resume: Cell<*const Resume>,
    /// Bumped by every write to the ambient part (see
    /// [`bump`](ThreadContext::bump)): a stackful task whose suspension
    /// finds it unchanged since its resume has no context of its own.
    pub(crate) epoch: Cell<usize>,
}

impl ThreadContext {
    const fn new() -> Self {
        ThreadContext {
            scheduler: Cell::new(None),
            local: Cell::new(ptr::null()),
            worker: Cell::new(ptr::null()),
            strand: Cell::new(ptr::null()),
            frame: Cell::new(FrameSlot::EMPTY),
            reactor: Cell::new(ptr::null()),
            resume: Cell::new(ptr::null()),
            epoch: Cell::new(0),
        }
    }

    /// The yielder of the stackful task being polled here and the waker of
    /// that poll; null outside a stackful task (the yielder may be a marker
    /// the stackful layer defines, the waker then null).
    #[inline(always)]
    pub(crate) fn stackful(&self) -> (*const Yielder<(), ()>, *const Waker) {
        let r = self.resume.get();
        if r.is_null() {
            return (ptr::null(), ptr::null());
        }
        // SAFETY: a non-null `resume` is the record of the resume in
        // progress on this thread, in the frame of the `Stackful::poll`
        // below us, which outlives everything the task runs.
        let r = unsafe { &*r };
        (r.yielder, r.waker)
    }

    /// Records that the ambient part changed (a frame-slot write, an
    /// executor entry, a restore).
    #[inline(always)]
    pub(crate) fn bump(&self) {
        self.epoch.set(self.epoch.get().wrapping_add(1));
    }

    /// A copy of the ambient part. The frame value's count (if the slot
    /// owns one) moves to the copy: the live slot keeps an uncounted copy.
    ///
    /// Field by field, each word loaded with the width it was stored with:
    /// the executors write the frame slot once per poll, and a wider load
    /// that spans it and a neighbour cannot be forwarded from the store
    /// buffer (that stall, right before every stackful resume, was a large
    /// share of spawning and joining a stackful task: README, Design
    /// measurements).
    #[inline(always)]
    fn take_ambient(&self) -> Ambient {
        let frame = frame_load(&self.frame);
        self.frame.set(frame.uncounted());
        Ambient {
            executor: ExecutorFields::of(self),
            frame,
        }
    }

    /// Puts `a` back, releasing the count the live frame slot owns (a
    /// guard leaked since the matching [`take_ambient`](Self::take_ambient)).
    #[inline(always)]
    fn put_ambient(&self, a: Ambient) {
        let live = frame_load(&self.frame);
        self.put_ambient_over(a);
        live.release();
    }

    /// Puts `a` back over a live value that owns nothing.
    #[inline(always)]
    fn put_ambient_over(&self, a: Ambient) {
        self.bump();
        a.executor.put(self);
        self.frame.set(a.frame);
    }
}

/// One field, read with loads of its own width: volatile only keeps the
/// compiler from merging neighbouring fields into one wider load.
#[inline(always)]
fn load<T: Copy>(c: &Cell<T>) -> T {
    // SAFETY: a valid, aligned `Cell` of this thread, read as a plain copy.
    unsafe { std::ptr::read_volatile(c.as_ptr()) }
}

/// The frame field, read a word at a time (`frame::load_slot`).
#[inline(always)]
fn frame_load(c: &Cell<FrameSlot>) -> FrameSlot {
    // SAFETY: a valid, aligned `Cell` of this thread.
    unsafe { crate::frame::load_slot(c.as_ptr()) }
}

#[cfg(not(loom))]
thread_local! {
    static CONTEXT: ThreadContext = const { ThreadContext::new() };
}

// Loom runs its model threads on one OS thread: the record must be one of
// loom's thread-locals there.
#[cfg(loom)]
loom::thread_local! {
    static CONTEXT: ThreadContext = ThreadContext::new();
}

/// This thread's context. Its address holds across stack switches only
/// because no stack ever changes threads (rule 7).
#[inline(always)]
pub(crate) fn get() -> *const ThreadContext {
    CONTEXT.with(|c| c as *const ThreadContext)
}

/// Runs `f` with this thread's context.
///
/// `f` must not switch stacks (it is only ever a few loads and stores).
#[inline(always)]
pub(crate) fn with<R>(f: impl FnOnce(&ThreadContext) -> R) -> R {
    // SAFETY: this thread's record: constant-initialised, no destructor, so
    // it lives as long as the thread; the borrow ends before `with`
    // returns and no stack switch happens inside `f`.
    f(unsafe { &*get() })
}

/// The ambient part of the context: what an executor entry and a stackful
/// switch save and restore as a unit.
#[derive(Clone, Copy)]
pub(crate) struct Ambient {
    executor: ExecutorFields,
    frame: FrameSlot,
}

/// The ambient context as it was when this was made; restored (as a unit)
/// when it is dropped, also during unwinding. The executors' entries and
/// `Stackful::poll` hold one.
#[must_use = "the context is restored when this is dropped"]
pub(crate) struct Saved(Ambient);

impl Saved {
    /// Saves the ambient context (rule 11).
    #[inline(always)]
    pub(crate) fn new() -> Self {
        // Whoever saves is about to change the context (an executor entry).
        Saved(with(|t| {
            let resume = t.resume.get();
            if !resume.is_null() {
                note_executor(t, resume);
            }
            t.bump();
            t.take_ambient()
        }))
    }
}

impl Drop for Saved {
    #[inline(always)]
    fn drop(&mut self) {
        let a = self.0;
        with(|cx| cx.put_ambient(a));
    }
}

/// The first executor entry of a stackful resume notes the executor's
/// fields in the resume's record, before it changes any (see the module
/// docs: entries are the only writers of those fields).
#[cold]
#[inline(never)]
fn note_executor(t: &ThreadContext, resume: *const Resume) {
    // SAFETY: a non-null `resume` is the record of the resume in progress
    // on this thread, in the frame of the `Stackful::poll` below us, which
    // outlives everything the task runs (the field is reset when it ends).
    let resume = unsafe { &*resume };
    if resume.executor.get().is_none() {
        resume.executor.set(Some(ExecutorFields::of(t)));
    }
}

/// A stackful resume in progress, as the context's `resume` field names
/// it: the task's yielder, the waker of its poll, and the executor's
/// fields if the task entered an executor. Lives in the frame of the
/// `Stackful::poll` (or cancelling drop) that resumes the task, for the
/// whole resume.
pub(crate) struct Resume {
    /// What `stackful::wait` suspends (or the stackful layer's marker).
    yielder: *const Yielder<(), ()>,
    /// The waker of the poll (null with a marker).
    waker: *const Waker,
    /// The executor's fields as the resume found them, noted by the first
    /// executor entry during the resume (or by [`Resuming::new`] when it
    /// puts the task's own context back); `None` while nothing changed
    /// them.
    executor: Cell<Option<ExecutorFields>>,
}

impl Resume {
    /// The record of a resume of the task suspending through `yielder`,
    /// polled with `waker`, that has changed nothing yet.
    #[inline(always)]
    pub(crate) fn new(yielder: *const Yielder<(), ()>, waker: *const Waker) -> Self {
        Resume {
            yielder,
            waker,
            executor: Cell::new(None),
        }
    }
}

/// What `Stackful::poll` (and a cancelling drop) holds around a resume:
/// the stackful slot's previous value, and the epoch. When it is dropped (the task suspended, returned
/// or unwound) the previous record comes back and, if anything wrote the
/// context meanwhile, the executor's fields noted in the record. One
/// context lookup for both ends: the poller's stack stays on this thread
/// (it is the executor's), so the context's address holds across the
/// resume.
///
/// A task that suspends after changing the context (it runs a nested
/// executor's loop, or made another frame resource current) keeps its own
/// context: [`suspended`](Self::suspended) moves it into the task's
/// [`TaskContext`], and the next `Resuming` puts it back before the switch.
/// All of it happens here, on the executor's side of the switch: code on
/// the task's stack reads nothing more than the stackful slot (comparing
/// the context there, right after the switch, measured much slower: README,
/// Design measurements).
#[must_use = "the context is restored when this is dropped"]
pub(crate) struct Resuming<'a> {
    cx: *const ThreadContext,
    resume: &'a Resume,
    prev: *const Resume,
    /// `epoch` when the resume began, before the task's own context (if it
    /// kept one) was put back: so a task that had one always keeps it
    /// again when it suspends.
    epoch: usize,
}

/// The executor part of the ambient context: what a task can only change
/// by entering an executor (whose `Saved` puts it back when it returns).
#[derive(Clone, Copy)]
struct ExecutorFields {
    scheduler: Option<NonNull<dyn Schedule>>,
    local: *const LocalInner,
    worker: *const Core,
    strand: *const StrandState,
    reactor: *const LoopState,
}

impl ExecutorFields {
    #[inline(always)]
    fn of(t: &ThreadContext) -> Self {
        ExecutorFields {
            scheduler: load(&t.scheduler),
            local: load(&t.local),
            worker: load(&t.worker),
            strand: load(&t.strand),
            reactor: load(&t.reactor),
        }
    }

    #[inline(always)]
    fn put(self, t: &ThreadContext) {
        t.scheduler.set(self.scheduler);
        t.local.set(self.local);
        t.worker.set(self.worker);
        t.strand.set(self.strand);
        t.reactor.set(self.reactor);
    }
}

/// A suspended stackful task's own ambient context, if it has one (see
/// [`Resuming`]). Boxed: it exists only while such a task is suspended.
#[derive(Default)]
pub(crate) struct TaskContext(Option<Box<Ambient>>);

impl Drop for TaskContext {
    /// A kept context that is never put back still gives up its frame
    /// value's count.
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(own) = self.0.take() {
            release_kept(*own);
        }
    }
}

#[cold]
#[inline(never)]
fn release_kept(own: Ambient) {
    own.frame.release();
}

impl<'a> Resuming<'a> {
    /// Makes `resume` the stackful slot and puts the task's own context
    /// back (if it kept one), noting the executor's fields first.
    #[inline(always)]
    pub(crate) fn new(resume: &'a Resume, own: &mut TaskContext) -> Self {
        let cx = get();
        // SAFETY: this thread's record, used at once.
        let t = unsafe { &*cx };
        let epoch = t.epoch.get();
        if own.0.is_some() {
            own_back(t, resume, own);
        }
        Resuming {
            cx,
            resume,
            prev: t.resume.replace(resume),
            epoch,
        }
    }

    /// The task suspended: if it changed the context since it was
    /// resumed, its context goes into `own` (with the frame value's count,
    /// the live slot keeping an uncounted copy) before the executor's is
    /// restored.
    #[inline(always)]
    pub(crate) fn suspended(&self, own: &mut TaskContext) {
        // SAFETY: as in `Drop`.
        let t = unsafe { &*self.cx };
        if t.epoch.get() != self.epoch {
            own.0 = Some(Box::new(t.take_ambient()));
        }
    }
}

/// Puts a suspended task's own context back (rare: see [`Resuming`]),
/// noting the executor's fields in `resume` first.
#[cold]
#[inline(never)]
fn own_back(t: &ThreadContext, resume: &Resume, own: &mut TaskContext) {
    if let Some(own) = own.0.take() {
        resume.executor.set(Some(ExecutorFields::of(t)));
        // The live frame value is overwritten, not released: the executor
        // keeps its own (its batch's `safe_resume` restores the slot), and
        // the task's count moves back to the slot.
        t.put_ambient_over(*own);
    }
}

impl Drop for Resuming<'_> {
    /// The task suspended, returned or unwound. The executor's fields are
    /// put back if anything wrote the context meanwhile; the frame slot is
    /// the executor's to restore (it writes it for every poll and restores
    /// it around every poll or batch: rule 3), so a task that changed it
    /// and suspended leaves it at most until the executor's next write.
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: the record of the thread `new` ran on, which this runs on
        // too (see the type's docs); it lives as long as the thread.
        let t = unsafe { &*self.cx };
        t.resume.set(self.prev);
        if t.epoch.get() != self.epoch {
            // No executor entry during the resume: the fields are still the
            // executor's (only an entry writes them).
            if let Some(executor) = self.resume.executor.get() {
                executor.put(t);
            }
            t.bump();
        }
    }
}
