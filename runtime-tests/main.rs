//! coframe's integration tests: one binary, one module per area.

mod context;
mod frame;
mod local;
mod pool;
mod strand;
