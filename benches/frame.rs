//! Frame allocation benches: `Recycling` against the system
//! allocator and bumpalo, all through the same `&dyn MemoryResource` path a
//! task cell uses.
//!
//! - `frame_alloc`: allocate a batch of frames of mixed sizes (64..=2048),
//!   then free it in LIFO order. bumpalo allocates only and is reset between
//!   batches.
//! - `frame_alloc_fifo`: the same batch freed in FIFO order.
//! - `frame_alloc_cross_thread`: one thread allocates batches, another frees
//!   them (handed over through a channel; the channel cost is the same for
//!   both contenders).
//!
//! Goals: recycling <= 0.4 x system in the first two, <= system across
//! threads. Each iteration is one batch of `BATCH` frames.

use coframe::frame::{AllocError, MemoryResource, Recycling, ResourceHandle, System};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BATCH: usize = 64;

/// A fixed pseudo-random sequence of frame sizes in 64..=2048.
fn sizes() -> Vec<Layout> {
    let mut x: u32 = 0x9E37_79B9;
    (0..BATCH)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let size = 64 + (x as usize % (2048 - 64 + 1));
            Layout::from_size_align(size, 16).unwrap()
        })
        .collect()
}

struct BumpResource(bumpalo::Bump);

impl MemoryResource for BumpResource {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.0.try_alloc_layout(layout).map_err(|_| AllocError)
    }
    unsafe fn deallocate(&self, _: NonNull<u8>, _: Layout) {}
}

fn lifo(r: &dyn MemoryResource, layouts: &[Layout], ptrs: &mut Vec<NonNull<u8>>) {
    for &l in layouts {
        ptrs.push(r.allocate(l).unwrap());
    }
    for &l in layouts.iter().rev() {
        let p = ptrs.pop().unwrap();
        // SAFETY: allocated above with `l` (LIFO pairs up the layouts).
        unsafe { r.deallocate(black_box(p), l) };
    }
}

fn fifo(r: &dyn MemoryResource, layouts: &[Layout], ptrs: &mut Vec<NonNull<u8>>) {
    for &l in layouts {
        ptrs.push(r.allocate(l).unwrap());
    }
    for (&l, p) in layouts.iter().zip(ptrs.drain(..)) {
        // SAFETY: allocated above with `l`.
        unsafe { r.deallocate(black_box(p), l) };
    }
}

fn frame_alloc(c: &mut Criterion) {
    let layouts = sizes();
    let mut g = c.benchmark_group("frame_alloc");
    g.throughput(Throughput::Elements(BATCH as u64));
    let recycling = ResourceHandle::default();
    let mut ptrs = Vec::with_capacity(BATCH);
    g.bench_function("recycling", |b| {
        b.iter(|| lifo(black_box(&recycling), &layouts, &mut ptrs))
    });
    g.bench_function("system", |b| {
        b.iter(|| lifo(black_box(&System), &layouts, &mut ptrs))
    });
    let mut bump = BumpResource(bumpalo::Bump::with_capacity(BATCH * 2048 * 2));
    g.bench_function("bumpalo", |b| {
        b.iter(|| {
            {
                let r: &dyn MemoryResource = black_box(&bump);
                for &l in &layouts {
                    black_box(r.allocate(l).unwrap());
                }
            }
            bump.0.reset();
        })
    });
    g.finish();
}

fn frame_alloc_fifo(c: &mut Criterion) {
    let layouts = sizes();
    let mut g = c.benchmark_group("frame_alloc_fifo");
    g.throughput(Throughput::Elements(BATCH as u64));
    let recycling = ResourceHandle::default();
    let mut ptrs = Vec::with_capacity(BATCH);
    g.bench_function("recycling", |b| {
        b.iter(|| fifo(black_box(&recycling), &layouts, &mut ptrs))
    });
    g.bench_function("system", |b| {
        b.iter(|| fifo(black_box(&System), &layouts, &mut ptrs))
    });
    g.finish();
}

/// Allocates `iters` batches here and frees them on a second thread.
fn cross_thread<R: MemoryResource + Clone + Send + 'static>(r: R, iters: u64) -> Duration {
    let layouts = sizes();
    // Batches travel as addresses; the vectors come back for reuse so the
    // channel and vector costs do not depend on the resource.
    let (tx, rx) = mpsc::sync_channel::<Vec<usize>>(8);
    let (back_tx, back_rx) = mpsc::channel::<Vec<usize>>();
    for _ in 0..10 {
        back_tx.send(Vec::with_capacity(BATCH)).unwrap();
    }
    let consumer = {
        let r = r.clone();
        let layouts = layouts.clone();
        std::thread::spawn(move || {
            for mut batch in rx {
                for (&l, addr) in layouts.iter().zip(batch.drain(..)) {
                    // SAFETY: allocated by the producer from `r` with `l`.
                    unsafe { r.deallocate(NonNull::new(addr as *mut u8).unwrap(), l) };
                }
                if back_tx.send(batch).is_err() {
                    break;
                }
            }
        })
    };
    let start = Instant::now();
    for _ in 0..iters {
        let mut batch = back_rx.recv().unwrap();
        for &l in &layouts {
            batch.push(r.allocate(l).unwrap().as_ptr() as usize);
        }
        tx.send(batch).unwrap();
    }
    drop(tx);
    consumer.join().unwrap();
    start.elapsed()
}

fn frame_alloc_cross_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame_alloc_cross_thread");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("recycling", |b| {
        b.iter_custom(|iters| cross_thread(Recycling, iters))
    });
    g.bench_function("system", |b| {
        b.iter_custom(|iters| cross_thread(System, iters))
    });
    g.finish();
}

criterion_group!(
    benches,
    frame_alloc,
    frame_alloc_fifo,
    frame_alloc_cross_thread
);
criterion_main!(benches);
