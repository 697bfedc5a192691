//! Tasks: [`Task`] handles, the task [`Builder`] (names), what the task dump shows of each
//! task ([`TaskInfo`], from [`all_tasks`](crate::all_tasks)), the spawn error, and
//! [`yield_now`].
//!
//! Every task knows the line that spawned it (`spawn`, `Handle::spawn`, `Executor::spawn` and
//! `Builder::spawn` are `#[track_caller]`): the task dump and the slow-poll report name it.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use looplet::task::{self, TaskState};
//!
//! looplet::block_on(async {
//!     let conn = task::Builder::new()
//!         .name("conn 42")
//!         .spawn(looplet::sleep(Duration::from_secs(60)));
//!     looplet::yield_now().await;
//!     let tasks = looplet::all_tasks();
//!     assert_eq!(tasks[0].name.as_deref(), Some("conn 42"));
//!     assert_eq!(tasks[0].state, TaskState::Waiting);
//!     drop(conn);
//! });
//! ```

mod builder;

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{Location, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_core::FusedFuture;

pub use crate::executor::debug::{TaskInfo, TaskState, Tasks};
use crate::executor::{Hold, Shared};
use crate::unwind::{Payload, drop_guarded, drop_payload};
pub use builder::Builder;

/// Where a task was spawned.
pub(crate) type Origin = &'static Location<'static>;

/// A task's id: unique among the live tasks of a process.
///
/// It is the address of the task's allocation, so it costs nothing to keep, and a finished
/// task's id may be given to a task spawned later (as with Python's `id()`). It displays in
/// hexadecimal, like a pointer.
///
/// # Examples
///
/// ```
/// looplet::block_on(async {
///     let a = looplet::spawn(std::future::pending::<()>());
///     let b = looplet::spawn(std::future::pending::<()>());
///     looplet::yield_now().await;
///     let tasks = looplet::all_tasks();
///     assert_ne!(tasks[0].id, tasks[1].id);
///     assert!(tasks[0].id.to_string().starts_with("0x"));
///     drop((a, b));
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(usize);

impl TaskId {
    /// The id of the task that `waker` wakes (an async-task waker: its data is the task).
    #[inline]
    pub(crate) fn of(waker: &Waker) -> TaskId {
        TaskId(waker.data() as usize)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A handle to a spawned task: await it for the task's output.
///
/// **Dropping a `Task` cancels the task.** Its future is dropped the next time the loop gets
/// to it, without being polled again, and so is `let _ = looplet::spawn(..)`, which drops the
/// handle at once. To let a task run on in the background, call [`Task::detach`]. This is
/// smol's rule (async-task's `Task`), and the opposite of tokio's `JoinHandle`, which detaches
/// when dropped.
///
/// - Awaiting a `Task` gives the task's output.
/// - If the task panicked, awaiting the `Task` resumes that panic in the awaiter, with the
///   original payload (tokio's `JoinHandle` plus `resume_unwind`). A panic never takes the
///   loop down: other tasks keep running. A detached task's panic is printed on stderr by the
///   standard panic hook when it happens, like a panic on any thread, and is then dropped.
/// - A panic in the destructor of a task's future, when the task is cancelled or its executor
///   dropped, is reported the same way and the loop goes on; so is a panic in the destructor
///   of an output nobody took. A panic in the destructor of a future that has just completed
///   is the task's panic.
///
/// A `Task` is a [`FusedFuture`]. It is `Send` when its output is, so a task's output can be
/// awaited from a future that must be `Send`, as long as it is polled on the task's loop.
///
/// # Panics
///
/// Awaiting a `Task` whose loop was dropped before the task finished panics with a message
/// saying so (the task can never finish). [`Task::cancel`] returns `None` in that case instead.
///
/// # Examples
///
/// ```
/// let sum = looplet::block_on(async {
///     let a = looplet::spawn(async { 40 });
///     let b = looplet::spawn(async { 2 });
///     a.await + b.await
/// });
/// assert_eq!(sum, 42);
/// ```
#[must_use = "dropping a Task cancels the task, and so does `let _ = spawn(..)`: call \
              .detach() to let it run in the background, or await it"]
pub struct Task<T> {
    inner: Inner<T>,
    done: bool,
}

/// Where a task runs: on a loop, or on the blocking pool ([`unblock`](crate::unblock)).
///
/// Both hand back an [`Outcome`] (looplet catches their panics). Only the loop's tasks can end
/// unfinished (when their loop is dropped).
enum Inner<T> {
    Loop(async_task::FallibleTask<Outcome<T>, Arc<Shared>>),
    Pool(async_task::FallibleTask<PoolOutput<T>>),
}

/// What a pool job hands back: its outcome, and the hold on the loop that started it (so that
/// a paused clock cannot jump before the result is in the loop's hands; see `time::pause`).
pub(crate) type PoolOutput<T> = (Outcome<T>, Option<Hold>);

/// Polls a pool job's task (out of line: the loop's own tasks are the hot path).
#[inline(never)]
fn poll_pool<T>(
    task: &mut async_task::FallibleTask<PoolOutput<T>>,
    cx: &mut Context<'_>,
) -> Poll<Option<T>> {
    Pin::new(task).poll(cx).map(|out| out.map(pool_output))
}

/// The output of a pool job, once the hold is let go.
fn pool_output<T>((outcome, hold): PoolOutput<T>) -> T {
    drop(hold);
    outcome.into_output()
}

impl<T> Task<T> {
    pub(crate) fn new(inner: async_task::Task<Outcome<T>, Arc<Shared>>) -> Task<T> {
        Task {
            inner: Inner::Loop(inner.fallible()),
            done: false,
        }
    }

    pub(crate) fn from_pool(inner: async_task::Task<PoolOutput<T>>) -> Task<T> {
        Task {
            inner: Inner::Pool(inner.fallible()),
            done: false,
        }
    }

    /// Lets the task run on in the background; its output is dropped when it finishes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// looplet::block_on(async {
    ///     let ran = Rc::new(Cell::new(false));
    ///     let flag = ran.clone();
    ///     looplet::spawn(async move { flag.set(true) }).detach();
    ///     looplet::yield_now().await;
    ///     assert!(ran.get());
    /// });
    /// ```
    pub fn detach(self) {
        match self.inner {
            Inner::Loop(task) => task.detach(),
            Inner::Pool(task) => task.detach(),
        }
    }

    /// Cancels the task and waits until its future is dropped.
    ///
    /// Returns the output if the task had already finished, `None` if it was stopped (or its
    /// loop was dropped). If the task had panicked, the panic resumes here.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let never = looplet::spawn(std::future::pending::<u32>());
    ///     assert_eq!(never.cancel().await, None);
    ///
    ///     let done = looplet::spawn(async { 7 });
    ///     looplet::yield_now().await; // lets `done` run to completion
    ///     assert_eq!(done.cancel().await, Some(7));
    /// });
    /// ```
    pub async fn cancel(self) -> Option<T> {
        match self.inner {
            Inner::Loop(task) => task.cancel().await.map(Outcome::into_output),
            Inner::Pool(task) => task.cancel().await.map(pool_output),
        }
    }

    /// Whether the task has finished: completed, panicked or been cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let task = looplet::spawn(async { 1 });
    ///     assert!(!task.is_finished());
    ///     looplet::yield_now().await;
    ///     assert!(task.is_finished());
    ///     assert_eq!(task.await, 1);
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        match &self.inner {
            Inner::Loop(task) => task.is_finished(),
            Inner::Pool(task) => task.is_finished(),
        }
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let output = match &mut self.inner {
            Inner::Loop(task) => match Pin::new(task).poll(cx) {
                Poll::Ready(outcome) => Poll::Ready(outcome.map(Outcome::into_output)),
                Poll::Pending => Poll::Pending,
            },
            Inner::Pool(task) => poll_pool(task, cx),
        };
        match output {
            Poll::Ready(Some(output)) => {
                self.done = true;
                Poll::Ready(output)
            }
            Poll::Ready(None) => {
                self.done = true;
                panic!(
                    "looplet: awaited a task that was cancelled because its loop (Executor) was \
                     dropped before the task finished; use Task::cancel().await to get None \
                     instead"
                )
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> FusedFuture for Task<T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

/// What a task's future left: its output, or the payload of its panic.
///
/// Dropped unread (a detached task, or a `Task` dropped after the task finished), it drops
/// what it holds under a guard: async-task drops outputs where a panic aborts the process.
///
/// # Invariant
///
/// The result is live until `into_output` takes it (and forgets the `Outcome`) or `drop`
/// drops it: each happens once, and nothing touches it afterwards.
pub(crate) struct Outcome<T>(ManuallyDrop<Result<T, Payload>>);

impl<T> Outcome<T> {
    #[inline]
    pub(crate) fn new(result: Result<T, Payload>) -> Outcome<T> {
        Outcome(ManuallyDrop::new(result))
    }

    /// The output; a panic's payload resumes here, in the awaiter.
    #[inline]
    fn into_output(self) -> T {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: the result is live (see the invariant), and `this` is never dropped, so
        // taking it here is its one use.
        match unsafe { ManuallyDrop::take(&mut this.0) } {
            Ok(output) => output,
            Err(payload) => resume_unwind(payload),
        }
    }
}

impl<T> Drop for Outcome<T> {
    fn drop(&mut self) {
        // SAFETY: the result is live (see the invariant: `into_output` forgets the outcome),
        // and this is its last use.
        match unsafe { ManuallyDrop::take(&mut self.0) } {
            Ok(output) => drop_guarded(output),
            Err(payload) => drop_payload(payload),
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Why a task could not be spawned. The future is handed back, unpolled.
///
/// # Examples
///
/// ```
/// // No loop runs on this thread, so there is nowhere to spawn.
/// let err = looplet::try_spawn(async { 1 }).unwrap_err();
/// assert!(matches!(err.kind(), looplet::SpawnErrorKind::NoLoop));
/// let future = err.into_inner(); // nothing is lost
/// assert_eq!(looplet::block_on(future), 1);
/// ```
pub struct SpawnError<F> {
    kind: SpawnErrorKind,
    future: F,
}

/// The reason in a [`SpawnError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnErrorKind {
    /// No looplet loop is running on this thread (`looplet::spawn` outside `block_on`).
    NoLoop,
    /// The loop a [`Handle`](crate::Handle) refers to has been dropped.
    Closed,
    /// The [`TaskGroup`](crate::TaskGroup) a [`Spawner`](crate::task_group::Spawner) refers
    /// to has been dropped.
    GroupClosed,
}

impl<F> SpawnError<F> {
    pub(crate) fn new(kind: SpawnErrorKind, future: F) -> SpawnError<F> {
        SpawnError { kind, future }
    }

    /// Why spawning failed.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = looplet::try_spawn(async {}).unwrap_err();
    /// assert_eq!(err.kind(), looplet::SpawnErrorKind::NoLoop);
    /// ```
    pub fn kind(&self) -> SpawnErrorKind {
        self.kind
    }

    /// The future that was not spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = looplet::try_spawn(async { "back" }).unwrap_err();
    /// assert_eq!(looplet::block_on(err.into_inner()), "back");
    /// ```
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SpawnErrorKind::NoLoop => f.write_str(
                "no looplet loop is running on this thread: spawn from code running inside \
                 looplet::block_on, or keep a looplet::Handle and spawn through it",
            ),
            SpawnErrorKind::Closed => f.write_str("the looplet loop this handle refers to is gone"),
            SpawnErrorKind::GroupClosed => {
                f.write_str("the looplet TaskGroup this spawner refers to has been dropped")
            }
        }
    }
}

impl<F> std::error::Error for SpawnError<F> {}

/// Lets every other runnable task run once before this one goes on.
///
/// The task goes to the back of the run queue: gevent's `sleep(0)`, greenlet's `switch()`,
/// asyncio's `await asyncio.sleep(0)`. A task that calls `yield_now` in a loop forever shares
/// the thread fairly and does not starve timers or IO.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// looplet::block_on(async {
///     let mut tasks = Vec::new();
///     for name in ["a", "b"] {
///         let log = log.clone();
///         tasks.push(looplet::spawn(async move {
///             log.borrow_mut().push(format!("{name}1"));
///             looplet::yield_now().await;
///             log.borrow_mut().push(format!("{name}2"));
///         }));
///     }
///     for t in tasks {
///         t.await;
///     }
/// });
/// assert_eq!(*log.borrow(), ["a1", "b1", "a2", "b2"]);
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
