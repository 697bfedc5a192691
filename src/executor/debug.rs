//! Seeing inside a loop: the task dump ([`all_tasks`](crate::all_tasks)), the records of named
//! and debug-mode tasks, and the slow-poll report.
//!
//! A user stuck in a hang prints the dump and sees who waits, and where each task was spawned.
//! Everything here is read when asked, from the parked-task registry, or recorded only for the
//! tasks that asked for it (a name from [`task::Builder`](crate::task::Builder)) or under the
//! executor's debug option: a task spawned plainly carries only its spawn location.

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::time::{Duration, Instant};

use super::run::{Job, Local};
use super::wake::Runnable;
use crate::task::TaskId;

/// What a named or debug-mode task records about itself.
pub(crate) struct Info {
    name: Option<Box<str>>,
    spawned: Instant,
    /// Counted by the debug option's run loop.
    polls: Cell<u64>,
    running: Cell<bool>,
}

impl Info {
    pub(super) fn new(name: Option<Box<str>>) -> Info {
        Info {
            name,
            spawned: Instant::now(),
            polls: Cell::new(0),
            running: Cell::new(false),
        }
    }
}

/// Runs a task's job under the debug option: counts the poll, times it, and reports it if it
/// took longer than the slow-poll threshold.
///
/// A task spawned plainly gets its record when it first parks, that is, during its first
/// poll: it is looked up again after the poll. One that finishes in its first poll never has
/// one, and a slow first poll of it is reported without its name or spawn line.
pub(super) fn run_observed(local: &Local, runnable: Runnable) {
    let id = TaskId::of(&runnable.waker());
    let record = |local: &Local| {
        let key = local.observed.borrow().get(&id).copied()?;
        let parked = local.parked.borrow();
        let entry = parked.get(key)?;
        Some((entry.info.clone()?, entry.location))
    };
    let before = record(local);
    if let Some((info, _)) = &before {
        info.running.set(true);
    }
    let started = Instant::now();
    runnable.run();
    let took = started.elapsed();
    let record = before.or_else(|| record(local));
    if let Some((info, _)) = &record {
        info.polls.set(info.polls.get() + 1);
        info.running.set(false);
    }
    let max = &local.counters.queue_max;
    max.set(max.get().max(local.queue.borrow().len()));
    if let Some(threshold) = local.options.slow_poll
        && took > threshold
    {
        let report = SlowPoll {
            id,
            name: record.as_ref().and_then(|(info, _)| info.name.as_deref()),
            location: record.as_ref().map(|&(_, location)| location),
            duration: took,
        };
        local.options.report_slow_poll(&report);
    }
}

impl fmt::Debug for Info {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Info")
            .field("name", &self.name)
            .field("polls", &self.polls.get())
            .finish_non_exhaustive()
    }
}

/// A task's poll that took longer than the executor's slow-poll threshold: what asyncio's
/// debug mode reports as "Executing <Task ...> took 0.250 seconds".
///
/// By default the loop prints it on stderr, in the form its [`Display`](fmt::Display) gives
/// (with the `tracing` feature and a subscriber set, it is a `WARN` event instead);
/// [`Builder::on_slow_poll`](crate::executor::Builder::on_slow_poll) hands it to a function of
/// yours instead.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// let reports = Rc::new(RefCell::new(Vec::new()));
/// let sink = reports.clone();
/// let ex = looplet::Executor::builder()
///     .slow_poll_threshold(Duration::from_millis(20))
///     .on_slow_poll(move |slow| sink.borrow_mut().push(slow.to_string()))
///     .build()?;
/// ex.block_on(async {
///     looplet::task::Builder::new()
///         .name("busy")
///         .spawn(async { std::thread::sleep(Duration::from_millis(30)) }) // blocks the loop
///         .await;
/// });
/// let reports = reports.borrow();
/// assert_eq!(reports.len(), 1);
/// assert!(reports[0].starts_with("looplet: executing <Task name='busy' id="), "{}", reports[0]);
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct SlowPoll<'a> {
    /// The task.
    pub id: TaskId,
    /// Its name, if it was given one.
    pub name: Option<&'a str>,
    /// Where it was spawned; `None` for a task that finished in its first poll (it never
    /// registered: see [`Builder::debug`](crate::executor::Builder::debug)).
    pub location: Option<&'static std::panic::Location<'static>>,
    /// How long the poll took.
    pub duration: Duration,
}

