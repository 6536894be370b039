//! Tour part: tasks on a `LocalExecutor` whose frames come from an allocator
//! chosen once at the root (`run_async`) and inherited by every child.

use coframe::frame::{AllocError, Counting, MemoryResource, Recycling};
use coframe::{run_async, spawn_local, LocalExecutor};
use std::alloc::Layout;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A task tree: a root spawning `width` children, each spawning one
/// grandchild; `!Send` data (an `Rc`) crosses into the children.
async fn tree(width: u64) -> u64 {
    let shared = Rc::new(3u64);
    let mut handles = Vec::new();
    for i in 0..width {
        let s = shared.clone();
        handles.push(spawn_local(async move {
            let g = spawn_local(async move { i * *s });
            g.await.unwrap() + 1
        }));
    }
    let mut sum = 0;
    for h in handles {
        sum += h.await.unwrap();
    }
    sum
}

#[derive(Default)]
struct BumpStats {
    allocations: AtomicUsize,
    frees: AtomicUsize,
    bytes_at_drop: AtomicUsize,
}

/// `bumpalo::Bump` as a frame resource: `Send` but not `Sync`, so it may
/// serve a `LocalExecutor` only. Frees are no-ops; the memory goes back when
/// the bump is dropped, after the last frame.
struct BumpResource {
    bump: bumpalo::Bump,
    stats: Arc<BumpStats>,
}

impl MemoryResource for BumpResource {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.stats.allocations.fetch_add(1, Ordering::Relaxed);
        self.bump.try_alloc_layout(layout).map_err(|_| AllocError)
    }
    unsafe fn deallocate(&self, _: NonNull<u8>, _: Layout) {
        self.stats.frees.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for BumpResource {
    fn drop(&mut self) {
        let bytes = self.bump.allocated_bytes();
        self.stats.bytes_at_drop.store(bytes, Ordering::Relaxed);
    }
}

/// Runs the part.
pub fn run() {
    println!("\n== 3. tasks: LocalExecutor + run_async");
    let ex = LocalExecutor::new();

    let counting = Arc::new(Counting::new(Recycling));
    let before = Recycling::thread_stats();
    for round in 0..3 {
        let h = run_async(&ex, counting.clone(), tree(1_000));
        let sum = ex.run_until(h).unwrap();
        if round == 0 {
            println!("   task tree of 2,001 tasks: sum = {sum}");
        }
    }
    let after = Recycling::thread_stats();
    println!(
        "   Counting<Recycling>: frames allocated {}, reused from the thread cache {}, live at the end {}",
        counting.total_allocations(),
        after.thread_cache_hits - before.thread_cache_hits,
        counting.live_frames()
    );

    let stats = Arc::new(BumpStats::default());
    let bump = BumpResource {
        bump: bumpalo::Bump::new(),
        stats: stats.clone(),
    };
    let h = run_async(&ex, bump, tree(1_000));
    ex.run_until(h).unwrap();
    let (a, f) = (
        stats.allocations.load(Ordering::Relaxed),
        stats.frees.load(Ordering::Relaxed),
    );
    println!(
        "   bumpalo::Bump: frames allocated {a}, reused 0 (a bump never reuses), live at the end {}, \
         bump dropped after the last frame holding {} bytes",
        a - f,
        stats.bytes_at_drop.load(Ordering::Relaxed)
    );
}
