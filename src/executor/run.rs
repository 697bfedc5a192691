//! The run loop, shared by `block_on` and `try_tick`, and the loop's thread-local state.
//!
//! The loop pops jobs from the front of its run queue and runs them; when the queue is empty
//! it looks outside ([`Local::turn`]): it takes in cross-thread wakes, fires due timers, and
//! sleeps in the reactor until an event, a timer deadline or a notification. It also looks
//! outside, without sleeping, every [`EVENT_INTERVAL`] jobs, so a queue that never empties
//! cannot starve timers, IO or other threads.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::builder::Options;
use super::debug::{Info, run_observed};
use super::metrics::Counters;
use super::parked::{Entry, Tracked};
use super::wake::{Runnable, Shared};
use crate::context::Enter;
use crate::reactor::Reactor;
use crate::slab::{Key, Slab};
use crate::task::{Origin, Task, TaskId};
use crate::time::Timers;

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

/// One entry of the run queue.
pub(super) enum Job {
    /// A task to poll.
    Task(Runnable),
    /// The `block_on` future, which waits its turn in the queue like a task.
    Main,
}

/// The loop's thread-local state.
pub(crate) struct Local {
    /// Jobs ready to run, in the order they were woken.
    pub(super) queue: RefCell<VecDeque<Job>>,
    /// Whether a [`Job::Main`] is in the queue (the `block_on` future is never queued twice).
    main_queued: Cell<bool>,
    pub(crate) shared: Arc<Shared>,
    /// Every task whose future is alive and has returned `Pending` at least once (and every
    /// named task from its spawn): its waker, so that dropping the
    /// executor can reach them all, and what the task dump shows of it.
    pub(super) parked: RefCell<Slab<Entry>>,
    /// The registry keys of the tasks that carry an [`Info`], by id: how the debug option's
    /// run loop finds the record of the task it is about to poll.
    pub(super) observed: RefCell<HashMap<TaskId, Key>>,
    /// Whether `block_on` or `try_tick` is running this loop right now.
    running: Cell<bool>,
    /// Jobs run since the loop last looked outside its run queue (see [`EVENT_INTERVAL`]).
    jobs: Cell<u32>,
    pub(crate) reactor: Rc<Reactor>,
    pub(crate) timers: Rc<Timers>,
    /// The options the executor was built with.
    pub(super) options: Options,
    /// The metrics' counters.
    pub(crate) counters: Counters,
    /// This loop, for the tasks that register with it as they are spawned.
    me: Weak<Local>,
}

impl Local {
    /// A loop with nothing in it yet; `me` is the `Rc` it will live in.
    pub(super) fn new(
        shared: Arc<Shared>,
        reactor: Reactor,
        options: Options,
        me: Weak<Local>,
    ) -> Local {
        Local {
            queue: RefCell::new(VecDeque::new()),
            main_queued: Cell::new(false),
            shared,
            parked: RefCell::new(Slab::new()),
            observed: RefCell::new(HashMap::new()),
            running: Cell::new(false),
            jobs: Cell::new(0),
            reactor: Rc::new(reactor),
            timers: Rc::new(Timers::new()),
            options,
            counters: Counters::new(),
            me,
        }
    }

    /// Pushes a task woken on the loop's thread to the back of the run queue.
    #[inline]
    pub(super) fn push(&self, job: Job) {
        self.counters
            .local_wakes
            .set(self.counters.local_wakes.get() + 1);
        self.queue.borrow_mut().push_back(job);
    }

    /// Whether `block_on` or `try_tick` runs this loop now.
    #[inline]
    pub(crate) fn is_running(&self) -> bool {
        self.running.get()
    }

    /// Marks the loop running; returns whether it already was.
    #[inline]
    pub(crate) fn start_running(&self) -> bool {
        self.running.replace(true)
    }

    #[inline]
    pub(crate) fn stop_running(&self) {
        self.running.set(false);
    }

    /// Records a task that has just parked; the key removes it. Under the debug option the
    /// entry gets a record, so that the run loop counts and times the task's polls.
    #[inline]
    pub(super) fn park_waker(&self, waker: &Waker, location: Origin) -> Key {
        let info = self.options.debug.then(|| Rc::new(Info::new(None)));
        let observed = info.is_some();
        let key = self.parked.borrow_mut().insert(Entry {
            waker: waker.clone(),
            location,
            info,
        });
        if observed {
            self.observed.borrow_mut().insert(TaskId::of(waker), key);
        }
        key
    }

