//! The task state word: one `AtomicUsize` per task cell, shared by the
//! executor, every waker (which may live on any thread) and the
//! [`JoinHandle`](crate::JoinHandle).
//!
//! Layout (low bits are flags, the high bits count references):
//!
//! ```text
//!  63 ..................... 6   5        4       3       2         1        0
//! +---------------------------+--------+-------+-------+---------+--------+-----------+
//! |  reference count (x 64)   | AWAITER| HANDLE| CLOSED|COMPLETED| RUNNING| SCHEDULED |
//! +---------------------------+--------+-------+-------+---------+--------+-----------+
//! ```
//!
//! The transitions themselves live next to the code that performs them
//! (`raw.rs`, `join.rs`, `waker.rs`); the protocol is the `# Safety` essay in
//! the module docs of `task`.

/// A `Runnable` for the task exists (in a queue, or being handed to one) and
/// has not started running yet. At most one `Runnable` exists per task; set
/// while `RUNNING` it means "woken during the poll: run again".
pub(crate) const SCHEDULED: usize = 1 << 0;

/// The task is being polled (or its future is being dropped). Whoever set it
/// has exclusive access to the future.
pub(crate) const RUNNING: usize = 1 << 1;

/// The future is gone and the stage holds the result (`Ok(output)`,
/// `Err(Cancelled)` or `Err(Panic)`). Never cleared. From here on the stage
/// belongs to the `JoinHandle` (or, when there is none, to whoever completed
/// the task, which drops the result at once).
pub(crate) const COMPLETED: usize = 1 << 2;

/// Cancellation was requested (`abort`, executor shutdown). The next run of
/// the task drops the future instead of polling it. Never cleared.
pub(crate) const CLOSED: usize = 1 << 3;

/// A `JoinHandle` exists. It also holds one reference.
pub(crate) const HANDLE: usize = 1 << 4;

/// The awaiter slot holds the `JoinHandle`'s waker. While clear, the handle
/// has exclusive access to the slot (and may only write it while the task is
/// not `COMPLETED`); while set, the handle must not write it and the task's
/// completer may read it.
pub(crate) const AWAITER: usize = 1 << 5;

/// One reference. References are held by: the owning executor (from spawn
/// until completion), the `JoinHandle`, and every `Waker`. `Runnable`s are
/// not counted: a `Runnable` only exists while the task is not completed, and
/// the executor's reference covers it. The cell is freed when the count
/// drops to zero.
pub(crate) const REFERENCE: usize = 1 << 6;

/// State of a freshly spawned task: scheduled once, with a `JoinHandle`, and
/// two references (the executor's and the handle's).
pub(crate) const INITIAL: usize = SCHEDULED | HANDLE | (2 * REFERENCE);

/// Number of references in a state snapshot.
#[inline]
pub(crate) const fn refs(state: usize) -> usize {
    state / REFERENCE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_disjoint_and_below_the_count() {
        let flags = [SCHEDULED, RUNNING, COMPLETED, CLOSED, HANDLE, AWAITER];
        let mut all = 0;
        for f in flags {
            assert_eq!(all & f, 0);
            assert!(f < REFERENCE);
            all |= f;
        }
        assert!(all < REFERENCE);
        assert_eq!(refs(INITIAL), 2);
    }
}
