//! `Timer` (one-shot and interval, with instants) and asyncio's delayed calls.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use futures_core::{FusedFuture, FusedStream, Stream};

use super::timers::{Expiry, TimerRef};
use super::{Slot, When, now};
use crate::context::with_timers;

/// A timer that fires at an instant, once or periodically; async-io's `Timer`.
///
/// Awaiting a one-shot timer yields the [`Instant`] at which it completed (never earlier
/// than its deadline). An interval is a [`Stream`] of such instants, one per tick; awaiting
/// `&mut interval` also gives the next tick.
///
/// **The first tick comes one period after creation.** [`Timer::interval`] is due first at
/// `now + period`, then every `period` (async-io's rule). tokio's `interval` ticks at once
/// first; to get that, start the interval now: `Timer::interval_at(looplet::time::now(),
/// period)` (`time::now()` rather than `Instant::now()`, so that it also holds under virtual
/// time).
///
/// **Missed ticks are skipped** by default. An interval's ticks are due at `start`,
/// `start + period`, `start + 2 × period`, and so on. If the loop was busy and the next tick
/// was already due when a tick fired, the interval has *missed* ticks; what it does then is
/// its [`MissedTickBehavior`]: by default ([`Skip`](MissedTickBehavior::Skip)) its next tick is
/// the next one of that sequence still in the future, so it never fires a burst to catch up
/// and never drifts. [`Timer::set_missed_tick_behavior`] chooses
/// [`Burst`](MissedTickBehavior::Burst) or [`Delay`](MissedTickBehavior::Delay) instead.
///
/// [`sleep`](crate::sleep) is the cheaper way to wait for a duration: it reads no clock.
/// A `Timer` reads the loop's clock ([`time::now`](super::now)) when made from a duration, and
/// again when it fires.
///
/// A `Timer` is a [`FusedFuture`] and a [`FusedStream`]: a one-shot timer that has fired is
/// terminated, an interval never is.
///
/// # Panics
///
/// Polling panics with no loop running on this thread, or on another live loop than the one
/// that first polled it (the message names the line that made the timer).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use futures_util::StreamExt;
/// use looplet::time::Timer;
///
/// looplet::block_on(async {
///     let start = Instant::now();
///     let fired = Timer::after(Duration::from_millis(5)).await;
///     assert!(fired >= start + Duration::from_millis(5));
///
///     let ticks: Vec<Instant> = Timer::interval(Duration::from_millis(2)).take(3).collect().await;
///     assert_eq!(ticks.len(), 3);
///     assert!(ticks.windows(2).all(|w| w[1] > w[0]));
/// });
/// ```
pub struct Timer {
    /// The next deadline; `None` for a timer that never fires (or has fired, for a one-shot).
    deadline: Option<Instant>,
    period: Option<Duration>,
    missed: MissedTickBehavior,
    slot: Slot,
    /// When a one-shot timer completed.
    fired_at: Option<Instant>,
}

/// What an interval does when it has missed ticks: tokio's `MissedTickBehavior`.
///
/// An interval has missed ticks when, as one tick fires, the next one is already due: the loop
/// was busy (a task blocked it, or the interval's owner did not poll it for a while). Ticks
/// that come late but before the next is due are not missed, whatever the behaviour: the next
/// one stays on the schedule. Unlike tokio's, these rules apply however small the delay
/// (tokio ignores delays under 5 ms); under virtual time they are exact.
///
/// With a period of 10 and ticks due at 10, 20, 30, 40, ..., an interval that fires its tick
/// of 10 only at 35 then ticks at:
///
/// | behaviour | the ticks after the one of 10, fired at 35 |
/// | --- | --- |
/// | [`Skip`](MissedTickBehavior::Skip) (the default) | 40, 50, 60, ... |
/// | [`Burst`](MissedTickBehavior::Burst) | 35 (for 20), 35 (for 30), 40, 50, ... |
/// | [`Delay`](MissedTickBehavior::Delay) | 45, 55, 65, ... |
///
/// Each tick yields the instant at which it fired (never earlier than it was due); so burst
/// ticks yield the time of the catch-up, not the instant they were scheduled for.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures_util::StreamExt;
/// use looplet::time::{self, MissedTickBehavior, Timer};
///
/// looplet::block_on(async {
///     time::pause();
///     let start = time::now();
///     let ms = Duration::from_millis;
///     let mut ticks = Timer::interval(ms(10));
///     ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
///     time::advance(ms(35)).await; // the ticks of 10, 20 and 30 pass unseen
///     assert_eq!(ticks.next().await, Some(start + ms(35)));
///     assert_eq!(ticks.next().await, Some(start + ms(45))); // a period after, not 40
/// });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MissedTickBehavior {
    /// Fire every missed tick, as fast as the loop polls the interval, until caught up; the
    /// schedule stays `start + k × period`.
    Burst,
    /// Start the schedule over: the next tick is one period after the late one fired.
    Delay,
    /// Drop the missed ticks: the next tick is the first of `start + k × period` still in the
    /// future. The default, and async-io's rule.
    #[default]
    Skip,
}

