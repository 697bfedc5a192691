//! Virtual time: `time::pause`, `resume`, `advance` and the loop's jump to the next timer,
//! over every kind of timer, with exact event logs; what holds the clock (pool jobs, child
//! processes) and what does not; and the interval's missed-tick behaviours at exact instants.

use std::cell::RefCell;
use std::io::Write;
use std::os::fd::AsFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::{AsyncReadExt, StreamExt};
use looplet::time::{self, MissedTickBehavior, Timer};
use looplet::{Executor, call_at, call_later, sleep, sleep_until, timeout};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn paused() -> Executor {
    Executor::builder().start_paused(true).build().unwrap()
}

type Log = Rc<RefCell<Vec<(&'static str, Duration)>>>;

/// Records `what` at the loop's time since `start`.
fn note(log: &Log, start: Instant, what: &'static str) {
    log.borrow_mut().push((what, time::now() - start));
}

#[test]
fn every_timer_kind_fires_at_its_exact_virtual_instant_in_deadline_order() {
    let ex = paused();
    let log: Log = Rc::default();
    ex.block_on(async {
        let start = time::now();
        let l = log.clone();
        let sleeper = looplet::spawn(async move {
            sleep(secs(3)).await;
            note(&l, start, "sleep 3 s");
        });
        let l = log.clone();
        let deadline = looplet::spawn(async move {
            sleep_until(start + ms(4500)).await;
            note(&l, start, "sleep_until 4.5 s");
        });
        let l = log.clone();
        let timer = looplet::spawn(async move {
            let fired = Timer::after(secs(1)).await;
            assert_eq!(fired, start + secs(1), "a Timer yields the virtual instant");
            note(&l, start, "Timer::after 1 s");
        });
        let l = log.clone();
        let timed_out = looplet::spawn(async move {
            let r = timeout(secs(2), std::future::pending::<()>()).await;
            assert!(r.is_err());
            note(&l, start, "timeout 2 s");
        });
        let l = log.clone();
        call_later(ms(3500), move || note(&l, start, "call_later 3.5 s"));
        let l = log.clone();
        call_at(start + secs(5), move || note(&l, start, "call_at 5 s"));
        let cancelled = call_later(ms(2500), || panic!("cancelled: never called"));
        assert!(cancelled.cancel());
        let l = log.clone();
        let ticks = looplet::spawn(async move {
            let mut every = Timer::interval(ms(1250));
            for _ in 0..3 {
                every.next().await;
                note(&l, start, "interval 1.25 s");
            }
        });
        for task in [sleeper, deadline, timer, timed_out, ticks] {
            task.await;
        }
        sleep(secs(1)).await; // past the last delayed call
        note(&log, start, "end");
    });
    let expected = [
        ("Timer::after 1 s", ms(1000)),
        ("interval 1.25 s", ms(1250)),
        ("timeout 2 s", ms(2000)),
        ("interval 1.25 s", ms(2500)),
        ("sleep 3 s", ms(3000)),
        ("call_later 3.5 s", ms(3500)),
        ("interval 1.25 s", ms(3750)),
        ("sleep_until 4.5 s", ms(4500)),
        ("call_at 5 s", ms(5000)),
        ("end", ms(5500)),
    ];
    // Exact instants: a real clock could not give them.
    assert_eq!(*log.borrow(), expected);
}

#[test]
fn a_one_hour_timeout_takes_no_real_time_and_the_same_order_every_run() {
    let run = || {
        let ex = paused();
        let log: Log = Rc::default();
        ex.block_on(async {
            let start = time::now();
            let mut tasks = Vec::new();
            for (what, after) in [("c", 30), ("a", 10), ("b", 20), ("a2", 10)] {
                let l = log.clone();
                tasks.push(looplet::spawn(async move {
                    sleep(Duration::from_secs(after * 60)).await;
                    note(&l, start, what);
                }));
            }
            let r = timeout(secs(3600), std::future::pending::<()>()).await;
            assert!(r.is_err());
            note(&log, start, "timeout");
            drop(tasks);
        });
        log.take()
    };
    let first = run();
    assert_eq!(
        first,
        [
            ("a", secs(600)),
            ("a2", secs(600)),
            ("b", secs(1200)),
            ("c", secs(1800)),
            ("timeout", secs(3600)),
        ]
    );
    for _ in 0..10 {
        assert_eq!(run(), first);
    }
}

#[test]
fn advance_moves_the_clock_fires_what_is_due_and_lets_it_run_first() {
    let ex = paused();
    let log: Log = Rc::default();
    ex.block_on(async {
        let start = time::now();
        for (what, after) in [("at 1 s", 1), ("at 3 s", 3), ("at 10 s", 10)] {
            let l = log.clone();
            looplet::spawn(async move {
                sleep(secs(after)).await;
                note(&l, start, what);
            })
            .detach();
        }
        looplet::yield_now().await; // the sleeps are armed
        time::advance(secs(5)).await;
        note(&log, start, "advanced 5 s");
        assert_eq!(time::now() - start, secs(5));
        time::advance(ms(4999)).await;
        note(&log, start, "advanced 9.999 s");
        time::advance(ms(1)).await;
        note(&log, start, "advanced 10 s");
    });
    // One jump: both sleeps due within it fire at the new time, in deadline order, before
    // the caller goes on (tokio's `advance`).
    assert_eq!(
        *log.borrow(),
        [
            ("at 1 s", secs(5)),
            ("at 3 s", secs(5)),
            ("advanced 5 s", secs(5)),
            ("advanced 9.999 s", ms(9999)),
            ("at 10 s", secs(10)),
            ("advanced 10 s", secs(10)),
        ]
    );
}

#[test]
fn resume_runs_at_real_speed_from_the_virtual_time_and_never_goes_back() {
    looplet::block_on(async {
        let real_start = time::now();
        time::pause();
        time::advance(secs(3600)).await;
        let virtual_now = time::now();
        assert!(virtual_now >= real_start + secs(3600));
        time::resume();
        let start = time::now();
        assert!(start >= virtual_now);
        sleep(ms(20)).await; // real time again: the loop sleeps in its poller
        assert!(time::now() >= start + ms(20));
        // Paused again: from where the clock stands.
        time::pause();
        let frozen = time::now();
        std::thread::sleep(ms(2));
        assert_eq!(time::now(), frozen);
        time::resume();
    });
}

#[test]
fn pause_belongs_to_its_loop() {
    let paused = paused();
    let real = Executor::new();
    paused.block_on(async {
        let start = time::now();
        std::thread::sleep(ms(2));
        assert_eq!(time::now(), start, "this loop's clock stands still");
    });
    real.block_on(async {
        let start = time::now();
        std::thread::sleep(ms(2));
        assert!(time::now() >= start + ms(2), "the other loop's clock runs");
        sleep(ms(1)).await;
    });
    // And outside any loop, now() is the real clock.
    let before = Instant::now();
    assert!(time::now() >= before);
}

#[test]
fn pause_resume_and_advance_panic_with_advice_when_misused() {
    let message = |f: &mut dyn FnMut()| -> String {
        let payload = catch_unwind(AssertUnwindSafe(f)).unwrap_err();
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap()
    };
    assert!(message(&mut || time::pause()).contains("no looplet loop running"));
    assert!(message(&mut || time::resume()).contains("no looplet loop running"));
    assert!(
        message(&mut || looplet::block_on(async {
            time::pause();
            time::pause();
        }))
        .contains("already paused")
    );
    assert!(message(&mut || looplet::block_on(async { time::resume() })).contains("not paused"));
    assert!(
        message(&mut || looplet::block_on(time::advance(secs(1)))).contains("needs a paused clock")
    );
}

#[test]
fn a_pool_job_holds_the_clock_until_its_result_is_in() {
    let ex = paused();
    ex.block_on(async {
        let start = time::now();
        let slow = looplet::unblock(|| {
            std::thread::sleep(ms(50));
            7
        });
        // Nothing else to do: without the hold the loop would jump to the hour at once.
        let r = timeout(secs(3600), slow).await;
        assert_eq!(r, Ok(7));
        assert_eq!(time::now(), start, "no jump while the job was out");
        // Once the result is in, the clock jumps again.
        sleep(secs(60)).await;
        assert_eq!(time::now() - start, secs(60));
    });
}

#[test]
fn auto_advance_does_not_jump_past_a_socket_fed_by_a_pool_job() {
    let ex = paused();
    ex.block_on(async {
        let (mut ours, peer) = looplet::net::UnixStream::pair()?;
        // The peer's writes come from a pool thread, after a real-time delay.
        let fd = peer.as_fd().try_clone_to_owned()?;
        drop(peer);
        let writer = looplet::unblock(move || {
            let mut peer = std::os::unix::net::UnixStream::from(fd);
            std::thread::sleep(ms(50));
            peer.write_all(b"late")
        });
        let start = time::now();
        let mut buf = [0; 4];
        let read = timeout(secs(3600), ours.read_exact(&mut buf)).await;
        assert!(read.is_ok(), "the timeout jumped past the pending socket");
        assert_eq!(&buf, b"late");
        assert_eq!(
            time::now(),
            start,
            "the clock stood still while the socket was read"
        );
        writer.await?;
        std::io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn a_socket_fed_by_a_thread_the_loop_cannot_see_is_jumped_past() {
    // The rule's other side, pinned: only what has arrived, and holds, stop a jump.
    let ex = paused();
    ex.block_on(async {
        let (mut ours, peer) = looplet::net::UnixStream::pair()?;
        let fd = peer.as_fd().try_clone_to_owned()?;
        drop(peer);
        let writer = std::thread::spawn(move || {
            let mut peer = std::os::unix::net::UnixStream::from(fd);
            std::thread::sleep(ms(200));
            peer.write_all(b"late")
        });
        let start = time::now();
        let mut buf = [0; 4];
        let read = timeout(secs(3600), ours.read_exact(&mut buf)).await;
        assert!(
            read.is_err(),
            "nothing held the clock: it jumped to the timeout"
        );
        assert_eq!(time::now() - start, secs(3600));
        writer.join().unwrap()?;
        // What arrived is read (and comes before any jump).
        let read = timeout(secs(1), ours.read_exact(&mut buf)).await;
        assert!(read.is_ok());
        std::io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn a_child_process_holds_the_clock_until_it_is_reaped() {
    let ex = paused();
    ex.block_on(async {
        let start = time::now();
        let mut child = looplet::process::Command::new("sh")
            .args(["-c", "sleep 0.05"])
            .spawn()?;
        let status = timeout(secs(3600), child.wait()).await;
        assert!(status.is_ok(), "jumped past a running child");
        assert!(status.unwrap()?.success());
        assert_eq!(time::now(), start);
        sleep(secs(5)).await; // reaped: the clock jumps again
        assert_eq!(time::now() - start, secs(5));
        std::io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn try_tick_never_jumps() {
    let ex = paused();
    let timer = ex.spawn(sleep(secs(1)));
    assert!(ex.try_tick()); // the task runs and arms its timer
    for _ in 0..10 {
        assert!(!ex.try_tick());
    }
    assert!(!timer.is_finished());
    ex.block_on(timer); // block_on jumps
}

/// The instants of an interval's first `n` ticks, after the clock has been advanced by
/// `stall` (unseen ticks) once the interval was made.
fn ticks(behavior: Option<MissedTickBehavior>, stall: Duration, n: usize) -> Vec<Duration> {
    paused().block_on(async {
        let start = time::now();
        let mut interval = Timer::interval(ms(10));
        if let Some(behavior) = behavior {
            interval.set_missed_tick_behavior(behavior);
        }
        time::advance(stall).await;
        let mut at = Vec::new();
        for _ in 0..n {
            at.push(interval.next().await.unwrap() - start);
        }
        at
    })
}

#[test]
fn an_interval_ticks_first_one_period_after_creation() {
    assert_eq!(ticks(None, Duration::ZERO, 3), [ms(10), ms(20), ms(30)]);
    // tokio's first tick at once: start the interval now.
    let at = paused().block_on(async {
        let start = time::now();
        let mut interval = Timer::interval_at(time::now(), ms(10));
        let mut at = Vec::new();
        for _ in 0..3 {
            at.push(interval.next().await.unwrap() - start);
        }
        at
    });
    assert_eq!(at, [ms(0), ms(10), ms(20)]);
}

#[test]
fn missed_ticks_are_skipped_by_default() {
    assert_eq!(ticks(None, ms(35), 3), [ms(35), ms(40), ms(50)]);
    let explicit = ticks(Some(MissedTickBehavior::Skip), ms(35), 3);
    assert_eq!(explicit, [ms(35), ms(40), ms(50)]);
}

#[test]
fn burst_fires_every_missed_tick_at_once_then_keeps_the_schedule() {
    let at = ticks(Some(MissedTickBehavior::Burst), ms(35), 5);
    // Due at 10 (fired at 35), 20 and 30 (at once, 35), then 40 and 50 on schedule.
    assert_eq!(at, [ms(35), ms(35), ms(35), ms(40), ms(50)]);
}

#[test]
fn delay_starts_the_schedule_over_from_the_late_tick() {
    let at = ticks(Some(MissedTickBehavior::Delay), ms(35), 3);
    assert_eq!(at, [ms(35), ms(45), ms(55)]);
}

#[test]
fn a_late_tick_that_missed_nothing_keeps_the_schedule_whatever_the_behaviour() {
    // Fired at 15, due at 10: the tick of 20 is not due yet, so nothing was missed.
    for behavior in [
        MissedTickBehavior::Skip,
        MissedTickBehavior::Burst,
        MissedTickBehavior::Delay,
    ] {
        assert_eq!(
            ticks(Some(behavior), ms(15), 3),
            [ms(15), ms(20), ms(30)],
            "{behavior:?}"
        );
    }
}
