//! The loop's side of time: its wheel, the instant tick 0 stands for, and firing due timers.
//!
//! A timer future holds a [`TimerRef`]: a weak handle to the [`Timers`] of the loop it was
//! armed on, and its key there. It never holds the loop itself.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::ptr;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::clock::Clock;
use super::wheel::{TimerKey, Wheel};
use super::{Origin, no_loop, other_loop};
use crate::context::with_timers;
use crate::unwind::{catch, drop_guarded, drop_payload};

/// log2 of the tick length in nanoseconds: one tick is 1,024 ns.
const TICK_SHIFT: u32 = 10;

/// A duration in ticks, rounded up; saturates at `u64::MAX` (never).
fn ticks_ceil(d: Duration) -> u64 {
    let ticks = d.as_nanos().div_ceil(1 << TICK_SHIFT);
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// A duration in ticks, rounded down.
fn ticks_floor(d: Duration) -> u64 {
    u64::try_from(d.as_nanos() >> TICK_SHIFT).unwrap_or(u64::MAX)
}

/// What a wheel entry does when it expires.
pub(crate) enum Expiry {
    /// Wakes the task that awaits a sleep, timer or timeout.
    Wake(Waker),
    /// Runs a [`call_later`] callback on the loop thread.
    Call(Box<dyn FnOnce()>),
}

/// A loop's timers: the wheel, the instant its tick 0 stands for, and the loop's clock.
pub(crate) struct Timers {
    origin: Instant,
    wheel: RefCell<Wheel<Expiry>>,
    /// Reused between turns, so firing allocates nothing.
    fired: RefCell<Vec<Expiry>>,
    /// The loop's clock: real, or virtual while paused.
    pub(crate) clock: Clock,
    /// While the clock is paused, the exact deadline of each timer armed meanwhile (the wheel
    /// only knows ticks), so that virtual time jumps to a deadline itself, not to the start of
    /// the tick after it. Entries of timers that have since fired or been cancelled are
    /// dropped lazily, when they reach the top or when they outnumber the wheel's.
    exact: RefCell<BinaryHeap<Reverse<(Instant, TimerKey)>>>,
    /// Timers put in the wheel, ever.
    started: Cell<u64>,
    /// Timers that fired, ever (wakes and calls).
    fired_count: Cell<u64>,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            origin: Instant::now(),
            wheel: RefCell::new(Wheel::new()),
            fired: RefCell::new(Vec::new()),
            clock: Clock::new(),
            exact: RefCell::new(BinaryHeap::new()),
            started: Cell::new(0),
            fired_count: Cell::new(0),
        }
    }

    /// Timers put in the wheel since the loop was made.
    pub(crate) fn started(&self) -> u64 {
        self.started.get()
    }

    /// Timers that fired since the loop was made.
    pub(crate) fn fired(&self) -> u64 {
        self.fired_count.get()
    }

    /// The tick the wheel's time has reached (the last advance).
    pub(crate) fn now(&self) -> u64 {
        self.wheel.borrow().now()
    }

    /// The tick an absolute deadline falls in, rounded up.
    pub(crate) fn tick_of(&self, deadline: Instant) -> u64 {
        ticks_ceil(deadline.saturating_duration_since(self.origin))
    }

    /// The instant a tick begins at; `None` if it lies beyond what `Instant` can hold.
    fn instant_of(&self, tick: u64) -> Option<Instant> {
        let nanos = tick.checked_mul(1 << TICK_SHIFT)?;
        self.origin.checked_add(Duration::from_nanos(nanos))
    }

    /// Fires every due timer: wakes sleeping tasks and runs due callbacks.
    ///
    /// Reads the clock only if the wheel holds timers. Returns when the next timer is due
    /// (`None`: no timer, or none within `Instant`'s range). Callbacks run here, on the loop
    /// thread, outside every borrow, so they may start or cancel timers and spawn tasks; a
    /// callback that panics is reported by the panic hook and the loop goes on.
    ///
    /// One pass per call: a timer that a callback starts is handled at the loop's next turn
    /// (asyncio's rule for callbacks scheduled by callbacks), so a callback that reschedules
    /// itself cannot starve the tasks. After a callback has run the result is "now", so the
    /// loop polls instead of sleeping, and comes straight back.
    ///
    /// The time is the loop's clock's ([`Clock::now`]). While it is paused, a timer whose exact
    /// deadline has come fires even if the clock stands inside the deadline's tick.
    pub(crate) fn fire_due(&self) -> Option<Instant> {
        #[cfg(feature = "tracing")]
        let _span = tracing::trace_span!("looplet::timers").entered();
        let mut wheel = self.wheel.borrow_mut();
        if wheel.is_empty() {
            return None;
        }
        let now = self.clock.now();
        let mut fired = self.fired.take();
        wheel.advance(ticks_floor(now.duration_since(self.origin)), &mut |_, e| {
            fired.push(e)
        });
        if self.clock.is_paused() {
            let mut exact = self.exact.borrow_mut();
            while let Some(&Reverse((deadline, key))) = exact.peek() {
                if deadline > now {
                    break;
                }
                exact.pop();
                // `None`: it fired above, or was cancelled.
                if let Some(expiry) = wheel.remove(key) {
                    fired.push(expiry);
                }
            }
        }
        let next = wheel.next_deadline();
        drop(wheel);
        self.fired_count
            .set(self.fired_count.get() + fired.len() as u64);
        let mut called = false;
        for expiry in fired.drain(..) {
            match expiry {
                Expiry::Wake(waker) => waker.wake(),
                Expiry::Call(f) => {
                    called = true;
                    if let Err(payload) = catch(f) {
                        drop_payload(payload);
                    }
                }
            }
        }
        *self.fired.borrow_mut() = fired;
        if called {
            Some(now)
        } else {
            next.and_then(|tick| self.instant_of(tick))
        }
    }

    /// Moves the paused clock to the next timer's deadline (virtual time's jump); `false` if
    /// no timer is due within `Instant`'s range. [`Timers::fire_due`] then fires it.
    ///
    /// The target is the exact deadline of the earliest timer armed while paused, when it lies
    /// in the wheel's next tick; otherwise the start of that tick (a timer armed before the
    /// pause, whose tick alone is known, or a bound left by a cancelled timer: advancing to it
    /// cascades, and the next jump goes on from there).
    pub(crate) fn jump(&self) -> bool {
        let wheel = self.wheel.borrow();
        let Some(tick) = wheel.next_deadline() else {
            return false;
        };
        let mut exact = self.exact.borrow_mut();
        while let Some(&Reverse((_, key))) = exact.peek() {
            if wheel.contains(key) {
                break;
            }
            exact.pop();
        }
        let to = match exact.peek() {
            Some(&Reverse((deadline, _))) if self.tick_of(deadline) <= tick => Some(deadline),
            _ => self.instant_of(tick),
        };
        drop((wheel, exact));
        match to {
            Some(to) => {
                self.clock.set_paused(to);
                true
            }
            None => false,
        }
    }

    /// Remembers the exact deadline of a timer armed while the clock is paused.
    #[cold]
    #[inline(never)]
    fn track(&self, deadline: Instant, key: TimerKey) {
        let mut exact = self.exact.borrow_mut();
        exact.push(Reverse((deadline, key)));
        let live = self.wheel.borrow().len();
        if exact.len() > 64 && exact.len() > 2 * live {
            let wheel = self.wheel.borrow();
            exact.retain(|&Reverse((_, key))| wheel.contains(key));
        }
    }

    /// Drops every timer (the executor is going away), outside the wheel's borrow.
    ///
    /// The wheel is drained in place, so the keys of the timers dropped here stay stale: a
    /// `Sleep` dropped later cannot cancel a timer that one of these destructors started.
    pub(crate) fn clear(&self) {
        let mut dropped = Vec::new();
        self.wheel.borrow_mut().drain(|expiry| dropped.push(expiry));
        self.exact.borrow_mut().clear();
        // A destructor that panics must not stop the others from running.
        dropped.into_iter().for_each(drop_guarded);
    }

    /// How many timers are armed.
    pub(crate) fn len(&self) -> usize {
        self.wheel.borrow().len()
    }
}

