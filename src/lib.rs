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
//! - [`TaskGroup`] holds a set of tasks and hands their outputs back in the order they finish
//!   (asyncio's `TaskGroup`, tokio's `JoinSet`); dropping it cancels them all.
//! - [`yield_now`] goes to the back of the run queue (gevent's `sleep(0)`).
//! - [`sleep`], [`timeout`] and [`call_later`] are asyncio's `sleep`, `wait_for` and
//!   `call_later`; [`time::Timer`] adds instants and intervals.
//! - [`channel`] holds bounded and unbounded channels between tasks: the producer/consumer.
//! - [`sync`] has asyncio's `Lock`, `Semaphore` and `Event` and tokio's `oneshot`, `Notify`,
//!   `broadcast` and `watch`, all local: fair, cancel-safe, and free of atomics.
//! - [`net`] has TCP, UDP and Unix sockets whose every blocking call lets other tasks run:
//!   gevent's patched `socket`. [`Async`] does the same for any file descriptor. Streams
//!   implement the `futures-io` traits `AsyncRead` and `AsyncWrite`; `use
//!   looplet::io::prelude::*` brings in the methods that use them (`read`, `write_all`,
//!   `lines`, ...: futures-util's extension traits), and [`io`] re-exports `BufReader`,
//!   `copy` and the rest.
//! - [`process`] runs child processes whose exit, stdin, stdout and stderr are awaited on the
//!   loop (asyncio's `create_subprocess_exec`), and [`signal`] delivers Unix signals to it:
//!   [`signal::ctrl_c`] and a stream of chosen signals (`loop.add_signal_handler`).
//! - [`test`] and [`main`] (`#[looplet::test]`, `#[looplet::main]`) run an `async fn` on a
//!   fresh loop. [`time::pause`] (or `#[looplet::test(start_paused = true)]`) gives the loop
//!   virtual time: with nothing to run it jumps to the next timer, so time-dependent tests run
//!   at once and in a fixed order; [`time::advance`] and [`time::now`] drive and read it.
//! - [`all_tasks`] lists the live tasks (asyncio's `all_tasks()`): name
//!   ([`task::Builder`]), spawn location, state; `LOOPLET_DEBUG=1` or
//!   [`executor::Builder::debug`] reports polls slower than 100 ms (asyncio's debug mode), and
//!   [`Executor::metrics`] counts what the loop did.
//! - [`unblock`] runs a blocking closure on a thread pool and returns a [`Task`] for its
//!   result: asyncio's `run_in_executor`. The pool's threads start only when it is used.
//!   [`fs`] reads and writes files through it (`read`, `write`, [`fs::File`], ...), and
//!   [`io::stdin`], [`io::stdout`] and [`io::stderr`] the process's stdio, whose shared
//!   descriptors are never made non-blocking.
//!
//! ```
//! use std::time::Duration;
//! use looplet::io::prelude::*;
//! use looplet::net::{TcpListener, TcpStream};
//!
//! looplet::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     looplet::spawn(async move {
//!         while let Ok((mut conn, _)) = listener.accept().await {
//!             looplet::spawn(async move {
//!                 let mut buf = [0; 1024];
//!                 while let Ok(n @ 1..) = conn.read(&mut buf).await {
//!                     buf[..n].make_ascii_uppercase();
//!                     if conn.write_all(&buf[..n]).await.is_err() {
//!                         break;
//!                     }
//!                 }
//!             })
//!             .detach();
//!         }
//!     })
//!     .detach();
//!
//!     let mut client = TcpStream::connect(addr).await?;
//!     client.write_all(b"hello").await?;
//!     let mut reply = [0; 5];
//!     looplet::timeout(Duration::from_secs(5), client.read_exact(&mut reply)).await??;
//!     assert_eq!(&reply, b"HELLO");
//!     std::io::Result::Ok(())
//! })?;
//! # std::io::Result::Ok(())
//! ```
//!
//! # Implementation
//!
//! **The layout.** Dependencies point one way: `executor` (the API, the run loop, the
//! cross-thread wake path, the parked-task registry) reaches the thread's current loop through
//! `context`, the one small file with the thread-local and its `unsafe`; `reactor` and `time`
//! drive sockets and timers; under them, `sys` (the platform seam), the timer `wheel` and a
//! generation-checked `slab`. A socket holds a handle to its loop's reactor and a timer one to
//! its loop's timers, never the loop itself.
//!
//! **Who owns the thread.** An [`Executor`] is `!Send`: its run queue (a `VecDeque` of
//! async-task `Runnable`s), its registry of parked tasks, its timer wheel and its reactor are
//! plain `Cell`s and `RefCell`s. [`Executor::block_on`] marks the executor as the thread's
//! current loop, so that `spawn`, timers and sockets find it without a handle, and runs jobs
//! from the front of the queue. It never spawns a thread: the thread inside `block_on` drives
//! IO and timers itself.
//!
//! **How a wake travels back.** Every task's waker is async-task's. Waking a task on the loop's
//! own thread, while the loop runs, pushes its `Runnable` to the back of the run queue: no
//! atomics beyond async-task's state word, no lock. A wake from another thread (or from this
//! thread while the loop is not running) goes into one `ConcurrentQueue`, and a write to the
//! loop's eventfd wakes it if it sleeps (once per sleep, however many wakes arrive); the loop
//! drains that queue into the run queue.
//!
//! **When the loop sleeps.** Only when the run queue is empty: then it waits in `epoll_wait`
//! until an IO event, a notification from another thread, or the next timer deadline
//! (carried by a timerfd, to the nanosecond), whichever comes first. One wait is one syscall,
//! plus one to re-arm the timerfd when the earliest deadline has moved.
//!
//! **How timers are stored.** In a hierarchical timing wheel (Varghese & Lauck): 8 levels of
//! 64 slots, one tick = 1.024 µs, an `occupied` bitmap per level, so insert and cancel are
//! O(1) and "when is the next deadline?" is a few `trailing_zeros`. Deadlines round up and
//! the clock rounds down, so no timer fires early. A relative timer ([`sleep`], [`timeout`],
//! [`call_later`]) reads the clock when it is made and counts from there, so a task that
//! blocks the loop delays no other task's timer beyond its own block. A timeout around a
//! future that finishes first costs an O(1) insert and remove; around one that is ready at
//! once, one clock reading.
//!
//! **Virtual time.** Every clock reading of the time module goes through one function,
//! [`time::now`], which shows the loop's clock. [`time::pause`] freezes it; then, when the run
//! queue is empty, the loop polls its reactor without waiting and, if nothing arrived and no
//! work it knows of is still out (a pool job started by [`unblock`] until its result is handed
//! over, a child process until it is reaped: each holds an atomic count on the loop's shared
//! part), it moves the clock to the next timer's deadline and fires it, instead of sleeping.
//! The wheel knows only ticks, so while paused the exact deadline of each timer armed is kept
//! beside it, and a jump lands on the deadline itself. A socket fed by a thread or process the
//! loop cannot see does not hold the clock: that is the rule, and a test pins it.
//!
//! **Off means free.** What debugging costs is paid only by those who ask. Every task carries
//! the line that spawned it (8 bytes); a name, an age, poll counts and poll timing live in the
//! parked-task registry's entry, only for tasks spawned with a name or under the debug option.
//! The debug option's timing is a test of a register per job in the run loop; the always-on
//! metrics are `Cell` increments where the loop already branches, and the poll count is added
//! up only when the loop looks outside its queue. A clock that was never paused costs one
//! thread-local test per reading. The `tracing` spans are compiled out without the feature.
//! callgrind counts the instructions per spawn, yield and timeout to keep this true.
//!
//! **How IO is waited on.** Each socket is registered once, edge-triggered (with
//! `EPOLLRDHUP`), with the loop that first waits on it; the loop keeps its readiness in a flag
//! per direction, cleared when an operation returns `WouldBlock` or when a transfer comes back
//! short on an fd where that proves the kernel buffer drained or full (a TCP socket either way,
//! a Unix socket or a pipe when writing; learnt once per fd). A ready socket costs just the syscall that reads or writes it; the
//! loop waits on epoll only when it has nothing to run, or on its fairness tick. Readiness
//! handed to user code by [`Async::readable`] is checked with the kernel before it is handed
//! out twice, so user code that does its own syscalls cannot spin on a stale flag. Stream
//! sockets are written with `MSG_NOSIGNAL`: never a `SIGPIPE`. Waiting sits behind one seam,
//! `sys`, with two backends: on Linux, epoll through rustix (one `epoll_wait` per wait, a
//! timerfd for deadlines, `EPOLLRDHUP` for the peer's shutdown); everywhere else, and on Linux
//! with the `polling` feature, the `polling` crate (kqueue, event ports), which cannot see the
//! peer's shutdown, so there a short read proves nothing and costs a failing read.
//!
//! **Child exits and signals** arrive the same way, as readiness on an fd. A child's pidfd
//! becomes readable when it exits, and the task waiting for it then reaps it (where pidfds
//! are missing, a `SIGCHLD` listener wakes every waiting child instead). A signal handler
//! (from signal-hook-registry, shared by every listener) writes a byte into each listener's
//! socket pair, whose read end the loop watches. Neither needs a thread.
//!
//! **What is fair.** The run queue is first in, first out, and the `block_on` future waits in
//! it like any task. A task that wakes itself (such as [`yield_now`]) goes to the back, behind
//! every job already waiting. Every 61 jobs the loop looks outside the queue: it moves
//! cross-thread wakes in, fires due timers, and polls the reactor without blocking if any
//! source is registered; so a queue that never empties cannot starve timers, IO or other
//! threads. The count belongs to the loop, so [`Executor::try_tick`] keeps it too.
//!
//! **One loop per thread at a time.** [`block_on`] inside a running loop panics, as asyncio's
//! `run_until_complete` and tokio's `block_on` refuse to: a second loop there would stall the
//! first until it returned.
//!
//! **Panics.** A task's panic is caught at the task's boundary and resumed in whoever awaits
//! its [`Task`]; a detached task's panic is printed by the panic hook and dropped; a
//! [`call_later`] callback's likewise. looplet drops a task's future itself, never leaving it
//! to async-task (which aborts the process on a panicking destructor): a destructor that
//! panics when its task is cancelled, or its executor dropped, is reported and dropped the
//! same way, as is an unread output's, and a panic's payload is dropped under a guard too. The
//! loop itself never unwinds because of a task.
//!
//! **Drop.** Dropping an executor drops every future it still holds on its own thread: queued
//! tasks, and parked ones (each parked task left its waker in a registry when it first returned
//! `Pending`), then its timers. After that every task is closed, so a waker that fires later,
//! on any thread, does nothing, and keeps only the loop's eventfd open: the epoll instance and
//! its timerfd close with the loop. A socket, or a timer, outlives its loop harmlessly, and
//! moves to the next loop that uses it.
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    clippy::undocumented_unsafe_blocks
)]
#![deny(unsafe_op_in_unsafe_fn)]

