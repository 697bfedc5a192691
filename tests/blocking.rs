//! `unblock`: values, panics, load, the loop running meanwhile, drop and cancel, other loops,
//! and the pool's threads (started on use, gone when idle).
//!
//! The tests run one after another (they share a lock), so each can count the process's
//! descriptors and pool threads, and check both are back where they were when it ends.

mod common;

#[allow(dead_code)]
#[path = "../examples/thread_pool.rs"]
mod thread_pool;

use std::cell::Cell;
use std::io;
use std::panic::AssertUnwindSafe;
use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use looplet::Executor;

use common::panic_message;

static SERIAL: Mutex<()> = Mutex::new(());

/// How long a test waits for something that must happen, before it fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(20);

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// The pool's threads in this process: blocking names them `blocking-N` (the main thread,
/// named after this binary, `blocking-<hash>`, is not one).
fn pool_threads() -> usize {
    let main = std::process::id().to_string();
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| {
            let task = task.ok()?;
            if task.file_name() == *main {
                return None;
            }
            std::fs::read_to_string(task.path().join("comm")).ok()
        })
        .filter(|name| {
            name.trim_end()
                .strip_prefix("blocking-")
                .is_some_and(|id| id.bytes().all(|b| b.is_ascii_digit()))
        })
        .count()
}

/// Waits until `done()` holds; panics with `what` if it takes longer than [`PATIENCE`].
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting: {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `test` alone, then checks that it left no descriptor open.
fn serial(test: impl FnOnce()) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let baseline = open_fds();
    test();
    eventually("the descriptor count is back to its baseline", || {
        open_fds() == baseline
    });
}

#[test]
fn unblock_gives_the_closures_value() {
    serial(|| {
        let v = looplet::block_on(async { looplet::unblock(|| 6 * 7).await });
        assert_eq!(v, 42);
    });
}

#[test]
fn a_panic_in_the_closure_resumes_in_the_awaiter_with_its_payload() {
    serial(|| {
        looplet::block_on(async {
            let task = looplet::unblock(|| -> u32 { panic!("pool panic {}", 7) });
            let payload = AssertUnwindSafe(task).catch_unwind().await.unwrap_err();
            assert_eq!(panic_message(&*payload), "pool panic 7");

            // A payload of any type comes back as it was.
            let task = looplet::unblock(|| std::panic::panic_any(1234_u64));
            let payload = AssertUnwindSafe(task).catch_unwind().await.unwrap_err();
            assert_eq!(payload.downcast_ref::<u64>(), Some(&1234));

            // The loop and the pool go on.
            let other = looplet::spawn(async { 1 });
            assert_eq!(other.await + looplet::unblock(|| 1).await, 2);
        });
    });
}

#[test]
fn a_hundred_concurrent_calls_all_complete_with_their_values() {
    serial(|| {
        looplet::block_on(async {
            let tasks: Vec<_> = (0..100_u64)
                .map(|i| {
                    looplet::unblock(move || {
                        thread::sleep(Duration::from_millis(i % 10));
                        i * i
                    })
                })
                .collect();
            for (i, task) in (0..100_u64).zip(tasks) {
                assert_eq!(task.await, i * i);
            }
        });
    });
}

#[test]
fn the_loop_runs_other_tasks_while_a_closure_blocks() {
    serial(|| {
        looplet::block_on(async {
            let ticks = Rc::new(Cell::new(0_u32));
            let done = Rc::new(Cell::new(false));
            let ticker = looplet::spawn({
                let (ticks, done) = (ticks.clone(), done.clone());
                async move {
                    while !done.get() {
                        looplet::sleep(Duration::from_millis(1)).await;
                        ticks.set(ticks.get() + 1);
                    }
                }
            });
            let slept = looplet::unblock(|| {
                let start = Instant::now();
                thread::sleep(Duration::from_millis(200));
                start.elapsed()
            })
            .await;
            let during = ticks.get();
            done.set(true);
            ticker.await;
            assert!(slept >= Duration::from_millis(200));
            assert!(during > 0, "the ticker never ran while the closure blocked");
        });
    });
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_task_of_a_running_closure_discards_its_result_and_the_closure_finishes() {
    serial(|| {
        let finished = Arc::new(AtomicBool::new(false));
        let result_dropped = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        looplet::block_on(async {
            let task = looplet::unblock({
                let (finished, result_dropped) = (finished.clone(), result_dropped.clone());
                move || {
                    started_tx.send(()).unwrap();
                    go_rx.recv().ok(); // runs on after its Task is gone
                    finished.store(true, Ordering::SeqCst);
                    DropFlag(result_dropped)
                }
            });
            started_rx
                .recv_timeout(PATIENCE)
                .expect("the closure starts");
            drop(task);
        });
        assert!(!finished.load(Ordering::SeqCst));
        go_tx.send(()).unwrap();
        eventually("the closure finishes", || finished.load(Ordering::SeqCst));
        eventually("its result is dropped", || {
            result_dropped.load(Ordering::SeqCst)
        });
    });
}

#[test]
fn cancel_waits_for_a_running_closure_and_gives_none_or_the_finished_value() {
    serial(|| {
        let finished = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = mpsc::channel();
        looplet::block_on(async {
            let task = looplet::unblock({
                let finished = finished.clone();
                move || {
                    started_tx.send(()).unwrap();
                    thread::sleep(Duration::from_millis(50));
                    finished.store(true, Ordering::SeqCst);
                    5
                }
            });
            started_rx
                .recv_timeout(PATIENCE)
                .expect("the closure starts");
            assert_eq!(task.cancel().await, None);
            assert!(
                finished.load(Ordering::SeqCst),
                "cancel returned before the closure ended"
            );

            let task = looplet::unblock(|| 9);
            while !task.is_finished() {
                looplet::sleep(Duration::from_millis(1)).await;
            }
            assert_eq!(task.cancel().await, Some(9));
        });
    });
}

/// The child side of the next test: one pool thread (`BLOCKING_MAX_THREADS=1`), kept busy
/// while a queued closure's `Task` is dropped.
fn dropped_before_starting_child() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    let ran = Arc::new(AtomicBool::new(false));
    looplet::block_on(async {
        let busy = looplet::unblock(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().ok();
        });
        started_rx
            .recv_timeout(PATIENCE)
            .expect("the first closure starts");
        let queued = looplet::unblock({
            let ran = ran.clone();
            move || ran.store(true, Ordering::SeqCst)
        });
        drop(queued); // still in the queue: the only thread is busy
        release_tx.send(()).unwrap();
        busy.await;
        // One thread, first in first out: once this has run, the dropped one had its turn.
        looplet::unblock(|| ()).await;
    });
    assert!(
        !ran.load(Ordering::SeqCst),
        "a closure whose Task was dropped before it started ran"
    );
}