impl fmt::Display for SlowPoll<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("looplet: executing <Task ")?;
        if let Some(name) = self.name {
            write!(f, "name='{name}' ")?;
        }
        write!(f, "id={} spawned at ", self.id)?;
        match self.location {
            Some(location) => write!(f, "{location}")?,
            None => f.write_str("?")?,
        }
        write!(f, "> took {:.3} seconds", self.duration.as_secs_f64())
    }
}

/// What a live task is doing, as [`all_tasks`](crate::all_tasks) sees it.
///
/// # Examples
///
/// ```
/// use looplet::task::TaskState;
///
/// looplet::block_on(async {
///     let sleeper = looplet::spawn(looplet::sleep(std::time::Duration::from_secs(60)));
///     looplet::yield_now().await; // it runs, and waits on its timer
///     let tasks = looplet::all_tasks();
///     assert_eq!(tasks[0].state, TaskState::Waiting);
///     drop(sleeper);
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskState {
    /// In the run queue: woken, and waiting for its turn.
    Queued,
    /// Being polled right now (known only under the debug option: otherwise a task that
    /// calls `all_tasks` shows itself as `Waiting`).
    Running,
    /// Waiting for a wake: on a timer, a socket, a channel, another task, ...
    Waiting,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Waiting => "waiting",
        })
    }
}

/// One live task in a [`Tasks`] list.
///
/// `age` is known for a task spawned with a name
/// ([`task::Builder::name`](crate::task::Builder::name)) and, under the executor's debug
/// option, for every task (counted from its first park if it was spawned plainly); `polls`
/// under the debug option only. They are `None` otherwise, so that a plain task, and a poll,
/// cost nothing for them.
///
/// # Examples
///
/// ```
/// looplet::block_on(async {
///     let worker = looplet::task::Builder::new()
///         .name("worker")
///         .spawn(std::future::pending::<()>());
///     let tasks = looplet::all_tasks();
///     let info = &tasks[0];
///     assert_eq!(info.name.as_deref(), Some("worker"));
///     assert_eq!(info.location.file(), file!());
///     assert!(info.age.is_some());
///     assert_eq!(info.polls, None, "counted under the debug option only");
///     drop(worker);
/// });
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// Its name, if it was given one.
    pub name: Option<String>,
    /// The line that spawned it.
    pub location: &'static std::panic::Location<'static>,
    /// Queued, running or waiting.
    pub state: TaskState,
    /// How many times it was polled (debug option only).
    pub polls: Option<u64>,
    /// How long ago it was spawned (named and debug-mode tasks).
    pub age: Option<Duration>,
}

/// The live tasks of a loop: [`looplet::all_tasks`](crate::all_tasks) and
/// [`Executor::all_tasks`](crate::Executor::all_tasks).
///
/// It derefs to a slice of [`TaskInfo`], and displays as a table, one task a line, for a
/// program stuck in a hang to print. Listed are the tasks that have parked (returned
/// `Pending`) and are still alive, plus, from their spawn, the named ones; tasks spawned
/// plainly that have not run yet are only counted ([`Tasks::unpolled`]): what they will wait
/// on is not known yet either.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// looplet::block_on(async {
///     let a = looplet::task::Builder::new().name("conn 42").spawn(looplet::sleep(Duration::from_secs(9)));
///     looplet::yield_now().await;
///     let table = looplet::all_tasks().to_string();
///     assert!(table.contains("conn 42"), "{table}");
///     assert!(table.contains("waiting"), "{table}");
///     drop(a);
/// });
/// ```
#[derive(Clone, Debug)]
pub struct Tasks {
    tasks: Vec<TaskInfo>,
    unpolled: usize,
}

