//! I/O sources registered with the event loop, and each one's readiness.
//!
//! Every source is registered **once**, edge-triggered, for reading and
//! writing together, and stays registered until it is dropped: no per-wait
//! `epoll_ctl`. Its readiness is kept here, in a [`ScheduledIo`], between
//! the edges the kernel reports:
//!
//! - the driver *sets* readiness bits when an event arrives, stamping them
//!   with its turn count (the *tick*), and takes the waiting wakers;
//! - an operation that found the source ready and then got `WouldBlock`
//!   *clears* the bits it used, but only if the tick is still the one it
//!   observed ([`ScheduledIo::clear_readiness`]). A newer edge has a newer
//!   tick, so a stale clear never erases a fresh event (the edge would not
//!   be reported again, and the waiting task would hang).
//!
//! Read-closed and write-closed are final and never cleared.
//!
//! # Registrations and tokens
//!
//! Registrations live in a [`Slab`] behind the event loop's lock; a
//! source's mio `Token` is its slab index (low 24 bits) plus a generation
//! (the bits above, top bit excluded so no token equals the driver's own
//! waker token). An event for a slot that was freed and reused carries the
//! old generation and is ignored.
//!
//! # Invariants
//!
//! - Readiness is only ever *set* by the driver, which never polls a task:
//!   it wakes the wakers stored here (rule 9).
//! - A waker is stored under the source's waiter lock *after* a readiness
//!   check and checked again under that lock; the driver sets readiness
//!   before it takes that lock, so no edge falls between the check and the
//!   store.
//! - Once the event loop shuts down, every source is marked so: its waits
//!   end with an error instead of hanging.

use super::driver::Handle;
use crate::loom::lock::Mutex;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use mio::{Interest, Token};
use slab::Slab;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Readiness bits of a source (a set of [`Ready`] flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ready(usize);

impl Ready {
    pub(crate) const READABLE: Ready = Ready(1);
    pub(crate) const WRITABLE: Ready = Ready(1 << 1);
    pub(crate) const READ_CLOSED: Ready = Ready(1 << 2);
    pub(crate) const WRITE_CLOSED: Ready = Ready(1 << 3);
    pub(crate) const ERROR: Ready = Ready(1 << 4);
    const ALL: usize = 0b1_1111;

    /// The readiness a mio event reports.
    pub(crate) fn from_event(e: &mio::event::Event) -> Ready {
        let mut r = 0;
        if e.is_readable() {
            r |= Self::READABLE.0;
        }
        if e.is_writable() {
            r |= Self::WRITABLE.0;
        }
        if e.is_read_closed() {
            r |= Self::READ_CLOSED.0;
        }
        if e.is_write_closed() {
            r |= Self::WRITE_CLOSED.0;
        }
        if e.is_error() {
            r |= Self::ERROR.0;
        }
        Ready(r)
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every flag of `other` is set here.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn contains(self, other: Ready) -> bool {
        self.0 & other.0 == other.0
    }

    fn intersection(self, other: Ready) -> Ready {
        Ready(self.0 & other.0)
    }
}

impl std::ops::BitOr for Ready {
    type Output = Ready;
    fn bitor(self, rhs: Ready) -> Ready {
        Ready(self.0 | rhs.0)
    }
}

/// Which half of a source an operation uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    /// The readiness that lets an operation of this direction proceed (it
    /// will then either succeed or report the condition).
    fn mask(self) -> Ready {
        match self {
            Direction::Read => Ready::READABLE | Ready::READ_CLOSED | Ready::ERROR,
            Direction::Write => Ready::WRITABLE | Ready::WRITE_CLOSED | Ready::ERROR,
        }
    }
}

/// Readiness an operation observed, with the tick it was set at: what it
/// hands back to [`ScheduledIo::clear_readiness`] on `WouldBlock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReadyEvent {
    pub(crate) ready: Ready,
    pub(crate) tick: u16,
}

// The readiness word: flags in the low bits, SHUTDOWN, then the tick.
const SHUTDOWN: usize = 1 << 5;
const TICK_SHIFT: u32 = 16;
const TICK_MASK: usize = 0xffff << TICK_SHIFT;

/// A set of wakers waiting on one direction of a source. The first waiter
/// costs no allocation; more concurrent waiters (several tasks on one
/// source) go in a vector that keeps its capacity.
#[derive(Default)]
struct WakerSet {
    first: Option<Waker>,
    more: Vec<Waker>,
}

