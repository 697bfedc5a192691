//! The loop's metrics: plain `Cell` counters, bumped where the loop already branches.
//!
//! Which counters cost what (measured with callgrind on the spawn, yield and timeout rows):
//!
//! | counter | where it is counted | always on? |
//! | --- | --- | --- |
//! | tasks spawned | one increment per spawn | yes |
//! | polls | added up each time the loop looks outside its run queue: nothing per job | yes |
//! | local wakes | one increment per wake on the loop's thread | yes |
//! | cross-thread wakes | once per batch moved from the remote queue | yes |
//! | IO events | once per event, in the reactor's wait | yes |
//! | waits | once per wait that may sleep | yes |
//! | timers started, fired | once per insert, once per firing pass | yes |
//! | tasks alive, run-queue depth, timers armed | read when asked | yes (free) |
//! | deepest run queue, time asleep, time running | clock readings around each wait and `block_on`, a depth check per poll | only with the debug option |

use std::cell::Cell;
use std::fmt;
use std::time::Duration;

/// The loop's counters (see the module docs for what each costs).
pub(crate) struct Counters {
    pub(crate) spawned: Cell<u64>,
    polls: Cell<u64>,
    pub(super) local_wakes: Cell<u64>,
    pub(super) remote_wakes: Cell<u64>,
    pub(super) waits: Cell<u64>,
    /// Debug only: the deepest run queue seen after a task's poll.
    pub(super) queue_max: Cell<usize>,
    /// Debug only.
    asleep: Cell<Duration>,
    /// Debug only.
    running: Cell<Duration>,
}

impl Counters {
    pub(super) fn new() -> Counters {
        Counters {
            spawned: Cell::new(0),
            polls: Cell::new(0),
            local_wakes: Cell::new(0),
            remote_wakes: Cell::new(0),
            waits: Cell::new(0),
            queue_max: Cell::new(0),
            asleep: Cell::new(Duration::ZERO),
            running: Cell::new(Duration::ZERO),
        }
    }

    /// Adds `n` jobs run (task polls and polls of the `block_on` future).
    #[inline]
    pub(super) fn count_polls(&self, n: u32) {
        self.polls.set(self.polls.get() + u64::from(n));
    }

    pub(super) fn add_asleep(&self, d: Duration) {
        self.asleep.set(self.asleep.get().saturating_add(d));
    }

    pub(super) fn add_running(&self, d: Duration) {
        self.running.set(self.running.get().saturating_add(d));
    }

    /// A snapshot; `alive`, `queued` and `timers_armed` are the caller's, read now.
    pub(super) fn snapshot(&self, now: Now, debug: bool) -> Metrics {
        Metrics {
            tasks_spawned: self.spawned.get(),
            tasks_alive: now.alive,
            polls: self.polls.get(),
            local_wakes: self.local_wakes.get(),
            remote_wakes: self.remote_wakes.get(),
            queue_depth: now.queued,
            queue_depth_max: debug.then(|| self.queue_max.get()),
            io_events: now.io_events,
            waits: self.waits.get(),
            time_asleep: debug.then(|| self.asleep.get()),
            time_busy: debug.then(|| self.running.get().saturating_sub(self.asleep.get())),
            timers_armed: now.timers_armed,
            timers_started: now.timers_started,
            timers_fired: now.timers_fired,
        }
    }
}

/// What the loop counts elsewhere, read for a snapshot.
pub(super) struct Now {
    pub(super) alive: usize,
    pub(super) queued: usize,
    pub(super) io_events: u64,
    pub(super) timers_armed: usize,
    pub(super) timers_started: u64,
    pub(super) timers_fired: u64,
}

/// A snapshot of a loop's counters: [`Executor::metrics`](crate::Executor::metrics) and
/// [`looplet::metrics`](crate::metrics).
///
/// Every count is since the executor was made. The counters that are always on cost an
/// increment where the loop already branches; those that need clock readings are `None`
/// unless the executor's debug option is on
/// ([`Builder::debug`](crate::executor::Builder::debug), or `LOOPLET_DEBUG=1`).
///
/// # Examples
///
/// ```
/// let ex = looplet::Executor::new();
/// ex.block_on(async {
///     looplet::spawn(async { 1 }).await;
/// });
/// let metrics = ex.metrics();
/// assert_eq!(metrics.tasks_spawned, 1);
/// assert_eq!(metrics.tasks_alive, 0);
/// assert_eq!(metrics.time_asleep, None, "needs the debug option");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Tasks spawned on the loop.
    pub tasks_spawned: u64,
    /// Tasks whose future is still alive: spawned, and not yet finished or dropped.
    pub tasks_alive: usize,
    /// Jobs run: task polls, and polls of the `block_on` future. Counted each time the loop
    /// looks outside its run queue (at least every 61 jobs) and when `block_on` returns, so
    /// read from inside the loop it may lag by up to 60.
    pub polls: u64,
    /// Wakes of tasks from the loop's own thread, straight onto the run queue.
    pub local_wakes: u64,
    /// Wakes of tasks that came from another thread (or from this one while the loop was not
    /// running), through the cross-thread queue.
    pub remote_wakes: u64,
    /// Jobs in the run queue now.
    pub queue_depth: usize,
    /// The deepest the run queue was after a task's poll (debug option only).
    pub queue_depth_max: Option<usize>,
    /// IO readiness events the reactor reported (sockets, pipes, child exits, signals).
    pub io_events: u64,
    /// Times the loop had nothing to run and waited in its poller (or jumped its paused
    /// clock: see [`time::pause`](crate::time::pause)).
    pub waits: u64,
    /// Time spent asleep in the poller (debug option only).
    pub time_asleep: Option<Duration>,
    /// Time spent inside `block_on` and not asleep (debug option only).
    pub time_busy: Option<Duration>,
    /// Timers armed now (sleeps, timeouts, timers and delayed calls in the wheel).
    pub timers_armed: usize,
    /// Timers put in the wheel. A timeout around a future that is ready at once never is.
    pub timers_started: u64,
    /// Timers that fired (the others were cancelled, or are still armed).
    pub timers_fired: u64,
}

impl fmt::Debug for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counters")
            .field("spawned", &self.spawned.get())
            .field("polls", &self.polls.get())
            .finish_non_exhaustive()
    }
}
