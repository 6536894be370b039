//! The hierarchical timing wheel: where armed timers wait, keyed by their
//! deadline in milliseconds since the wheel started ("ticks").
//!
//! Six levels of 64 slots: level `l`'s slots are `64^l` ms wide, so level 0
//! covers the next 64 ms at 1 ms, level 1 the next ~4 s at 64 ms, ... and
//! level 5 about 2.2 years (2^36 ms) at ~12 days. A timer sits in the level
//! of the highest bit in which its tick differs from the wheel's current
//! tick (`elapsed`), in the slot those 6 bits name; when the wheel reaches a
//! slot of a level above 0, its timers *cascade*: each either fires (its
//! tick has come) or moves down to the level its distance now calls for.
//! Timers further than 2^36 ms away wait in the top level and go round it
//! until they are close enough (never used by `sleep(Duration::MAX)`, which
//! is not armed at all).
//!
//! # Storage
//!
//! Timers are nodes of one [`Slab`]; each slot is an intrusive doubly linked
//! list threaded through the nodes by slab index, and each level keeps a
//! 64-bit mask of its occupied slots, so the next expiry is found in
//! O(levels) (a rotate and a trailing-zeros count per level), arming is a
//! slab insert and a list push, and cancelling is an O(1) unlink and a slab
//! remove. Arming is lazy: a new node goes on one *pending* list, and
//! takes its level and slot only when the wheel is next asked for its next
//! expiry or polled, so a timer cancelled before that (a timeout whose
//! future finished first) never computes them. A removed node's slot is reused by the next insert, so arming
//! allocates nothing once the slab has grown to the peak number of live
//! timers.
//!
//! # Invariants
//!
//! - A node in a slot's list has `when > elapsed` and sits in
//!   `(level_for(elapsed, when), slot_for(when, level))`, recorded in its
//!   `list` field; a node in the pending list (`list == PENDING`) has
//!   `when > elapsed` too, and every pending node is linked into its slot
//!   before the wheel reports an expiry or advances (`flush`); a node in
//!   no list (`list == UNLISTED`) has fired (or was reset to a tick already
//!   reached) and keeps its slot until its owner removes it.
//! - `elapsed` only grows, and [`Wheel::poll`]`(now)` fires exactly the
//!   nodes with `when <= now`: a timer never fires before its tick.
//! - Only the owner of a [`Key`] removes its node (the wheel never frees a
//!   node by itself), so a key stays valid until its owner removes it; the
//!   generation in the key catches a key used after that.
//! - The wheel never runs a waker's code: it never wakes, clones or drops
//!   one. [`Wheel::poll`] hands the fired timers' wakers to its caller,
//!   which wakes them after releasing the wheel; arming and changing a
//!   waker take one the caller cloned; removing a node and replacing a
//!   waker hand the old one back. A waker's code may drop a task whose
//!   `Sleep` removes its node, which needs the wheel (its lock, or on a
//!   thread-owned loop the wheel itself: a nested use would alias it).

use std::task::Waker;

/// Number of levels.
pub(crate) const NUM_LEVELS: usize = 6;
/// Bits of tick per level (64 slots).
const BITS_PER_LEVEL: u32 = 6;
/// Slots per level.
const LEVEL_SLOTS: usize = 1 << BITS_PER_LEVEL;
const SLOT_MASK: u64 = LEVEL_SLOTS as u64 - 1;
/// The span of the whole wheel in ticks (2^36 ms, about 2.2 years).
pub(crate) const MAX_DURATION: u64 = 1 << (BITS_PER_LEVEL as usize * NUM_LEVELS);
/// "No node" in a list link. Links are 32-bit slab indices (a node is 48
/// bytes in the slab, not 56: a million timers touch less memory).
const NIL: u32 = u32::MAX;
/// A node's `list` when it is in no list (fired).
const UNLISTED: u16 = u16::MAX;
/// A node's `list` when it is in the pending list (armed, not yet in a
/// slot).
const PENDING: u16 = u16::MAX - 1;

