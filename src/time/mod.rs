//! Time: sleeps, timers, intervals, timeouts and delayed calls, on a hierarchical timer wheel.
//!
//! Every loop keeps its timers in a hierarchical timing wheel with a resolution of one *tick*,
//! 2<sup>10</sup> ns = 1.024 µs. A deadline is rounded **up** to the next tick and the clock is
//! rounded **down**, so a timer never fires before its deadline, and fires at most about a
//! tick (plus the time the loop takes to notice) after it.
//!
//! | looplet | asyncio / gevent |
//! | --- | --- |
//! | [`sleep`], [`sleep_until`] | `asyncio.sleep`, `gevent.sleep` |
//! | [`Timer::after`], [`Timer::at`], [`Timer::interval`] | (async-io's `Timer`) |
//! | [`timeout`], [`timeout_at`] | `asyncio.wait_for` |
//! | [`call_later`], [`call_at`], [`TimerHandle::cancel`] | `loop.call_later`, `handle.cancel()` |
//! | [`now`], [`pause`], [`resume`], [`advance`] | `loop.time()`; tokio's virtual time |
//!
//! # Virtual time
//!
//! Every timer reads the loop's clock, [`now`]: real time, until [`pause`] freezes it. A paused
//! clock moves by [`advance`], or by the loop itself: when it has nothing to run, nothing has
//! arrived from outside, and no work it knows of is on its way back (see [`pause`] for which),
//! it jumps straight to the next timer's deadline. [`resume`] lets it run at real speed again
//! from there. Each loop has its own clock; `#[looplet::test(start_paused = true)]` and
//! [`Builder::start_paused`](crate::executor::Builder::start_paused) start one paused.
//!
//! # When a relative timer counts from
//!
//! From the call: [`sleep`], [`timeout`], [`call_later`] and [`Timer::after`] read the loop's
//! clock when they are called and fix the deadline there, as asyncio, gevent and tokio do. So a task
//! that calls `sleep(50 ms)` just before another task blocks the loop for 50 ms wakes as soon
//! as the loop is free again, at ~50 ms, not 50 ms after the loop came back. A sleep made now
//! and awaited later also counts from when it was made.
//!
//! # Cost
//!
//! One clock reading (about 28 ns on this project's machines) per relative timer made; the
//! loop reads the clock once more per turn that has timers armed. A [`timeout`] around a
//! future that is ready at once never touches the wheel; one whose future finishes first costs
//! one O(1) insert and one O(1) remove, no allocation. `sleep(Duration::ZERO)` reads no clock
//! and is ready at once.
//!
//! # Which loop
//!
//! A timer belongs to the loop that first polls it. Polling it on another loop while that loop
//! still exists panics with a message naming where the timer was made: it could never fire
//! there. If the loop it was armed on is gone (dropped), the timer re-arms, for the same
//! deadline, on the loop that polls it now, as a socket moves to the loop that uses it.
//! Polling a timer with no loop running on the thread panics likewise.

mod clock;
mod timer;
mod timers;
pub(crate) mod wheel;

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::FusedFuture;
use pin_project_lite::pin_project;

use crate::context::with_timers;
use timers::{Expiry, TimerRef};

pub use clock::{advance, now, pause, resume};
pub use timer::{MissedTickBehavior, Timer, TimerHandle, call_at, call_later};
pub(crate) use timers::Timers;

/// When a timer is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum When {
    /// Already: ready at once, without touching the wheel (`sleep(Duration::ZERO)`).
    Now,
    /// At this instant.
    At(Instant),
    /// Never (a duration past the range of `Instant`).
    Never,
}

impl When {
    /// `duration` from now, read on the loop's clock now.
    pub(crate) fn after(duration: Duration) -> When {
        if duration.is_zero() {
            return When::Now;
        }
        now().checked_add(duration).map_or(When::Never, When::At)
    }
}

/// Where a timer was made, for the messages of the panics its polls can raise.
pub(crate) type Origin = &'static Location<'static>;

#[track_caller]
pub(crate) fn no_loop(origin: Origin) -> ! {
    panic!(
        "looplet: the timer made at {origin} was polled with no looplet loop running on this \
         thread; await sleeps, timers and timeouts inside looplet::block_on"
    )
}