    /// Forgets a registered task (its future is being dropped).
    #[inline]
    pub(super) fn unpark(&self, key: Key) -> Option<Entry> {
        let entry = self.parked.borrow_mut().remove(key)?;
        if entry.info.is_some() {
            self.observed.borrow_mut().remove(&TaskId::of(&entry.waker));
        }
        Some(entry)
    }

    /// Clones of the wakers of every registered task.
    pub(super) fn parked_wakers(&self) -> Vec<Waker> {
        self.parked
            .borrow()
            .iter()
            .map(|(_, entry)| entry.waker.clone())
            .collect()
    }

    /// Spawns `future`, made at `location`.
    ///
    /// Even under the debug option a plain task registers only when it first parks (with a
    /// record then, see [`Local::park_waker`]): a test of the option here, at every spawn,
    /// measured 12 instructions out of ~740, for the compiler's sake rather than the test's.
    #[inline]
    pub(super) fn spawn<F>(&self, future: F, location: Origin) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn_with(future, location, false, None)
    }

    /// Spawns `future`, made at `location`. With `observe`, the task carries an [`Info`]
    /// (`name`, its age, and under the debug option its polls) and is registered from its
    /// spawn, so that the task dump shows it before it has ever run: the debug option spawns
    /// A task [`Builder`](crate::task::Builder) spawns so.
    ///
    /// The branch touches only the registration, never the future: a plain spawn moves the
    /// future once, as it did before tasks were observed.
    #[inline]
    pub(crate) fn spawn_with<F>(
        &self,
        future: F,
        location: Origin,
        observe: bool,
        name: Option<Box<str>>,
    ) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.counters.spawned.set(self.counters.spawned.get() + 1);
        let registered = if observe {
            Some(self.register(location, name))
        } else {
            None
        };
        let key = registered.as_ref().map(|(_, key)| *key);
        let (runnable, task) = async_task::Builder::new()
            .metadata(self.shared.clone())
            .spawn_local(
                move |_| Tracked::new(future, location, registered),
                Shared::schedule,
            );
        if let Some(key) = key {
            self.registered(key, &runnable);
        }
        self.queue.borrow_mut().push_back(Job::Task(runnable));
        Task::new(task)
    }

    /// Registers a task about to be spawned; [`Local::registered`] completes the entry.
    #[cold]
    #[inline(never)]
    fn register(&self, location: Origin, name: Option<Box<str>>) -> (Rc<Local>, Key) {
        let local = self.me.upgrade().expect("a loop that spawns is alive");
        let key = self.parked.borrow_mut().insert(Entry {
            waker: Waker::noop().clone(),
            location,
            info: Some(Rc::new(Info::new(name))),
        });
        (local, key)
    }

    /// Gives the entry of a task registered at its spawn the task's waker.
    #[cold]
    #[inline(never)]
    fn registered(&self, key: Key, runnable: &Runnable) {
        let waker = runnable.waker();
        self.observed.borrow_mut().insert(TaskId::of(&waker), key);
        if let Some(entry) = self.parked.borrow_mut().get_mut(key) {
            entry.waker = waker;
        }
    }

    /// Queues the `block_on` future for a poll, unless it is queued already.
    #[inline]
    pub(super) fn schedule_main(&self) {
        if !self.main_queued.replace(true) {
            self.queue.borrow_mut().push_back(Job::Main);
        }
    }

    /// Moves wakes that arrived from other threads to the back of the run queue.
    pub(super) fn drain_remote(&self) {
        if self.shared.main_woken.load(Ordering::Relaxed)
            && self.shared.main_woken.swap(false, Ordering::Acquire)
        {
            self.schedule_main();
        }
        if self.shared.remote.is_empty() {
            return;
        }
        let mut queue = self.queue.borrow_mut();
        let before = queue.len();
        while let Ok(runnable) = self.shared.remote.pop() {
            queue.push_back(Job::Task(runnable));
        }
        let wakes = &self.counters.remote_wakes;
        wakes.set(wakes.get() + (queue.len() - before) as u64);
    }

    /// Looks outside the run queue: cross-thread wakes, timers, IO.
    ///
    /// With `may_sleep`, and nothing to run, it sleeps in the poller until an IO event, the
    /// next timer deadline or a notification from another thread.
    fn turn(&self, may_sleep: bool) {
        self.drain_remote();
        let deadline = self.timers.fire_due();
        if may_sleep && self.queue.borrow().is_empty() {
            if self.timers.clock.is_paused() {
                self.idle_paused();
            } else {
                self.park(deadline, true);
            }
        } else if self.reactor.has_sources() {
            self.park(None, false);
        }
    }

    /// Nothing to run, and the clock is paused: virtual time's auto-advance.
    ///
    /// What has already arrived comes first: the reactor is polled without waiting. If that
    /// brought nothing and no work the loop knows of is on its way back ([`Hold`]), the clock
    /// jumps to the next timer, which fires; otherwise the loop waits for that work (or for
    /// any event) in real time, with the clock standing still, and looks again.
    ///
    /// [`Hold`]: super::wake::Hold
    fn idle_paused(&self) {
        self.park(None, false);
        if !self.queue.borrow().is_empty() {
            return;
        }
        if !self.shared.has_outstanding() && self.timers.jump() {
            self.timers.fire_due();
            // A jump to a bound that a cancelled timer left fires nothing: the loop comes
            // straight back here and jumps on.
            return;
        }
        self.park(None, true);
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
    ///
    /// The deadline is on the loop's clock; the poller gets the real instant it stands for.
    fn park(&self, deadline: Option<Instant>, block: bool) {
        #[cfg(feature = "tracing")]
        let _span = tracing::trace_span!("looplet::wait", block).entered();
        let deadline = deadline.and_then(|d| self.timers.clock.to_real(d));
        let asleep = (block && self.options.debug).then(Instant::now);
        if block {
            self.counters.waits.set(self.counters.waits.get() + 1);
        }
        if let Err(err) = self.reactor.wait(&self.shared.notifier, deadline, block) {
            // EINTR is retried; anything else means the epoll instance is unusable and the
            // loop cannot make progress.
            panic!("looplet: waiting on the poller failed: {err}");
        }
        if let Some(since) = asleep {
            self.counters.add_asleep(since.elapsed());
        }
        self.drain_remote();
        self.timers.fire_due();
    }
}