impl WakerSet {
    fn register(&mut self, waker: &Waker) {
        match &self.first {
            None => self.first = Some(waker.clone()),
            Some(w) if w.will_wake(waker) => {}
            Some(_) => {
                if !self.more.iter().any(|w| w.will_wake(waker)) {
                    self.more.push(waker.clone());
                }
            }
        }
    }

    fn take_into(&mut self, out: &mut Vec<Waker>) {
        out.extend(self.first.take());
        out.append(&mut self.more);
    }
}

#[derive(Default)]
struct Waiters {
    readers: WakerSet,
    writers: WakerSet,
}

/// One source's readiness and waiters. See the module docs.
pub(crate) struct ScheduledIo {
    /// Readiness flags, `SHUTDOWN`, and the tick of the last set.
    readiness: AtomicUsize,
    waiters: Mutex<Waiters>,
}

impl ScheduledIo {
    pub(crate) fn new() -> Self {
        ScheduledIo {
            readiness: AtomicUsize::new(0),
            waiters: Mutex::new(Waiters::default()),
        }
    }

    /// The driver, at turn `tick`: adds `ready` and stamps the tick.
    pub(crate) fn set_readiness(&self, tick: u16, ready: Ready) {
        let _ = self
            .readiness
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |curr| {
                let flags = (curr & (Ready::ALL | SHUTDOWN)) | ready.0;
                Some(flags | ((tick as usize) << TICK_SHIFT))
            });
    }

    /// Clears `event.ready` (except the final closed flags), unless a newer
    /// event has been set since `event` was observed.
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        let clear = event.ready.0 & !(Ready::READ_CLOSED.0 | Ready::WRITE_CLOSED.0);
        let _ = self
            .readiness
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |curr| {
                let tick = ((curr & TICK_MASK) >> TICK_SHIFT) as u16;
                (tick == event.tick).then_some(curr & !clear)
            });
    }

    /// The current readiness (tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn readiness(&self) -> ReadyEvent {
        let curr = self.readiness.load(Ordering::Acquire);
        ReadyEvent {
            ready: Ready(curr & Ready::ALL),
            tick: ((curr & TICK_MASK) >> TICK_SHIFT) as u16,
        }
    }

    /// `Some` if ready for `dir` (or shut down: `Err`).
    fn check(&self, dir: Direction) -> Option<io::Result<ReadyEvent>> {
        let curr = self.readiness.load(Ordering::Acquire);
        if curr & SHUTDOWN != 0 {
            return Some(Err(shutdown_error()));
        }
        let ready = Ready(curr).intersection(dir.mask());
        (!ready.is_empty()).then_some(Ok(ReadyEvent {
            ready,
            tick: ((curr & TICK_MASK) >> TICK_SHIFT) as u16,
        }))
    }

    /// Ready for `dir`, or the task's waker is stored and woken on the next
    /// edge for `dir`.
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        if let Some(r) = self.check(dir) {
            return budgeted(cx, r);
        }
        let mut waiters = self.waiters.lock();
        // Again under the lock: the driver sets readiness before it takes
        // the lock to collect the wakers.
        if let Some(r) = self.check(dir) {
            drop(waiters);
            return budgeted(cx, r);
        }
        match dir {
            Direction::Read => waiters.readers.register(cx.waker()),
            Direction::Write => waiters.writers.register(cx.waker()),
        }
        Poll::Pending
    }

    /// The driver: moves the wakers waiting for `ready` to `out`.
    pub(crate) fn take_wakers(&self, ready: Ready, out: &mut Vec<Waker>) {
        let mut waiters = self.waiters.lock();
        if !ready.intersection(Direction::Read.mask()).is_empty() {
            waiters.readers.take_into(out);
        }
        if !ready.intersection(Direction::Write.mask()).is_empty() {
            waiters.writers.take_into(out);
        }
    }

    /// The event loop shuts down: every wait on this source ends with an
    /// error; the waiting wakers go to `out`.
    pub(crate) fn shutdown(&self, out: &mut Vec<Waker>) {
        self.readiness.fetch_or(SHUTDOWN, Ordering::AcqRel);
        let mut waiters = self.waiters.lock();
        waiters.readers.take_into(out);
        waiters.writers.take_into(out);
    }
}

