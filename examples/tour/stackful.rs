//! Part 1 of the tour: the stackful layer (Boost.Context in Rust).

use coframe::context::{
    Coroutine, CoroutineResult, Fiber, Generator, LocalPool, ProtectedStack, StackTraits, Switch,
};
use std::time::Instant;

pub fn run() {
    println!("\n== 1. stackful layer: fibers, coroutines, generators");
    println!(
        "   stacks: page {} B, default {} KiB, minimum {} KiB, maximum {}",
        StackTraits::page_size(),
        StackTraits::default_size() / 1024,
        StackTraits::minimum_size() / 1024,
        if StackTraits::is_unbounded() {
            "unbounded".to_string()
        } else {
            format!("{} MiB", StackTraits::maximum_size() >> 20)
        }
    );

    // A generator: the Fibonacci numbers, pulled as an iterator.
    let fib: Vec<u64> = Generator::new(|y| {
        let (mut a, mut b) = (0u64, 1u64);
        loop {
            y.suspend(a);
            (a, b) = (b, a + b);
        }
    })
    .take(12)
    .collect();
    println!("   generator: first 12 Fibonacci numbers {fib:?}");

    // A fiber ping-pong: each side hands the ball back 5 times.
    let mut f = Fiber::new(|mut main| {
        for i in 0..5 {
            println!("     fiber: pong {i}");
            main = main.resume();
        }
        main
    });
    for i in 0..5 {
        println!("     main:  ping {i}");
        f = f.resume();
    }
    println!(
        "   fiber ping-pong done, fiber terminated: {}",
        f.resume().is_terminated()
    );

    // A typed coroutine: integers in, strings out, a value returned.
    let mut co = Coroutine::<i32, String, usize>::new(|y, mut n| {
        let mut seen = 0;
        while n >= 0 {
            seen += 1;
            n = y.suspend(format!("{n} squared is {}", n * n));
        }
        seen
    });
    for n in [3, 12] {
        if let CoroutineResult::Yield(s) = co.resume(n) {
            println!("   coroutine: {s}");
        }
    }
    println!("   coroutine returned {:?}", co.resume(-1));

    // Timing: resume + suspend round trips, default and lean switches.
    const N: u32 = 2_000_000;
    for (name, switch) in [
        ("full (FP control saved)", Switch::Full),
        ("lean", Switch::Lean),
    ] {
        let mut co = Coroutine::<(), (), ()>::try_with(
            ProtectedStack::new(64 * 1024).unwrap(),
            switch,
            |y, ()| loop {
                y.suspend(())
            },
        )
        .unwrap();
        let t = Instant::now();
        for _ in 0..N {
            co.resume(());
        }
        let ns = t.elapsed().as_nanos() as f64 / N as f64;
        println!("   timing: resume+suspend round trip, {name}: {ns:.1} ns");
    }
    let pool = LocalPool::new(ProtectedStack::new(64 * 1024).unwrap(), 1);
    let t = Instant::now();
    for i in 0..N / 4 {
        let mut co = Coroutine::<u32, (), u32>::with_stack(pool.clone(), |_, x| x + 1);
        assert_eq!(co.resume(i), CoroutineResult::Return(i + 1));
    }
    let ns = t.elapsed().as_nanos() as f64 / (N / 4) as f64;
    println!("   timing: create + run + drop a coroutine on a reused stack: {ns:.1} ns");
}