/// Runs `local` on this thread until `future` completes (`Executor::block_on`).
#[track_caller]
pub(super) fn block_on<F: Future>(local: &Rc<Local>, future: F) -> F::Output {
    let _enter = Enter::block_on(local);
    let local = &**local;
    // With the debug option each task poll is counted and timed ([`run_observed`]); without
    // it, that costs a test of this register per job.
    let debug = local.options.debug;
    let _running = debug.then(|| Running::new(local));
    let waker = Waker::from(local.shared.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    local.schedule_main();
    // The loop's job count, kept in a register here and handed back on return (nothing
    // else can run this loop meanwhile: it is running). The metrics' poll count is brought
    // up to date each time it is reset, so it costs nothing per job.
    let mut jobs = local.jobs.get();
    // Of `jobs`, those already in the metrics' count (run by an earlier call).
    let mut counted = jobs;
    loop {
        let job = local.queue.borrow_mut().pop_front();
        match job {
            Some(Job::Task(runnable)) => {
                if debug {
                    run_observed(local, runnable);
                } else {
                    runnable.run();
                }
            }
            Some(Job::Main) => {
                local.main_queued.set(false);
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    local.jobs.set(jobs);
                    local.counters.count_polls(jobs + 1 - counted);
                    return output;
                }
            }
            None => {
                local.counters.count_polls(jobs - counted);
                (jobs, counted) = (0, 0);
                local.turn(true);
                continue;
            }
        }
        jobs += 1;
        if jobs == EVENT_INTERVAL {
            local.counters.count_polls(jobs - counted);
            (jobs, counted) = (0, 0);
            local.turn(false);
        }
    }
}

/// With the debug option, adds the time a `block_on` ran to the loop's metrics.
struct Running<'a> {
    local: &'a Local,
    since: Instant,
}

impl<'a> Running<'a> {
    fn new(local: &'a Local) -> Running<'a> {
        Running {
            local,
            since: Instant::now(),
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.local.counters.add_running(self.since.elapsed());
    }
}

/// Runs one job of `local`, if there is one (`Executor::try_tick`).
#[track_caller]
pub(super) fn try_tick(local: &Rc<Local>) -> bool {
    let _enter = Enter::run(local);
    let local = &**local;
    if local.queue.borrow().is_empty() {
        local.jobs.set(0);
        local.turn(false);
    }
    loop {
        let job = local.queue.borrow_mut().pop_front();
        match job {
            Some(Job::Task(runnable)) => {
                if local.options.debug {
                    run_observed(local, runnable);
                } else {
                    runnable.run();
                }
                local.counters.count_polls(1);
                local.job_done();
                return true;
            }
            // Left behind by a `block_on` whose future was woken as it completed.
            Some(Job::Main) => local.main_queued.set(false),
            None => return false,
        }
    }
}
