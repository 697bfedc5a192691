//! The task builder: a name for a task, shown by the task dump and the slow-poll report.

use std::fmt;
use std::future::Future;
use std::panic::Location;

use super::{Origin, SpawnError, SpawnErrorKind, Task};
use crate::context::with_current;

/// Spawns a task with a name: tokio's `task::Builder`, asyncio's `create_task(name=...)`.
///
/// The name shows in the task dump ([`all_tasks`](crate::all_tasks)) and in slow-poll
/// reports. A named task is recorded from its spawn (its name, and when it was spawned), which
/// costs an allocation and a clock reading at spawn; its polls cost nothing more than a plain
/// task's.
///
/// # Examples
///
/// ```
/// use looplet::task::Builder;
///
/// looplet::block_on(async {
///     let task = Builder::new().name("conn 42").spawn(async { 42 });
///     assert_eq!(looplet::all_tasks()[0].name.as_deref(), Some("conn 42"));
///     assert_eq!(task.await, 42);
/// });
/// ```
#[derive(Default)]
#[must_use = "a task Builder does nothing until its spawn is called"]
pub struct Builder {
    name: Option<Box<str>>,
}

impl Builder {
    /// A builder for an unnamed task.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     assert_eq!(looplet::task::Builder::new().spawn(async { 1 }).await, 1);
    /// });
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let worker = looplet::task::Builder::new()
    ///         .name(format!("worker {}", 3))
    ///         .spawn(std::future::pending::<()>());
    ///     assert_eq!(looplet::all_tasks()[0].name.as_deref(), Some("worker 3"));
    ///     drop(worker);
    /// });
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into().into_boxed_str());
        self
    }

    /// Spawns the task onto the loop running on this thread, as [`looplet::spawn`](crate::spawn)
    /// does.
    ///
    /// # Panics
    ///
    /// If no looplet loop is running on this thread; [`Builder::try_spawn`] returns an error
    /// instead.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let task = looplet::task::Builder::new().name("adder").spawn(async { 2 + 2 });
    ///     assert_eq!(task.await, 4);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        match self.try_spawn_at(future, Location::caller()) {
            Ok(task) => task,
            Err(err) => panic!("looplet::task::Builder::spawn: {err}"),
        }
    }

    /// Spawns the task onto the loop running on this thread, or hands the future back.
    ///
    /// # Errors
    ///
    /// [`SpawnErrorKind::NoLoop`] if no looplet loop is running on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::task::Builder;
    ///
    /// assert!(Builder::new().name("nowhere").try_spawn(async {}).is_err());
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(self, future: F) -> Result<Task<F::Output>, SpawnError<F>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.try_spawn_at(future, Location::caller())
    }

    fn try_spawn_at<F>(self, future: F, location: Origin) -> Result<Task<F::Output>, SpawnError<F>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        with_current(|local| match local {
            Some(local) => Ok(local.spawn_with(future, location, true, self.name)),
            None => Err(SpawnError::new(SpawnErrorKind::NoLoop, future)),
        })
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder").field("name", &self.name).finish()
    }
}
