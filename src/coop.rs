//! The cooperative budget (tokio's `coop`): a task whose awaits are always
//! ready (a loop joining finished handles, a timer that is always due)
//! would otherwise keep its thread for as long as it likes. coframe's leaf
//! futures ([`JoinHandle`](crate::JoinHandle), `time::Sleep`, and every
//! wait on an I/O source: `io::Async` and the `net` sockets) spend one
//! unit of a per-poll budget each time they are ready; once it is spent
//! they wake their task and return `Pending` instead, so the task goes to
//! the back of its executor's queue and its neighbours run.
//!
//! Owns one per-thread byte, apart from the per-thread runtime context
//! (`thread_context.rs`): it is rewritten at every poll and never saved
//! with the context (a suspended stackful task gets a fresh budget at its
//! next poll anyway). Like that context it holds data, not logic, so every
//! layer that has leaf futures may use it. Invariants:
//! - every task poll starts with a full budget ([`reset`], in the task
//!   cell's poll), as does every poll of a `block_on` or `run_until` main
//!   future; executors' loops leave the thread [unconstrained](end) when
//!   they return, so a future polled by some other executor on the thread
//!   later is never refused;
//! - outside coframe's polls the budget is unconstrained: [`spend`] always
//!   succeeds;
//! - the accessor is a constant-initialised thread-local with no
//!   destructor (an address and a byte): a stackful task that caches its
//!   address across a switch still reads its own thread's, as stackful
//!   tasks never migrate (rule 7).

use std::cell::Cell;

/// Ready leaf futures one task poll may see before it yields (tokio's).
pub(crate) const BUDGET: u8 = 128;

/// The budget outside coframe's polls: never spent.
const UNCONSTRAINED: u8 = u8::MAX;

thread_local! {
    static LEFT: Cell<u8> = const { Cell::new(UNCONSTRAINED) };
}

/// A full budget for the poll about to start.
#[inline(always)]
pub(crate) fn reset() {
    LEFT.with(|c| c.set(BUDGET))
}

/// No budget: an executor loop returns to code that is not coframe's.
#[inline]
pub(crate) fn end() {
    LEFT.with(|c| c.set(UNCONSTRAINED))
}

/// Leaves the thread unconstrained when dropped (also when unwinding):
/// held by the loops of `block_on` and the `LocalExecutor`, which return to
/// code that is not coframe's.
pub(crate) struct EndOnDrop;

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        end()
    }
}

/// Spends one unit; `false` when the budget is spent (the caller wakes its
/// task and returns `Pending`).
#[inline(always)]
pub(crate) fn spend() -> bool {
    LEFT.with(|c| match c.get() {
        UNCONSTRAINED => true,
        0 => false,
        n => {
            c.set(n - 1);
            true
        }
    })
}

/// Polls a ready leaf future's output through the budget: `Ready` while
/// units are left, else a self-wake and `Pending`.
#[inline(always)]
pub(crate) fn proceed(cx: &mut std::task::Context<'_>) -> bool {
    if spend() {
        true
    } else {
        yield_for_budget(cx);
        false
    }
}

#[cold]
#[inline(never)]
fn yield_for_budget(cx: &mut std::task::Context<'_>) {
    cx.waker().wake_by_ref();
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn unconstrained_until_reset_then_spent_after_budget_units() {
        end();
        assert!((0..1000).all(|_| spend()));
        reset();
        assert!((0..BUDGET).all(|_| spend()));
        assert!(!spend());
        end();
        assert!(spend());
    }
}