impl fmt::Debug for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field("armed", &self.len())
            .field("clock", &self.clock)
            .finish()
    }
}

/// Where a timer lives: its loop's timers, and its key in their wheel.
#[derive(Clone)]
pub(crate) struct TimerRef {
    timers: Weak<Timers>,
    key: TimerKey,
}

impl TimerRef {
    /// Puts `expiry` in the wheel of `timers`, due at `deadline` (`None`: never). A deadline
    /// that has passed is due at the loop's next turn.
    pub(crate) fn schedule_on(
        timers: &Rc<Timers>,
        deadline: Option<Instant>,
        expiry: Expiry,
    ) -> TimerRef {
        match deadline {
            Some(deadline) => {
                let tick = timers.tick_of(deadline);
                TimerRef::insert(timers, deadline, tick, expiry)
            }
            None => {
                let key = timers.wheel.borrow_mut().insert(u64::MAX, expiry);
                timers.started.set(timers.started.get() + 1);
                TimerRef {
                    timers: Rc::downgrade(timers),
                    key,
                }
            }
        }
    }

    /// Puts `expiry` in the wheel of `timers`, due at `deadline`, which falls in `tick`.
    #[inline]
    pub(crate) fn insert(
        timers: &Rc<Timers>,
        deadline: Instant,
        tick: u64,
        expiry: Expiry,
    ) -> TimerRef {
        let key = timers.wheel.borrow_mut().insert(tick, expiry);
        timers.started.set(timers.started.get() + 1);
        if timers.clock.is_paused() {
            timers.track(deadline, key);
        }
        TimerRef {
            timers: Rc::downgrade(timers),
            key,
        }
    }

