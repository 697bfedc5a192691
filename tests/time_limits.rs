//! Every entry point that takes a caller's duration or instant, at the limits: `Duration::MAX`,
//! the farthest `Instant` in the future and the farthest in the past that `Instant` can hold.
//!
//! The audit behind this file (issue 13) found these entry points, all in `looplet::time`:
//! `sleep`, `sleep_until`, `timeout`, `timeout_at`, `call_later`, `call_at`, and `Timer`'s
//! `after`, `at`, `interval`, `interval_at`, `set_after` and `set_at`. Nothing else in the
//! crate (net, process, signal, sync, channel, blocking) takes a duration or an instant from
//! its caller. A deadline too far ahead never fires; one in the past is due at once; none
//! panics, none makes the loop's own wait fail. No assertion here is about how long anything
//! took: each "never fires" is checked against a short timeout that must fire instead.

use std::cell::Cell;
use std::future::{pending, poll_fn};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use looplet::time::{Timer, timeout_at};
use looplet::{call_at, call_later, sleep, sleep_until, timeout};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The largest `d` (to the second) for which `step(&now, d)` is still an `Instant`.
fn farthest(step: impl Fn(&Instant, Duration) -> Option<Instant>) -> Instant {
    let now = Instant::now();
    let (mut fits, mut too_far) = (0u64, u64::MAX);
    if let Some(at) = step(&now, Duration::from_secs(u64::MAX)) {
        return at;
    }
    while too_far - fits > 1 {
        let mid = fits + (too_far - fits) / 2;
        match step(&now, Duration::from_secs(mid)) {
            Some(_) => fits = mid,
            None => too_far = mid,
        }
    }
    step(&now, Duration::from_secs(fits)).expect("fits")
}

/// The farthest future `Instant` can express (about 2^63 seconds from the clock's zero).
fn far_future() -> Instant {
    farthest(Instant::checked_add)
}

/// The farthest past `Instant` can express.
fn far_past() -> Instant {
    farthest(Instant::checked_sub)
}

/// Asserts that `fut` is still pending after a short wait, on the running loop.
async fn never_fires<T>(what: &str, fut: impl std::future::Future<Output = T>) {
    assert!(
        timeout(ms(3), fut).await.is_err(),
        "{what} fired, but its deadline is out of reach"
    );
}

#[test]
fn the_far_instants_are_far() {
    let now = Instant::now();
    let year = Duration::from_secs(365 * 24 * 3600);
    assert!(far_future() > now + 1_000_000 * year);
    assert!(far_past() < now - 1_000_000 * year);
}

#[test]
fn duration_max_at_every_entry_point_never_fires_and_never_panics() {
    looplet::block_on(async {
        never_fires("sleep(MAX)", sleep(Duration::MAX)).await;
        never_fires("Timer::after(MAX)", Timer::after(Duration::MAX)).await;
        let mut interval = Timer::interval(Duration::MAX);
        never_fires("Timer::interval(MAX)", interval.next()).await;
        let mut rearmed = Timer::after(ms(1));
        rearmed.set_after(Duration::MAX);
        never_fires("set_after(MAX)", &mut rearmed).await;
        never_fires(
            "timeout(MAX, pending)",
            timeout(Duration::MAX, pending::<()>()),
        )
        .await;
        assert_eq!(timeout(Duration::MAX, async { 1 }).await, Ok(1));
        let called = Rc::new(Cell::new(false));
        let c = called.clone();
        let handle = call_later(Duration::MAX, move || c.set(true));
        sleep(ms(3)).await;
        assert!(!called.get());
        assert!(
            handle.cancel(),
            "a call that is never due can still be cancelled"
        );

        // An interval from now with a MAX period: its first tick is due at once, the next
        // one is past the range of `Instant`, so it never comes.
        let mut once = Timer::interval_at(Instant::now(), Duration::MAX);
        assert!(once.next().await.is_some());
        never_fires("the second tick of a MAX interval", once.next()).await;
    });
}

