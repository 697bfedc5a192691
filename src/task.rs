//! Task handles, the spawn error, and `yield_now`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::executor::Shared;

/// A handle to a spawned task: await it for the task's output.
///
/// Like tokio's `JoinHandle` and smol's `Task`:
///
/// - awaiting a `Task` gives the task's output;
/// - **dropping a `Task` cancels the task**: its future is dropped the next time the loop gets
///   to it, without being polled again. Use [`Task::detach`] to let it run on in the
///   background;
/// - if the task panicked, awaiting the `Task` resumes that panic in the awaiter, with the
///   original payload (tokio's `JoinHandle` plus `resume_unwind`). A panic never takes the
///   loop down: other tasks keep running. A detached task's panic is printed on stderr by the
///   standard panic hook when it happens, like a panic on any thread, and is then dropped.
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
#[must_use = "tasks are cancelled when dropped; use .detach() to run them in the background"]
pub struct Task<T> {
    inner: Inner<T>,
}

/// Where a task runs: on a loop, or on the blocking pool ([`unblock`](crate::unblock)).
///
/// Both are async-task handles built with `propagate_panic`, so a panic resumes in the awaiter
/// either way; only the loop's tasks can end unfinished (when their loop is dropped).
enum Inner<T> {
    Loop(async_task::FallibleTask<T, Arc<Shared>>),
    Pool(async_task::FallibleTask<T>),
}

impl<T> Task<T> {
    pub(crate) fn new(inner: async_task::Task<T, Arc<Shared>>) -> Task<T> {
        Task {
            inner: Inner::Loop(inner.fallible()),
        }
    }

    pub(crate) fn from_pool(inner: async_task::Task<T>) -> Task<T> {
        Task {
            inner: Inner::Pool(inner.fallible()),
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
            Inner::Loop(task) => task.cancel().await,
            Inner::Pool(task) => task.cancel().await,
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
            Inner::Loop(task) => Pin::new(task).poll(cx),
            Inner::Pool(task) => Pin::new(task).poll(cx),
        };
        match output {
            Poll::Ready(Some(output)) => Poll::Ready(output),
            Poll::Ready(None) => panic!(
                "looplet: awaited a task that was cancelled because its loop (Executor) was \
                 dropped before the task finished; use Task::cancel().await to get None instead"
            ),
            Poll::Pending => Poll::Pending,
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