impl MissedTickBehavior {
    /// The deadline after a tick due at `due` that fired at `now`.
    fn next(self, due: Instant, period: Duration, now: Instant) -> Option<Instant> {
        let next = due.checked_add(period)?;
        if next > now {
            return Some(next);
        }
        match self {
            MissedTickBehavior::Burst => Some(next),
            MissedTickBehavior::Delay => now.checked_add(period),
            MissedTickBehavior::Skip => next_tick(due, period, now),
        }
    }
}

impl Timer {
    /// A timer that fires once, `duration` from now.
    ///
    /// A duration too large for an [`Instant`] makes a timer that never fires.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// looplet::block_on(async {
    ///     looplet::time::Timer::after(Duration::from_millis(1)).await;
    /// });
    /// ```
    #[track_caller]
    pub fn after(duration: Duration) -> Timer {
        Timer::new(now().checked_add(duration), None)
    }

    /// A timer that fires once, at `deadline` (at once if it has passed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// looplet::block_on(async {
    ///     let at = Instant::now() + Duration::from_millis(2);
    ///     assert!(looplet::time::Timer::at(at).await >= at);
    /// });
    /// ```
    #[track_caller]
    pub fn at(deadline: Instant) -> Timer {
        Timer::new(Some(deadline), None)
    }

    /// A timer that fires every `period`, first one `period` from now.
    ///
    /// A period too large for an [`Instant`] (`Duration::MAX`) makes a timer that never fires.
    ///
    /// # Panics
    ///
    /// If `period` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures_util::StreamExt;
    ///
    /// looplet::block_on(async {
    ///     let mut every_ms = looplet::time::Timer::interval(Duration::from_millis(1));
    ///     every_ms.next().await;
    ///     every_ms.next().await;
    /// });
    /// ```
    #[track_caller]
    pub fn interval(period: Duration) -> Timer {
        Timer::interval_from(now().checked_add(period), period)
    }

    /// A timer that fires at `start` and then every `period`.
    ///
    /// # Panics
    ///
    /// If `period` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// looplet::block_on(async {
    ///     let mut timer = looplet::time::Timer::interval_at(Instant::now(), Duration::from_millis(3));
    ///     let first = (&mut timer).await; // due at once
    ///     let second = (&mut timer).await;
    ///     assert!(second >= first);
    /// });
    /// ```
    #[track_caller]
    pub fn interval_at(start: Instant, period: Duration) -> Timer {
        Timer::interval_from(Some(start), period)
    }

    #[track_caller]
    fn interval_from(start: Option<Instant>, period: Duration) -> Timer {
        if period.is_zero() {
            panic!("looplet::time::Timer: an interval's period must be non-zero");
        }
        Timer::new(start, Some(period))
    }

    #[track_caller]
    fn new(deadline: Option<Instant>, period: Option<Duration>) -> Timer {
        Timer {
            deadline,
            period,
            missed: MissedTickBehavior::Skip,
            slot: Slot::new(),
            fired_at: None,
        }
    }