    /// `Ready` once the timer has fired, `Pending` (leaving `cx`'s waker with it) until then;
    /// `None` if its loop is gone.
    ///
    /// # Panics
    ///
    /// On a live loop other than the one the timer was armed on, or with no loop running.
    pub(crate) fn poll(&self, origin: Origin, cx: &mut Context<'_>) -> Option<Poll<()>> {
        with_timers(|timers| {
            let Some(timers) = timers else {
                no_loop(origin)
            };
            if !ptr::eq(self.timers.as_ptr(), Rc::as_ptr(timers)) {
                if self.timers.strong_count() == 0 {
                    return None;
                }
                other_loop(origin);
            }
            let mut wheel = timers.wheel.borrow_mut();
            Some(match wheel.get_mut(self.key) {
                None => Poll::Ready(()),
                Some(Expiry::Wake(waker)) => {
                    if !waker.will_wake(cx.waker()) {
                        *waker = cx.waker().clone();
                    }
                    Poll::Pending
                }
                Some(Expiry::Call(_)) => unreachable!("a callback entry is never polled"),
            })
        })
    }

    /// Removes the timer if it has not fired; returns what it would have done.
    pub(crate) fn cancel(&self) -> Option<Expiry> {
        let timers = self.timers.upgrade()?;
        timers.wheel.borrow_mut().remove(self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_deadlines_up_and_the_clock_down() {
        assert_eq!(ticks_ceil(Duration::ZERO), 0);
        assert_eq!(ticks_ceil(Duration::from_nanos(1)), 1);
        assert_eq!(ticks_ceil(Duration::from_nanos(1024)), 1);
        assert_eq!(ticks_ceil(Duration::from_nanos(1025)), 2);
        assert_eq!(ticks_floor(Duration::from_nanos(1023)), 0);
        assert_eq!(ticks_floor(Duration::from_nanos(2048)), 2);
        assert_eq!(ticks_ceil(Duration::MAX), u64::MAX);
        let timers = Timers::new();
        assert_eq!(timers.instant_of(u64::MAX), None);
        let at = timers.origin + Duration::from_micros(10);
        assert!(timers.instant_of(timers.tick_of(at)).unwrap() >= at);
    }
}
