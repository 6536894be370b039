//! The tour: exercises every capability of coframe and prints what it did.
fn main() {}