impl Tasks {
    /// How many tasks, spawned without a name, are queued and have not been polled yet (they
    /// are not in the list).
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let task = looplet::spawn(async {});
    ///     assert_eq!(looplet::all_tasks().unpolled(), 1);
    ///     task.await;
    ///     assert_eq!(looplet::all_tasks().unpolled(), 0);
    /// });
    /// ```
    pub fn unpolled(&self) -> usize {
        self.unpolled
    }
}

impl Deref for Tasks {
    type Target = [TaskInfo];

    fn deref(&self) -> &[TaskInfo] {
        &self.tasks
    }
}

impl IntoIterator for Tasks {
    type Item = TaskInfo;
    type IntoIter = std::vec::IntoIter<TaskInfo>;

    fn into_iter(self) -> Self::IntoIter {
        self.tasks.into_iter()
    }
}

impl fmt::Display for Tasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |state| self.tasks.iter().filter(|t| t.state == state).count();
        writeln!(
            f,
            "looplet: {} tasks ({} queued, {} running, {} waiting), {} queued not yet polled",
            self.tasks.len() + self.unpolled,
            count(TaskState::Queued),
            count(TaskState::Running),
            count(TaskState::Waiting),
            self.unpolled
        )?;
        let name_width = self
            .tasks
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.chars().count()))
            .max()
            .unwrap_or(0)
            .max(4);
        writeln!(
            f,
            "{:<18} {:<8} {:>7} {:>10}  {:<name_width$}  spawned at",
            "id", "state", "polls", "age", "name"
        )?;
        for task in &self.tasks {
            let polls = task.polls.map_or_else(|| "-".to_owned(), |p| p.to_string());
            let age = task
                .age
                .map_or_else(|| "-".to_owned(), |a| format!("{:.3}s", a.as_secs_f64()));
            writeln!(
                f,
                "{:<18} {:<8} {:>7} {:>10}  {:<name_width$}  {}",
                task.id.to_string(),
                task.state,
                polls,
                age,
                task.name.as_deref().unwrap_or("-"),
                task.location
            )?;
        }
        Ok(())
    }
}

/// The live tasks of `local`.
pub(super) fn all_tasks(local: &Local) -> Tasks {
    // Move wakes from other threads in first, so that those tasks show as queued.
    local.drain_remote();
    let queued: HashSet<TaskId> = local
        .queue
        .borrow()
        .iter()
        .filter_map(|job| match job {
            Job::Task(runnable) => Some(TaskId::of(&runnable.waker())),
            Job::Main => None,
        })
        .collect();
    let debug = local.options.debug;
    let parked = local.parked.borrow();
    let mut listed = 0;
    let tasks = parked
        .iter()
        .map(|(_, entry)| {
            let id = TaskId::of(&entry.waker);
            let info = entry.info.as_deref();
            let in_queue = queued.contains(&id);
            listed += usize::from(in_queue);
            let state = if info.is_some_and(|i| i.running.get()) {
                TaskState::Running
            } else if in_queue {
                TaskState::Queued
            } else {
                TaskState::Waiting
            };
            TaskInfo {
                id,
                name: info.and_then(|i| i.name.as_deref().map(str::to_owned)),
                location: entry.location,
                state,
                polls: info.filter(|_| debug).map(|i| i.polls.get()),
                age: info.map(|i| i.spawned.elapsed()),
            }
        })
        .collect();
    Tasks {
        tasks,
        unpolled: queued.len() - listed,
    }
}

/// How many tasks of `local` are alive (registered, or queued before their first poll).
pub(super) fn alive(local: &Local) -> usize {
    let tasks = all_tasks(local);
    tasks.len() + tasks.unpolled()
}
