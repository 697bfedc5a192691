//! The run loop, shared by `block_on` and `try_tick`, and the loop's thread-local state.
//!
//! The loop pops jobs from the front of its run queue and runs them; when the queue is empty
//! it looks outside ([`Local::turn`]): it takes in cross-thread wakes, fires due timers, and
//! sleeps in the reactor until an event, a timer deadline or a notification. It also looks
//! outside, without sleeping, every [`EVENT_INTERVAL`] jobs, so a queue that never empties
//! cannot starve timers, IO or other threads.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::parked::Tracked;
use super::wake::{Runnable, Shared};
use crate::context::Enter;
use crate::reactor::Reactor;
use crate::slab::{Key, Slab};
use crate::task::Task;
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
    /// The waker of every task whose future is alive and has returned `Pending` at least once,
    /// so that dropping the executor can reach them all.
    pub(super) parked: RefCell<Slab<Waker>>,
    /// Whether `block_on` or `try_tick` is running this loop right now.
    running: Cell<bool>,
    /// Jobs run since the loop last looked outside its run queue (see [`EVENT_INTERVAL`]).
    jobs: Cell<u32>,
    pub(crate) reactor: Rc<Reactor>,
    pub(crate) timers: Rc<Timers>,
}

impl Local {
    /// A loop with nothing in it yet.
    pub(super) fn new(shared: Arc<Shared>, reactor: Reactor) -> Local {
        Local {
            queue: RefCell::new(VecDeque::new()),
            main_queued: Cell::new(false),
            shared,
            parked: RefCell::new(Slab::new()),
            running: Cell::new(false),
            jobs: Cell::new(0),
            reactor: Rc::new(reactor),
            timers: Rc::new(Timers::new()),
        }
    }

    /// Pushes a job to the back of the run queue.
    #[inline]
    pub(super) fn push(&self, job: Job) {
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

    /// Records the waker of a task that has just parked; the key removes it.
    #[inline]
    pub(super) fn park_waker(&self, waker: &Waker) -> Key {
        self.parked.borrow_mut().insert(waker.clone())
    }

    /// Forgets a parked task's waker (its future is being dropped).
    #[inline]
    pub(super) fn unpark(&self, key: Key) -> Option<Waker> {
        self.parked.borrow_mut().remove(key)
    }

    /// Clones of the wakers of every parked task.
    pub(super) fn parked_wakers(&self) -> Vec<Waker> {
        self.parked
            .borrow()
            .iter()
            .map(|(_, w)| w.clone())
            .collect()
    }

    pub(super) fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (runnable, task) = async_task::Builder::new()
            .metadata(self.shared.clone())
            .spawn_local(move |_| Tracked::new(future), Shared::schedule);
        self.queue.borrow_mut().push_back(Job::Task(runnable));
        Task::new(task)
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

/// Runs `local` on this thread until `future` completes (`Executor::block_on`).
#[track_caller]
pub(super) fn block_on<F: Future>(local: &Rc<Local>, future: F) -> F::Output {
    let _enter = Enter::block_on(local);
    let local = &**local;
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
