//! The loop: run queue, spawn, block_on, tick; the thread's current executor.
//!
//! One [`Executor`] owns a [`Local`] (run queue, parked-task registry, reactor, timers: all
//! plain `Cell`/`RefCell`, used only on its thread) and an `Arc<Shared>` (the queue that other
//! threads push wakes into, and the poller they notify). The thread-local `CURRENT` names the
//! loop that is running on this thread, so that `spawn`, `sleep` and the sockets find it
//! without a handle being passed around.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::ptr;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use concurrent_queue::ConcurrentQueue;
use pin_project_lite::pin_project;

use crate::reactor::Reactor;
use crate::slab::{Key, Slab};
use crate::sys::Notifier;
use crate::task::{Outcome, SpawnError, SpawnErrorKind, Task};
use crate::time::Timers;
use crate::unwind::{catch, run_guarded};

/// How many jobs (task polls, or polls of the `block_on` future) the loop runs before it looks
/// outside the run queue again.
///
/// Each look moves wakes that other threads queued into the run queue, fires due timers and,
/// if any task waits on IO, polls the reactor with a zero timeout. So a run queue that never
/// empties (tasks that keep waking each other, or `yield_now` in a loop) delays IO, timers and
/// cross-thread wakes by at most this many polls. Smaller costs more housekeeping per task;
/// 61 is tokio's `event_interval` and measures well here. The count is the loop's, not the
/// call's: `block_on` and `try_tick` share it, so a loop driven by `try_tick` alone looks
/// outside just as often.
const EVENT_INTERVAL: u32 = 61;

thread_local! {
    /// The loop running on this thread, or null.
    ///
    /// # Invariant
    ///
    /// Non-null only while an [`Enter`] guard is alive; it then points into the `Rc<Local>`
    /// that the guard borrows, so the `Local` outlives every dereference made while it is set.
    static CURRENT: Cell<*const Local> = const { Cell::new(ptr::null()) };
}

/// Runs `f` with the loop running on this thread, if there is one.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Local>) -> R) -> R {
    let current = CURRENT.with(Cell::get);
    // SAFETY: a non-null CURRENT points to a live `Local` (see the invariant on CURRENT), and
    // the shared reference cannot outlive this call.
    f(unsafe { current.as_ref() })
}

/// The loop running on this thread, as an `Rc`.
pub(crate) fn current_rc() -> Option<Rc<Local>> {
    let current = CURRENT.with(Cell::get);
    if current.is_null() {
        return None;
    }
    // SAFETY: a non-null CURRENT was made by `Rc::as_ptr` on an `Rc<Local>` that is alive
    // while it is set (see the invariant on CURRENT); adding a strong count before `from_raw`
    // makes the new `Rc` an owner of its own.
    unsafe {
        Rc::increment_strong_count(current);
        Some(Rc::from_raw(current))
    }
}

/// A task's runnable: its metadata names the loop it belongs to.
pub(crate) type Runnable = async_task::Runnable<Arc<Shared>>;

/// The part of a loop that other threads touch: where their wakes go.
///
/// Every task's waker holds it, so it may outlive the loop: it holds no fd but the eventfd
/// that wakes the loop (the epoll instance belongs to the loop's [`Reactor`]).
pub(crate) struct Shared {
    /// Runnables woken on another thread (or on this thread while the loop is not running).
    remote: ConcurrentQueue<Runnable>,
    /// Set when the `block_on` future's waker fires away from the running loop.
    main_woken: AtomicBool,
    /// Wakes the loop if it sleeps in its poller.
    notifier: Notifier,
}

impl Shared {
    /// async-task's schedule function: where a woken task goes.
    ///
    /// A plain `fn` (the loop is found through the task's metadata), so that async-task need
    /// not hold a guard reference to the task, two atomic operations, around each call.
    fn schedule(runnable: Runnable) {
        let runnable = with_current(|local| match local {
            Some(local) if ptr::eq(Arc::as_ptr(&local.shared), &**runnable.metadata()) => {
                local.queue.borrow_mut().push_back(Job::Task(runnable));
                None
            }
            _ => Some(runnable),
        });
        let Some(runnable) = runnable else {
            return;
        };
        // Once pushed, the runnable can run to completion on the loop's thread and free the
        // task, metadata included, before `notify` below: keep the loop alive ourselves.
        let shared = runnable.metadata().clone();
        if let Err(err) = shared.remote.push(runnable) {
            // The queue is unbounded and never closed, so this cannot happen. If it did,
            // leaking is the only sound choice: the runnable may own a future that must not
            // be dropped on this thread.
            std::mem::forget(err.into_inner());
            return;
        }
        // Nothing useful to do if the eventfd write fails: the loop is then already awake.
        shared.notifier.notify();
    }
}