#[test]
fn the_farthest_future_instant_at_every_entry_point_never_fires_and_never_panics() {
    let far = far_future();
    looplet::block_on(async {
        never_fires("sleep_until(far)", sleep_until(far)).await;
        never_fires("Timer::at(far)", Timer::at(far)).await;
        let mut interval = Timer::interval_at(far, ms(1));
        never_fires("Timer::interval_at(far)", interval.next()).await;
        let mut interval = Timer::interval_at(far, Duration::MAX);
        never_fires("Timer::interval_at(far, MAX)", interval.next()).await;
        let mut rearmed = Timer::after(ms(1));
        rearmed.set_at(far);
        never_fires("set_at(far)", &mut rearmed).await;
        never_fires("timeout_at(far, pending)", timeout_at(far, pending::<()>())).await;
        assert_eq!(timeout_at(far, async { 2 }).await, Ok(2));
        let handle = call_at(far, || unreachable!("a call at the end of time ran"));
        sleep(ms(3)).await;
        assert!(handle.cancel());
    });
}

#[test]
fn the_farthest_past_instant_at_every_entry_point_is_due_at_once() {
    let past = far_past();
    looplet::block_on(async {
        sleep_until(past).await;
        let fired = Timer::at(past).await;
        assert!(fired >= past);
        let mut rearmed = Timer::after(Duration::from_secs(3600));
        rearmed.set_at(past);
        (&mut rearmed).await;
        // A timeout whose deadline has passed still polls its future first.
        assert_eq!(timeout_at(past, async { 3 }).await, Ok(3));
        assert!(timeout_at(past, pending::<()>()).await.is_err());
        assert!(timeout(Duration::ZERO, pending::<()>()).await.is_err());
        let called = Rc::new(Cell::new(false));
        let c = called.clone();
        let handle = call_at(past, move || c.set(true));
        sleep(ms(1)).await;
        assert!(
            called.get(),
            "a call at a past instant runs at the next turn"
        );
        assert!(!handle.cancel());
        // An interval whose start is far past: its first tick is due at once.
        let mut interval = Timer::interval_at(past, Duration::MAX);
        assert!(interval.next().await.is_some());
        never_fires("the second tick of a MAX interval", interval.next()).await;
    });
}

/// An interval whose start lies more than 2^64 nanoseconds (584 years) in the past skips the
/// ticks it missed, like any late interval, and goes on ticking.
///
/// Ignored: `next_tick` in src/time/timer.rs builds the skip as `Duration::from_nanos` of a
/// `u64`, so past 584 years it gives `None` and the interval stops after its first tick. Not
/// a panic; reported, to be fixed in src/time/timer.rs.
#[test]
fn an_interval_started_in_the_far_past_keeps_ticking() {
    let past = far_past();
    looplet::block_on(async {
        let mut interval = Timer::interval_at(past, ms(1));
        assert!(interval.next().await.is_some());
        let second = timeout(Duration::from_secs(5), interval.next()).await;
        assert!(matches!(second, Ok(Some(_))), "the second tick never came");
    });
}

/// The loop sleeps in its poller with one far-away timer as its next deadline (the timerfd is
/// armed for it, or not at all past `Instant`'s range) and wakes for a wake from another
/// thread: the poller's wait never fails on a huge deadline.
#[test]
fn the_loop_sleeps_on_a_far_deadline_and_wakes_for_anything_else() {
    let year = Duration::from_secs(365 * 24 * 3600);
    let now = Instant::now();
    let deadlines = [
        now + Duration::from_secs(3600),
        now + 10 * year,   // past the wheel's 48 bits of ticks: the overflow list
        now + 300 * year,  // past the kernel's 292-year ktime range
        now + 1000 * year, // past 2^64 nanoseconds from the loop's start
        far_future(),
    ];
    for deadline in deadlines {
        let woken = Arc::new(AtomicBool::new(false));
        let fired = looplet::block_on(async {
            let far = looplet::spawn(sleep_until(deadline));
            let mut helper = None;
            poll_fn(|cx| {
                if woken.load(Ordering::SeqCst) {
                    return Poll::Ready(());
                }
                if helper.is_none() {
                    let (waker, woken) = (cx.waker().clone(), woken.clone());
                    helper = Some(thread::spawn(move || {
                        thread::sleep(ms(20)); // long enough for the loop to fall asleep
                        woken.store(true, Ordering::SeqCst);
                        waker.wake();
                    }));
                }
                Poll::Pending
            })
            .await;
            helper.unwrap().join().unwrap();
            far.is_finished()
        });
        assert!(!fired, "a sleep until {deadline:?} fired");
    }
}
