//! The stackful layer: Boost.Context in safe Rust.
//!
//! (Being built: see issue 2.)