/// The waker of the `block_on` future.
impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let queued = with_current(|local| match local {
            Some(local) if ptr::eq(Arc::as_ptr(&local.shared), Arc::as_ptr(self)) => {
                local.schedule_main();
                true
            }
            _ => false,
        });
        if !queued {
            self.main_woken.store(true, Ordering::Release);
            self.notifier.notify();
        }
    }
}

/// One entry of the run queue.
enum Job {
    /// A task to poll.
    Task(Runnable),
    /// The `block_on` future, which waits its turn in the queue like a task.
    Main,
}

/// The loop's thread-local state.
pub(crate) struct Local {
    /// Jobs ready to run, in the order they were woken.
    queue: RefCell<VecDeque<Job>>,
    /// Whether a [`Job::Main`] is in the queue (the `block_on` future is never queued twice).
    main_queued: Cell<bool>,
    pub(crate) shared: Arc<Shared>,
    /// The waker of every task whose future is alive and has returned `Pending` at least once,
    /// so that dropping the executor can reach them all.
    parked: RefCell<Slab<Waker>>,
    /// Whether `block_on` or `try_tick` is running this loop right now.
    running: Cell<bool>,
    /// Jobs run since the loop last looked outside its run queue (see [`EVENT_INTERVAL`]).
    jobs: Cell<u32>,
    pub(crate) reactor: Reactor,
    pub(crate) timers: Timers,
}

impl Local {
    fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (runnable, task) = async_task::Builder::new()
            .metadata(self.shared.clone())
            .spawn_local(
                move |_| Tracked {
                    future: Some(future),
                    parked: None,
                },
                Shared::schedule,
            );
        self.queue.borrow_mut().push_back(Job::Task(runnable));
        Task::new(task)
    }

    /// Queues the `block_on` future for a poll, unless it is queued already.
    fn schedule_main(&self) {
        if !self.main_queued.replace(true) {
            self.queue.borrow_mut().push_back(Job::Main);
        }
    }

    /// Moves wakes that arrived from other threads to the back of the run queue.
    fn drain_remote(&self) {
        if self.shared.main_woken.load(Ordering::Relaxed)
            && self.shared.main_woken.swap(false, Ordering::Acquire)
        {
            self.schedule_main();
        }
        if self.shared.remote.is_empty() {
            return;
        }
        let mut queue = self.queue.borrow_mut();
        while let Ok(runnable) = self.shared.remote.pop() {
            queue.push_back(Job::Task(runnable));
        }
    }

    /// Looks outside the run queue: cross-thread wakes, timers, IO.
    ///
    /// With `may_sleep`, and nothing to run, it sleeps in the poller until an IO event, the
    /// next timer deadline or a notification from another thread.
    fn turn(&self, may_sleep: bool) {
        self.drain_remote();
        let deadline = self.timers.fire_due();
        if may_sleep && self.queue.borrow().is_empty() {
            self.park(deadline, true);
        } else if self.reactor.has_sources() {
            self.park(None, false);
        }
    }

    /// Counts a job run by `try_tick`; every [`EVENT_INTERVAL`] jobs, looks outside the run
    /// queue without sleeping. (`block_on` counts in the same `jobs`, kept in a local while it
    /// runs.)
    #[inline]
    fn job_done(&self) {
        let jobs = self.jobs.get() + 1;
        if jobs >= EVENT_INTERVAL {
            self.jobs.set(0);
            self.turn(false);
        } else {
            self.jobs.set(jobs);
        }
    }

    /// Waits in the reactor (until `deadline`, or not at all unless `block`), then takes in
    /// what arrived meanwhile: cross-thread wakes and due timers.
    fn park(&self, deadline: Option<Instant>, block: bool) {
        if let Err(err) = self.reactor.wait(&self.shared.notifier, deadline, block) {
            // EINTR is retried; anything else means the epoll instance is unusable and the
            // loop cannot make progress.
            panic!("looplet: waiting on the poller failed: {err}");
        }
        self.drain_remote();
        self.timers.fire_due();
    }
}

