//! The event loop: [`Executor`] and its [`Builder`], [`Handle`], [`block_on`], [`spawn`], and
//! what a loop tells about itself ([`Metrics`], [`SlowPoll`] reports).
//!
//! One [`Executor`] owns a `Local` (run queue, parked-task registry, reactor, timers: all plain
//! `Cell`/`RefCell`, used only on its thread) and an `Arc<Shared>` (the queue that
//! other threads push wakes into, and the notifier that wakes the loop). The loop
//! that runs on this thread is found through the crate's `context` module.

mod builder;
pub(crate) mod debug;
mod metrics;
mod parked;
mod run;
mod wake;

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::rc::{Rc, Weak};

pub use builder::Builder;
pub use debug::SlowPoll;
use debug::Tasks;
pub use metrics::Metrics;
pub(crate) use run::Local;
pub(crate) use wake::{Hold, Shared};

use crate::context::{current_rc, with_current};
use crate::task::{Origin, SpawnError, SpawnErrorKind, Task};

/// A single-threaded event loop: asyncio's `loop`, gevent's hub.
///
/// It owns a run queue of tasks, a reactor (an epoll instance) and a timer
/// wheel. [`Executor::block_on`] runs the loop on the calling thread until a future completes,
/// like `loop.run_until_complete`; tasks that are still pending stay in the executor and run
/// again on its next `block_on`. Most programs only need [`looplet::block_on`](crate::block_on),
/// which makes a fresh executor, runs it, and drops it.
///
/// An `Executor` is `!Send` and `!Sync`: its tasks need not be `Send`, and share
/// `Rc<RefCell<..>>` state without locks.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::Executor>();
/// ```
///
/// ```compile_fail
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<looplet::Executor>();
/// ```
///
/// Dropping an executor drops every task it still holds, on this thread, whether it was
/// queued, parked on IO or a timer, or waiting for a waker held by another thread. A waker
/// that fires afterwards, from any thread, does nothing.
///
/// # Examples
///
/// ```
/// use looplet::Executor;
///
/// let ex = Executor::new();
/// let task = ex.spawn(async { 1 + 2 });
/// assert_eq!(ex.block_on(task), 3);
/// ```
pub struct Executor {
    local: Rc<Local>,
}

impl Executor {
    /// Creates an executor with its own epoll instance.
    ///
    /// # Panics
    ///
    /// If the poller cannot be created (for example the process is out of file descriptors).
    /// [`Executor::try_new`] returns the error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = looplet::Executor::new();
    /// assert_eq!(ex.block_on(async { 5 }), 5);
    /// ```
    #[track_caller]
    pub fn new() -> Executor {
        match Executor::try_new() {
            Ok(executor) => executor,
            Err(err) => {
                panic!("looplet: cannot create the loop's poller (epoll, eventfd, timerfd): {err}")
            }
        }
    }

