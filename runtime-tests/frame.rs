//! Frame allocators: the current slot, Recycling, owner roots,
//! Counting, FrameBox and failure paths.
//!
//! Tests that read `Recycling` statistics use the calling thread's
//! statistics (other tests run concurrently in this binary), or monotonic
//! process-wide counters compared with `>=`.

use crate::util::yield_now;
use coframe::frame::{
    current, safe_resume, safe_resume_with, set_current, AllocError, Counting, FrameBox,
    MemoryResource, Recycling, ResourceHandle, SyncResourceHandle, System,
};
use std::alloc::Layout;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

// ---------------------------------------------------------------- helpers

fn noop_waker() -> Waker {
    const VTABLE: RawWakerVTable = RawWakerVTable::new(
        |_| RawWaker::new(std::ptr::null(), &VTABLE),
        |_| {},
        |_| {},
        |_| {},
    );
    // SAFETY: every vtable function ignores the (null) data pointer.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// A minimal executor: polls `fut` with `h` as the current resource (as the
/// real executors do, through `safe_resume_with`) until it completes.
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

/// A resource that counts its live blocks in shared counters and, when
/// dropped, checks that no block is live and records the drop.
struct Tracked<R> {
    inner: R,
    live: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
}

impl<R> Tracked<R> {
    fn new(inner: R) -> (Self, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let live = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        (
            Tracked {
                inner,
                live: live.clone(),
                drops: drops.clone(),
            },
            live,
            drops,
        )
    }
}

impl<R: MemoryResource> MemoryResource for Tracked<R> {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        let p = self.inner.allocate(layout)?;
        self.live.fetch_add(1, SeqCst);
        Ok(p)
    }
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        self.live.fetch_sub(1, SeqCst);
        // SAFETY: forwarded contract.
        unsafe { self.inner.deallocate(ptr, layout) }
    }
}

impl<R> Drop for Tracked<R> {
    fn drop(&mut self) {
        assert_eq!(
            self.live.load(SeqCst),
            0,
            "allocator dropped while frames are live"
        );
        self.drops.fetch_add(1, SeqCst);
    }
}

/// `bumpalo::Bump` as a resource, hand-written (the `allocator-api2`
/// adapter is tested separately behind its feature).
struct BumpResource(bumpalo::Bump);

impl MemoryResource for BumpResource {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.0.try_alloc_layout(layout).map_err(|_| AllocError)
    }
    unsafe fn deallocate(&self, _ptr: NonNull<u8>, _layout: Layout) {}
}

/// Refuses every `n`th allocation.
struct FailEvery<R> {
    n: usize,
    calls: AtomicUsize,
    inner: R,
}

impl<R: MemoryResource> MemoryResource for FailEvery<R> {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        let call = self.calls.fetch_add(1, SeqCst) + 1;
        if call % self.n == 0 {
            Err(AllocError)
        } else {
            self.inner.allocate(layout)
        }
    }
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { self.inner.deallocate(ptr, layout) }
    }
}