fn shutdown_error() -> io::Error {
    io::Error::other("the coframe event loop this source is registered with has shut down")
}

/// Index bits of a token; the generation takes the bits above (but the top
/// one).
const INDEX_BITS: u32 = 24;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
const GENERATION_MASK: usize = usize::MAX >> (INDEX_BITS + 1);

struct Entry {
    generation: usize,
    io: Arc<ScheduledIo>,
}

/// The slab of registrations (behind the event loop's lock).
pub(crate) struct Registrations {
    slab: Slab<Entry>,
    next_generation: usize,
    shut_down: bool,
}

impl Registrations {
    pub(crate) fn new() -> Self {
        Registrations {
            slab: Slab::new(),
            next_generation: 0,
            shut_down: false,
        }
    }

    /// A new entry: its slab index, its token, its readiness.
    fn allocate(&mut self) -> io::Result<(usize, Token, Arc<ScheduledIo>)> {
        if self.shut_down {
            return Err(io::Error::other(
                "cannot register a source: the coframe event loop has shut down",
            ));
        }
        let entry = self.slab.vacant_entry();
        let index = entry.key();
        if index > INDEX_MASK {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "too many sources registered with one coframe event loop (16 M)",
            ));
        }
        let generation = self.next_generation & GENERATION_MASK;
        self.next_generation = self.next_generation.wrapping_add(1);
        let io = Arc::new(ScheduledIo::new());
        entry.insert(Entry {
            generation,
            io: io.clone(),
        });
        Ok((index, Token(generation << INDEX_BITS | index), io))
    }

    /// The source `token` names, unless its slot was freed (and maybe
    /// reused) since the event was queued.
    pub(crate) fn get(&self, token: Token) -> Option<&ScheduledIo> {
        let index = token.0 & INDEX_MASK;
        let generation = token.0 >> INDEX_BITS;
        self.slab
            .get(index)
            .filter(|e| e.generation == generation)
            .map(|e| &*e.io)
    }

    fn remove(&mut self, index: usize) {
        self.slab.remove(index);
    }

    /// Shuts every source down (see [`ScheduledIo::shutdown`]) and refuses
    /// new ones.
    pub(crate) fn shutdown(&mut self, out: &mut Vec<Waker>) {
        self.shut_down = true;
        for (_, e) in self.slab.iter() {
            e.io.shutdown(out);
        }
    }
}

/// A source's registration: its slot, its readiness, and the event loop it
/// is registered with. Dropping it frees the slot; the owner deregisters
/// the file descriptor first ([`Registration::deregister`]), while it is
/// still open.
pub(crate) struct Registration {
    handle: Handle,
    io: Arc<ScheduledIo>,
    index: usize,
}

impl Registration {
    /// Registers `source` with `handle`'s event loop, edge-triggered, for
    /// reading and writing.
    pub(crate) fn new(handle: Handle, source: &mut impl mio::event::Source) -> io::Result<Self> {
        let shared = handle.shared();
        let (index, token, io) = shared.io.lock().allocate()?;
        shared.sources.fetch_add(1, Ordering::Relaxed);
        // Built now, so that an error below frees the slot through `Drop`.
        let reg = Registration { handle, io, index };
        reg.handle.shared().registry.register(
            source,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        Ok(reg)
    }

    /// Removes `source` (the one registered) from the event loop.
    pub(crate) fn deregister(&self, source: &mut impl mio::event::Source) -> io::Result<()> {
        self.handle.shared().registry.deregister(source)
    }

    /// See [`ScheduledIo::poll_ready`].
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        self.io.poll_ready(cx, dir)
    }

    /// See [`ScheduledIo::clear_readiness`].
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        self.io.clear_readiness(event)
    }

    /// The source's readiness (tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn scheduled_io(&self) -> &ScheduledIo {
        &self.io
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let shared = self.handle.shared();
        shared.io.lock().remove(self.index);
        shared.sources.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A ready source spends the task's cooperative budget (`coop.rs`): a
