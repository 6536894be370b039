//! The stackful layer: fibers, coroutines, generators, stacks.

use coframe::context::*;

#[test]
fn smoke_generator() {
    let fib = Generator::new(|y| {
        let (mut a, mut b) = (0u64, 1u64);
        loop {
            y.suspend(a);
            (a, b) = (b, a + b);
        }
    });
    let v: Vec<u64> = fib.take(10).collect();
    assert_eq!(v, [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
}