/// Counts its drops.
struct DropCount(Arc<AtomicUsize>, #[allow(dead_code)] [u8; 100]);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

// ------------------------------------------------------------------ slot

#[test]
fn slot_defaults_and_nests() {
    assert!(current().is_default());
    let a = SyncResourceHandle::owning(System);
    let b = ResourceHandle::owning_local(System);
    safe_resume_with(&a, || {
        assert!(current().same_resource(&a));
        {
            let _g = set_current(&b);
            assert!(current().same_resource(&b));
            // Rule 4: a local resource never reaches a Send context.
            assert!(SyncResourceHandle::current().is_default());
        }
        assert!(SyncResourceHandle::current().same_resource(&a));
    });
    assert!(current().is_default());
}

#[test]
fn safe_resume_restores_a_clobbered_slot_also_on_panic() {
    let a = ResourceHandle::owning_local(System);
    let b = ResourceHandle::owning_local(System);
    let _outer = set_current(&a);

    // Clobbered without a panic: the guard escapes the closure, so the
    // slot still holds `b` when the closure returns.
    let mut escaped = None;
    safe_resume(|| escaped = Some(set_current(&b)));
    assert!(current().same_resource(&a));
    drop(escaped);

    // Clobbered, then a panic.
    let mut escaped = None;
    let r = catch_unwind(AssertUnwindSafe(|| {
        safe_resume(|| {
            escaped = Some(set_current(&b));
            assert!(current().same_resource(&b));
            panic!("task panicked");
        })
    }));
    assert!(r.is_err());
    assert!(current().same_resource(&a));
    drop(escaped);

    // The same through safe_resume_with.
    let r = catch_unwind(AssertUnwindSafe(|| {
        safe_resume_with(&b, || -> () {
            assert!(current().same_resource(&b));
            panic!("poll panicked");
        })
    }));
    assert!(r.is_err());
    assert!(current().same_resource(&a));
}

// ------------------------------------------------------------- Recycling

/// One "run" of a spawn-like workload: a parent frame and waves of child
/// frames of mixed sizes (64..=2048 and one that is not a power of two),
/// freed in an interleaved order, as tasks finishing out of order do.
fn spawn_like_run(h: &ResourceHandle) {
    const SIZES: [usize; 7] = [64, 96, 200, 512, 700, 1500, 2048];
    let parent = Layout::from_size_align(1024, 16).unwrap();
    let p = h.allocate(parent).unwrap();
    for wave in 0..10 {
        let mut live = Vec::new();
        for i in 0..SIZES.len() * 2 {
            let l = Layout::from_size_align(SIZES[(i + wave) % SIZES.len()], 16).unwrap();
            let f = h.allocate(l).unwrap();
            // SAFETY: fresh block of `l.size()` bytes.
            unsafe { f.as_ptr().write_bytes(0xA5, l.size()) };
            live.push((f, l));
        }
        // Free every other one first, then the rest in reverse.
        let mut rest = Vec::new();
        for (i, (f, l)) in live.into_iter().enumerate() {
            if i % 2 == 0 {
                // SAFETY: allocated above with `l`.
                unsafe { h.deallocate(f, l) };
            } else {
                rest.push((f, l));
            }
        }
        for (f, l) in rest.into_iter().rev() {
            // SAFETY: allocated above with `l`.
            unsafe { h.deallocate(f, l) };
        }
    }
    // SAFETY: allocated above with `parent`.
    unsafe { h.deallocate(p, parent) };
}

#[test]
fn seven_warm_runs_never_reach_the_system_allocator() {
    let counting = Arc::new(Counting::new(Recycling));
    let h: ResourceHandle = SyncResourceHandle::owning(counting.clone()).into();
    spawn_like_run(&h); // warm-up
    assert_eq!(counting.live_frames(), 0);
    for run in 0..7 {
        let before = Recycling::thread_stats();
        spawn_like_run(&h);
        let after = Recycling::thread_stats();
        assert_eq!(
            after.system_allocations, before.system_allocations,
            "run {run} reached the system allocator"
        );
        assert!(after.thread_cache_hits > before.thread_cache_hits);
        assert_eq!(counting.live_frames(), 0);
    }
    assert_eq!(counting.total_allocations(), 8 * (1 + 10 * 14));
    assert_eq!(counting.upstream_calls(), counting.total_allocations());
    assert!(counting.peak_bytes() >= 1024 + 2048);
}

#[test]
fn alignments_zero_size_and_class_boundaries() {
    let r = ResourceHandle::default();
    let mut align = 1;
    while align <= 4096 {
        for size in [
            1,
            align,
            100,
            Recycling::MAX_CLASS_SIZE,
            Recycling::MAX_CLASS_SIZE + 1,
        ] {
            let l = Layout::from_size_align(size, align).unwrap();
            let p = r.allocate(l).unwrap();
            assert_eq!(p.as_ptr() as usize % align, 0, "size {size} align {align}");
            // SAFETY: fresh block of `size` bytes (ASan checks the bound).
            unsafe { p.as_ptr().write_bytes(0x5A, size) };
            // SAFETY: allocated above with `l`.
            unsafe { r.deallocate(p, l) };
        }
        align *= 2;
    }

    // Zero-sized layouts: well aligned, no memory, no system call.
    let before = Recycling::thread_stats();
    for align in [1, 8, 64, 4096] {
        let l = Layout::from_size_align(0, align).unwrap();
        let p = r.allocate(l).unwrap();
        assert_eq!(p.as_ptr() as usize % align, 0);
        // SAFETY: allocated above with `l`.
        unsafe { r.deallocate(p, l) };
    }
    let after = Recycling::thread_stats();
    assert_eq!(after.system_allocations, before.system_allocations);
    assert_eq!(after.thread_cache_hits, before.thread_cache_hits);

    // The largest class is pooled; one byte past it is not.
    let max = Layout::from_size_align(Recycling::MAX_CLASS_SIZE, 8).unwrap();
    let past = Layout::from_size_align(Recycling::MAX_CLASS_SIZE + 1, 8).unwrap();
    assert_eq!(
        Recycling::class_size_for(max),
        Some(Recycling::MAX_CLASS_SIZE)
    );
    assert_eq!(Recycling::class_size_for(past), None);
    let warm = r.allocate(max).unwrap();
    // SAFETY: allocated above.
    unsafe { r.deallocate(warm, max) };
    let before = Recycling::thread_stats();
    let a = r.allocate(max).unwrap();
    let b = r.allocate(past).unwrap();
    let after = Recycling::thread_stats();
    assert_eq!(after.thread_cache_hits, before.thread_cache_hits + 1);
    assert_eq!(after.large_allocations, before.large_allocations + 1);
    assert_eq!(a, warm);
    // SAFETY: allocated above.
    unsafe {
        r.deallocate(a, max);
        r.deallocate(b, past);
    }
    // Over-aligned requests go to the system allocator too.
    let over = Layout::from_size_align(64, 128).unwrap();
    assert_eq!(Recycling::class_size_for(over), None);
    let before = Recycling::thread_stats();
    let p = r.allocate(over).unwrap();
    assert_eq!(p.as_ptr() as usize % 128, 0);
    // SAFETY: allocated just above with `over`.
    unsafe { r.deallocate(p, over) };
    let after = Recycling::thread_stats();
    assert_eq!(after.large_allocations, before.large_allocations + 1);
    assert_eq!(after.system_frees, before.system_frees + 1);
}

#[test]
fn hundred_threads_allocate_free_and_exit_leaving_nothing_behind() {
    thread_local! {
        // Holds a frame freed during this thread's thread-local teardown
        // (before or after the recycler's own janitor has run).
        static HELD: std::cell::RefCell<Vec<FrameBox<[u8; 300]>>> =
            const { std::cell::RefCell::new(Vec::new()) };
        // Registered after the janitor (first touched after the thread's
        // first allocation): the other order.
        static HELD_LATE: std::cell::RefCell<Vec<FrameBox<[u8; 300]>>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    let counting = Arc::new(Counting::new(Recycling));
    let root = SyncResourceHandle::owning(counting.clone());
    let before = Recycling::stats();
    let barrier = Arc::new(Barrier::new(10));
    let (tx, rx) = mpsc::channel::<FrameBox<[u64; 20]>>();
    let mut cached_at_exit = 0u64;
    for round in 0..10 {
        let threads: Vec<_> = (0..10)
            .map(|i| {
                let root = root.clone();
                let barrier = barrier.clone();
                let tx = tx.clone();
                std::thread::spawn(move || {
                    // Registered before the recycler's janitor: its
                    // destructor runs in an unspecified order with it.
                    HELD.with(|_| ());
                    safe_resume_with(&root, || {
                        let mut keep = Vec::new();
                        for k in 0..200usize {
                            let size = 64 << (k % 6);
                            let l = Layout::from_size_align(size, 8).unwrap();
                            keep.push((root.allocate(l).unwrap(), l));
                            if k % 3 == 0 {
                                let (p, l) = keep.swap_remove(k % keep.len());
                                // SAFETY: allocated above with `l`.
                                unsafe { root.deallocate(p, l) };
                            }
                        }
                        for (p, l) in keep {
                            // SAFETY: allocated above with `l`.
                            unsafe { root.deallocate(p, l) };
                        }
                        // A frame freed by another thread, one freed at exit.
                        tx.send(FrameBox::new([(round * 10 + i) as u64; 20]))
                            .unwrap();
                        HELD.with(|h| h.borrow_mut().push(FrameBox::new([1; 300])));
                        HELD_LATE.with(|h| h.borrow_mut().push(FrameBox::new([2; 300])));
                    });
                    barrier.wait();
                    Recycling::thread_stats().cached_blocks
                })
            })
            .collect();
        for t in threads {
            cached_at_exit += t.join().unwrap();
        }
    }
    drop(tx);
    let mut received = 0;
    for b in rx {
        assert_eq!(b[0], b[19]);
        received += 1;
    }
    assert_eq!(received, 100);
    assert_eq!(counting.live_frames(), 0, "a frame was not freed");
    assert!(cached_at_exit > 0, "the threads cached nothing");
    let after = Recycling::stats();
    assert!(
        after.handed_back - before.handed_back >= cached_at_exit,
        "exiting threads kept {cached_at_exit} cached blocks but handed back {}",
        after.handed_back - before.handed_back
    );
    drop(root);
    assert_eq!(Arc::strong_count(&counting), 1);
}

// ----------------------------------------------------- frames and owners

#[test]
fn frames_freed_on_another_thread_or_after_the_slot_changed_go_home() {
    let a = Arc::new(Counting::new(System));
    let b = Arc::new(Counting::new(System));
    let ha: ResourceHandle = SyncResourceHandle::owning(a.clone()).into();
    let hb: ResourceHandle = SyncResourceHandle::owning(b.clone()).into();

    // After the slot changed.
    let frame = safe_resume_with(&ha, || FrameBox::new([3u8; 500]));
    assert!(FrameBox::came_from(&frame, &ha));
    safe_resume_with(&hb, || drop(frame));
    assert_eq!(a.live_frames(), 0);
    assert_eq!(b.upstream_calls(), 0);

    // On another thread (thread-safe root).
    let frame = safe_resume_with(&ha, || FrameBox::pin_send(async { 5u32 }));
    assert_eq!(a.live_frames(), 1);
    std::thread::spawn(move || {
        let other: ResourceHandle = SyncResourceHandle::owning(System).into();
        let _g = set_current(&other);
        assert_eq!(block_on(&other, frame), 5);
    })
    .join()
    .unwrap();
    assert_eq!(a.live_frames(), 0);

    // On another thread (local root): queued, then given back on the owner.
    let (tracked, live, drops) = Tracked::new(System);
    let local = ResourceHandle::owning_local(tracked);
    let frame = safe_resume_with(&local, || FrameBox::new([9u16; 100]));
    assert_eq!(live.load(SeqCst), 1);
    std::thread::spawn(move || drop(frame)).join().unwrap();
    assert_eq!(
        live.load(SeqCst),
        1,
        "a foreign free must not touch a local allocator"
    );
    let again = FrameBox::new_in(1u64, &local); // gives back the queued block
    assert_eq!(live.load(SeqCst), 1);
    drop(again);
    assert_eq!(live.load(SeqCst), 0);
    drop(local);
    assert_eq!(drops.load(SeqCst), 1);
}

#[test]
fn the_owner_drops_the_allocator_exactly_once_after_its_last_frame() {
    // Thread-safe root, last frame dropped on another thread.
    let (tracked, live, drops) = Tracked::new(Recycling);
    let root = SyncResourceHandle::owning(tracked);
    let frames: Vec<_> = safe_resume_with(&root, || {
        (0..10)
            .map(|i| FrameBox::pin_send(async move { i }))
            .collect()
    });
    drop(root);
    assert_eq!(drops.load(SeqCst), 0);
    assert_eq!(live.load(SeqCst), 10);
    let mut frames = frames;
    let last = frames.pop().unwrap();
    drop(frames);
    assert_eq!(drops.load(SeqCst), 0);
    assert_eq!(live.load(SeqCst), 1);
    std::thread::spawn(move || drop(last)).join().unwrap();
    assert_eq!(live.load(SeqCst), 0);
    assert_eq!(drops.load(SeqCst), 1);

    // Local root whose last frame is freed on a foreign thread: the queued
    // free is given back when the root is destroyed there.
    let (tracked, live, drops) = Tracked::new(System);
    let root = ResourceHandle::owning_local(tracked);
    let frame = FrameBox::new_in([0u8; 64], &root);
    drop(root);
    assert_eq!(drops.load(SeqCst), 0);
    std::thread::spawn(move || drop(frame)).join().unwrap();
    assert_eq!(live.load(SeqCst), 0);
    assert_eq!(drops.load(SeqCst), 1);

    // Handles cloned through the slot count too.
    let (tracked, _live, drops) = Tracked::new(System);
    let root = ResourceHandle::owning_local(tracked);
    let copy = safe_resume_with(&root, current);
    drop(root);
    assert_eq!(drops.load(SeqCst), 0);
    drop(copy);
    assert_eq!(drops.load(SeqCst), 1);
}

// ---------------------------------------------------------------- FrameBox

fn depth(n: u32) -> Pin<FrameBox<dyn Future<Output = u32>>> {
    FrameBox::pin(async move {
        if n == 0 {
            yield_now().await;
            0
        } else {
            depth(n - 1).await + 1
        }
    })
}

/// Runs `f` on a thread with a stack big enough for 10,000 nested polls in
/// an unoptimised build.
fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn recursive_async_fn_10000_deep_on_recycling() {
    on_big_stack(|| {
        let counting = Arc::new(Counting::new(Recycling));
        let h: ResourceHandle = SyncResourceHandle::owning(counting.clone()).into();
        assert_eq!(block_on(&h, async { depth(10_000).await }), 10_000);
        assert_eq!(counting.total_allocations(), 10_001);
        assert_eq!(counting.live_frames(), 0);
    });
}

#[test]
fn recursive_async_fn_10000_deep_on_a_bump_allocator() {
    on_big_stack(|| {
        let (tracked, live, drops) = Tracked::new(BumpResource(bumpalo::Bump::new()));
        let h = ResourceHandle::owning_local(tracked);
        assert_eq!(block_on(&h, async { depth(10_000).await }), 10_000);
        assert_eq!(live.load(SeqCst), 0);
        drop(h);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

// ---------------------------------------------------------------- failure

#[test]
fn a_resource_failing_every_nth_allocation_returns_errors_and_leaks_nothing() {
    let counting = Arc::new(Counting::new(System));
    let failing = FailEvery {
        n: 3,
        calls: AtomicUsize::new(0),
        inner: counting.clone(),
    };
    let h = ResourceHandle::owning_local(failing);
    let drops = Arc::new(AtomicUsize::new(0));
    let mut boxes = Vec::new();
    let mut errors = 0;
    for i in 1..=30 {
        let r = safe_resume_with(&h, || FrameBox::try_new(DropCount(drops.clone(), [0; 100])));
        match r {
            Ok(b) => boxes.push(b),
            Err(AllocError) => {
                assert_eq!(i % 3, 0, "only every third allocation fails");
                errors += 1;
            }
        }
    }
    assert_eq!(errors, 10);
    // A refused value is dropped, not leaked.
    assert_eq!(drops.load(SeqCst), 10);
    // try_pin reports the refusal too (call 31 succeeds, 33 fails).
    assert!(FrameBox::try_pin_in(async { 1 }, &h).is_ok());
    assert!(h.allocate(Layout::new::<u64>()).is_ok_and(|p| {
        // SAFETY: allocated just now with this layout.
        unsafe { h.deallocate(p, Layout::new::<u64>()) };
        true
    }));
    assert!(FrameBox::try_pin_in(async { 1 }, &h).is_err());

    // The infallible path panics with a message naming the failure.
    let _ = FrameBox::new_in(0u8, &h); // call 34
    let _ = FrameBox::new_in(0u8, &h); // call 35
    let panic = catch_unwind(AssertUnwindSafe(|| FrameBox::new_in(0u8, &h))).unwrap_err();
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("frame memory resource refused the allocation"),
        "{msg}"
    );

    drop(boxes);
    assert_eq!(drops.load(SeqCst), 30);
    assert_eq!(counting.live_frames(), 0);
    assert_eq!(counting.failed_allocations(), 0); // failures came from FailEvery

    // Counting above a failing resource counts the refusals.
    let outer = Counting::new(FailEvery {
        n: 2,
        calls: AtomicUsize::new(0),
        inner: System,
    });
    let l = Layout::new::<[u64; 4]>();
    let ok = outer.allocate(l).unwrap();
    assert_eq!(outer.allocate(l), Err(AllocError));
    assert_eq!(
        (
            outer.upstream_calls(),
            outer.total_allocations(),
            outer.failed_allocations()
        ),
        (2, 1, 1)
    );
    // SAFETY: allocated above with `l`.
    unsafe { outer.deallocate(ok, l) };
    assert_eq!(outer.live_frames(), 0);
    drop(h);
    assert_eq!(Arc::strong_count(&counting), 1);
}

#[test]
fn a_panicking_destructor_or_resource_still_frees_and_drops_everything() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("destructor panicked");
        }
    }
    let counting = Arc::new(Counting::new(System));
    let h: ResourceHandle = SyncResourceHandle::owning(counting.clone()).into();
    let b = FrameBox::new_in((PanicOnDrop, [0u8; 64]), &h);
    assert_eq!(counting.live_frames(), 1);
    assert!(catch_unwind(AssertUnwindSafe(|| drop(b))).is_err());
    assert_eq!(counting.live_frames(), 0, "the block leaked");

    // A resource that panics: the value being boxed is dropped, not leaked.
    struct Panics;
    impl MemoryResource for Panics {
        fn allocate(&self, _: Layout) -> Result<NonNull<u8>, AllocError> {
            panic!("resource panicked")
        }
        unsafe fn deallocate(&self, _: NonNull<u8>, _: Layout) {}
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let p = ResourceHandle::owning_local(Panics);
    let r = catch_unwind(AssertUnwindSafe(|| {
        FrameBox::try_new_in(DropCount(drops.clone(), [0; 100]), &p)
    }));
    assert!(r.is_err());
    assert_eq!(drops.load(SeqCst), 1);
}

// ------------------------------------------------------------ allocator-api2

#[cfg(feature = "allocator-api2")]
mod api2 {
    use super::*;
    use coframe::frame::Allocator2;

    #[test]
    fn bumpalo_bump_plugs_in_through_allocator_api2() {
        let h = ResourceHandle::owning_local(Allocator2(bumpalo::Bump::new()));
        let v = FrameBox::new_in([42u64; 32], &h);
        assert!(FrameBox::came_from(&v, &h));
        assert_eq!(v[31], 42);
        let l = Layout::from_size_align(24, 4096).unwrap();
        let p = h.allocate(l).unwrap();
        assert_eq!(p.as_ptr() as usize % 4096, 0);
        // SAFETY: allocated just above.
        unsafe { h.deallocate(p, l) };
    }

    #[test]
    fn recursive_async_fn_on_allocator2_bump() {
        on_big_stack(|| {
            let h = ResourceHandle::owning_local(Allocator2(bumpalo::Bump::new()));
            assert_eq!(block_on(&h, async { depth(10_000).await }), 10_000);
        });
    }
}