    /// Chooses what an interval does when it has missed ticks (see [`MissedTickBehavior`]);
    /// [`Skip`](MissedTickBehavior::Skip) unless set. A one-shot timer has no ticks to miss.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures_util::StreamExt;
    /// use looplet::time::{self, MissedTickBehavior, Timer};
    ///
    /// looplet::block_on(async {
    ///     time::pause();
    ///     let start = time::now();
    ///     let ms = Duration::from_millis;
    ///     let mut ticks = Timer::interval(ms(10));
    ///     ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    ///     time::advance(ms(25)).await;
    ///     // The ticks of 10 and 20 come at once, then the schedule goes on.
    ///     assert_eq!(ticks.next().await, Some(start + ms(25)));
    ///     assert_eq!(ticks.next().await, Some(start + ms(25)));
    ///     assert_eq!(ticks.next().await, Some(start + ms(30)));
    /// });
    /// ```
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// What the interval does when it has missed ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use looplet::time::{MissedTickBehavior, Timer};
    ///
    /// let ticks = Timer::interval(Duration::from_secs(1));
    /// assert_eq!(ticks.missed_tick_behavior(), MissedTickBehavior::Skip);
    /// ```
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Re-arms the timer to fire once, `duration` from now (it stops being an interval).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use looplet::time::Timer;
    ///
    /// looplet::block_on(async {
    ///     let mut timer = Timer::after(Duration::from_secs(3600));
    ///     timer.set_after(Duration::from_millis(1));
    ///     let start = Instant::now();
    ///     (&mut timer).await;
    ///     assert!(start.elapsed() < Duration::from_secs(3600));
    /// });
    /// ```
    pub fn set_after(&mut self, duration: Duration) {
        self.rearm(now().checked_add(duration));
    }

    /// Re-arms the timer to fire once, at `deadline` (it stops being an interval).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use looplet::time::Timer;
    ///
    /// looplet::block_on(async {
    ///     let mut timer = Timer::after(Duration::from_millis(1));
    ///     (&mut timer).await;
    ///     let again = Instant::now() + Duration::from_millis(1);
    ///     timer.set_at(again);
    ///     assert!((&mut timer).await >= again);
    /// });
    /// ```
    pub fn set_at(&mut self, deadline: Instant) {
        self.rearm(Some(deadline));
    }

    fn rearm(&mut self, deadline: Option<Instant>) {
        self.slot.reset();
        self.deadline = deadline;
        self.period = None;
        self.fired_at = None;
    }

    /// Waits for the next firing; `None` once a one-shot timer has fired.
    fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        let Some(deadline) = self.deadline else {
            return match self.fired_at {
                Some(_) => Poll::Ready(None),
                None => Poll::Pending, // a timer that never fires
            };
        };
        ready!(self.slot.poll(When::At(deadline), cx));
        let now = now();
        self.slot.reset();
        match self.period {
            Some(period) => self.deadline = self.missed.next(deadline, period, now),
            None => {
                self.deadline = None;
                self.fired_at = Some(now);
            }
        }
        Poll::Ready(Some(now))
    }
}

/// The first tick of `deadline + k × period` (k ≥ 1) that is after `now`; `None` past the
/// range of `Instant`.
fn next_tick(deadline: Instant, period: Duration, now: Instant) -> Option<Instant> {
    let behind = now.saturating_duration_since(deadline).as_nanos();
    let periods = behind / period.as_nanos() + 1;
    let offset = period.as_nanos().checked_mul(periods)?;
    // Past 2^64 ns (584 years) a Duration still holds it: split into seconds and nanos.
    let secs = u64::try_from(offset / 1_000_000_000).ok()?;
    let offset = Duration::new(secs, (offset % 1_000_000_000) as u32);
    deadline.checked_add(offset)
}

impl Future for Timer {
    type Output = Instant;

    /// Completes at the next firing. A one-shot timer that has fired completes again at once
    /// with the same instant.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
        if let (None, Some(fired_at)) = (self.deadline, self.fired_at) {
            return Poll::Ready(fired_at);
        }
        match ready!(self.poll_tick(cx)) {
            Some(at) => Poll::Ready(at),
            None => Poll::Pending,
        }
    }
}

impl Stream for Timer {
    type Item = Instant;

    /// One item per firing: one for a one-shot timer, then `None`; forever for an interval.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.poll_tick(cx)
    }
}

