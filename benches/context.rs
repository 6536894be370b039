//! Stack switching, side by side with the peers, in one process.
//!
//! - `context_switch`: one resume + suspend round trip.
//!   `coframe` (Coroutine, default switch: FP control state preserved;
//!   coroutines use the compact convention of `asm/`, an out-of-line
//!   switch called from inline asm that clobbers what it does not save),
//!   `coframe_lean` (the same with `Switch::Lean`), `coframe_fiber` (a Fiber
//!   ping-pong through the SysV fcontext functions), `boost_fcontext` (the
//!   `context` crate: Boost's own fcontext assembly, same semantics as
//!   coframe's default), `corosensei` (its switch inlined entirely into the
//!   caller, no FP control state).
//! - `coroutine_create`: create, run to completion and drop, on a reused
//!   stack: `coframe`, `coframe_lean` (FP control state not preserved, like
//!   corosensei), `corosensei`, `boost_fcontext` (the `context` crate: make
//!   an fcontext on a reused stack, jump in, jump back the result; Boost's
//!   create cost with `coframe`'s FP semantics).

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn context_switch(c: &mut Criterion) {
    let mut g = c.benchmark_group("context_switch");

    let mut co = coframe::context::Coroutine::<(), (), ()>::try_with(
        coframe::context::PooledStack::new(64 * 1024).unwrap(),
        coframe::context::Switch::Full,
        |y, ()| loop {
            y.suspend(())
        },
    )
    .unwrap();
    g.bench_function("coframe", |b| b.iter(|| black_box(co.resume(()))));
    drop(co);

    let mut co = coframe::context::Coroutine::<(), (), ()>::try_with(
        coframe::context::PooledStack::new(64 * 1024).unwrap(),
        coframe::context::Switch::Lean,
        |y, ()| loop {
            y.suspend(())
        },
    )
    .unwrap();
    g.bench_function("coframe_lean", |b| b.iter(|| black_box(co.resume(()))));
    drop(co);

    let mut fiber = Some(coframe::context::Fiber::new(|mut c| loop {
        c = c.resume();
    }));
    g.bench_function("coframe_fiber", |b| {
        b.iter(|| {
            let f = fiber.take().unwrap().resume();
            fiber = Some(f);
        })
    });
    std::mem::forget(fiber); // an endless loop: never unwound, its stack leaks

    {
        use context::stack::ProtectedFixedSizeStack;
        use context::{Context, Transfer};
        extern "C" fn pong(mut t: Transfer) -> ! {
            loop {
                // SAFETY: `t.context` is the suspended bench loop.
                t = unsafe { t.context.resume(t.data) };
            }
        }
        let stack = ProtectedFixedSizeStack::new(64 * 1024).unwrap();
        // SAFETY: the stack outlives the context (both live to the end).
        let mut ctx = Some(unsafe { Context::new(&stack, pong) });
        g.bench_function("boost_fcontext", |b| {
            b.iter(|| {
                // SAFETY: the context is suspended in `pong`'s loop.
                let t = unsafe { ctx.take().unwrap().resume(0) };
                ctx = Some(t.context);
            })
        });
        std::mem::forget(stack);
    }

    let mut co = corosensei::Coroutine::<(), (), ()>::new(|y, ()| loop {
        y.suspend(())
    });
    g.bench_function("corosensei", |b| b.iter(|| black_box(co.resume(()))));
    co.force_unwind();
    g.finish();
}

fn coroutine_create(c: &mut Criterion) {
    let mut g = c.benchmark_group("coroutine_create");
    let pool = coframe::context::LocalPool::new(
        coframe::context::ProtectedStack::new(64 * 1024).unwrap(),
        1,
    );
    g.bench_function("coframe", |b| {
        b.iter(|| {
            let mut co =
                coframe::context::Coroutine::<u32, (), u32>::with_stack(pool.clone(), |_, x| x + 1);
            black_box(co.resume(black_box(1)))
        })
    });
    // The same with FP control state not preserved, as corosensei does not.
    g.bench_function("coframe_lean", |b| {
        b.iter(|| {
            let mut co = coframe::context::Coroutine::<u32, (), u32>::try_with(
                pool.clone(),
                coframe::context::Switch::Lean,
                |_, x| x + 1,
            )
            .unwrap();
            black_box(co.resume(black_box(1)))
        })
    });
    let mut stack = Some(corosensei::stack::DefaultStack::new(64 * 1024).unwrap());
    g.bench_function("corosensei", |b| {
        b.iter(|| {
            let mut co = corosensei::Coroutine::<u32, (), u32, _>::with_stack(
                stack.take().unwrap(),
                |_, x| x + 1,
            );
            let r = black_box(co.resume(black_box(1)));
            stack = Some(co.into_stack());
            r
        })
    });
    {
        // Boost's own create cost, same FP semantics as `coframe`: make a
        // context on a reused stack, jump in with an argument, and let its
        // function hand back the result and finish (an fcontext function
        // never returns: it jumps back for the last time and is abandoned).
        use context::stack::ProtectedFixedSizeStack;
        use context::{Context, Transfer};
        extern "C" fn add_one(t: Transfer) -> ! {
            // SAFETY: `t.context` is the suspended bench loop; this context
            // is never resumed again.
            unsafe { t.context.resume(t.data + 1) };
            unreachable!("a finished fcontext was resumed")
        }
        let stack = ProtectedFixedSizeStack::new(64 * 1024).unwrap();
        g.bench_function("boost_fcontext", |b| {
            b.iter(|| {
                // SAFETY: the stack outlives the context, and nothing else
                // runs on it (the previous one finished).
                let ctx = unsafe { Context::new(&stack, add_one) };
                // SAFETY: a fresh context.
                black_box(unsafe { ctx.resume(black_box(1)) }.data)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, context_switch, coroutine_create);
criterion_main!(benches);
