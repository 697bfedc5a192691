//! The loop: spawn, block_on, Task handles, fairness, panics, cross-thread wakes, drop.

mod common;

use std::cell::{Cell, RefCell};
use std::future::{Future, pending, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use looplet::{Executor, Handle, SpawnErrorKind};

use common::{Log, panic_message};

/// Counts its live instances; dropping decrements.
struct Counted(Rc<Cell<usize>>);

impl Counted {
    fn new(count: &Rc<Cell<usize>>) -> Counted {
        count.set(count.get() + 1);
        Counted(count.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Waits until the waker it hands out has been fired `until` times in total.
fn parked_on(waker_slot: Rc<RefCell<Option<Waker>>>) -> impl Future<Output = ()> {
    let mut first = true;
    poll_fn(move |cx| {
        if first {
            first = false;
            *waker_slot.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
}

#[test]
fn the_issue_example() {
    let answer = looplet::block_on(async {
        let a = looplet::spawn(async { 40 });
        let b = looplet::spawn(async { 2 });
        a.await + b.await
    });
    assert_eq!(answer, 42);
}

/// Library code three calls deep spawns without a handle, and so do the tasks it spawns.
#[test]
fn nested_spawn_from_library_code() {
    async fn leaf(n: u32) -> u32 {
        looplet::spawn(async move { n * 10 }).await
    }
    async fn middle(n: u32) -> u32 {
        let a = looplet::spawn(leaf(n));
        let b = looplet::spawn(async move { looplet::spawn(leaf(n + 1)).await });
        a.await + b.await
    }
    async fn library() -> u32 {
        looplet::spawn(middle(1)).await + looplet::spawn(middle(2)).await
    }
    assert_eq!(looplet::block_on(library()), 10 + 20 + 20 + 30);
}

#[test]
fn spawn_outside_a_loop_panics_with_advice() {
    let err = catch_unwind(|| {
        let _task = looplet::spawn(async {});
    })
    .expect_err("spawn outside a loop must panic");
    let msg = panic_message(&*err);
    assert!(msg.contains("no looplet loop is running"), "message: {msg}");
    assert!(msg.contains("block_on"), "message says what to do: {msg}");
}

#[test]
fn try_spawn_outside_a_loop_returns_the_future() {
    let err = looplet::try_spawn(async { 5 }).unwrap_err();
    assert_eq!(err.kind(), SpawnErrorKind::NoLoop);
    assert!(err.to_string().contains("no looplet loop"));
    assert_eq!(looplet::block_on(err.into_inner()), 5);

    // After block_on returns, there is again no loop.
    assert!(looplet::try_spawn(async {}).is_err());
    assert!(Handle::try_current().is_none());
}

#[test]
fn three_yielding_tasks_interleave_in_order() {
    let log = Log::default();
    looplet::block_on(async {
        let tasks: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                let log = log.clone();
                looplet::spawn(async move {
                    for round in 0..3 {
                        log.push(format!("{name}{round}"));
                        looplet::yield_now().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
    });
    assert_eq!(
        log.take(),
        ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]
    );
}

/// A task that yields forever shares the thread: others run, and the block_on future
/// itself is polled when woken.
#[test]
fn a_task_yielding_forever_does_not_starve_others() {
    let spins = Rc::new(Cell::new(0u64));
    let done = looplet::block_on(async {
        let counter = spins.clone();
        looplet::spawn(async move {
            loop {
                counter.set(counter.get() + 1);
                looplet::yield_now().await;
            }
        })
        .detach();
        let mut sum = 0;
        for n in 0..100u64 {
            sum += looplet::spawn(async move {
                looplet::yield_now().await;
                n
            })
            .await;
        }
        sum
    });
    assert_eq!(done, 4950);
    assert!(spins.get() > 0, "the spinner ran too");
}

/// The spinner never waits, yet a wake from another thread still gets through.
#[test]
fn a_busy_loop_still_takes_cross_thread_wakes() {
    looplet::block_on(async {
        looplet::spawn(async {
            loop {
                looplet::yield_now().await;
            }
        })
        .detach();
        let (tx, rx) = mpsc::channel::<Waker>();
        let flag = Arc::new(AtomicBool::new(false));
        let flag2 = flag.clone();
        let waker_thread = thread::spawn(move || {
            let waker = rx.recv().unwrap();
            flag2.store(true, Ordering::SeqCst);
            waker.wake();
        });
        let mut sent = Some(tx);
        poll_fn(|cx| {
            if flag.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            if let Some(tx) = sent.take() {
                tx.send(cx.waker().clone()).unwrap();
            }
            Poll::Pending
        })
        .await;
        waker_thread.join().unwrap();
    });
}

#[test]
fn dropping_a_task_cancels_it_and_runs_its_destructor() {
    let live = Rc::new(Cell::new(0));
    let polled_after_drop = Rc::new(Cell::new(false));
    looplet::block_on(async {
        let guard = Counted::new(&live);
        let flag = polled_after_drop.clone();
        let task = looplet::spawn(async move {
            let _guard = guard;
            looplet::yield_now().await;
            flag.set(true);
        });
        looplet::yield_now().await; // the task runs up to its first yield
        assert_eq!(live.get(), 1);
        drop(task);
        looplet::yield_now().await; // the loop drops the cancelled future
        looplet::yield_now().await;
        assert_eq!(live.get(), 0, "the future's destructor ran");
    });
    assert!(
        !polled_after_drop.get(),
        "a cancelled task is never polled again"
    );
}

#[test]
fn a_detached_task_runs_to_completion() {
    let log = Log::default();
    looplet::block_on(async {
        let l = log.clone();
        looplet::spawn(async move {
            for i in 0..3 {
                l.push(format!("bg{i}"));
                looplet::yield_now().await;
            }
        })
        .detach();
        for _ in 0..5 {
            looplet::yield_now().await;
        }
    });
    assert_eq!(log.take(), ["bg0", "bg1", "bg2"]);
}

#[test]
fn cancel_await_returns_output_only_if_finished() {
    looplet::block_on(async {
        let live = Rc::new(Cell::new(0));
        let guard = Counted::new(&live);
        let pending_task = looplet::spawn(async move {
            let _guard = guard;
            pending::<u8>().await
        });
        looplet::yield_now().await; // it parks
        assert_eq!(pending_task.cancel().await, None);
        assert_eq!(
            live.get(),
            0,
            "cancel().await returns after the future is dropped"
        );

        let finished = looplet::spawn(async { "done" });
        looplet::yield_now().await;
        assert!(finished.is_finished());
        assert_eq!(finished.cancel().await, Some("done"));
    });
}

#[test]
fn a_panic_reaches_the_awaiter_and_the_loop_goes_on() {
    let other_finished = Rc::new(Cell::new(false));
    let flag = other_finished.clone();
    let result = looplet::block_on(async move {
        let other = looplet::spawn(async move {
            looplet::yield_now().await;
            looplet::yield_now().await;
            flag.set(true);
            7
        });
        let boom = looplet::spawn(async {
            looplet::yield_now().await;
            panic!("task exploded");
        });
        let caught = AssertUnwindSafe(boom).catch_unwind_await().await;
        (caught, other.await)
    });
    let (caught, other) = result;
    let payload = caught.expect_err("the panic is resumed in the awaiter");
    assert_eq!(panic_message(&*payload), "task exploded");
    assert_eq!(other, 7);
    assert!(other_finished.get());
}

#[test]
fn a_detached_task_panic_does_not_stop_the_loop() {
    let after = looplet::block_on(async {
        looplet::spawn(async { panic!("detached task exploded (expected in this test)") }).detach();
        let mut tasks = Vec::new();
        for i in 0..10 {
            tasks.push(looplet::spawn(async move {
                looplet::yield_now().await;
                i
            }));
        }
        let mut sum = 0;
        for t in tasks {
            sum += t.await;
        }
        sum
    });
    assert_eq!(after, 45);
}

#[test]
fn a_waker_from_another_thread_wakes_a_sleeping_block_on() {
    let (tx, rx) = mpsc::channel::<Waker>();
    let woke = Arc::new(AtomicBool::new(false));
    let woke2 = woke.clone();
    let helper = thread::spawn(move || {
        let waker = rx.recv().unwrap();
        // Give the loop time to fall asleep in the poller.
        thread::sleep(Duration::from_millis(50));
        woke2.store(true, Ordering::SeqCst);
        waker.wake();
    });
    looplet::block_on(async {
        // Park a task on the thread's waker, and make block_on wait for that task.
        let woke = woke.clone();
        let task = looplet::spawn(async move {
            let mut tx = Some(tx);
            poll_fn(|cx| {
                if woke.load(Ordering::SeqCst) {
                    Poll::Ready(())
                } else {
                    if let Some(tx) = tx.take() {
                        tx.send(cx.waker().clone()).unwrap();
                    }
                    Poll::Pending
                }
            })
            .await
        });
        task.await;
    });
    helper.join().unwrap();
}

#[test]
fn the_block_on_future_can_be_woken_from_another_thread() {
    let done = Arc::new(AtomicBool::new(false));
    looplet::block_on(poll_fn(|cx| {
        if done.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        let waker = cx.waker().clone();
        let done = done.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            done.store(true, Ordering::SeqCst);
            waker.wake();
        });
        Poll::Pending
    }));
}

/// Many threads wake many parked tasks at once; every wake is delivered.
#[test]
fn many_cross_thread_wakes() {
    const TASKS: usize = 200;
    let (tx, rx) = mpsc::channel::<(usize, Waker)>();
    let flags: Arc<Vec<AtomicBool>> =
        Arc::new((0..TASKS).map(|_| AtomicBool::new(false)).collect());
    let wakers = thread::spawn({
        let flags = flags.clone();
        move || {
            let mut pending = Vec::new();
            for _ in 0..TASKS {
                pending.push(rx.recv().unwrap());
            }
            let chunks: Vec<Vec<(usize, Waker)>> = pending.chunks(50).map(|c| c.to_vec()).collect();
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    let flags = flags.clone();
                    thread::spawn(move || {
                        for (i, waker) in chunk {
                            flags[i].store(true, Ordering::SeqCst);
                            waker.wake();
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        }
    });
    let finished = looplet::block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let tx = tx.clone();
                let flags = flags.clone();
                looplet::spawn(async move {
                    let mut sent = false;
                    poll_fn(|cx| {
                        if flags[i].load(Ordering::SeqCst) {
                            return Poll::Ready(());
                        }
                        if !sent {
                            sent = true;
                            tx.send((i, cx.waker().clone())).unwrap();
                        }
                        Poll::Pending
                    })
                    .await;
                })
            })
            .collect();
        let mut n = 0;
        for t in tasks {
            t.await;
            n += 1;
        }
        n
    });
    wakers.join().unwrap();
    assert_eq!(finished, TASKS);
}

/// Another thread wakes the `block_on` future twice per round, the second wake racing the
/// loop's handling of the first, and waits for the loop to answer. A wakeup lost in that race
/// (the loop asleep with a wake pending) would stall a round: the helper then gives up on the
/// round, wakes the loop once more and the test fails saying which round stalled; if even that
/// wake is lost, the loop's own timer ends the test instead of a hang. A test that merely runs
/// past its time budget (a slow machine, valgrind) says so, and is not reported as a lost wake.
#[test]
fn cross_thread_wakes_racing_the_loop_are_never_lost() {
    const ROUNDS: u64 = 30_000;
    /// How long one round may wait for the loop's answer before it counts as a lost wake.
    const ROUND_PATIENCE: Duration = Duration::from_secs(5);
    /// How long the whole test may run (on this machine it takes well under a second).
    const BUDGET: Duration = Duration::from_secs(120);
    /// `stuck` before any round stalled.
    const NONE: u64 = u64::MAX;
    let polls = Arc::new(AtomicUsize::new(0));
    let rounds_done = Arc::new(AtomicU64::new(0));
    let stuck = Arc::new(AtomicU64::new(NONE));
    let done = Arc::new(AtomicBool::new(false));
    let gave_up = Arc::new(AtomicBool::new(false));
    let slot: Arc<std::sync::Mutex<Option<Waker>>> = Arc::default();
    let started = std::time::Instant::now();
    let helper = {
        let (polls, rounds_done, stuck, done, gave_up, slot) = (
            polls.clone(),
            rounds_done.clone(),
            stuck.clone(),
            done.clone(),
            gave_up.clone(),
            slot.clone(),
        );
        thread::spawn(move || {
            let waker = loop {
                if let Some(w) = slot.lock().unwrap().clone() {
                    break w;
                }
                thread::yield_now();
            };
            let mut seed = 0x9e37_79b9_7f4a_7c15u64;
            for round in 0..ROUNDS {
                let seen = polls.load(Ordering::SeqCst);
                waker.wake_by_ref();
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                for _ in 0..seed % 20_000 {
                    std::hint::spin_loop();
                }
                waker.wake_by_ref();
                let start = std::time::Instant::now();
                while polls.load(Ordering::SeqCst) == seen {
                    if gave_up.load(Ordering::SeqCst) {
                        return; // the loop ran out of its budget and has stopped polling
                    }
                    if start.elapsed() > ROUND_PATIENCE {
                        stuck.store(round, Ordering::SeqCst);
                        waker.wake(); // end the test now, if this wake gets through
                        return;
                    }
                    std::hint::spin_loop();
                }
                rounds_done.store(round + 1, Ordering::SeqCst);
            }
            done.store(true, Ordering::SeqCst);
            waker.wake();
        })
    };
    let finished = looplet::block_on(looplet::timeout(
        BUDGET,
        poll_fn(|cx| {
            polls.fetch_add(1, Ordering::SeqCst);
            slot.lock()
                .unwrap()
                .get_or_insert_with(|| cx.waker().clone());
            if done.load(Ordering::SeqCst) || stuck.load(Ordering::SeqCst) != NONE {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }),
    ));
    gave_up.store(true, Ordering::SeqCst);
    helper.join().unwrap();
    let (rounds, elapsed) = (rounds_done.load(Ordering::SeqCst), started.elapsed());
    let stuck = stuck.load(Ordering::SeqCst);
    assert!(
        stuck == NONE,
        "a cross-thread wake was lost: in round {stuck} of {ROUNDS}, {elapsed:?} into the test, \
         the loop did not poll within {ROUND_PATIENCE:?} of two wakes"
    );
    assert!(
        finished.is_ok(),
        "out of time, not a lost wake: the test ran past its {BUDGET:?} budget with {rounds} \
         of {ROUNDS} rounds done, every wake so far answered (a slow machine, or valgrind)"
    );
    assert!(done.load(Ordering::SeqCst) && rounds == ROUNDS);
}

/// Destructors that run while an executor is dropped may spawn tasks (whose destructors spawn
/// again) or start timers: all of it is dropped on the loop's thread, nothing aborts.
#[test]
fn destructors_that_spawn_during_executor_drop_are_handled() {
    struct SpawnOnDrop(Rc<Cell<usize>>, u32);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
            if self.1 > 0 {
                let next = SpawnOnDrop(self.0.clone(), self.1 - 1);
                looplet::spawn(async move {
                    let _next = next;
                    pending::<()>().await
                })
                .detach();
                let later = SpawnOnDrop(self.0.clone(), 0);
                looplet::call_later(Duration::from_secs(3600), move || drop(later));
            }
        }
    }
    let dropped = Rc::new(Cell::new(0));
    let ex = Executor::new();
    let guard = SpawnOnDrop(dropped.clone(), 3);
    ex.block_on(async move {
        looplet::call_later(Duration::from_secs(3600), move || drop(guard));
    });
    drop(ex);
    // The first guard, three spawned generations, and a timer-held guard for each.
    assert_eq!(dropped.get(), 1 + 3 + 3);
}

/// A waker that outlives its executor does nothing harmful, on any thread.
#[test]
fn a_waker_fired_after_the_executor_is_dropped_is_harmless() {
    let dropped_on = Arc::new(std::sync::Mutex::new(None));
    let slot = Rc::new(RefCell::new(None::<Waker>));
    let main_waker;
    {
        let ex = Executor::new();
        struct RecordDrop(Arc<std::sync::Mutex<Option<thread::ThreadId>>>);
        impl Drop for RecordDrop {
            fn drop(&mut self) {
                *self.0.lock().unwrap() = Some(thread::current().id());
            }
        }
        let guard = RecordDrop(dropped_on.clone());
        let parked = parked_on(slot.clone());
        ex.spawn(async move {
            let _guard = guard;
            parked.await;
            unreachable!("never woken before the executor is gone");
        })
        .detach();
        main_waker = ex.block_on(poll_fn(|cx| {
            // Let the task park first.
            if slot.borrow().is_none() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(cx.waker().clone())
        }));
    }
    // The executor is gone; its pending task was dropped on this thread.
    assert_eq!(*dropped_on.lock().unwrap(), Some(thread::current().id()));
    let task_waker = slot.borrow_mut().take().unwrap();
    // Fire both wakers from another thread, and again from this one.
    let (w1, w2) = (task_waker.clone(), main_waker.clone());
    thread::spawn(move || {
        w1.wake_by_ref();
        w1.wake();
        w2.wake();
    })
    .join()
    .unwrap();
    task_waker.wake();
    main_waker.wake();
}

#[test]
fn dropping_an_executor_frees_ten_thousand_pending_tasks() {
    let live = Rc::new(Cell::new(0));
    let ex = Executor::new();
    let mut tasks = Vec::new();
    for i in 0..10_000 {
        let guard = Counted::new(&live);
        let task = ex.spawn(async move {
            let _guard = guard;
            if i % 2 == 0 {
                pending::<()>().await; // parked forever
            }
            looplet::yield_now().await;
            pending::<()>().await;
        });
        if i % 3 == 0 {
            tasks.push(task); // kept: awaiting later gives a clear panic
        } else {
            task.detach();
        }
    }
    // Half never run at all; run the loop a little so the others park.
    ex.block_on(async {
        for _ in 0..5 {
            looplet::yield_now().await;
        }
    });
    assert_eq!(live.get(), 10_000);
    drop(ex);
    assert_eq!(
        live.get(),
        0,
        "every pending future was dropped with the executor"
    );

    // A handle to a task whose loop is gone: cancel gives None, await panics clearly.
    let task = tasks.pop().unwrap();
    assert_eq!(looplet::block_on(task.cancel()), None);
    let task = tasks.pop().unwrap();
    let err = catch_unwind(AssertUnwindSafe(|| looplet::block_on(task))).unwrap_err();
    assert!(panic_message(&*err).contains("loop (Executor) was dropped"));
}

#[test]
fn a_hundred_thousand_tasks_all_complete() {
    let count = Rc::new(Cell::new(0u32));
    let total = looplet::block_on(async {
        let mut tasks = Vec::with_capacity(100_000);
        for i in 0..100_000u64 {
            let count = count.clone();
            tasks.push(looplet::spawn(async move {
                if i % 7 == 0 {
                    looplet::yield_now().await;
                }
                count.set(count.get() + 1);
                i
            }));
        }
        let mut sum = 0;
        for t in tasks {
            sum += t.await;
        }
        sum
    });
    assert_eq!(count.get(), 100_000);
    assert_eq!(total, 99_999 * 100_000 / 2);
}

#[test]
fn block_on_inside_its_own_loop_panics_instead_of_deadlocking() {
    let ex = Rc::new(Executor::new());
    let inner = ex.clone();
    let result = ex.block_on(async move {
        let task = looplet::spawn(async move {
            catch_unwind(AssertUnwindSafe(|| inner.block_on(async { 1 })))
        });
        task.await
    });
    let msg = panic_message(&*result.unwrap_err());
    assert!(msg.contains("already running"), "message: {msg}");
    // The loop is still usable.
    assert_eq!(ex.block_on(async { 2 }), 2);
}

/// asyncio and tokio refuse to run a loop inside a running one; so does looplet, with advice,
/// instead of stalling every task of the outer loop. The thread runs loops again afterwards.
#[test]
fn block_on_inside_a_running_loop_panics_with_advice_and_the_thread_recovers() {
    let outer_ticks = Rc::new(Cell::new(0));
    let ticks = outer_ticks.clone();
    let message = looplet::block_on(async move {
        let ticker = looplet::spawn(async move {
            loop {
                ticks.set(ticks.get() + 1);
                looplet::yield_now().await;
            }
        });
        let nested = looplet::spawn(async {
            catch_unwind(|| looplet::block_on(async { 1 })).map_err(|p| panic_message(&*p))
        });
        let message = nested.await.expect_err("a nested block_on must panic");
        // The outer loop was never stalled and still runs.
        let before = outer_ticks.get();
        looplet::yield_now().await;
        assert!(outer_ticks.get() > before);
        let ex = Executor::new();
        let other = catch_unwind(AssertUnwindSafe(|| ex.block_on(async { 2 })));
        assert!(other.is_err(), "another executor's block_on is refused too");
        drop(ticker);
        message
    });
    assert!(
        message.contains("cannot be called from a running event loop"),
        "{message}"
    );
    assert!(
        message.contains("looplet::spawn"),
        "gives advice: {message}"
    );
    assert_eq!(
        looplet::block_on(async { 3 }),
        3,
        "the thread runs a loop again"
    );
}

#[test]
fn a_panic_in_the_block_on_future_propagates_and_the_executor_survives() {
    let ex = Executor::new();
    let background = ex.spawn(async { 3 });
    let err = catch_unwind(AssertUnwindSafe(|| {
        ex.block_on(async {
            looplet::yield_now().await;
            panic!("main future exploded");
        })
    }))
    .unwrap_err();
    assert_eq!(panic_message(&*err), "main future exploded");
    assert!(
        looplet::try_spawn(async {}).is_err(),
        "no loop is current after unwinding"
    );
    assert_eq!(ex.block_on(background), 3);
}

#[test]
fn executor_block_on_keeps_pending_tasks_for_the_next_call() {
    let ex = Executor::new();
    let log = Log::default();
    let l = log.clone();
    let (tx, mut rx) = looplet::channel::unbounded::<u32>();
    let consumer = ex.spawn(async move {
        while let Some(n) = rx.recv().await {
            l.push(format!("got {n}"));
        }
        l.push("closed");
    });
    ex.block_on(async { tx.send(1).await.unwrap() });
    ex.block_on(looplet::yield_now());
    assert_eq!(log.take(), ["got 1"]);
    ex.block_on(async { tx.send(2).await.unwrap() });
    drop(tx);
    ex.block_on(consumer);
    assert_eq!(log.take(), ["got 2", "closed"]);
}

#[test]
fn try_tick_runs_one_task_at_a_time() {
    let ex = Executor::new();
    let log = Log::default();
    for name in ["x", "y"] {
        let log = log.clone();
        ex.spawn(async move {
            log.push(format!("{name}1"));
            looplet::yield_now().await;
            log.push(format!("{name}2"));
        })
        .detach();
    }
    assert!(ex.try_tick());
    assert_eq!(log.take(), ["x1"]);
    while ex.try_tick() {}
    assert_eq!(log.take(), ["y1", "x2", "y2"]);
    assert!(!ex.try_tick());
}

#[test]
fn try_tick_picks_up_wakes_from_other_threads() {
    let ex = Executor::new();
    let (tx, rx) = mpsc::channel::<Waker>();
    let woken = Arc::new(AtomicUsize::new(0));
    let w = woken.clone();
    let task = ex.spawn(async move {
        let mut sent = false;
        poll_fn(|cx| {
            if w.load(Ordering::SeqCst) > 0 {
                return Poll::Ready(());
            }
            if !sent {
                sent = true;
                tx.send(cx.waker().clone()).unwrap();
            }
            Poll::Pending
        })
        .await
    });
    assert!(ex.try_tick()); // parks
    assert!(!ex.try_tick());
    let waker = rx.recv().unwrap();
    woken.store(1, Ordering::SeqCst);
    thread::spawn(move || waker.wake()).join().unwrap();
    assert!(
        ex.try_tick(),
        "the remote wake is drained into the run queue"
    );
    assert!(task.is_finished());
}

#[test]
fn handles_spawn_later_and_fail_cleanly_once_the_loop_is_gone() {
    let ex = Executor::new();
    let handle = ex.handle();
    let clone = handle.clone();
    let task = clone.spawn(async { 11 });
    assert_eq!(ex.block_on(task), 11);
    assert_eq!(
        ex.block_on(async { Handle::current().spawn(async { 12 }).await }),
        12
    );
    drop(ex);
    let err = handle.try_spawn(async { 13 }).unwrap_err();
    assert_eq!(err.kind(), SpawnErrorKind::Closed);
    assert_eq!(looplet::block_on(err.into_inner()), 13);
    let err = catch_unwind(AssertUnwindSafe(|| handle.spawn(async {}).detach())).unwrap_err();
    assert!(panic_message(&*err).contains("gone"));
}

#[test]
fn handle_current_outside_a_loop_panics_with_advice() {
    let err = catch_unwind(Handle::current).unwrap_err();
    assert!(panic_message(&*err).contains("block_on"));
}

/// `!Send` state shared between tasks without locks, as the seeds promise.
#[test]
fn tasks_share_rc_refcell_state() {
    let shared = Rc::new(RefCell::new(Vec::new()));
    looplet::block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let shared = shared.clone();
                looplet::spawn(async move {
                    shared.borrow_mut().push(i);
                    looplet::yield_now().await;
                    shared.borrow_mut().push(i + 10);
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    });
    assert_eq!(*shared.borrow(), [0, 1, 2, 3, 10, 11, 12, 13]);
}

/// An awaited-in-place helper: `catch_unwind` for futures without extra dependencies.
trait CatchUnwindAwait: Future + Sized {
    async fn catch_unwind_await(self) -> std::thread::Result<Self::Output> {
        let mut fut = std::pin::pin!(self);
        poll_fn(
            |cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
                Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
                Ok(Poll::Pending) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
        )
        .await
    }
}

impl<F: Future> CatchUnwindAwait for F {}

/// Sets a flag when dropped; panics in `Drop` if asked to.
struct Bomb {
    dropped: Rc<Cell<bool>>,
    explode: bool,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.dropped.set(true);
        if self.explode {
            panic!("destructor exploded");
        }
    }
}

fn bomb(dropped: &Rc<Cell<bool>>) -> Bomb {
    Bomb {
        dropped: dropped.clone(),
        explode: true,
    }
}

/// A task parked on `pending()` holding a value whose `Drop` panics: cancelling it (dropping
/// its `Task`) used to abort the process inside async-task. Now the panic is reported and the
/// loop goes on.
#[test]
fn a_panicking_destructor_in_a_cancelled_task_does_not_take_the_loop_down() {
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    let after = looplet::block_on(async move {
        let held = bomb(&d);
        let task = looplet::spawn(async move {
            let _held = held;
            pending::<()>().await
        });
        looplet::yield_now().await; // parked
        drop(task);
        looplet::yield_now().await; // the loop drops the cancelled future
        assert!(d.get(), "the cancelled future was dropped");
        looplet::spawn(async { "the loop goes on" }).await
    });
    assert_eq!(after, "the loop goes on");
    assert!(dropped.get());
}

/// The same when the executor itself is dropped with the task still parked, and when a task
/// is cancelled with `Task::cancel`.
#[test]
fn a_panicking_destructor_at_executor_drop_or_cancel_is_caught() {
    let dropped = Rc::new(Cell::new(false));
    let ex = Executor::new();
    let held = bomb(&dropped);
    ex.spawn(async move {
        let _held = held;
        pending::<()>().await
    })
    .detach();
    ex.block_on(looplet::yield_now());
    drop(ex);
    assert!(dropped.get(), "dropped with the executor");

    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    let cancelled = looplet::block_on(async move {
        let held = bomb(&d);
        let task = looplet::spawn(async move {
            let _held = held;
            pending::<u8>().await
        });
        looplet::yield_now().await;
        task.cancel().await
    });
    assert_eq!(cancelled, None);
    assert!(dropped.get());
}

/// A future whose destructor panics as it completes: that panic is the task's, and reaches
/// whoever awaits it (tokio's rule); the output is lost with it.
#[test]
fn a_destructor_that_panics_on_completion_is_the_tasks_panic() {
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    let err = looplet::block_on(async move {
        let held = bomb(&d);
        // The closure owns the bomb, so it goes off when the finished future is dropped, not
        // inside the poll that completes it (as an async block's locals would).
        let mut first = true;
        let task = looplet::spawn(poll_fn(move |cx| {
            let _owned = &held;
            if std::mem::take(&mut first) {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(5)
            }
        }));
        futures_util::FutureExt::catch_unwind(AssertUnwindSafe(task))
            .await
            .unwrap_err()
    });
    assert_eq!(panic_message(&*err), "destructor exploded");
    assert!(dropped.get());
}

/// Outputs nobody takes (a detached task's, or a finished task whose `Task` is dropped) whose
/// `Drop` panics, and panic payloads whose `Drop` panics: all caught, the loop goes on.
#[test]
fn panics_in_unread_outputs_and_payloads_are_caught() {
    struct LoudPayload;
    impl Drop for LoudPayload {
        fn drop(&mut self) {
            panic!("payload destructor exploded");
        }
    }
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    let done = looplet::block_on(async move {
        let out = bomb(&Rc::new(Cell::new(false)));
        looplet::spawn(async move { out }).detach();
        let out = bomb(&Rc::new(Cell::new(false)));
        let finished = looplet::spawn(async move { out });
        looplet::yield_now().await;
        drop(finished);
        looplet::spawn(async { std::panic::panic_any(LoudPayload) }).detach();
        let awaited = looplet::spawn(async { std::panic::panic_any(LoudPayload) });
        looplet::yield_now().await;
        d.set(1);
        // Awaiting resumes the payload here; dropping it is our business, and panics.
        let caught = futures_util::FutureExt::catch_unwind(AssertUnwindSafe(awaited)).await;
        let payload = caught.unwrap_err();
        assert!(payload.is::<LoudPayload>());
        std::mem::forget(payload);
        looplet::spawn(async { "still running" }).await
    });
    assert_eq!(done, "still running");
    assert_eq!(dropped.get(), 1);
}

/// `try_tick` alone, with a run queue that never empties, still fires timers: it counts jobs
/// towards the fairness interval as `block_on` does.
#[test]
fn try_tick_alone_fires_timers_while_the_queue_never_empties() {
    let ex = Executor::new();
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    ex.spawn(async move {
        while !f.get() {
            looplet::yield_now().await;
        }
    })
    .detach();
    let f = fired.clone();
    ex.spawn(async move {
        looplet::sleep(Duration::from_millis(1)).await;
        f.set(true);
    })
    .detach();
    let start = std::time::Instant::now();
    let mut ticks = 0u64;
    while !fired.get() {
        assert!(ex.try_tick(), "the yielding task is always runnable");
        ticks += 1;
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "a 1 ms sleep has not fired after {ticks} try_ticks and 30 s: try_tick starves timers"
        );
    }
}

/// And it takes in wakes from other threads.
#[test]
fn try_tick_alone_sees_cross_thread_wakes_while_the_queue_never_empties() {
    let ex = Executor::new();
    let stop = Rc::new(Cell::new(false));
    let s = stop.clone();
    ex.spawn(async move {
        while !s.get() {
            looplet::yield_now().await;
        }
    })
    .detach();
    let slot = Rc::new(RefCell::new(None));
    let woken = Rc::new(Cell::new(false));
    let (w, sl) = (woken.clone(), slot.clone());
    ex.spawn(async move {
        parked_on(sl).await;
        w.set(true);
    })
    .detach();
    while slot.borrow().is_none() {
        ex.try_tick();
    }
    let waker = slot.borrow_mut().take().unwrap();
    thread::spawn(move || waker.wake()).join().unwrap();
    let start = std::time::Instant::now();
    while !woken.get() {
        ex.try_tick();
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "a cross-thread wake was not seen in 30 s of try_tick: try_tick starves remote wakes"
        );
    }
    stop.set(true);
    while ex.try_tick() {}
}
