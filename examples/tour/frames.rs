//! Tour, part "frames": where task memory comes from.
//!
//! Shows the default `Recycling` resource and its statistics, a `Counting`
//! wrapper owned by a refcounted root, a recursive async function boxed with
//! `FrameBox::pin`, and the slot discipline (`safe_resume_with`).

use coframe::frame::{
    current, safe_resume_with, Counting, FrameBox, MemoryResource, Recycling, ResourceHandle,
    SyncResourceHandle,
};
use std::alloc::Layout;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Instant;

fn noop_waker() -> Waker {
    const VTABLE: RawWakerVTable = RawWakerVTable::new(
        |_| RawWaker::new(std::ptr::null(), &VTABLE),
        |_| {},
        |_| {},
        |_| {},
    );
    // SAFETY: the vtable ignores its (null) data pointer.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// Polls `fut` to completion with `h` as the current resource, the way an
/// executor does (there is no executor in this part of the tour).
fn block_on<F: Future>(h: &ResourceHandle, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = safe_resume_with(h, || fut.as_mut().poll(&mut cx)) {
            return v;
        }
    }
}

/// A recursive async function: each level is one frame from the current
/// resource.
fn fib(n: u32) -> Pin<FrameBox<dyn Future<Output = u64>>> {
    FrameBox::pin(async move {
        if n < 2 {
            n as u64
        } else {
            fib(n - 1).await + fib(n - 2).await
        }
    })
}

/// Runs this part of the tour.
pub fn run() {
    println!("\n== 2. frames: pluggable frame allocators");

    // 1. The default resource recycles: after a warm-up, frames come from
    //    the thread cache, not from the system allocator.
    let sizes = [64usize, 200, 700, 1500, 4096, 9000];
    let cycle = || {
        let blocks: Vec<_> = sizes
            .iter()
            .map(|&s| {
                let l = Layout::from_size_align(s, 16).unwrap();
                (Recycling.allocate(l).unwrap(), l)
            })
            .collect();
        for (p, l) in blocks {
            // SAFETY: allocated just above with `l`.
            unsafe { Recycling.deallocate(p, l) };
        }
    };
    cycle();
    let before = Recycling::thread_stats();
    let start = Instant::now();
    for _ in 0..100_000 {
        cycle();
    }
    let per_op = start.elapsed().as_nanos() as f64 / (100_000.0 * sizes.len() as f64 * 2.0);
    let after = Recycling::thread_stats();
    println!(
        "Recycling: {} cache hits, {} system allocations (all {} above the {}-byte largest class), ~{per_op:.1} ns per allocate/free",
        after.thread_cache_hits - before.thread_cache_hits,
        after.system_allocations - before.system_allocations,
        after.large_allocations - before.large_allocations,
        Recycling::MAX_CLASS_SIZE,
    );

    // 2. A root owns a Counting<Recycling>; every frame holds a count.
    let counting = Arc::new(Counting::new(Recycling));
    let root: ResourceHandle = SyncResourceHandle::owning(counting.clone()).into();
    let value = block_on(&root, async { fib(20).await });
    println!(
        "fib(20) = {value} through FrameBox::pin: {} frames allocated, peak {} bytes live, {} live now",
        counting.total_allocations(),
        counting.peak_bytes(),
        counting.live_frames()
    );

    // 3. Frames remember their resource: dropped with another slot value,
    //    they still go home.
    let frame = safe_resume_with(&root, || FrameBox::new([0u8; 512]));
    drop(root);
    println!(
        "a frame outlives its root handle: {} live (slot is default again: {})",
        counting.live_frames(),
        current().is_default()
    );
    drop(frame);
    println!(
        "after dropping it: {} live; the Counting resource is now held only by the tour ({} Arc)",
        counting.live_frames(),
        Arc::strong_count(&counting)
    );
    let s = Recycling::stats();
    println!(
        "process-wide Recycling: {} hits, {} refills, {} spills, {} system allocations",
        s.thread_cache_hits, s.global_refills, s.spills, s.system_allocations
    );
}