/// Names one armed timer: the slab index of its node and the node's
/// generation.
///
/// One word (the index in the low half, the generation in the high one):
/// it is returned through memory and read back whole, which two 32-bit
/// fields made a store-forwarding stall on every arm (perf, AMD EPYC VM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key(u64);

impl Key {
    #[inline]
    fn new(index: u32, generation: u32) -> Key {
        Key(index as u64 | (generation as u64) << 32)
    }

    #[inline]
    fn index(self) -> usize {
        self.slot() as usize
    }

    /// The node's index as the lists store it.
    #[inline]
    fn slot(self) -> u32 {
        self.0 as u32
    }

    #[inline]
    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// What storing a waker for a timer would take ([`Wheel::waker_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WakerState {
    /// The stored waker wakes the same task: nothing to do.
    Same,
    /// Another waker is stored: replace it.
    Different,
    /// The timer is not armed (fired, or reset to a reached tick): its
    /// deadline has passed, so the new waker is to be woken at once.
    Fired,
}

/// Arming or resetting a timer whose tick the wheel has already reached: the
/// caller treats the timer as fired (its deadline has passed).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Expired;

struct Node {
    /// The tick the timer fires at.
    when: u64,
    prev: u32,
    next: u32,
    /// `level * 64 + slot` of the list holding the node, or `UNLISTED`.
    list: u16,
    generation: u32,
    waker: Option<Waker>,
}

/// The nodes: a vector with a free list threaded through the free nodes'
/// `next` links (a slab whose entries are written in place: inserting a
/// whole node by value copied it with wide loads over narrower fresh
/// stores, a store-forwarding stall per arm).
struct Nodes {
    nodes: Vec<Node>,
    /// Head of the free list, or `NIL`.
    free: u32,
    len: usize,
}

/// `Node::list` of a free node.
const FREE: u16 = u16::MAX - 2;

impl Nodes {
    const fn new() -> Self {
        Nodes {
            nodes: Vec::new(),
            free: NIL,
            len: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    #[cfg(all(test, not(loom)))]
    fn capacity(&self) -> usize {
        self.nodes.capacity()
    }

    /// A free node's index (taken off the free list, or a new node); the
    /// caller writes every field but `generation` and `waker` (left as they
    /// were: a free node has no waker).
    #[inline]
    fn alloc(&mut self) -> u32 {
        self.len += 1;
        if self.free != NIL {
            let index = self.free;
            self.free = self.nodes[index as usize].next;
            return index;
        }
        let index = u32::try_from(self.nodes.len())
            .ok()
            .filter(|&i| i != NIL)
            .unwrap_or_else(|| panic!("coframe::time: 2^32 - 1 timers armed at once"));
        self.nodes.push(Node {
            when: 0,
            prev: NIL,
            next: NIL,
            list: FREE,
            generation: 0,
            waker: None,
        });
        index
    }

    /// Frees node `index` (in no list); returns its waker.
    #[inline]
    fn free(&mut self, index: u32) -> Option<Waker> {
        let free = self.free;
        let node = &mut self.nodes[index as usize];
        debug_assert!(node.list != FREE);
        node.list = FREE;
        node.next = free;
        self.free = index;
        self.len -= 1;
        node.waker.take()
    }

    /// Node `index` if it is in use.
    #[inline]
    fn get(&self, index: usize) -> Option<&Node> {
        self.nodes.get(index).filter(|n| n.list != FREE)
    }
}

impl std::ops::Index<usize> for Nodes {
    type Output = Node;
    #[inline]
    fn index(&self, i: usize) -> &Node {
        &self.nodes[i]
    }
}

impl std::ops::IndexMut<usize> for Nodes {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut Node {
        &mut self.nodes[i]
    }
}

struct Level {
    /// Bit `s` set: slot `s`'s list is not empty.
    occupied: u64,
    heads: [u32; LEVEL_SLOTS],
}

/// The wheel. Not synchronised: it lives behind the event loop's lock.
pub(crate) struct Wheel {
    /// The last tick the wheel was advanced to.
    elapsed: u64,
    levels: [Level; NUM_LEVELS],
    nodes: Nodes,
    next_generation: u32,
    /// Head of the pending list (armed nodes not yet in a slot), or `NIL`.
    pending: u32,
}

/// The level a timer for `when` goes in while the wheel is at `elapsed`:
/// that of the highest 6-bit group in which they differ (the top level for
/// anything 2^36 ticks or more away).
fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = (elapsed ^ when) | SLOT_MASK;
    if masked >= MAX_DURATION {
        return NUM_LEVELS - 1;
    }
    (masked.ilog2() / BITS_PER_LEVEL) as usize
}

/// The slot of `when` in `level`.
fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (level as u32 * BITS_PER_LEVEL)) & SLOT_MASK) as usize
}

