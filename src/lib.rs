//! A single-threaded, stackless async executor: the event loop of Python's asyncio and gevent,
//! on Rust futures.
//!
//! One thread runs a loop of tasks. A task runs until it would wait (on another task, a channel,
//! a timer, a socket), and then the loop switches to another one: concurrency in one thread,
//! with no locks, as the coroutine articles this crate grew from describe it.
//!
//! ```
//! let answer = looplet::block_on(async {
//!     let a = looplet::spawn(async { 40 }); // from any code running on the loop
//!     let b = looplet::spawn(async { 2 });
//!     a.await + b.await
//! });
//! assert_eq!(answer, 42);
//! ```
//!
//! # A short tour
//!
//! - [`block_on`] runs a future on a fresh loop on this thread (asyncio's `asyncio.run`);
//!   [`Executor::block_on`] runs an executor that outlives the call
//!   (`loop.run_until_complete`).
//! - [`spawn`] starts a task from anywhere on the loop (gevent's `spawn`) and returns a
//!   [`Task`]: await it for the output (`join`), drop it to cancel, or [`Task::detach`] it.
//!   Tasks need not be `Send`: they share `Rc<RefCell<..>>` state freely.
//! - [`yield_now`] goes to the back of the run queue (gevent's `sleep(0)`).
//! - [`channel`] holds bounded and unbounded channels between tasks: the producer/consumer.
//!
//! # Implementation
//!
//! **Who owns the thread.** An [`Executor`] is `!Send`: its run queue (a `VecDeque` of
//! async-task `Runnable`s), its registry of parked tasks and its reactor are plain `Cell`s and
//! `RefCell`s. [`Executor::block_on`] marks the executor as the thread's current loop, polls
//! the given future, and in between runs tasks from the front of the queue. It never spawns a
//! thread.
//!
//! **How a wake travels back.** Every task's waker is async-task's. Waking a task on the loop's
//! own thread, while the loop runs, pushes its `Runnable` to the back of the run queue: no
//! atomics beyond async-task's state word, no lock. A wake from another thread (or from this
//! thread while the loop is not running) goes into one `ConcurrentQueue` and
//! `polling::Poller::notify` wakes the loop if it sleeps; the loop drains that queue into the
//! run queue.
//!
//! **When the loop sleeps.** Only when the run queue is empty and the `block_on` future has
//! not been woken: then it waits in `Poller::wait` until an event or a notification.
//!
//! **What is fair.** A task that wakes itself (such as [`yield_now`]) goes to the back of the
//! queue, behind every task already waiting. Every 61 task polls the loop looks outside the
//! queue: it polls the `block_on` future if it was woken and moves cross-thread wakes into the
//! queue, so a queue that never empties cannot starve them. Within those rules tasks run in the
//! order they were woken.
//!
//! **Panics.** A task's panic is caught at the task's boundary and resumed in whoever awaits
//! its [`Task`]; a detached task's panic is printed by the panic hook and dropped. The loop
//! itself never unwinds because of a task.
//!
//! **Drop.** Dropping an executor drops every future it still holds on its own thread: queued
//! tasks, and parked ones (each parked task left its waker in a registry when it first returned
//! `Pending`). After that every task is closed, so a waker that fires later, on any thread,
//! does nothing.
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    clippy::undocumented_unsafe_blocks
)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod channel;
mod executor;
mod reactor;
mod slab;
mod task;
pub mod time;

pub use executor::{Executor, Handle, block_on, spawn, try_spawn};
pub use task::{SpawnError, SpawnErrorKind, Task, YieldNow, yield_now};
pub use time::{call_at, call_later, sleep, sleep_until, timeout};

/// The README's code blocks, compiled and run as doctests so the front door stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