#[test]
fn dropping_the_task_of_a_closure_that_has_not_started_means_it_never_runs() {
    if std::env::var_os("LOOPLET_BLOCKING_CHILD").is_some() {
        return dropped_before_starting_child();
    }
    serial(|| {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "dropping_the_task_of_a_closure_that_has_not_started_means_it_never_runs",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("LOOPLET_BLOCKING_CHILD", "1")
            .env("BLOCKING_MAX_THREADS", "1")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "the child failed: {}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    });
}

#[test]
fn a_task_from_unblock_can_be_awaited_on_another_executor_and_thread() {
    serial(|| {
        // First awaited on one loop (which leaves that loop's waker with it), then awaited to
        // the end on another loop, on another thread.
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let mut task = looplet::unblock(move || {
            go_rx.recv().ok();
            "crossed"
        });
        let first = Executor::new();
        first.block_on(async {
            assert!(futures_util::poll!(&mut task).is_pending());
        });
        drop(first);
        let joined = thread::spawn(move || Executor::new().block_on(task));
        go_tx.send(()).unwrap();
        assert_eq!(joined.join().unwrap(), "crossed");

        // Made with no loop at all, awaited on a loop.
        let task = looplet::unblock(|| 11);
        assert_eq!(looplet::block_on(task), 11);
    });
}

#[test]
fn a_waiting_loop_sleeps_until_the_pool_wakes_it() {
    serial(|| {
        // The loop has nothing else to do: it must sleep in epoll and be woken by the pool
        // thread, many times in a row.
        let total = looplet::block_on(async {
            let mut total = 0;
            for i in 0..200_u64 {
                total += looplet::unblock(move || i).await;
            }
            total
        });
        assert_eq!(total, (0..200).sum::<u64>());
    });
}

#[test]
fn pool_threads_start_on_first_use_and_exit_when_idle() {
    serial(|| {
        // Earlier tests' threads exit after half a second idle.
        eventually("the pool is idle and empty", || pool_threads() == 0);

        // A loop with timers and tasks starts no thread of its own.
        looplet::block_on(async {
            looplet::spawn(looplet::sleep(Duration::from_millis(5))).await;
        });
        assert_eq!(pool_threads(), 0, "no thread before the first unblock");

        let peak = Arc::new(AtomicUsize::new(0));
        looplet::block_on(async {
            let (tx, rx) = mpsc::channel::<()>();
            let rx = Arc::new(Mutex::new(rx));
            // Eight closures that block until released: the pool grows to run them.
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let rx = rx.clone();
                    looplet::unblock(move || {
                        rx.lock().unwrap().recv().ok();
                    })
                })
                .collect();
            looplet::sleep(Duration::from_millis(20)).await;
            peak.store(pool_threads(), Ordering::SeqCst);
            drop(tx);
            for t in tasks {
                t.await;
            }
        });
        assert!(peak.load(Ordering::SeqCst) > 1, "the pool grew under load");
        eventually("the pool's threads exit once idle", || pool_threads() == 0);
    });
}

#[test]
fn an_io_error_from_the_pool_is_an_ordinary_value() {
    serial(|| {
        let err = looplet::block_on(looplet::unblock(|| {
            std::fs::read("/no/such/file").map(|_| ())
        }))
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    });
}

#[test]
fn the_thread_pool_example_ticks_while_the_pool_counts() {
    serial(|| {
        let report = looplet::block_on(thread_pool::run_in_executor(
            1_000_000,
            Duration::from_millis(1),
            Rc::new(|_| {}),
        ));
        assert_eq!(report.primes, 78_498);
        assert!(report.thread.starts_with("blocking-"), "{report:?}");
        assert!(
            report.ticks > 0,
            "the loop did not tick during the count: {report:?}"
        );
    });
}