/// Width of one slot of `level`, in ticks.
fn slot_range(level: usize) -> u64 {
    1 << (level as u32 * BITS_PER_LEVEL)
}

/// Span of the whole `level`, in ticks.
fn level_range(level: usize) -> u64 {
    1 << ((level as u32 + 1) * BITS_PER_LEVEL)
}

/// The next expiry of one level: its slot and the tick that slot starts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expiration {
    level: usize,
    slot: usize,
    deadline: u64,
}

impl Level {
    const fn new() -> Self {
        Level {
            occupied: 0,
            heads: [NIL; LEVEL_SLOTS],
        }
    }

    /// The first occupied slot after the one holding `now`, going round
    /// (only the top level can have an occupied slot at or behind `now`'s).
    fn next_expiration(&self, level: usize, now: u64) -> Option<Expiration> {
        if self.occupied == 0 {
            return None;
        }
        let now_slot = ((now / slot_range(level)) & SLOT_MASK) as u32 + 1;
        let rotated = self.occupied.rotate_right(now_slot);
        let slot = ((rotated.trailing_zeros() + now_slot) as usize) % LEVEL_SLOTS;
        let level_start = now & !(level_range(level) - 1);
        let mut deadline = level_start + slot as u64 * slot_range(level);
        if deadline <= now {
            // The top level's slot for a timer a full turn (or more) away.
            debug_assert_eq!(level, NUM_LEVELS - 1);
            deadline += level_range(level);
        }
        Some(Expiration {
            level,
            slot,
            deadline,
        })
    }
}

impl Wheel {
    /// An empty wheel at tick 0.
    pub(crate) fn new() -> Self {
        const L: Level = Level::new();
        Wheel {
            elapsed: 0,
            levels: [L; NUM_LEVELS],
            nodes: Nodes::new(),
            next_generation: 0,
            pending: NIL,
        }
    }