pin_project! {
    /// Every task's future, wrapped so that a task that parks is known to the executor, and so
    /// that no panic of the user's future escapes into the loop or into async-task (which
    /// aborts the process on a panic in a future's destructor or an output's).
    ///
    /// A task that completes on its first poll never touches the registry; one that returns
    /// `Pending` registers its waker once and removes it when its future is dropped.
    ///
    /// The user's future is dropped here, in place, never by async-task: on completion inside
    /// the poll (a panicking destructor then counts as the task's panic), and on cancellation
    /// (its `Task` dropped, or its executor) in `drop`, under a guard that reports the panic
    /// the way a detached task's is reported.
    struct Tracked<F> {
        #[pin]
        future: Option<F>,
        parked: Option<(Rc<Local>, Key)>,
    }

    impl<F> PinnedDrop for Tracked<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.future.is_some() {
                run_guarded(|| this.future.set(None));
            }
            if let Some((local, key)) = this.parked.take() {
                let waker = local.parked.borrow_mut().remove(key);
                drop(waker);
            }
        }
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = Outcome<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<F::Output>> {
        let this = self.project();
        let mut future = this.future;
        let polled = catch(|| {
            let poll = future
                .as_mut()
                .as_pin_mut()
                .expect("async-task never polls a finished task")
                .poll(cx);
            if poll.is_ready() {
                // Dropped in place, now: a panic in its destructor is the task's panic.
                future.set(None);
            }
            poll
        });
        let output = match polled {
            Ok(Poll::Pending) => {
                if this.parked.is_none()
                    && let Some(local) = current_rc()
                {
                    let key = local.parked.borrow_mut().insert(cx.waker().clone());
                    *this.parked = Some((local, key));
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => {
                // What is left of a future that panicked is dropped here; a second panic, in
                // its destructor, is reported and dropped: the first one is the task's.
                if future.is_some() {
                    run_guarded(|| future.set(None));
                }
                Err(payload)
            }
        };
        Poll::Ready(Outcome::new(output))
    }
}

/// Marks a loop as running on this thread for the guard's lifetime.
struct Enter<'a> {
    local: &'a Local,
    previous: *const Local,
    running: bool,
}

