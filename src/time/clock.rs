//! The loop's clock: the one place the time module reads the time.
//!
//! Every reading of "now" in the time module (a relative timer's start, a fired timer's
//! instant, the wheel's advance) goes through [`now`] or [`Clock::now`]. A loop's clock is
//! real time ([`Instant::now`]) until [`pause`](super::pause) freezes it; from then on it moves
//! only when [`advance`](super::advance) moves it, or when the loop, with nothing to run and
//! nothing that could still arrive from outside, jumps to its next timer. After
//! [`resume`](super::resume) it runs at real speed again from where virtual time left it, so
//! it never goes backwards.
//!
//! # Off means free
//!
//! A loop whose clock was never paused reads `Instant::now()` and nothing else: [`now`] first
//! asks a per-thread count of *shifted* clocks (paused, or resumed away from real time), and
//! only when one exists on this thread looks up the running loop's clock.

use std::cell::Cell;
use std::fmt;
use std::time::{Duration, Instant};

use crate::context::{shift_clocks, with_timers};

/// The time on the clock of the loop running on this thread: virtual while that loop's clock
/// is paused, real time otherwise (and outside any loop).
///
/// Every looplet timer reads this clock: a relative timer ([`sleep`](crate::sleep),
/// [`timeout`](crate::timeout), [`Timer::after`](super::Timer::after),
/// [`call_later`](crate::call_later), an interval) counts from `now()`, and fires once `now()`
/// has reached its deadline. Until [`pause`] is called on a loop, `now()` is
/// `Instant::now()`; read it instead of `Instant::now()` wherever code under test should see
/// virtual time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use looplet::time;
///
/// looplet::block_on(async {
///     time::pause();
///     let start = time::now();
///     looplet::sleep(Duration::from_secs(3600)).await; // takes no real time
///     assert_eq!(time::now() - start, Duration::from_secs(3600));
/// });
/// ```
#[inline]
pub fn now() -> Instant {
    if !crate::context::any_clock_shifted() {
        return Instant::now();
    }
    shifted_now()
}

/// [`now`] when a clock on this thread has been paused: the running loop's clock.
#[cold]
#[inline(never)]
fn shifted_now() -> Instant {
    with_timers(|timers| timers.map_or_else(Instant::now, |timers| timers.clock.now()))
}

/// Freezes the running loop's clock: from now on it moves only by [`advance`], or by the
/// loop itself when nothing can happen before the next timer (virtual time).
///
/// While the clock is paused and the loop has nothing to run, it first polls its reactor
/// without waiting; if nothing arrived, and no work the loop knows of is still on its way from
/// another thread or process, it moves the clock straight to the next timer's deadline and
/// fires it (tokio's auto-advance). A test of a one-hour timeout then runs in microseconds, and
/// timers fire in deadline order, every run the same. Work the loop knows is on its way, and
/// waits for in real time instead of jumping:
///
/// - a closure on the blocking pool started by [`unblock`](crate::unblock) (or by
///   [`fs`](crate::fs)'s functions, which use it) on this loop, until its [`Task`](crate::Task)
///   has handed over the result (if the `Task` was dropped or detached, until the closure has
///   returned);
/// - a child process spawned on this loop, until it is reaped or its `Child` dropped.
///
/// Anything else (a socket whose peer is another process or a thread you started yourself, a
/// signal, a waker held by such a thread) the loop cannot see coming, and the clock jumps past
/// it: what has *arrived* is always handled first, but a jump does not wait for what might.
/// Put such work on the pool with `unblock`, or [`resume`] the clock around it. While the
/// clock is paused, the loop never sleeps for a deadline: time stands still unless the loop
/// jumps. [`Executor::try_tick`](crate::Executor::try_tick) never jumps.
///
/// The pause belongs to the loop (each [`Executor`](crate::Executor) has its own clock) and
/// lasts until [`resume`], or for the loop's life. See also
/// [`Builder::start_paused`](crate::executor::Builder::start_paused) and
/// `#[looplet::test(start_paused = true)]`.
///
/// # Panics
///
/// With no looplet loop running on this thread, or if its clock is already paused (tokio's
/// rules).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use looplet::time;
///
/// looplet::block_on(async {
///     time::pause();
///     let start = time::now();
///     let slow = looplet::sleep(Duration::from_secs(60));
///     // The loop jumps to the timeout's deadline: a minute passes at once.
///     assert!(looplet::timeout(Duration::from_secs(30), slow).await.is_err());
///     assert_eq!(time::now() - start, Duration::from_secs(30));
/// });
/// ```
#[track_caller]
pub fn pause() {
    with_timers(|timers| {
        let Some(timers) = timers else {
            panic!(
                "looplet::time::pause called with no looplet loop running on this thread; call                  it inside looplet::block_on, or build the loop paused with \
                 Executor::builder().start_paused(true)"
            )
        };
        if !timers.clock.pause() {
            panic!("looplet::time::pause: the loop's clock is already paused");
        }
    })
}

/// Lets the running loop's paused clock run at real speed again, from the time it shows: the
/// clock never goes back.
///
/// # Panics
///
/// With no looplet loop running on this thread, or if its clock is not paused.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use looplet::time;
///
/// looplet::block_on(async {
///     time::pause();
///     time::advance(Duration::from_secs(10)).await;
///     let virtual_now = time::now();
///     time::resume();
///     assert!(time::now() >= virtual_now);
///     looplet::sleep(Duration::from_millis(1)).await; // real time again
/// });
/// ```
#[track_caller]
pub fn resume() {
    with_timers(|timers| {
        let Some(timers) = timers else {
            panic!(
                "looplet::time::resume called with no looplet loop running on this thread; call                  it inside looplet::block_on"
            )
        };
        if !timers.clock.resume() {
            panic!("looplet::time::resume: the loop's clock is not paused");
        }
    })
}

