//! Synchronization between tasks on one loop: oneshot, [`Mutex`], [`Semaphore`], [`Notify`],
//! [`Event`], [`broadcast`] and [`watch`].
//!
//! Every task on a loop runs on the loop's one thread, one at a time, so these primitives need
//! no atomics and no locks: their state is plain `Cell`s and `RefCell`s, shared through `Rc`
//! (or borrowed, by futures that borrow the primitive). They are all `!Send` and `!Sync`, which
//! the compiler checks for you: one cannot reach another thread by mistake. What they wait
//! with is just the [`Waker`](std::task::Waker) of whoever polls them, stored and called; so a
//! future of theirs polled by another executor (another looplet loop, or any executor on this
//! thread) is woken correctly too.
//!
//! The rules they share:
//!
//! - **First in, first out.** Waiters queue in the order they first polled (an intrusive list
//!   threaded through a generation-checked slab: O(1) to join, to leave and to serve). What a
//!   release frees is *handed* to the head waiter: a [`Mutex`] lock, [`Semaphore`] permits, a
//!   [`Notify::notify_one`] notification. A task that comes later cannot barge in front of one
//!   that was served but has not run yet.
//! - **Cancel-safe.** Dropping a pending future loses nothing: a lock, permits or a
//!   notification handed to it pass on to the next waiter; a broadcast value or a watch change
//!   stays there for the next call.
//! - **Wakes happen after the borrow.** Wakers are collected while the state is borrowed and
//!   woken after the borrow ends, so a waker that re-enters the primitive finds it consistent.
//! - **`select!`-ready.** Every future implements
//!   [`FusedFuture`](futures_core::future::FusedFuture) and every stream
//!   [`FusedStream`](futures_core::stream::FusedStream), so `futures::select!` takes them
//!   without `.fuse()`.
//!
//! | asyncio | tokio | looplet |
//! | --- | --- | --- |
//! | `asyncio.Future` set by another task | `sync::oneshot` | [`oneshot`] |
//! | `asyncio.Lock` | `sync::Mutex` | [`Mutex`] (`lock().await`, `try_lock`) |
//! | `asyncio.Semaphore`, `BoundedSemaphore` | `sync::Semaphore` | [`Semaphore`] |
//! | `asyncio.Condition` (`notify`, `notify_all`) | `sync::Notify` | [`Notify`] (`notify_one`, `notify_waiters`) |
//! | `asyncio.Event` | (none; `Notify` or `watch<bool>`) | [`Event`] (`set`, `clear`, `wait`) |
//! | (none) | `sync::broadcast` | [`broadcast`] |
//! | (none) | `sync::watch` | [`watch`] |
//! | `asyncio.Queue` | `sync::mpsc` | [`channel`](crate::channel) (a receiver clones into a worker pool) |
//!
//! # Examples
//!
//! A worker that takes jobs from a channel until it has been idle too long or is told to stop:
//! `select!` over a `recv`, a timeout and a shutdown [`Notify`].
//!
//! ```
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! use futures_util::select;
//! use looplet::channel;
//! use looplet::sync::Notify;
//!
//! looplet::block_on(async {
//!     let (jobs, mut rx) = channel::unbounded::<u32>();
//!     let shutdown = Rc::new(Notify::new());
//!     let worker = {
//!         let shutdown = shutdown.clone();
//!         looplet::spawn(async move {
//!             let mut done = Vec::new();
//!             let why = loop {
//!                 select! {
//!                     job = rx.recv() => match job {
//!                         Some(job) => done.push(job),
//!                         None => break "no more jobs",
//!                     },
//!                     _ = looplet::sleep(Duration::from_secs(60)) => break "idle",
//!                     _ = shutdown.notified() => break "shut down",
//!                 }
//!             };
//!             (why, done)
//!         })
//!     };
//!     jobs.send(1).await.unwrap();
//!     jobs.send(2).await.unwrap();
//!     looplet::yield_now().await; // the worker takes both
//!     shutdown.notify_one(); // stored if the worker is busy: not lost
//!     assert_eq!(worker.await, ("shut down", vec![1, 2]));
//! });
//! ```

pub mod broadcast;
mod event;
mod mutex;
mod notify;
pub mod oneshot;
mod semaphore;
pub(crate) mod waiters;
pub mod watch;

pub use event::{Event, Wait};
pub use mutex::{Lock, Mutex, MutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use semaphore::{Acquire, AcquireError, Semaphore, SemaphorePermit, TryAcquireError};