    /// Creates an executor, or returns why its poller could not be created.
    ///
    /// # Errors
    ///
    /// The error from creating the epoll instance, its eventfd or its timerfd, such as
    /// `EMFILE` when the process is out of file descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = looplet::Executor::try_new()?;
    /// # let _ = ex;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_new() -> io::Result<Executor> {
        Builder::new().build()
    }

    /// A [`Builder`] for an executor with options: the debug option, slow-poll reports, a
    /// paused clock.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = looplet::Executor::builder().start_paused(true).build()?;
    /// # let _ = ex;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Spawns a task onto this executor; it runs when the executor runs.
    ///
    /// The future need not be `Send`. Returns a [`Task`] to await its output; dropping the
    /// `Task` cancels it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// let ex = looplet::Executor::new();
    /// let shared = Rc::new(5); // not Send, and that is fine
    /// let task = ex.spawn(async move { *shared * 2 });
    /// assert_eq!(ex.block_on(task), 10);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.local.spawn(future, Location::caller())
    }

    /// The executor's live tasks: what [`looplet::all_tasks`](crate::all_tasks) gives from
    /// inside the loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = looplet::Executor::new();
    /// let task = ex.spawn(std::future::pending::<()>());
    /// ex.try_tick(); // it runs, and waits forever
    /// let tasks = ex.all_tasks();
    /// assert_eq!(tasks.len(), 1);
    /// assert_eq!(tasks[0].state, looplet::task::TaskState::Waiting);
    /// drop(task);
    /// ```
    pub fn all_tasks(&self) -> Tasks {
        debug::all_tasks(&self.local)
    }

    /// Prints the executor's live tasks on stderr, as a table: id, state, polls, age, name and
    /// the line that spawned each. What a program stuck in a hang prints to see who waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = looplet::Executor::new();
    /// let task = ex.spawn(std::future::pending::<()>());
    /// ex.try_tick();
    /// ex.dump(); // looplet: 1 tasks (0 queued, 0 running, 1 waiting), ...
    /// drop(task);
    /// ```
    pub fn dump(&self) {
        eprint!("{}", self.all_tasks());
    }

    /// A snapshot of the executor's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = looplet::Executor::new();
    /// ex.block_on(async {
    ///     for _ in 0..3 {
    ///         looplet::spawn(looplet::yield_now()).await;
    ///     }
    /// });
    /// let metrics = ex.metrics();
    /// assert_eq!(metrics.tasks_spawned, 3);
    /// assert_eq!(metrics.tasks_alive, 0);
    /// ```
    pub fn metrics(&self) -> Metrics {
        metrics_of(&self.local)
    }

    /// A cheap, clonable handle that spawns onto this executor later.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = looplet::Executor::new();
    /// let handle = ex.handle();
    /// let task = handle.spawn(async { "spawned through a handle" });
    /// assert_eq!(ex.block_on(task), "spawned through a handle");
    /// ```
    pub fn handle(&self) -> Handle {
        Handle {
            local: Rc::downgrade(&self.local),
        }
    }

    /// Runs the loop on this thread until `future` completes, and returns its output:
    /// asyncio's `loop.run_until_complete`.
    ///
    /// While it runs, [`looplet::spawn`](crate::spawn), timers and sockets use this loop.
    /// Tasks still pending when `future` completes stay in the executor; they run again at the
    /// next `block_on`, and are dropped with the executor.
    ///
    /// # Panics
    ///
    /// If a loop (this one or another) is already running on this thread, that is, if called
    /// from inside a task or the `block_on` future of a running loop: asyncio and tokio refuse
    /// this too. Running a second loop there would stall every task of the first until it
    /// returned, and deadlock a first-loop task that the second waited for. The panic unwinds
    /// through the calling task like any panic; the thread can run a loop again afterwards. A
    /// panic in `future` itself propagates to the caller; panics in spawned tasks do not (see
    /// [`Task`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = looplet::Executor::new();
    /// let background = ex.spawn(async { 40 });
    /// // The loop outlives the call: the task runs during the first block_on ...
    /// ex.block_on(looplet::yield_now());
    /// // ... and its output is still there for the second.
    /// assert_eq!(ex.block_on(async { background.await + 2 }), 42);
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        run::block_on(&self.local, future)
    }

    /// Runs one scheduled task, if there is one; never waits.
    ///
    /// If the run queue is empty it first looks outside without waiting: wakes from other
    /// threads, due timers, and ready IO. Returns whether a task ran, so
    /// `while ex.try_tick() {}` runs everything that can run right now. Like `block_on`, it
    /// also looks outside every 61 jobs, counted across calls, so a loop driven only by
    /// `try_tick` whose queue never empties still fires its timers and sees its IO.
    ///
    /// # Panics
    ///
    /// If called from inside this executor's own `block_on` or `try_tick`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = looplet::Executor::new();
    /// let task = ex.spawn(async { 3 });
    /// assert!(ex.try_tick());
    /// assert!(task.is_finished());
    /// assert!(!ex.try_tick());
    /// ```
    #[track_caller]
    pub fn try_tick(&self) -> bool {
        run::try_tick(&self.local)
    }
}

impl Default for Executor {
    fn default() -> Executor {
        Executor::new()
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        parked::drop_all(&self.local);
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("queued", &self.local.queue.borrow().len())
            .field("parked", &self.local.parked.borrow().len())
            .field("running", &self.local.is_running())
            .field("timers", &self.local.timers.len())
            .field("options", &self.local.options)
            .finish()
    }
}