/// Moves the running loop's paused clock forward by `duration`, fires every timer that is due
/// then, and lets the tasks they woke run before the caller goes on.
///
/// The clock jumps in one step, as tokio's `advance` does: every timer due within the step
/// fires at the new time, in deadline order. To see each timer fire at its own instant, sleep
/// instead and let the loop jump from timer to timer.
///
/// # Panics
///
/// When awaited with no looplet loop running on this thread, if its clock is not paused, or if
/// the new time lies past what an `Instant` can hold.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use looplet::time;
///
/// looplet::block_on(async {
///     time::pause();
///     let fired = Rc::new(Cell::new(false));
///     let flag = fired.clone();
///     looplet::call_later(Duration::from_secs(5), move || flag.set(true));
///     time::advance(Duration::from_secs(4)).await;
///     assert!(!fired.get());
///     time::advance(Duration::from_secs(1)).await;
///     assert!(fired.get());
/// });
/// ```
pub async fn advance(duration: Duration) {
    with_timers(|timers| {
        let Some(timers) = timers else {
            panic!(
                "looplet::time::advance awaited with no looplet loop running on this thread;                  await it inside looplet::block_on"
            )
        };
        if !timers.clock.advance(duration) {
            panic!(
                "looplet::time::advance needs a paused clock: call looplet::time::pause() first"
            );
        }
        timers.fire_due();
    });
    crate::yield_now().await;
}

/// What a loop's clock shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Real time: `Instant::now()`.
    Real,
    /// Frozen at this instant (virtual time).
    Paused(Instant),
    /// Running at real speed again, from `base` at the real instant `real`.
    Resumed { base: Instant, real: Instant },
}

/// One loop's clock.
pub(crate) struct Clock {
    state: Cell<State>,
}

impl Clock {
    /// A clock that shows real time.
    pub(crate) fn new() -> Clock {
        Clock {
            state: Cell::new(State::Real),
        }
    }

    /// The time on this clock.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        match self.state.get() {
            State::Real => Instant::now(),
            State::Paused(at) => at,
            State::Resumed { base, real } => base + real.elapsed(),
        }
    }

    /// Whether the clock is paused.
    #[inline]
    pub(crate) fn is_paused(&self) -> bool {
        matches!(self.state.get(), State::Paused(_))
    }

    /// Freezes the clock at its current time; `false` if it was paused already.
    pub(crate) fn pause(&self) -> bool {
        let state = self.state.get();
        if let State::Paused(_) = state {
            return false;
        }
        if state == State::Real {
            shift_clocks(1);
        }
        self.state.set(State::Paused(self.now()));
        true
    }

    /// Lets the clock run at real speed again, from where it stands; `false` if it was not
    /// paused.
    pub(crate) fn resume(&self) -> bool {
        let State::Paused(base) = self.state.get() else {
            return false;
        };
        self.state.set(State::Resumed {
            base,
            real: Instant::now(),
        });
        true
    }

    /// Moves a paused clock forward to `to` (never back).
    pub(crate) fn set_paused(&self, to: Instant) {
        if let State::Paused(at) = self.state.get()
            && to > at
        {
            self.state.set(State::Paused(to));
        }
    }

    /// Moves a paused clock forward by `by`; `false` if it is not paused.
    ///
    /// # Panics
    ///
    /// If the new time lies past what an `Instant` can hold.
    pub(crate) fn advance(&self, by: Duration) -> bool {
        let State::Paused(at) = self.state.get() else {
            return false;
        };
        let to = at.checked_add(by).unwrap_or_else(|| {
            panic!("looplet::time::advance({by:?}): the clock would pass the end of time")
        });
        self.state.set(State::Paused(to));
        true
    }

    /// The real instant at which this clock will show `deadline`, for the poller's wait;
    /// `None` when the clock is paused (then no deadline comes by waiting) or the instant is
    /// out of range.
    #[inline]
    pub(crate) fn to_real(&self, deadline: Instant) -> Option<Instant> {
        match self.state.get() {
            State::Real => Some(deadline),
            State::Paused(_) => None,
            State::Resumed { base, real } => match deadline.checked_duration_since(base) {
                Some(after) => real.checked_add(after),
                None => Some(real),
            },
        }
    }
}

impl Drop for Clock {
    fn drop(&mut self) {
        if self.state.get() != State::Real {
            shift_clocks(-1);
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clock")
            .field("state", &self.state.get())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_clock_stands_still_moves_forward_only_and_resumes_from_where_it_stood() {
        let clock = Clock::new();
        assert!(!clock.is_paused());
        assert!(clock.pause());
        assert!(!clock.pause(), "paused already");
        let frozen = clock.now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(clock.now(), frozen);
        assert!(clock.advance(Duration::from_secs(3600)));
        assert_eq!(clock.now(), frozen + Duration::from_secs(3600));
        clock.set_paused(frozen);
        assert_eq!(
            clock.now(),
            frozen + Duration::from_secs(3600),
            "never back"
        );
        assert_eq!(clock.to_real(frozen), None);
        assert!(clock.resume());
        assert!(!clock.resume(), "not paused");
        assert!(
            !clock.advance(Duration::from_secs(1)),
            "advance needs a paused clock"
        );
        let after = clock.now();
        assert!(after >= frozen + Duration::from_secs(3600));
        assert!(after < frozen + Duration::from_secs(3601));
        // A deadline one virtual second ahead is about one real second ahead.
        let real = clock.to_real(after + Duration::from_secs(1)).unwrap();
        assert!(real > Instant::now() + Duration::from_millis(900));
        assert!(real <= Instant::now() + Duration::from_secs(1));
    }
}
