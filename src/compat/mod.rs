//! Adapters to other crates' runtime traits, each behind a feature.
//!
//! | file       | feature | owns                                                    |
//! |------------|---------|---------------------------------------------------------|
//! | `hyper.rs` | `hyper` | hyper 1.x's `rt::Read`/`rt::Write`, `Executor`, `Timer` |
//!
//! Invariant: an adapter only translates; it keeps no state of its own
//! beyond what the coframe value it wraps already has.

#[cfg(feature = "hyper")]
pub mod hyper;
