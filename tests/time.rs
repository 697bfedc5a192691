//! Time: sleeps, timeouts, timers, intervals and delayed calls. Every assertion about time is
//! "never early"; how late timers fire is measured in benches/, not asserted here.

mod common;

use std::cell::Cell;
use std::future::{pending, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use looplet::time::{Elapsed, Timer, timeout_at};
use looplet::{Executor, call_at, call_later, sleep, sleep_until, timeout};

use common::{Log, panic_message};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Tasks wake in deadline order, whatever order they went to sleep in.
#[test]
fn sleeps_across_many_tasks_finish_in_deadline_order() {
    let log = Log::default();
    looplet::block_on(async {
        let delays = [30, 10, 50, 20, 40, 0, 60];
        // One shared start: the deadlines' order cannot depend on how far apart the tasks
        // first ran (under valgrind, more than the 10 ms between them).
        let start = Instant::now();
        let tasks: Vec<_> = delays
            .into_iter()
            .map(|d| {
                let log = log.clone();
                looplet::spawn(async move {
                    sleep_until(start + ms(d)).await;
                    assert!(start.elapsed() >= ms(d), "woke early from {d} ms");
                    log.push(format!("{d}"));
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    });
    assert_eq!(log.take(), ["0", "10", "20", "30", "40", "50", "60"]);
}

/// The gevent example: two tasks that each sleep take as long as one.
#[test]
fn two_sleeping_tasks_overlap() {
    let log = Log::default();
    let start = Instant::now();
    looplet::block_on(async {
        let tasks: Vec<_> = ["func1", "func2"]
            .into_iter()
            .map(|name| {
                let log = log.clone();
                looplet::spawn(async move {
                    log.push(format!("running in {name}"));
                    sleep(ms(40)).await;
                    log.push(format!("running in {name} again"));
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    });
    assert!(start.elapsed() >= ms(40));
    assert_eq!(
        log.take(),
        [
            "running in func1",
            "running in func2",
            "running in func1 again",
            "running in func2 again"
        ]
    );
}

#[test]
fn sleep_until_never_wakes_early() {
    looplet::block_on(async {
        for d in [1, 3, 7, 15] {
            let deadline = Instant::now() + ms(d);
            sleep_until(deadline).await;
            assert!(Instant::now() >= deadline);
        }
        // A deadline in the past is ready at once.
        sleep_until(Instant::now() - ms(5)).await;
    });
}

#[test]
fn sub_millisecond_sleeps_are_not_rounded_to_a_millisecond_tick() {
    looplet::block_on(async {
        for us in [1, 50, 100, 250, 999] {
            let start = Instant::now();
            sleep(Duration::from_micros(us)).await;
            assert!(start.elapsed() >= Duration::from_micros(us));
        }
    });
}

#[test]
fn a_timeout_that_fires_cancels_the_future() {
    let dropped = Rc::new(Cell::new(false));
    looplet::block_on(async {
        struct Guard(Rc<Cell<bool>>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let guard = Guard(dropped.clone());
        let start = Instant::now();
        let result = timeout(ms(20), async move {
            let _guard = guard;
            sleep(Duration::from_secs(3600)).await;
        })
        .await;
        assert!(result.is_err(), "the timeout fired");
        assert!(start.elapsed() >= ms(20), "the timeout never fires early");
    });
    assert!(dropped.get(), "the timed-out future was dropped");
}

#[test]
fn a_timeout_that_does_not_fire() {
    looplet::block_on(async {
        let result = timeout(ms(500), async {
            sleep(ms(5)).await;
            "in time"
        })
        .await;
        assert_eq!(result, Ok("in time"));
        // Ready at once: a zero timeout still lets it through.
        assert_eq!(timeout(Duration::ZERO, async { 1 }).await, Ok(1));
        // Pending with a zero timeout: elapsed.
        assert!(timeout(Duration::ZERO, pending::<()>()).await.is_err());
    });
}

#[test]
fn timeout_at_and_the_elapsed_error() {
    looplet::block_on(async {
        let deadline = Instant::now() + ms(10);
        let err: Elapsed = timeout_at(deadline, pending::<()>()).await.unwrap_err();
        assert!(Instant::now() >= deadline);
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    });
}

#[test]
fn call_later_runs_in_deadline_order_and_cancel_before_firing_stops_it() {
    let log = Log::default();
    looplet::block_on(async {
        let start = Instant::now();
        for (d, name) in [
            (30, "third"),
            (10, "first"),
            (20, "cancelled"),
            (15, "second"),
        ] {
            let log = log.clone();
            let handle = call_later(ms(d), move || {
                assert!(start.elapsed() >= ms(d), "{name} ran early");
                log.push(name);
            });
            if name == "cancelled" {
                assert!(handle.cancel(), "cancelled before it fired");
                assert!(!handle.cancel(), "a second cancel does nothing");
            }
        }
        sleep(ms(50)).await;
    });
    assert_eq!(log.take(), ["first", "second", "third"]);
}

#[test]
fn cancel_after_firing_returns_false() {
    looplet::block_on(async {
        let ran = Rc::new(Cell::new(0));
        let r = ran.clone();
        let handle = call_later(ms(1), move || r.set(r.get() + 1));
        sleep(ms(10)).await;
        assert_eq!(ran.get(), 1);
        assert!(!handle.cancel());
        // Dropping a handle does not cancel (asyncio's semantics).
        let r = ran.clone();
        drop(call_at(Instant::now() + ms(1), move || r.set(r.get() + 1)));
        sleep(ms(10)).await;
        assert_eq!(ran.get(), 2);
    });
}

/// Callbacks can start timers and spawn tasks, and a panicking one does not stop the loop.
#[test]
fn callbacks_run_on_the_loop_and_may_schedule_more() {
    let log = Log::default();
    looplet::block_on(async {
        let l = log.clone();
        call_later(Duration::ZERO, move || {
            l.push("zero delay");
            let l2 = l.clone();
            call_later(ms(2), move || {
                l2.push("nested call");
                let l3 = l2.clone();
                looplet::spawn(async move { l3.push("spawned from a callback") }).detach();
            });
        });
        call_later(ms(1), || {
            panic!("callback exploded (expected in this test)")
        });
        sleep(ms(20)).await;
    });
    assert_eq!(
        log.take(),
        ["zero delay", "nested call", "spawned from a callback"]
    );
}

/// A callback that reschedules itself with no delay runs once per loop turn (asyncio's
/// `call_soon` from a callback), so tasks keep running beside it.
#[test]
fn a_self_rescheduling_callback_does_not_starve_tasks() {
    fn again(count: Rc<Cell<u64>>, past: bool) {
        count.set(count.get() + 1);
        if past {
            // A deadline already past: due at once, every time.
            call_at(Instant::now() - ms(1), move || again(count, past));
        } else {
            call_later(Duration::ZERO, move || again(count, past));
        }
    }
    let calls = Rc::new(Cell::new(0));
    let (c1, c2) = (calls.clone(), calls.clone());
    let finished = looplet::block_on(async move {
        call_later(Duration::ZERO, move || again(c1, true));
        call_later(Duration::ZERO, move || again(c2, false));
        let worker = looplet::spawn(async {
            for _ in 0..100 {
                looplet::yield_now().await;
            }
            sleep(ms(2)).await;
            "the task finished"
        });
        worker.await
    });
    assert_eq!(finished, "the task finished");
    assert!(calls.get() > 0, "the callback ran too");
}

#[test]
fn a_one_shot_timer_yields_the_instant_it_fired_at() {
    looplet::block_on(async {
        let start = Instant::now();
        let fired = Timer::after(ms(5)).await;
        assert!(fired >= start + ms(5));
        let deadline = Instant::now() + ms(3);
        assert!(Timer::at(deadline).await >= deadline);
        // As a stream, a one-shot timer yields once.
        let items: Vec<Instant> = Timer::after(ms(1)).collect().await;
        assert_eq!(items.len(), 1);
    });
}

#[test]
fn interval_ticks_are_spaced_by_the_period() {
    looplet::block_on(async {
        let start = Instant::now();
        let period = ms(4);
        let ticks: Vec<Instant> = Timer::interval_at(start + period, period)
            .take(5)
            .collect()
            .await;
        for (k, tick) in ticks.iter().enumerate() {
            let due = start + period * (k as u32 + 1);
            assert!(*tick >= due, "tick {k} fired before {due:?}");
        }
    });
}

/// If the loop was blocked across several ticks, the interval fires once, then resumes on
/// its original schedule: no burst, no drift.
#[test]
fn an_interval_skips_the_ticks_it_missed() {
    looplet::block_on(async {
        let start = Instant::now();
        let period = ms(10);
        let mut interval = Timer::interval_at(start + period, period);
        let first = interval.next().await.unwrap();
        assert!(first >= start + period);
        // Block the whole loop for 3.5 periods (as a blocking call would).
        std::thread::sleep(ms(35));
        let late = interval.next().await.unwrap();
        let after_late = interval.next().await.unwrap();
        // One late tick, then the next one on the original grid: a burst would instead yield
        // the missed ticks 20, 30 and 40 ms at once, right after the stall.
        assert!(
            late >= start + ms(45),
            "the late tick comes after the stall"
        );
        assert!(
            after_late >= start + ms(50),
            "the next tick waits for the grid point after the stall, not a burst"
        );
        assert!(after_late > late);
    });
}

#[test]
fn rearming_a_timer() {
    looplet::block_on(async {
        let mut timer = Timer::after(Duration::from_secs(3600));
        // Polled once (armed for an hour), then re-armed for 2 ms.
        assert!(poll_fn(|cx| Poll::Ready(pin!(&mut timer).poll(cx).is_pending())).await);
        let start = Instant::now();
        timer.set_after(ms(2));
        let fired = (&mut timer).await;
        assert!(fired >= start + ms(2));
        // And again, after it fired.
        let again = Instant::now() + ms(2);
        timer.set_at(again);
        assert!((&mut timer).await >= again);
        // An interval re-armed becomes a one-shot.
        let mut interval = Timer::interval(ms(1));
        interval.next().await;
        interval.set_after(ms(1));
        assert!(interval.next().await.is_some());
        assert!(interval.next().await.is_none());
    });
}

#[test]
fn zero_and_max_durations() {
    looplet::block_on(async {
        // Zero: ready at once, no waiting.
        sleep(Duration::ZERO).await;
        Timer::after(Duration::ZERO).await;
        // MAX: never fires, and is harmless to arm and drop.
        let never = timeout(ms(5), sleep(Duration::MAX)).await;
        assert!(never.is_err());
        let never = timeout(ms(5), Timer::after(Duration::MAX)).await;
        assert!(never.is_err());
        let far = Instant::now() + Duration::from_secs(10 * 365 * 24 * 3600);
        assert!(timeout(ms(5), sleep_until(far)).await.is_err());
        // A MAX timeout around a quick future is fine.
        assert_eq!(timeout(Duration::MAX, async { 3 }).await, Ok(3));
        assert_eq!(
            timeout(Duration::MAX, async {
                sleep(ms(1)).await;
                4
            })
            .await,
            Ok(4)
        );
    });
}

/// A long sleep dropped before firing leaves the loop free to finish at once.
#[test]
fn a_dropped_timer_leaves_nothing_behind() {
    let start = Instant::now();
    looplet::block_on(async {
        let mut long = pin!(sleep(Duration::from_secs(3600)));
        assert!(poll_fn(|cx| Poll::Ready(long.as_mut().poll(cx).is_pending())).await);
        call_later(Duration::from_secs(3600), || unreachable!()).cancel();
    });
    // Not a timing assertion: block_on returned, so nothing held the loop.
    assert!(start.elapsed() < Duration::from_secs(3600));
}

#[test]
fn a_hundred_thousand_random_sleeps_all_finish_and_none_early() {
    let early = Rc::new(Cell::new(0u32));
    let finished = Rc::new(Cell::new(0u32));
    looplet::block_on(async {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut tasks = Vec::with_capacity(100_000);
        for _ in 0..100_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let d = Duration::from_micros(seed % 50_000);
            let (early, finished) = (early.clone(), finished.clone());
            tasks.push(looplet::spawn(async move {
                let start = Instant::now();
                sleep(d).await;
                if start.elapsed() < d {
                    early.set(early.get() + 1);
                }
                finished.set(finished.get() + 1);
            }));
        }
        for t in tasks {
            t.await;
        }
    });
    assert_eq!(finished.get(), 100_000);
    assert_eq!(early.get(), 0, "no sleep may end early");
}

#[test]
fn a_timer_polled_with_no_loop_panics_clearly() {
    let mut s = pin!(sleep(ms(1)));
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let err = catch_unwind(AssertUnwindSafe(|| {
        let _ = s.as_mut().poll(&mut cx);
    }))
    .unwrap_err();
    let msg = panic_message(&*err);
    assert!(msg.contains("no looplet loop running"), "{msg}");
    assert!(
        msg.contains(file!()),
        "names the line that made the timer: {msg}"
    );

    let err = catch_unwind(|| call_later(ms(1), || {})).unwrap_err();
    let msg = panic_message(&*err);
    assert!(
        msg.contains("call_later called with no looplet loop"),
        "{msg}"
    );
    assert!(!msg.contains("polled"), "says what the caller did: {msg}");
}

#[test]
fn a_timer_moved_to_another_loop_panics_clearly() {
    let first = Executor::new();
    let second = Executor::new();
    let mut timer = Box::pin(sleep(Duration::from_secs(3600)));
    first.block_on(async {
        assert!(poll_fn(|cx| Poll::Ready(timer.as_mut().poll(cx).is_pending())).await);
    });
    let err = catch_unwind(AssertUnwindSafe(|| {
        second.block_on(async {
            let _ = poll_fn(|cx| Poll::Ready(timer.as_mut().poll(cx).is_pending())).await;
        })
    }))
    .unwrap_err();
    let msg = panic_message(&*err);
    assert!(msg.contains("different loop"), "{msg}");
    // The first loop still works, and the timer can be dropped after its loop is gone.
    first.block_on(sleep(ms(1)));
    drop(first);
    drop(timer);
}

/// Timers keep working across an executor's successive block_on calls, and a parked sleeper
/// is dropped cleanly with its executor.
#[test]
fn timers_survive_across_block_on_calls_and_drop_with_the_executor() {
    let ex = Executor::new();
    let woke = Rc::new(Cell::new(false));
    let w = woke.clone();
    let sleeper = ex.spawn(async move {
        sleep(ms(10)).await;
        w.set(true);
    });
    ex.block_on(sleep(ms(1)));
    assert!(!woke.get());
    ex.block_on(sleeper);
    assert!(woke.get());
    let parked = ex.spawn(sleep(Duration::from_secs(3600)));
    ex.block_on(looplet::yield_now());
    drop(ex);
    assert_eq!(looplet::block_on(parked.cancel()), None);
}

/// A relative timer counts from the call: task A sleeps 50 ms, then task B blocks the loop for
/// 60 ms and starts a 1 µs sleep C. A's deadline passed while B blocked, so A wakes before C.
/// (Counted from the loop's next turn, A would wake 50 ms after B, long after C.)
#[test]
fn sleep_timeout_and_call_later_count_from_the_call_not_the_next_turn() {
    let log = Log::default();
    looplet::block_on(async {
        let l = log.clone();
        let a = looplet::spawn(async move {
            sleep(ms(50)).await;
            l.push("sleep");
        });
        let l = log.clone();
        let t = looplet::spawn(async move {
            assert!(timeout(ms(50), pending::<()>()).await.is_err());
            l.push("timeout");
        });
        let l = log.clone();
        let _call = call_later(ms(50), move || l.push("call_later"));
        let l = log.clone();
        let b = looplet::spawn(async move {
            std::thread::sleep(ms(60)); // blocks the loop, as a careless task does
            sleep(Duration::from_micros(1)).await;
            l.push("later sleep");
        });
        a.await;
        t.await;
        b.await;
    });
    let events = log.take();
    let later = events.iter().position(|e| e == "later sleep").unwrap();
    for name in ["sleep", "timeout", "call_later"] {
        let at = events.iter().position(|e| e == name).unwrap();
        assert!(
            at < later,
            "{name} fired after a timer started 60 ms later: {events:?}"
        );
    }
}

/// A timer armed on a loop that is gone re-arms, for the same deadline, on the loop that polls
/// it next, as a socket moves to the loop that uses it.
#[test]
fn a_timer_from_a_dropped_loop_rearms_on_the_next() {
    let first = Executor::new();
    let mut nap = Box::pin(sleep(ms(5)));
    first.block_on(async {
        assert!(poll_fn(|cx| Poll::Ready(nap.as_mut().poll(cx).is_pending())).await);
    });
    drop(first);
    let start = Instant::now();
    looplet::block_on(nap.as_mut());
    assert!(
        start.elapsed() < Duration::from_secs(3600),
        "not restarted from scratch"
    );
    let mut ticks = Box::pin(Timer::interval(ms(1)));
    looplet::block_on(ticks.next());
    looplet::block_on(ticks.next());
}

/// Executor drop drains the wheel in place, so the stale key of a `Sleep` dropped during the
/// drain cannot cancel a timer that a destructor started meanwhile.
#[test]
fn a_stale_timer_key_cannot_cancel_a_timer_started_by_a_destructor() {
    struct StartsTimer {
        old: Rc<std::cell::RefCell<Option<Pin<Box<looplet::time::Sleep>>>>>,
        cancelled_new: Rc<Cell<Option<bool>>>,
    }
    impl Drop for StartsTimer {
        fn drop(&mut self) {
            let handle = call_later(Duration::from_secs(3600), || {});
            drop(self.old.borrow_mut().take()); // the old sleep cancels its own key
            self.cancelled_new.set(Some(handle.cancel()));
        }
    }
    let ex = Executor::new();
    let old = Rc::new(std::cell::RefCell::new(None));
    let cancelled_new = Rc::new(Cell::new(None));
    ex.block_on(async {
        let mut s = Box::pin(sleep(Duration::from_secs(3600)));
        assert!(poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx).is_pending())).await);
        *old.borrow_mut() = Some(s);
        let guard = StartsTimer {
            old: old.clone(),
            cancelled_new: cancelled_new.clone(),
        };
        call_later(Duration::from_secs(3600), move || drop(guard));
    });
    drop(ex);
    assert_eq!(
        cancelled_new.get(),
        Some(true),
        "the new timer was still armed, so its handle could cancel it"
    );
}

/// Durations past the range of `Instant` make timers that never fire, never a panic.
#[test]
fn huge_durations_saturate_instead_of_panicking() {
    looplet::block_on(async {
        let mut forever = Timer::interval(Duration::MAX);
        assert!(timeout(ms(2), forever.next()).await.is_err());
        assert!(timeout(ms(2), Timer::after(Duration::MAX)).await.is_err());
        let handle = call_later(Duration::MAX, || unreachable!());
        assert!(handle.cancel(), "a never-due call can still be cancelled");
        assert!(
            timeout(ms(2), sleep(Duration::from_secs(u64::MAX)))
                .await
                .is_err()
        );
    });
}