    /// Whether the slab holds no node (armed or fired).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Nodes in the slab: armed timers plus fired ones not yet removed.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Slots the slab has room for without growing.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn capacity(&self) -> usize {
        self.nodes.capacity()
    }

    /// Arms a timer for tick `when` that wakes `waker` when it fires.
    /// `Err` (with the waker) if the wheel has already reached `when`.
    pub(crate) fn insert(&mut self, when: u64, waker: Waker) -> Result<Key, (Expired, Waker)> {
        if when <= self.elapsed {
            return Err((Expired, waker));
        }
        let index = self.nodes.alloc();
        let generation = self.next_generation;
        self.next_generation = generation.wrapping_add(1);
        let head = self.pending;
        let node = &mut self.nodes[index as usize];
        node.when = when;
        node.prev = NIL;
        node.next = head;
        node.list = PENDING;
        node.generation = generation;
        node.waker = Some(waker);
        if head != NIL {
            self.nodes[head as usize].prev = index;
        }
        self.pending = index;
        Ok(Key::new(index, generation))
    }

    /// Cancels `key`'s timer and frees its node. Returns whether it was
    /// still armed (`false` once fired or for a stale key), and its waker
    /// (for the caller to drop).
    pub(crate) fn remove(&mut self, key: Key) -> (bool, Option<Waker>) {
        if !self.is_valid(key) {
            return (false, None);
        }
        let armed = self.nodes[key.index()].list != UNLISTED;
        self.unlink(key.slot());
        (armed, self.nodes.free(key.slot()))
    }

    /// Moves `key`'s timer (armed or fired) to tick `when`. `Err(Expired)`
    /// if the wheel has already reached `when`: the node is then left fired.
    ///
    /// # Panics
    /// If `key` was removed (the owner's bug).
    pub(crate) fn reset(&mut self, key: Key, when: u64) -> Result<(), Expired> {
        assert!(self.is_valid(key), "timer key used after its removal");
        self.unlink(key.slot());
        if when <= self.elapsed {
            return Err(Expired);
        }
        self.nodes[key.index()].when = when;
        self.link(key.slot());
        Ok(())
    }

    /// What storing `waker` for `key`'s timer would take (no waker code
    /// runs: `will_wake` compares).
    ///
    /// # Panics
    /// If `key` was removed (the owner's bug).
    pub(crate) fn waker_state(&self, key: Key, waker: &Waker) -> WakerState {
        assert!(self.is_valid(key), "timer key used after its removal");
        let node = &self.nodes[key.index()];
        match &node.waker {
            _ if node.list == UNLISTED => WakerState::Fired,
            Some(w) if w.will_wake(waker) => WakerState::Same,
            _ => WakerState::Different,
        }
    }

    /// Stores `waker` for `key`'s armed timer and hands back the old one;
    /// `Err(waker)` if the timer is no longer armed (fired: the caller
    /// wakes `waker` itself, the deadline has passed).
    ///
    /// # Panics
    /// If `key` was removed (the owner's bug).
    pub(crate) fn replace_waker(&mut self, key: Key, waker: Waker) -> Result<Option<Waker>, Waker> {
        assert!(self.is_valid(key), "timer key used after its removal");
        let node = &mut self.nodes[key.index()];
        if node.list == UNLISTED {
            return Err(waker);
        }
        Ok(node.waker.replace(waker))
    }

    /// Whether `key`'s timer is in no list (fired or reset to a reached
    /// tick).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_fired(&self, key: Key) -> bool {
        self.is_valid(key) && self.nodes[key.index()].list == UNLISTED
    }

    /// The tick the wheel next has work at (a timer's tick, or the start of
    /// a higher level's slot whose timers must cascade), if any is armed.
    /// Never later than the earliest armed timer's tick.
    pub(crate) fn next_expiration(&mut self) -> Option<u64> {
        self.flush();
        self.next_expiration_full().map(|e| e.deadline)
    }

    /// Links every pending node into its slot.
    fn flush(&mut self) {
        while self.pending != NIL {
            let index = self.pending;
            let node = &mut self.nodes[index as usize];
            self.pending = node.next;
            node.prev = NIL;
            node.next = NIL;
            node.list = UNLISTED;
            // Armed with `when > elapsed`, and `elapsed` only moves in
            // `poll`, which flushes first.
            self.link(index);
        }
    }

    fn next_expiration_full(&self) -> Option<Expiration> {
        // A lower level's next slot always comes before a higher level's:
        // the lower level only holds ticks before the higher level's next
        // slot starts.
        self.levels
            .iter()
            .enumerate()
            .find_map(|(l, level)| level.next_expiration(l, self.elapsed))
    }

    /// Advances the wheel to tick `now`: every armed timer with
    /// `when <= now` fires (its node leaves its list, its waker is pushed
    /// on `fired`), none other does. Returns how many fired. `now` below
    /// `elapsed` fires nothing.
    pub(crate) fn poll(&mut self, now: u64, fired: &mut Vec<Waker>) -> usize {
        self.flush();
        let mut count = 0;
        while let Some(exp) = self.next_expiration_full() {
            if exp.deadline > now {
                break;
            }
            count += self.process(exp, fired);
        }
        if now > self.elapsed {
            self.elapsed = now;
        }
        count
    }

    /// Takes one slot's list, moves the wheel to the slot's start, fires the
    /// nodes due by then and re-links the others lower down (or, at the top
    /// level, once more round it).
    fn process(&mut self, exp: Expiration, fired: &mut Vec<Waker>) -> usize {
        let level = &mut self.levels[exp.level];
        let mut cur = level.heads[exp.slot];
        level.heads[exp.slot] = NIL;
        level.occupied &= !(1 << exp.slot);
        debug_assert!(exp.deadline >= self.elapsed);
        self.elapsed = exp.deadline;
        let mut count = 0;
        // The whole list was taken first: a node re-linked into the same
        // slot (a top-level timer another turn away) is not seen again here.
        while cur != NIL {
            let node = &mut self.nodes[cur as usize];
            let next = node.next;
            node.prev = NIL;
            node.next = NIL;
            node.list = UNLISTED;
            if node.when <= exp.deadline {
                if let Some(w) = node.waker.take() {
                    fired.push(w);
                }
                count += 1;
            } else {
                self.link(cur);
            }
            cur = next;
        }
        count
    }

    /// Fires every armed timer at once (the event loop is shutting down).
    pub(crate) fn fire_all(&mut self, fired: &mut Vec<Waker>) -> usize {
        self.flush();
        let mut count = 0;
        for level in &mut self.levels {
            level.occupied = 0;
            for head in &mut level.heads {
                let mut cur = std::mem::replace(head, NIL);
                while cur != NIL {
                    let node = &mut self.nodes[cur as usize];
                    cur = node.next;
                    node.prev = NIL;
                    node.next = NIL;
                    node.list = UNLISTED;
                    if let Some(w) = node.waker.take() {
                        fired.push(w);
                    }
                    count += 1;
                }
            }
        }
        count
    }

    /// Whether `key` names a node in the slab (not removed since).
    pub(crate) fn is_valid(&self, key: Key) -> bool {
        self.nodes
            .get(key.index())
            .is_some_and(|n| n.generation == key.generation())
    }

    /// Pushes node `index` (in no list, `when > elapsed`) on the front of
    /// its slot's list.
    fn link(&mut self, index: u32) {
        let when = self.nodes[index as usize].when;
        debug_assert!(when > self.elapsed);
        let l = level_for(self.elapsed, when);
        let s = slot_for(when, l);
        let level = &mut self.levels[l];
        let head = level.heads[s];
        level.heads[s] = index;
        level.occupied |= 1 << s;
        if head != NIL {
            self.nodes[head as usize].prev = index;
        }
        let node = &mut self.nodes[index as usize];
        debug_assert_eq!(node.list, UNLISTED);
        node.prev = NIL;
        node.next = head;
        node.list = (l * LEVEL_SLOTS + s) as u16;
    }

    /// Takes node `index` out of its list, if it is in one.
    fn unlink(&mut self, index: u32) {
        let node = &mut self.nodes[index as usize];
        let list = node.list;
        if list == UNLISTED {
            return;
        }
        let (prev, next) = (node.prev, node.next);
        node.prev = NIL;
        node.next = NIL;
        node.list = UNLISTED;
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
        if prev != NIL {
            self.nodes[prev as usize].next = next;
        } else if list == PENDING {
            debug_assert_eq!(self.pending, index);
            self.pending = next;
        } else {
            // The head of a slot's list.
            let (l, s) = (list as usize / LEVEL_SLOTS, list as usize % LEVEL_SLOTS);
            let level = &mut self.levels[l];
            debug_assert_eq!(level.heads[s], index);
            level.heads[s] = next;
            if next == NIL {
                level.occupied &= !(1 << s);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    /// A waker that logs its id when woken.
    struct IdWaker(u64, Arc<Mutex<Vec<u64>>>);
    impl Wake for IdWaker {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    fn id_waker(id: u64, log: &Arc<Mutex<Vec<u64>>>) -> Waker {
        Waker::from(Arc::new(IdWaker(id, log.clone())))
    }

    /// Polls at `now`, wakes what fired and returns the ids woken, in order.
    fn fire(wheel: &mut Wheel, now: u64, log: &Arc<Mutex<Vec<u64>>>) -> Vec<u64> {
        let mut fired = Vec::new();
        let n = wheel.poll(now, &mut fired);
        assert_eq!(n, fired.len());
        fired.into_iter().for_each(Waker::wake);
        let mut l = log.lock().unwrap();
        l.sort_unstable();
        std::mem::take(&mut *l)
    }

    #[test]
    fn level_and_slot_of_a_tick() {
        for when in 1..64 {
            assert_eq!(level_for(0, when), 0);
            assert_eq!(slot_for(when, 0), when as usize);
        }
        for level in 1..NUM_LEVELS {
            let first = 1u64 << (6 * level);
            assert_eq!(level_for(0, first), level, "{first}");
            assert_eq!(level_for(0, first * 64 - 1), level, "{}", first * 64 - 1);
            assert_eq!(slot_for(first * 5, level), 5);
        }
        assert_eq!(level_for(0, MAX_DURATION), NUM_LEVELS - 1);
        assert_eq!(level_for(0, u64::MAX / 2), NUM_LEVELS - 1);
        // Relative to elapsed: the same distance can need different levels.
        assert_eq!(level_for(63, 64), 1);
        assert_eq!(level_for(64, 127), 0);
    }

    /// Timers at ticks spread over every level (and past the wheel's span)
    /// fire in order, each exactly at its tick when the wheel is polled at
    /// every expiry it reports.
    #[test]
    fn fires_in_order_at_every_level() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut wheel = Wheel::new();
        let mut whens: Vec<u64> = vec![
            1,
            2,
            63,
            64,
            65,
            100,
            4095,
            4096,
            4097,
            (1 << 18) - 1,
            (1 << 18) + 7,
            (1 << 24) + 10,
            (1 << 30) + 10,
            (1 << 30) * 63 + 1,
            MAX_DURATION - 1,
            MAX_DURATION + 5,
            3 * MAX_DURATION / 2,
            2 * MAX_DURATION + 123_456,
        ];
        for &w in &whens {
            wheel.insert(w, id_waker(w, &log)).unwrap();
        }
        whens.sort_unstable();
        let mut order = Vec::new();
        while let Some(next) = wheel.next_expiration() {
            // The wheel never asks to be polled after a timer's tick.
            assert!(
                next <= whens[order.len()],
                "{next} > {}",
                whens[order.len()]
            );
            // Polling just before the expiry fires nothing.
            assert!(fire(&mut wheel, next - 1, &log).is_empty());
            for id in fire(&mut wheel, next, &log) {
                assert_eq!(id, next, "fired at {next}, armed for {id}");
                order.push(id);
            }
        }
        assert_eq!(order, whens);
        assert_eq!(wheel.len(), whens.len(), "fired nodes stay until removed");
    }

    /// With pseudo-random ticks and polls that jump forward by random
    /// amounts, each poll fires exactly the timers due by then.
    #[test]
    fn never_early_never_missed_with_jumps() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut wheel = Wheel::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut pending: Vec<u64> = Vec::new();
        let mut now = 0;
        for round in 0..2000 {
            for _ in 0..5 {
                let span = [70, 5000, 300_000, 20_000_000][(round % 4) as usize];
                let w = now + 1 + rand() % span;
                wheel.insert(w, id_waker(w, &log)).unwrap();
                pending.push(w);
            }
            now += rand() % [3, 200, 70_000, 5_000_000][(rand() % 4) as usize];
            let got = fire(&mut wheel, now, &log);
            let mut want: Vec<u64> = pending.iter().copied().filter(|&w| w <= now).collect();
            want.sort_unstable();
            pending.retain(|&w| w > now);
            assert_eq!(got, want, "poll at {now}");
        }
    }

    #[test]
    fn cancel_and_reset() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut wheel = Wheel::new();
        let a = wheel.insert(10, id_waker(1, &log)).unwrap();
        let b = wheel.insert(5000, id_waker(2, &log)).unwrap();
        let c = wheel.insert(70, id_waker(3, &log)).unwrap();
        assert!(wheel.remove(a).0);
        assert!(!wheel.remove(a).0, "a stale key removes nothing");
        wheel.reset(b, 20).unwrap(); // from level 2 to level 0
        wheel.reset(c, 100_000).unwrap(); // from level 1 to level 2
        assert_eq!(wheel.next_expiration(), Some(20));
        assert_eq!(fire(&mut wheel, 19, &log), Vec::<u64>::new());
        assert_eq!(fire(&mut wheel, 20, &log), vec![2]);
        assert!(wheel.is_fired(b) && !wheel.is_fired(c));
        // A fired timer can be re-armed, and resetting to a reached tick
        // leaves it fired.
        wheel.reset(b, 30).unwrap();
        assert!(!wheel.is_fired(b));
        assert_eq!(wheel.reset(b, 20), Err(Expired));
        assert!(wheel.is_fired(b));
        assert_eq!(fire(&mut wheel, 99_999, &log), Vec::<u64>::new());
        assert_eq!(fire(&mut wheel, 100_000, &log), vec![3]);
        assert!(!wheel.remove(b).0 && !wheel.remove(c).0, "both had fired");
        assert_eq!(wheel.len(), 0);
        assert_eq!(wheel.next_expiration(), None);
        assert!(matches!(
            wheel.insert(100_000, id_waker(4, &log)),
            Err((Expired, _))
        ));
    }

    /// Several timers in one slot: unlinking the head, a middle node and the
    /// tail keeps the list (and the occupied bit) right.
    #[test]
    fn unlink_anywhere_in_a_slot() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut wheel = Wheel::new();
        let keys: Vec<Key> = (0..5)
            .map(|i| wheel.insert(7, id_waker(i, &log)).unwrap())
            .collect();
        // The list is 4,3,2,1,0 (pushed on the front).
        assert!(wheel.remove(keys[4]).0); // head
        assert!(wheel.remove(keys[2]).0); // middle
        assert!(wheel.remove(keys[0]).0); // tail
        assert_eq!(fire(&mut wheel, 7, &log), vec![1, 3]);
        assert!(
            !wheel.remove(keys[1]).0 && !wheel.remove(keys[3]).0,
            "both had fired"
        );
        assert_eq!(wheel.next_expiration(), None);
    }

    /// Timers armed and not yet linked (pending) can be removed anywhere
    /// in the pending list or reset, and the rest still fire at their
    /// ticks; nothing is linked into a slot until the wheel is asked.
    #[test]
    fn pending_timers_cancel_reset_and_fire() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut wheel = Wheel::new();
        let keys: Vec<Key> = (0..5)
            .map(|i| wheel.insert(10 + i, id_waker(10 + i, &log)).unwrap())
            .collect();
        assert!(wheel.levels.iter().all(|l| l.occupied == 0), "linked early");
        // The pending list is 14,13,12,11,10 (pushed on the front).
        assert!(wheel.remove(keys[4]).0); // head
        assert!(wheel.remove(keys[2]).0); // middle
        assert!(wheel.remove(keys[0]).0); // tail
        wheel.reset(keys[3], 5).unwrap(); // out of the pending list
        assert_eq!(wheel.next_expiration(), Some(5));
        assert_eq!(fire(&mut wheel, 5, &log), vec![13]);
        assert_eq!(fire(&mut wheel, 11, &log), vec![11]);
        assert_eq!(wheel.next_expiration(), None);
        assert_eq!(wheel.pending, NIL);
    }

    /// Arm and cancel reuse freed nodes: the slab stops growing at the peak
    /// number of live timers.
    #[test]
    fn slots_are_recycled() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let waker = id_waker(0, &log);
        let mut wheel = Wheel::new();
        let keys: Vec<Key> = (0..1000)
            .map(|i| wheel.insert(1 + i * 37, waker.clone()).unwrap())
            .collect();
        let cap = wheel.capacity();
        keys.into_iter().for_each(|k| assert!(wheel.remove(k).0));
        for round in 0..10u64 {
            let keys: Vec<Key> = (0..1000)
                .map(|i| wheel.insert(1 + i * 53 + round, waker.clone()).unwrap())
                .collect();
            assert_eq!(wheel.capacity(), cap);
            keys.into_iter().for_each(|k| assert!(wheel.remove(k).0));
        }
    }

    #[test]
    fn fire_all_fires_everything_armed() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut wheel = Wheel::new();
        for w in [3, 300, 300_000, 3 * MAX_DURATION] {
            wheel.insert(w, id_waker(w, &log)).unwrap();
        }
        let mut fired = Vec::new();
        assert_eq!(wheel.fire_all(&mut fired), 4);
        assert_eq!(fired.len(), 4);
        assert_eq!(wheel.next_expiration(), None);
    }
}