fn metrics_of(local: &Local) -> Metrics {
    let now = metrics::Now {
        alive: debug::alive(local),
        queued: local.queue.borrow().len(),
        io_events: local.reactor.events(),
        timers_armed: local.timers.len(),
        timers_started: local.timers.started(),
        timers_fired: local.timers.fired(),
    };
    local.counters.snapshot(now, local.options.debug)
}

/// The live tasks of the loop running on this thread: asyncio's `all_tasks()`.
///
/// Each [`TaskInfo`](crate::task::TaskInfo) has the task's id, name, the line that spawned it, whether it is queued,
/// running or waiting, and (for named tasks, and every task under the debug option) how often
/// it was polled and how old it is. The list [displays](Tasks) as a table: print it from a
/// watchdog task when the program seems stuck, and see who waits.
///
/// # Panics
///
/// If no looplet loop is running on this thread ([`Executor::all_tasks`] works from outside).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// looplet::block_on(async {
///     let worker = looplet::task::Builder::new()
///         .name("conn 42")
///         .spawn(looplet::sleep(Duration::from_secs(60)));
///     looplet::yield_now().await;
///     for task in looplet::all_tasks().iter() {
///         println!("{} {:?} spawned at {}", task.id, task.name, task.location);
///     }
///     print!("{}", looplet::all_tasks()); // the table
///     drop(worker);
/// });
/// ```
#[track_caller]
pub fn all_tasks() -> Tasks {
    with_current(|local| match local {
        Some(local) => debug::all_tasks(local),
        None => panic!(
            "looplet::all_tasks called with no looplet loop running on this thread; call it \
             from inside looplet::block_on, or use Executor::all_tasks"
        ),
    })
}

/// A snapshot of the counters of the loop running on this thread ([`Executor::metrics`]).
///
/// # Panics
///
/// If no looplet loop is running on this thread.
///
/// # Examples
///
/// ```
/// looplet::block_on(async {
///     looplet::spawn(async {}).await;
///     assert_eq!(looplet::metrics().tasks_spawned, 1);
/// });
/// ```
#[track_caller]
pub fn metrics() -> Metrics {
    with_current(|local| match local {
        Some(local) => metrics_of(local),
        None => panic!(
            "looplet::metrics called with no looplet loop running on this thread; call it \
             from inside looplet::block_on, or use Executor::metrics"
        ),
    })
}

/// A cheap, clonable handle to an [`Executor`], for library code that spawns later.
///
/// It does not keep the executor alive: once the executor is dropped, [`Handle::try_spawn`]
/// returns [`SpawnErrorKind::Closed`]. Like the executor, a handle stays on its thread.
///
/// # Examples
///
/// ```
/// struct Library {
///     handle: looplet::Handle,
/// }
///
/// impl Library {
///     fn start_job(&self) -> looplet::Task<u32> {
///         self.handle.spawn(async { 7 })
///     }
/// }
///
/// looplet::block_on(async {
///     let lib = Library { handle: looplet::Handle::current() };
///     assert_eq!(lib.start_job().await, 7);
/// });
/// ```
#[derive(Clone)]
pub struct Handle {
    local: Weak<Local>,
}