impl FusedFuture for Timer {
    fn is_terminated(&self) -> bool {
        self.deadline.is_none() && self.fired_at.is_some()
    }
}

impl FusedStream for Timer {
    fn is_terminated(&self) -> bool {
        self.deadline.is_none() && self.fired_at.is_some()
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("deadline", &self.deadline)
            .field("period", &self.period)
            .field("missed", &self.missed)
            .finish()
    }
}

/// Calls `f` on the loop thread once `delay` has passed: asyncio's `loop.call_later`.
///
/// Returns a [`TimerHandle`] whose [`cancel`](TimerHandle::cancel) stops the call if it has
/// not happened yet. Dropping the handle does **not** cancel the call (as in asyncio).
/// The callback runs inside the loop, between tasks; it may spawn tasks and start timers.
/// If it panics, the panic hook reports it and the loop goes on. The delay counts from this
/// call; a zero delay calls `f` at the loop's next turn, and a delay too large for an
/// [`Instant`] never calls it (the handle can still cancel it).
///
/// # Panics
///
/// If no looplet loop is running on this thread (the message names the caller's line).
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// looplet::block_on(async {
///     let calls = Rc::new(Cell::new(0));
///     let c = calls.clone();
///     looplet::call_later(Duration::from_millis(1), move || c.set(c.get() + 1));
///     let c = calls.clone();
///     let cancelled = looplet::call_later(Duration::from_millis(1), move || c.set(c.get() + 10));
///     assert!(cancelled.cancel());
///     looplet::sleep(Duration::from_millis(5)).await;
///     assert_eq!(calls.get(), 1);
/// });
/// ```
#[track_caller]
pub fn call_later(delay: Duration, f: impl FnOnce() + 'static) -> TimerHandle {
    schedule_call("call_later", now().checked_add(delay), Box::new(f))
}

#[track_caller]
fn schedule_call(name: &str, deadline: Option<Instant>, f: Box<dyn FnOnce()>) -> TimerHandle {
    let timers = with_timers(|timers| timers.cloned());
    let Some(timers) = timers else {
        panic!(
            "looplet::{name} called with no looplet loop running on this thread; call it from \
             code running inside looplet::block_on"
        )
    };
    TimerHandle(TimerRef::schedule_on(&timers, deadline, Expiry::Call(f)))
}

/// Calls `f` on the loop thread at `deadline`: asyncio's `loop.call_at`.
///
/// A deadline in the past calls `f` at the loop's next turn. See [`call_later`].
///
/// # Panics
///
/// If no looplet loop is running on this thread (the message names the caller's line).
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::{Duration, Instant};
///
/// looplet::block_on(async {
///     let called = Rc::new(Cell::new(false));
///     let c = called.clone();
///     let handle = looplet::call_at(Instant::now() + Duration::from_millis(1), move || c.set(true));
///     looplet::sleep(Duration::from_millis(5)).await;
///     assert!(called.get());
///     assert!(!handle.cancel(), "too late: it already ran");
/// });
/// ```
#[track_caller]
pub fn call_at(deadline: Instant, f: impl FnOnce() + 'static) -> TimerHandle {
    schedule_call("call_at", Some(deadline), Box::new(f))
}

/// A delayed call, from [`call_later`] or [`call_at`]: asyncio's `TimerHandle`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// looplet::block_on(async {
///     let handle = looplet::call_later(Duration::from_secs(60), || unreachable!());
///     assert!(handle.cancel());
///     assert!(!handle.cancel(), "only the first cancel stops it");
/// });
/// ```
#[derive(Clone)]
pub struct TimerHandle(TimerRef);

impl TimerHandle {
    /// Stops the call if it has not happened yet; returns whether it stopped it.
    ///
    /// Returns `false` if the call already ran, was already cancelled, or its loop is gone.
    /// O(1); the callback is dropped here.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// looplet::block_on(async {
    ///     let handle = looplet::call_later(Duration::ZERO, || {});
    ///     looplet::sleep(Duration::from_millis(1)).await; // the loop turns: it runs
    ///     assert!(!handle.cancel());
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        self.0.cancel().is_some()
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle").finish_non_exhaustive()
    }
}
