//! Glue for crates that bring their own runtime traits.
//!
//! - [`hyper`] (feature `hyper`): hyper's `rt::Read`/`rt::Write`, `rt::Executor` and
//!   `rt::Timer` for looplet, what hyper-util's `TokioIo`, `TokioExecutor` and `TokioTimer`
//!   are for tokio.

pub mod hyper;