mod blocking;
pub mod channel;
#[cfg(feature = "hyper")]
pub mod compat;
mod context;
pub mod executor;
pub mod fs;
pub mod io;
pub mod net;
pub mod process;
mod reactor;
pub mod signal;
mod slab;

pub mod sync;
mod sys;
pub mod task;
pub mod task_group;
pub mod time;
mod unwind;

pub use blocking::unblock;
pub use executor::{Executor, Handle, all_tasks, block_on, metrics, spawn, try_spawn};
pub use io::{Async, Ready};
#[cfg(feature = "macros")]
pub use looplet_macros::{main, test};
pub use task::{SpawnError, SpawnErrorKind, Task, YieldNow, yield_now};
pub use task_group::TaskGroup;
pub use time::{call_at, call_later, sleep, sleep_until, timeout};

/// `#[looplet::test]` on a function that is not `async` is a compile error, with a message
/// that says so:
///
/// ```compile_fail
/// #[looplet::test]
/// fn not_async() {} // error: #[looplet::test] needs an `async fn`
/// ```
///
/// and so are arguments, and an unknown attribute argument:
///
/// ```compile_fail
/// #[looplet::test]
/// async fn with_an_argument(n: u32) {}
/// ```
///
/// ```compile_fail
/// #[looplet::test(flavor = "current_thread")]
/// async fn tokio_arguments() {}
/// ```
///
/// ```compile_fail
/// #[looplet::main]
/// fn main() {}
/// ```
#[cfg(all(doctest, feature = "macros"))]
pub struct MacroDoctests;

/// The README's code blocks, compiled and run as doctests so the front door stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