/// task whose source always has data (a fast peer, a full buffer) yields
/// to its neighbours every so often instead of keeping its thread.
#[inline(always)]
fn budgeted(cx: &mut Context<'_>, r: io::Result<ReadyEvent>) -> Poll<io::Result<ReadyEvent>> {
    if crate::coop::proceed(cx) {
        Poll::Ready(r)
    } else {
        Poll::Pending
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdAtomic;
    use std::task::Wake;

    struct Count(StdAtomic);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn ready(io: &ScheduledIo, dir: Direction) -> Option<ReadyEvent> {
        let w = Waker::from(Arc::new(Count(StdAtomic::new(0))));
        match io.poll_ready(&mut Context::from_waker(&w), dir) {
            Poll::Ready(r) => Some(r.unwrap()),
            Poll::Pending => None,
        }
    }

    /// The tick rule: a clear with the tick it observed clears; a clear
    /// with an older tick (a newer edge arrived meanwhile) does not.
    #[test]
    fn a_stale_clear_never_erases_a_fresh_event() {
        let io = ScheduledIo::new();
        assert_eq!(ready(&io, Direction::Read), None);
        io.set_readiness(1, Ready::READABLE);
        let seen = ready(&io, Direction::Read).unwrap();
        assert_eq!(seen.tick, 1);
        // A new edge at tick 2 while the operation ran...
        io.set_readiness(2, Ready::READABLE);
        // ...then the operation got WouldBlock and clears what it saw.
        io.clear_readiness(seen);
        assert!(
            ready(&io, Direction::Read).is_some(),
            "the fresh edge survived"
        );
        // A clear with the current tick does clear.
        let seen = ready(&io, Direction::Read).unwrap();
        assert_eq!(seen.tick, 2);
        io.clear_readiness(seen);
        assert_eq!(ready(&io, Direction::Read), None);
    }

    #[test]
    fn closed_flags_are_final_and_directions_separate() {
        let io = ScheduledIo::new();
        io.set_readiness(1, Ready::WRITABLE);
        assert_eq!(ready(&io, Direction::Read), None);
        let w = ready(&io, Direction::Write).unwrap();
        io.set_readiness(2, Ready::READ_CLOSED);
        // The write readiness was set at tick 1 but the word's tick is 2
        // now: the stale clear leaves it.
        io.clear_readiness(w);
        assert!(ready(&io, Direction::Write).is_some());
        let r = ready(&io, Direction::Read).unwrap();
        assert!(r.ready.contains(Ready::READ_CLOSED));
        io.clear_readiness(r);
        assert!(
            ready(&io, Direction::Read).is_some(),
            "read-closed is never cleared"
        );
    }

    /// A waiting task is woken by an edge in its direction only, and a
    /// second task waiting on the same direction is woken too.
    #[test]
    fn wakers_are_taken_by_direction() {
        let io = ScheduledIo::new();
        let (a, b, c) = (
            Arc::new(Count(StdAtomic::new(0))),
            Arc::new(Count(StdAtomic::new(0))),
            Arc::new(Count(StdAtomic::new(0))),
        );
        let (wa, wb, wc) = (
            Waker::from(a.clone()),
            Waker::from(b.clone()),
            Waker::from(c.clone()),
        );
        for (w, d) in [
            (&wa, Direction::Read),
            (&wa, Direction::Read),
            (&wb, Direction::Read),
            (&wc, Direction::Write),
        ] {
            assert!(io.poll_ready(&mut Context::from_waker(w), d).is_pending());
        }
        io.set_readiness(1, Ready::READABLE);
        let mut out = Vec::new();
        io.take_wakers(Ready::READABLE, &mut out);
        assert_eq!(out.len(), 2, "one waker per task");
        out.into_iter().for_each(Waker::wake);
        let n = |c: &Arc<Count>| c.0.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!((n(&a), n(&b), n(&c)), (1, 1, 0));
        let mut out = Vec::new();
        io.shutdown(&mut out);
        assert_eq!(out.len(), 1);
        assert!(matches!(
            io.poll_ready(&mut Context::from_waker(&wa), Direction::Read),
            Poll::Ready(Err(_))
        ));
    }

    #[test]
    fn a_stale_token_finds_nothing() {
        let mut regs = Registrations::new();
        let (i, t1, _) = regs.allocate().unwrap();
        assert!(regs.get(t1).is_some());
        regs.remove(i);
        let (j, t2, _) = regs.allocate().unwrap();
        assert_eq!(i, j, "the slot is reused");
        assert_ne!(t1, t2);
        assert!(regs.get(t1).is_none(), "the old generation is ignored");
        assert!(regs.get(t2).is_some());
        assert_ne!(t2, Token(usize::MAX));
    }
}