#[track_caller]
pub(crate) fn other_loop(origin: Origin) -> ! {
    panic!(
        "looplet: the timer made at {origin} was polled on a different loop from the one it \
         was started on, which still runs; a timer belongs to the loop that first polls it"
    )
}

/// A timer future's entry in its loop's wheel: armed on first poll, removed if dropped
/// before it fires.
struct Slot {
    /// The armed entry; `None` before the first poll and once fired.
    timer: Option<TimerRef>,
    done: bool,
    /// Where the timer was made.
    origin: Origin,
}

impl Slot {
    #[track_caller]
    fn new() -> Slot {
        Slot {
            timer: None,
            done: false,
            origin: Location::caller(),
        }
    }

    fn poll(&mut self, when: When, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        let fired = match self.timer.as_ref().and_then(|t| t.poll(self.origin, cx)) {
            Some(poll) => poll.is_ready(),
            // Not armed yet, or armed on a loop that is gone: arm on this one.
            None => !self.arm(when, cx),
        };
        if fired {
            // A fired entry is already out of the wheel: just forget it.
            self.timer = None;
            self.done = true;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Arms a wake for `cx` on the running loop; `false` if `when` has already passed.
    ///
    /// # Panics
    ///
    /// With no loop running on this thread.
    fn arm(&mut self, when: When, cx: &Context<'_>) -> bool {
        let deadline = match when {
            When::Now => return false,
            // Never armed: nothing will ever wake it, and nothing needs to.
            When::Never => return true,
            When::At(deadline) => deadline,
        };
        let origin = self.origin;
        let armed = with_timers(|timers| {
            let Some(timers) = timers else {
                no_loop(origin)
            };
            let tick = timers.tick_of(deadline);
            if tick <= timers.now() {
                return None;
            }
            Some(TimerRef::insert(
                timers,
                deadline,
                tick,
                Expiry::Wake(cx.waker().clone()),
            ))
        });
        let armed_now = armed.is_some();
        self.timer = armed;
        armed_now
    }

    /// Forgets the timer (it will be re-armed, for a new deadline, at the next poll).
    fn reset(&mut self) {
        self.cancel();
        self.done = false;
    }

    fn cancel(&mut self) {
        if let Some(timer) = self.timer.take() {
            drop(timer.cancel());
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Waits until `duration` has passed: asyncio's and gevent's `sleep`.
///
/// Other tasks run meanwhile. `sleep(Duration::ZERO)` is ready at once (use
/// [`yield_now`](crate::yield_now) to let other tasks run); `sleep(Duration::MAX)` never
/// completes. The duration counts from this call (see the [module docs](self)), and the sleep
/// never ends early.
///
/// # Panics
///
/// When polled with no looplet loop running on the thread, or on another live loop than the
/// one that first polled it; the message names the line that called `sleep`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// looplet::block_on(async {
///     let start = Instant::now();
///     // Two tasks sleeping 20 ms each take 20 ms together, not 40: gevent's lesson.
///     let a = looplet::spawn(looplet::sleep(Duration::from_millis(20)));
///     let b = looplet::spawn(looplet::sleep(Duration::from_millis(20)));
///     a.await;
///     b.await;
///     assert!(start.elapsed() >= Duration::from_millis(20));
/// });
/// ```
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        when: When::after(duration),
        slot: Slot::new(),
    }
}

/// Waits until `deadline`.
///
/// A deadline in the past is ready at once.
///
/// # Panics
///
/// As for [`sleep`].
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// looplet::block_on(async {
///     let deadline = Instant::now() + Duration::from_millis(5);
///     looplet::sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// });
/// ```
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        when: When::At(deadline),
        slot: Slot::new(),
    }
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// Dropping it before it fires removes it from the wheel (O(1)). It is a
/// [`FusedFuture`], so `futures::select!` takes it as it is.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures_util::future::FusedFuture;
///
/// looplet::block_on(async {
///     let mut nap: looplet::time::Sleep = looplet::sleep(Duration::from_millis(1));
///     assert!(!nap.is_terminated());
///     (&mut nap).await;
///     assert!(nap.is_terminated());
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    when: When,
    slot: Slot,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.slot.poll(this.when, cx)
    }
}

impl FusedFuture for Sleep {
    fn is_terminated(&self) -> bool {
        self.slot.done
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("when", &self.when)
            .field("done", &self.slot.done)
            .finish()
    }
}