impl Handle {
    /// A handle to the loop running on this thread.
    ///
    /// # Panics
    ///
    /// If no looplet loop is running on this thread; [`Handle::try_current`] returns `None`
    /// instead.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let handle = looplet::Handle::current();
    ///     assert_eq!(handle.spawn(async { 1 }).await, 1);
    /// });
    /// ```
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Some(handle) => handle,
            None => panic!(
                "looplet: Handle::current() called with no loop running on this thread; call it \
                 from code running inside looplet::block_on"
            ),
        }
    }

    /// A handle to the loop running on this thread, or `None` if there is none.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(looplet::Handle::try_current().is_none());
    /// looplet::block_on(async {
    ///     assert!(looplet::Handle::try_current().is_some());
    /// });
    /// ```
    pub fn try_current() -> Option<Handle> {
        current_rc().map(|local| Handle {
            local: Rc::downgrade(&local),
        })
    }

    /// Spawns a task onto the handle's executor.
    ///
    /// # Panics
    ///
    /// If the executor has been dropped; [`Handle::try_spawn`] returns an error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = looplet::Executor::new();
    /// let handle = ex.handle();
    /// assert_eq!(ex.block_on(handle.spawn(async { 2 })), 2);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        match self.try_spawn_at(future, Location::caller()) {
            Ok(task) => task,
            Err(err) => panic!("looplet: Handle::spawn failed: {err}"),
        }
    }

    /// Spawns a task onto the handle's executor, or hands the future back if it is gone.
    ///
    /// # Errors
    ///
    /// [`SpawnErrorKind::Closed`] if the executor has been dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = looplet::Executor::new();
    /// let handle = ex.handle();
    /// drop(ex);
    /// let err = handle.try_spawn(async { 1 }).unwrap_err();
    /// assert_eq!(err.kind(), looplet::SpawnErrorKind::Closed);
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, future: F) -> Result<Task<F::Output>, SpawnError<F>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.try_spawn_at(future, Location::caller())
    }

    fn try_spawn_at<F>(&self, future: F, location: Origin) -> Result<Task<F::Output>, SpawnError<F>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        match self.local.upgrade() {
            Some(local) => Ok(local.spawn(future, location)),
            None => Err(SpawnError::new(SpawnErrorKind::Closed, future)),
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("alive", &(self.local.strong_count() > 0))
            .finish()
    }
}

/// Runs a future to completion on a fresh loop on this thread: asyncio's `asyncio.run`.
///
/// The loop is made, runs until `future` completes, and is dropped with every task still
/// pending in it. Inside, [`spawn`] (and the loop's timers and sockets) use this loop.
///
/// # Panics
///
/// If the loop's poller cannot be created (out of file descriptors), if a loop is already
/// running on this thread (see [`Executor::block_on`]), and if `future` panics.
///
/// # Examples
///
/// ```
/// let answer = looplet::block_on(async {
///     let a = looplet::spawn(async { 40 });
///     let b = looplet::spawn(async { 2 });
///     a.await + b.await
/// });
/// assert_eq!(answer, 42);
/// ```
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    Executor::new().block_on(future)
}

/// Spawns a task onto the loop running on this thread: gevent's `spawn`, asyncio's
/// `create_task`.
///
/// Works from any code that runs on the loop (a task, the `block_on` future, a callback),
/// however deeply nested, with no handle passed around. The future need not be `Send`.
///
/// # Panics
///
/// If no looplet loop is running on this thread. [`try_spawn`] returns an error instead.
///
/// # Examples
///
/// ```
/// async fn library_code() -> u32 {
///     // No executor handle needed: the running loop is found on the thread.
///     looplet::spawn(async { 21 }).await * 2
/// }
///
/// assert_eq!(looplet::block_on(library_code()), 42);
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    match try_spawn_at(future, Location::caller()) {
        Ok(task) => task,
        Err(err) => panic!("looplet::spawn: {err}"),
    }
}

/// Spawns a task onto the loop running on this thread, or hands the future back.
///
/// # Errors
///
/// [`SpawnErrorKind::NoLoop`] if no looplet loop is running on this thread.
///
/// # Examples
///
/// ```
/// assert!(looplet::try_spawn(async {}).is_err());
/// looplet::block_on(async {
///     let task = looplet::try_spawn(async { 1 }).expect("inside the loop");
///     assert_eq!(task.await, 1);
/// });
/// ```
#[track_caller]
pub fn try_spawn<F>(future: F) -> Result<Task<F::Output>, SpawnError<F>>
where
    F: Future + 'static,
    F::Output: 'static,
{
    try_spawn_at(future, Location::caller())
}

#[inline]
fn try_spawn_at<F>(future: F, location: Origin) -> Result<Task<F::Output>, SpawnError<F>>
where
    F: Future + 'static,
    F::Output: 'static,
{
    with_current(|local| match local {
        Some(local) => Ok(local.spawn(future, location)),
        None => Err(SpawnError::new(SpawnErrorKind::NoLoop, future)),
    })
}
