//! Tour part: strands. A bank whose accounts each live on their own strand
//! over a 2-worker thread pool; many tasks transfer money between them at
//! once, with no lock anywhere: an account's balance is only ever touched
//! by work running on its strand.

use coframe::frame::{Counting, Recycling};
use coframe::{run_async, Strand, ThreadPool};
use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

const ACCOUNTS: usize = 16;
const TELLERS: usize = 8;
const TRANSFERS_PER_TELLER: usize = 5_000;
const OPENING_BALANCE: i64 = 1_000;

/// A value that belongs to a strand: `with` checks, at run time, that the
/// caller is running on that strand, so accesses never overlap and each one
/// sees the previous one (the strand hands off with acquire/release).
struct StrandCell<T> {
    strand: Strand<ThreadPool>,
    borrowed: Cell<bool>,
    value: UnsafeCell<T>,
}

// SAFETY: every access goes through `with`, which runs only on the strand
// (never two at once) and refuses re-entrant borrows.
unsafe impl<T: Send> Sync for StrandCell<T> {}

impl<T> StrandCell<T> {
    fn new(strand: Strand<ThreadPool>, value: T) -> Self {
        Self {
            strand,
            borrowed: Cell::new(false),
            value: UnsafeCell::new(value),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        assert!(
            self.strand.running_in_this_thread(),
            "StrandCell accessed off its strand"
        );
        assert!(!self.borrowed.replace(true), "StrandCell borrowed twice");
        // SAFETY: on the strand (no concurrent access) and not re-entered.
        let r = f(unsafe { &mut *self.value.get() });
        self.borrowed.set(false);
        r
    }
}

/// One account: its strand and its balance (overdrafts allowed, so every
/// transfer goes through and the final balances are known in advance).
struct Account {
    strand: Strand<ThreadPool>,
    balance: StrandCell<i64>,
}

/// A small deterministic generator (the tour must be reproducible).
fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

fn plan(teller: usize) -> Vec<(usize, usize, i64)> {
    let mut s = teller as u64 + 1;
    (0..TRANSFERS_PER_TELLER)
        .map(|_| {
            let from = lcg(&mut s) as usize % ACCOUNTS;
            let to = (from + 1 + lcg(&mut s) as usize % (ACCOUNTS - 1)) % ACCOUNTS;
            (from, to, 1 + (lcg(&mut s) % 50) as i64)
        })
        .collect()
}

pub fn run() {
    println!("\n== 6. strands: a bank, one strand per account, no locks");
    let pool = ThreadPool::builder().worker_threads(2).build().unwrap();
    let bank: Arc<Vec<Account>> = Arc::new(
        (0..ACCOUNTS)
            .map(|_| {
                let strand = Strand::new(&pool);
                Account {
                    balance: StrandCell::new(strand.clone(), OPENING_BALANCE),
                    strand,
                }
            })
            .collect(),
    );

    // What the balances must be once every transfer went through.
    let mut expected = vec![OPENING_BALANCE; ACCOUNTS];
    for t in 0..TELLERS {
        for (from, to, amount) in plan(t) {
            expected[from] -= amount;
            expected[to] += amount;
        }
    }

    // Tellers: tasks on the pool. A transfer debits on the source's strand,
    // which then posts the credit to the destination's strand.
    let start = Instant::now();
    let credited = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    let total = TELLERS * TRANSFERS_PER_TELLER;
    let tellers: Vec<_> = (0..TELLERS)
        .map(|t| {
            let (bank, credited, done_tx) = (bank.clone(), credited.clone(), done_tx.clone());
            pool.spawn(async move {
                for (from, to, amount) in plan(t) {
                    let (bank2, credited, done_tx) =
                        (bank.clone(), credited.clone(), done_tx.clone());
                    bank[from].strand.post(move || {
                        bank2[from].balance.with(|b| *b -= amount);
                        let bank3 = bank2.clone();
                        bank2[to].strand.post(move || {
                            bank3[to].balance.with(|b| *b += amount);
                            if credited.fetch_add(1, Ordering::AcqRel) + 1 == total {
                                done_tx.send(()).unwrap();
                            }
                        });
                    });
                }
            })
        })
        .collect();
    pool.block_on(async {
        for t in tellers {
            t.await.unwrap();
        }
    });
    done_rx.recv().unwrap();
    let elapsed = start.elapsed();

    // Read every balance on its own strand: an audit future bound to the
    // strand (run_async, with a counting frame allocator).
    let counting = Arc::new(Counting::new(Recycling));
    let audits: Vec<_> = (0..ACCOUNTS)
        .map(|i| {
            let (bank, strand) = (bank.clone(), bank[i].strand.clone());
            run_async(&strand, counting.clone(), async move {
                bank[i].balance.with(|b| *b)
            })
        })
        .collect();
    let balances: Vec<i64> = pool.block_on(async {
        let mut v = Vec::new();
        for a in audits {
            v.push(a.await.unwrap());
        }
        v
    });

    println!(
        "   {} transfers by {} tellers between {} accounts in {:.1?} ({:.0} ns/transfer)",
        total,
        TELLERS,
        ACCOUNTS,
        elapsed,
        elapsed.as_nanos() as f64 / total as f64
    );
    for (i, (b, e)) in balances.iter().zip(&expected).enumerate() {
        assert_eq!(b, e, "account {i}: balance {b}, expected {e}");
    }
    let sum: i64 = balances.iter().sum();
    assert_eq!(sum, OPENING_BALANCE * ACCOUNTS as i64);
    // A worker may still hold the last audit cell for an instant after its
    // handle resolved; dropping the pool joins the workers.
    let audited = counting.total_allocations();
    drop(pool);
    assert_eq!(counting.live_frames(), 0);
    println!("   balances: {balances:?}");
    println!(
        "   every balance matches the ledger; total {sum} (conserved); \
         {audited} audit frames from the counting allocator, {} live after shutdown",
        counting.live_frames()
    );
}