/// Runs `future` for at most `duration`: asyncio's `wait_for`.
///
/// The duration counts from this call. The future is polled first, so one that is ready at
/// once completes even with a zero duration, and never touches the wheel. If the time runs out
/// first, the result is `Err(Elapsed)` and the future is dropped (cancelled) when the
/// `Timeout` is.
///
/// # Panics
///
/// As for [`sleep`], once the future has returned `Pending`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// looplet::block_on(async {
///     let slow = looplet::sleep(Duration::from_secs(60));
///     assert!(looplet::timeout(Duration::from_millis(10), slow).await.is_err());
///
///     let quick = async { 7 };
///     assert_eq!(looplet::timeout(Duration::from_millis(10), quick).await, Ok(7));
/// });
/// ```
#[track_caller]
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        when: When::after(duration),
        slot: Slot::new(),
        done: false,
    }
}

/// Runs `future` until `deadline` at the latest.
///
/// # Panics
///
/// As for [`timeout`].
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use looplet::time::timeout_at;
///
/// looplet::block_on(async {
///     let deadline = Instant::now() + Duration::from_millis(10);
///     let never = std::future::pending::<()>();
///     assert!(timeout_at(deadline, never).await.is_err());
///     assert!(Instant::now() >= deadline);
/// });
/// ```
#[track_caller]
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        when: When::At(deadline),
        slot: Slot::new(),
        done: false,
    }
}

pin_project! {
    /// The future returned by [`timeout`] and [`timeout_at`].
    ///
    /// A [`FusedFuture`]: once it has given its result, it reports itself terminated.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// looplet::block_on(async {
    ///     let limited: looplet::time::Timeout<_> =
    ///         looplet::timeout(Duration::from_secs(1), async { "in time" });
    ///     assert_eq!(limited.await, Ok("in time"));
    /// });
    /// ```
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        when: When,
        slot: Slot,
        done: bool,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            *this.done = true;
            this.slot.cancel();
            return Poll::Ready(Ok(output));
        }
        let elapsed = this.slot.poll(*this.when, cx).map(|()| Err(Elapsed(())));
        *this.done = elapsed.is_ready();
        elapsed
    }
}

impl<F: Future> FusedFuture for Timeout<F> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("when", &self.when)
            .finish_non_exhaustive()
    }
}

/// The error of a [`timeout`] whose time ran out.
///
/// Converts into an [`io::Error`](std::io::Error) of kind `TimedOut`, so `?` works in IO code.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// looplet::block_on(async {
///     let err = looplet::timeout(Duration::ZERO, std::future::pending::<()>())
///         .await
///         .unwrap_err();
///     assert_eq!(err.to_string(), "deadline has elapsed");
///     let io: std::io::Error = err.into();
///     assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(err: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, err)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::task::Poll;

    use super::*;

    fn armed() -> usize {
        with_timers(|timers| timers.expect("inside block_on").len())
    }

    /// A server wraps every read in a timeout and almost none fire: each must leave nothing.
    #[test]
    fn a_million_cancelled_timeouts_leave_the_wheel_empty() {
        crate::block_on(async {
            for i in 0..1_000_000u32 {
                // Pending once, then ready: the timer is really armed, then cancelled.
                let mut yielded = false;
                let once = poll_fn(|cx| {
                    if yielded {
                        Poll::Ready(i)
                    } else {
                        yielded = true;
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                });
                assert_eq!(timeout(Duration::from_secs(1), once).await, Ok(i));
            }
            assert_eq!(armed(), 0);
        });
    }

    #[test]
    fn a_timeout_around_a_ready_future_never_touches_the_wheel() {
        crate::block_on(async {
            let mut armed_meanwhile = 0;
            let result = timeout(Duration::from_secs(1), async {
                armed_meanwhile = armed();
                5
            })
            .await;
            assert_eq!(result, Ok(5));
            assert_eq!(armed_meanwhile, 0);
            let pending_once = timeout(Duration::from_secs(1), async {
                crate::yield_now().await;
                armed()
            });
            assert_eq!(
                pending_once.await,
                Ok(1),
                "armed once the future was pending"
            );
            assert_eq!(armed(), 0);
        });
    }
}
