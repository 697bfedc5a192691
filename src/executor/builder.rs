//! The executor's builder, and the options it fixes for the executor's life.

use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::debug::SlowPoll;
use super::{Executor, Local, Shared};
use crate::reactor::Reactor;
use crate::sys::Notifier;

/// The slow-poll threshold of the debug option when none is set: asyncio's
/// `slow_callback_duration`.
const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(100);

/// The environment variable that turns the debug option on (`LOOPLET_DEBUG=1`), like
/// `PYTHONASYNCIODEBUG`.
const DEBUG_ENV: &str = "LOOPLET_DEBUG";

/// What a slow-poll report goes to.
type SlowPollHook = Box<dyn Fn(&SlowPoll<'_>)>;

/// The options of one executor, fixed when it is built.
pub(crate) struct Options {
    /// Record every task (polls, age), time its polls, and keep the
    /// metrics that need clock readings.
    pub(super) debug: bool,
    /// With `debug`: report polls longer than this.
    pub(super) slow_poll: Option<Duration>,
    on_slow_poll: Option<SlowPollHook>,
}

impl Options {
    /// Reports a slow poll: to the hook, or on stderr (through `tracing` with its feature,
    /// when a subscriber has been set: otherwise the report would go nowhere).
    pub(super) fn report_slow_poll(&self, report: &SlowPoll<'_>) {
        if let Some(hook) = &self.on_slow_poll {
            hook(report);
            return;
        }
        #[cfg(feature = "tracing")]
        if tracing::dispatcher::has_been_set() {
            tracing::warn!(
                task.id = %report.id,
                task.name = report.name,
                task.spawned_at = report.location.map(tracing::field::display),
                seconds = report.duration.as_secs_f64(),
                "{report}"
            );
            return;
        }
        eprintln!("{report}");
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("debug", &self.debug)
            .field("slow_poll", &self.slow_poll)
            .field("on_slow_poll", &self.on_slow_poll.is_some())
            .finish()
    }
}

/// Builds an [`Executor`] with options: [`Executor::builder`].
///
/// Every option is off by default and costs nothing then. They are:
///
/// - [`debug`](Builder::debug): asyncio's debug mode. Every task records its name, polls and
///   age (the task dump, [`all_tasks`](crate::all_tasks), then shows them), every poll is timed and one that takes longer than the slow-poll threshold
///   (100 ms unless set) is reported, and the metrics that need clock readings are kept.
///   Also on when the environment has `LOOPLET_DEBUG=1` (read once, as the executor is built).
/// - [`slow_poll_threshold`](Builder::slow_poll_threshold) and
///   [`on_slow_poll`](Builder::on_slow_poll): when a poll counts as slow, and where the report
///   goes (stderr by default).
/// - [`start_paused`](Builder::start_paused): the loop's clock starts paused (virtual time;
///   see [`time::pause`](crate::time::pause)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let ex = looplet::Executor::builder()
///     .debug(true)
///     .slow_poll_threshold(Duration::from_millis(50))
///     .start_paused(true)
///     .build()?;
/// ex.block_on(async {
///     let start = looplet::time::now();
///     looplet::sleep(Duration::from_secs(3600)).await; // virtual: takes no time
///     assert_eq!(looplet::time::now() - start, Duration::from_secs(3600));
/// });
/// # std::io::Result::Ok(())
/// ```
#[derive(Default)]
pub struct Builder {
    debug: Option<bool>,
    slow_poll_threshold: Option<Duration>,
    on_slow_poll: Option<SlowPollHook>,
    start_paused: bool,
}

impl Builder {
    /// A builder with every option off (the debug option then follows `LOOPLET_DEBUG`).
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = looplet::executor::Builder::new().build()?;
    /// assert_eq!(ex.block_on(async { 1 }), 1);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Turns the debug option on or off, whatever `LOOPLET_DEBUG` says.
    ///
    /// On, every task carries a record (how often it was polled, and since when it is known:
    /// its spawn for a named task, its first park for a plain one, which registers then as it
    /// always does, so that spawning costs the same with the option on or off), and
    /// [`all_tasks`](crate::all_tasks) lists polls and ages; every poll is timed, and one longer than the
    /// [slow-poll threshold](Builder::slow_poll_threshold) is reported; the metrics
    /// [`queue_depth_max`](crate::executor::Metrics::queue_depth_max),
    /// [`time_asleep`](crate::executor::Metrics::time_asleep) and
    /// [`time_busy`](crate::executor::Metrics::time_busy) are kept. That costs an allocation
    /// per spawn and two clock readings per poll: it is for finding problems, not for
    /// benchmarks. Off (the default), none of it runs.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = looplet::Executor::builder().debug(true).build()?;
    /// ex.block_on(async {
    ///     let task = looplet::spawn(std::future::pending::<()>());
    ///     looplet::yield_now().await; // it runs once, and parks
    ///     let tasks = looplet::all_tasks();
    ///     assert_eq!(tasks.len(), 1);
    ///     assert_eq!(tasks[0].polls, Some(1));
    ///     drop(task);
    /// });
    /// # std::io::Result::Ok(())
    /// ```
    pub fn debug(mut self, on: bool) -> Builder {
        self.debug = Some(on);
        self
    }

    /// Reports every poll that takes longer than `threshold` (100 ms unless set, like
    /// asyncio's `slow_callback_duration`), and turns the debug option on unless
    /// [`debug(false)`](Builder::debug) turned it off.
    ///
    /// The report names the task, the line that spawned it and how long the poll took; see
    /// [`SlowPoll`](crate::executor::SlowPoll). Only task polls are timed, not the `block_on`
    /// future's or `call_later` callbacks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let ex = looplet::Executor::builder()
    ///     .slow_poll_threshold(Duration::from_millis(10))
    ///     .on_slow_poll(|slow| assert!(slow.duration > Duration::from_millis(10)))
    ///     .build()?;
    /// ex.block_on(ex.spawn(async { std::thread::sleep(Duration::from_millis(15)) }));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Builder {
        self.slow_poll_threshold = Some(threshold);
        self
    }

    /// Sends slow-poll reports to `hook` instead of stderr (or `tracing`).
    ///
    /// The hook runs on the loop's thread right after the slow poll, before the next job.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    ///
    /// let slow = Rc::new(Cell::new(0));
    /// let count = slow.clone();
    /// let ex = looplet::Executor::builder()
    ///     .slow_poll_threshold(Duration::from_millis(10))
    ///     .on_slow_poll(move |_| count.set(count.get() + 1))
    ///     .build()?;
    /// ex.block_on(ex.spawn(async { std::thread::sleep(Duration::from_millis(15)) }));
    /// assert_eq!(slow.get(), 1);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn on_slow_poll(mut self, hook: impl Fn(&SlowPoll<'_>) + 'static) -> Builder {
        self.on_slow_poll = Some(Box::new(hook));
        self
    }

    /// Starts the loop's clock paused, as if [`time::pause`](crate::time::pause) were the
    /// first thing its first `block_on` did (the clock stands at the instant of `build`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let ex = looplet::Executor::builder().start_paused(true).build()?;
    /// let waited = ex.block_on(async {
    ///     let start = looplet::time::now();
    ///     looplet::sleep(Duration::from_secs(86_400)).await;
    ///     looplet::time::now() - start
    /// });
    /// assert_eq!(waited, Duration::from_secs(86_400));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn start_paused(mut self, paused: bool) -> Builder {
        self.start_paused = paused;
        self
    }

    /// Builds the executor.
    ///
    /// # Errors
    ///
    /// As [`Executor::try_new`]: creating the loop's poller failed (out of file descriptors).
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = looplet::Executor::builder().build()?;
    /// # let _ = ex;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn build(self) -> io::Result<Executor> {
        let debug = match self.debug {
            Some(on) => on,
            None => self.slow_poll_threshold.is_some() || debug_from_env(),
        };
        let options = Options {
            debug,
            slow_poll: debug.then(|| self.slow_poll_threshold.unwrap_or(DEFAULT_SLOW_POLL)),
            on_slow_poll: self.on_slow_poll,
        };
        let shared = Arc::new(Shared::new(Notifier::new()?));
        let reactor = Reactor::new(&shared.notifier)?;
        let local = Rc::new_cyclic(|me| Local::new(shared, reactor, options, me.clone()));
        if self.start_paused {
            local.timers.clock.pause();
        }
        Ok(Executor { local })
    }
}

/// Whether `LOOPLET_DEBUG` asks for the debug option: set, and neither empty nor `0`.
fn debug_from_env() -> bool {
    std::env::var_os(DEBUG_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("debug", &self.debug)
            .field("slow_poll_threshold", &self.slow_poll_threshold)
            .field("on_slow_poll", &self.on_slow_poll.is_some())
            .field("start_paused", &self.start_paused)
            .finish()
    }
}