impl<'a> Enter<'a> {
    /// For `block_on`.
    ///
    /// # Panics
    ///
    /// If any loop is running on this thread (see [`Executor::block_on`]).
    #[track_caller]
    fn block_on(local: &'a Rc<Local>) -> Enter<'a> {
        if with_current(|current| current.is_some_and(|c| c.running.get())) {
            panic!(
                "looplet: block_on cannot be called from a running event loop (asyncio: \
                 'cannot be called from a running event loop'): it would stall every task of \
                 the loop already running on this thread until it returned. Inside a task, \
                 spawn the future with looplet::spawn and await its Task, or just await it"
            );
        }
        Enter::run(local)
    }

    /// For `block_on` and `try_tick`.
    ///
    /// # Panics
    ///
    /// If this loop is already running on this thread.
    #[track_caller]
    fn run(local: &'a Rc<Local>) -> Enter<'a> {
        if local.running.replace(true) {
            panic!(
                "looplet: block_on (or try_tick) called on a loop that is already running on \
                 this thread (asyncio: 'This event loop is already running'); waiting here \
                 would deadlock. Spawn the future with looplet::spawn and await its Task instead"
            );
        }
        Enter {
            local,
            previous: CURRENT.with(|c| c.replace(Rc::as_ptr(local))),
            running: true,
        }
    }

    /// For the executor's drop: wakes land in this loop's queue.
    fn drop_tasks(local: &'a Rc<Local>) -> Enter<'a> {
        Enter {
            local,
            previous: CURRENT.with(|c| c.replace(Rc::as_ptr(local))),
            running: false,
        }
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
        if self.running {
            self.local.running.set(false);
        }
    }
}

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
        let shared = Arc::new(Shared {
            remote: ConcurrentQueue::unbounded(),
            main_woken: AtomicBool::new(false),
            notifier: Notifier::new()?,
        });
        let reactor = Reactor::new(&shared.notifier)?;
        Ok(Executor {
            local: Rc::new(Local {
                queue: RefCell::new(VecDeque::new()),
                main_queued: Cell::new(false),
                shared,
                parked: RefCell::new(Slab::new()),
                running: Cell::new(false),
                jobs: Cell::new(0),
                reactor,
                timers: Timers::new(),
            }),
        })
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
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.local.spawn(future)
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
        let _enter = Enter::block_on(&self.local);
        let local = &*self.local;
        let waker = Waker::from(local.shared.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        local.schedule_main();
        // The loop's job count, kept in a register here and handed back on return (nothing
        // else can run this loop meanwhile: it is running).
        let mut jobs = local.jobs.get();
        loop {
            let job = local.queue.borrow_mut().pop_front();
            match job {
                Some(Job::Task(runnable)) => {
                    runnable.run();
                }
                Some(Job::Main) => {
                    local.main_queued.set(false);
                    if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                        local.jobs.set(jobs);
                        return output;
                    }
                }
                None => {
                    jobs = 0;
                    local.turn(true);
                    continue;
                }
            }
            jobs += 1;
            if jobs == EVENT_INTERVAL {
                jobs = 0;
                local.turn(false);
            }
        }
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
        let _enter = Enter::run(&self.local);
        let local = &*self.local;
        if local.queue.borrow().is_empty() {
            local.jobs.set(0);
            local.turn(false);
        }
        loop {
            let job = local.queue.borrow_mut().pop_front();
            match job {
                Some(Job::Task(runnable)) => {
                    runnable.run();
                    local.job_done();
                    return true;
                }
                // Left behind by a `block_on` whose future was woken as it completed.
                Some(Job::Main) => local.main_queued.set(false),
                None => return false,
            }
        }
    }
}

impl Default for Executor {
    fn default() -> Executor {
        Executor::new()
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        let local = &self.local;
        // Wakes from here on land in this loop's queue, which is drained below.
        let _enter = Enter::drop_tasks(local);
        // Schedule every parked task, so that each comes back as a runnable we can drop.
        let parked: Vec<Waker> = local
            .parked
            .borrow()
            .iter()
            .map(|(_, w)| w.clone())
            .collect();
        for waker in parked {
            waker.wake();
        }
        loop {
            let next = local.queue.borrow_mut().pop_front();
            if let Some(job) = next {
                // Dropping a runnable closes its task and drops its future, here.
                drop(job);
                continue;
            }
            if let Ok(runnable) = local.shared.remote.pop() {
                drop(runnable);
                continue;
            }
            // Delayed calls, and timers of futures kept outside any task. Dropping them (or
            // the futures above) runs user destructors, which may spawn tasks or start timers:
            // go round until nothing is left.
            if local.timers.len() > 0 {
                local.timers.clear();
                continue;
            }
            if local.parked.borrow().is_empty() {
                break;
            }
            // A parked task is still alive but in neither queue: another thread has just
            // marked it scheduled and is about to push it into the remote queue.
            std::thread::yield_now();
        }
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("queued", &self.local.queue.borrow().len())
            .field("parked", &self.local.parked.borrow().len())
            .field("running", &self.local.running.get())
            .field("timers", &self.local.timers.len())
            .finish()
    }
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
        match self.try_spawn(future) {
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
    pub fn try_spawn<F>(&self, future: F) -> Result<Task<F::Output>, SpawnError<F>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        match self.local.upgrade() {
            Some(local) => Ok(local.spawn(future)),
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
    match try_spawn(future) {
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
pub fn try_spawn<F>(future: F) -> Result<Task<F::Output>, SpawnError<F>>
where
    F: Future + 'static,
    F::Output: 'static,
{
    with_current(|local| match local {
        Some(local) => Ok(local.spawn(future)),
        None => Err(SpawnError::new(SpawnErrorKind::NoLoop, future)),
    })
}
