//! Other threads against one loop: executors dropped while eight threads wake their tasks,
//! `Task` handles dropped or awaited on other threads, and a loop kept in a thread-local that
//! is dropped when its thread exits.
//!
//! Every test here crosses threads, so .ci/run also runs this file under ThreadSanitizer.
//! Every wait is bounded: a lost wake fails with a message instead of hanging.

use std::cell::{Cell, RefCell};
use std::future::{pending, poll_fn};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Poll, Waker};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use looplet::{Executor, Task};

/// Long enough for a loaded CI machine, or a sanitizer; only ever reached when a wake is lost.
const PATIENCE: Duration = Duration::from_secs(30);

/// Counts the live instances of a future's guard, and where they were dropped.
#[derive(Clone, Default)]
struct Census {
    live: Arc<AtomicUsize>,
    dropped_off_thread: Arc<AtomicUsize>,
}

/// A guard a task's future holds: it must be dropped on the thread that made it.
struct Guard {
    census: Census,
    home: ThreadId,
}

impl Census {
    fn guard(&self) -> Guard {
        self.live.fetch_add(1, Ordering::SeqCst);
        Guard {
            census: self.clone(),
            home: thread::current().id(),
        }
    }

    fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    fn dropped_off_thread(&self) -> usize {
        self.dropped_off_thread.load(Ordering::SeqCst)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if thread::current().id() != self.home {
            self.census
                .dropped_off_thread
                .fetch_add(1, Ordering::SeqCst);
        }
        self.census.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Eight threads wake every task of an executor as fast as they can, cloning and dropping
/// wakers as they go, while the loop runs, while it is idle between `block_on` calls, and
/// while it is dropped; they go on waking after it is gone. Each round, every future is
/// dropped with the executor, on its thread, and nothing aborts or hangs.
#[test]
fn executors_dropped_while_eight_threads_wake_their_tasks() {
    const ROUNDS: usize = 30;
    const TASKS: usize = 64;
    const WAKERS: usize = 8;
    for round in 0..ROUNDS {
        let census = Census::default();
        let ex = Executor::new();
        let (tx, rx) = mpsc::channel::<Waker>();
        let polls = Rc::new(Cell::new(0u64));
        for _ in 0..TASKS {
            let (guard, tx, polls) = (census.guard(), tx.clone(), polls.clone());
            // Pending forever; hands its waker out on the first poll.
            ex.spawn(async move {
                let _guard = guard;
                let mut tx = Some(tx);
                poll_fn(|cx| {
                    polls.set(polls.get() + 1);
                    if let Some(tx) = tx.take() {
                        tx.send(cx.waker().clone()).unwrap();
                    }
                    Poll::<()>::Pending
                })
                .await
            })
            .detach();
        }
        drop(tx);
        ex.block_on(looplet::yield_now()); // every task parks and hands out its waker
        let wakers: Vec<Waker> = rx.iter().collect();
        assert_eq!(wakers.len(), TASKS);
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = wakers
            .chunks(TASKS / WAKERS)
            .map(|chunk| {
                let (chunk, stop) = (chunk.to_vec(), stop.clone());
                thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for waker in &chunk {
                            if n.is_multiple_of(3) {
                                // A clone of our own, woken by value: its refcount races too.
                                let clone = waker.clone();
                                clone.wake();
                            } else {
                                waker.wake_by_ref();
                            }
                            n += 1;
                        }
                    }
                    // And after the executor is gone: these do nothing.
                    for waker in &chunk {
                        waker.wake_by_ref();
                    }
                    n
                })
            })
            .collect();
        // Run while they wake, rest idle a moment (wakes then queue up), then drop.
        let deadline = Instant::now() + PATIENCE;
        while polls.get() < (TASKS * 4) as u64 {
            ex.block_on(async {
                for _ in 0..50 {
                    looplet::yield_now().await;
                }
            });
            assert!(
                Instant::now() < deadline,
                "round {round}: the tasks were polled only {} times: wakes are lost",
                polls.get()
            );
        }
        thread::sleep(Duration::from_millis(1));
        drop(ex);
        assert_eq!(
            census.live(),
            0,
            "round {round}: a future outlived its executor"
        );
        stop.store(true, Ordering::Relaxed);
        let wakes: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(wakes > 0);
        drop(wakers); // the last references: frees the tasks, on this thread or another
        assert_eq!(
            census.dropped_off_thread(),
            0,
            "round {round}: a !Send future was dropped on a waking thread"
        );
    }
}

/// `Task<T>` is `Send` when `T` is: handles dropped on another thread cancel their tasks, and
/// the loop, asleep in `block_on`, wakes to drop the (`!Send`) futures on its own thread.
#[test]
fn task_handles_dropped_on_other_threads_cancel_their_tasks() {
    const TASKS: usize = 100;
    let census = Census::default();
    let dropped = Rc::new(Cell::new(0usize));
    let waiting: Rc<RefCell<Option<Waker>>> = Rc::default();
    let ex = Executor::new();
    let tasks: Vec<Task<u32>> = (0..TASKS)
        .map(|_| {
            let guard = census.guard();
            // !Send state, woken on drop: proves the future is dropped on the loop.
            let on_drop = DropSignal(dropped.clone(), waiting.clone());
            ex.spawn(async move {
                let _guard = guard;
                let _on_drop = on_drop;
                pending::<u32>().await
            })
        })
        .collect();
    ex.block_on(looplet::yield_now()); // they park
    assert_eq!(census.live(), TASKS);
    let dropper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20)); // the loop falls asleep first
        drop(tasks);
    });
    let all_dropped = ex.block_on(looplet::timeout(
        PATIENCE,
        poll_fn(|cx| {
            if dropped.get() == TASKS {
                return Poll::Ready(());
            }
            *waiting.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }),
    ));
    dropper.join().unwrap();
    assert!(
        all_dropped.is_ok(),
        "{} of {TASKS} cancelled futures dropped: the loop missed a cancel from another thread",
        dropped.get()
    );
    assert_eq!(census.live(), 0);
    assert_eq!(census.dropped_off_thread(), 0);
    // The loop goes on.
    assert_eq!(ex.block_on(ex.spawn(async { 5 })), 5);
}

/// Wakes whoever waits in `.1` and counts in `.0` when dropped.
struct DropSignal(Rc<Cell<usize>>, Rc<RefCell<Option<Waker>>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
        if let Some(waker) = self.1.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// A finished task's handle dropped on another thread drops the output there (it is `Send`);
/// an unfinished one dropped after its executor is gone is harmless; a `Task` awaited from a
/// loop on another thread gets its output when the task's own loop runs it.
#[test]
fn task_handles_on_other_threads_finished_unfinished_and_awaited() {
    #[derive(Debug)]
    struct Output(Arc<Mutex<Vec<ThreadId>>>);
    impl Drop for Output {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(thread::current().id());
        }
    }
    let drops = Arc::new(Mutex::new(Vec::new()));
    let ex = Executor::new();
    let d = drops.clone();
    let finished = ex.spawn(async move { Output(d) });
    ex.block_on(looplet::yield_now());
    assert!(finished.is_finished());
    let other = thread::spawn(move || {
        drop(finished);
        thread::current().id()
    })
    .join()
    .unwrap();
    assert_eq!(
        *drops.lock().unwrap(),
        [other],
        "dropped once, where the handle was"
    );

    // Unfinished, its executor dropped, then the handle dropped elsewhere.
    let census = Census::default();
    let guard = census.guard();
    let orphan = ex.spawn(async move {
        let _guard = guard;
        pending::<u8>().await
    });
    ex.block_on(looplet::yield_now());
    drop(ex);
    assert_eq!(census.live(), 0);
    thread::spawn(move || drop(orphan)).join().unwrap();

    // Awaited from another thread's loop, while this thread's loop runs the task.
    let ex = Executor::new();
    let (tx, rx) = mpsc::channel();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let task = ex.spawn(async move {
        s.store(true, Ordering::SeqCst);
        let go: Rc<Cell<bool>> = Rc::default(); // !Send state across an await
        looplet::sleep(Duration::from_millis(5)).await;
        go.set(true);
        41 + u32::from(go.get())
    });
    let awaiter = thread::spawn(move || {
        let got = looplet::block_on(looplet::timeout(PATIENCE, task));
        tx.send(()).unwrap();
        got
    });
    let seen = ex.block_on(looplet::timeout(PATIENCE, async {
        loop {
            if rx.try_recv().is_ok() {
                break;
            }
            looplet::sleep(Duration::from_millis(1)).await;
        }
    }));
    assert!(seen.is_ok(), "the awaiting thread never got the output");
    assert_eq!(awaiter.join().unwrap(), Ok(42));
    assert!(started.load(Ordering::SeqCst));
}

thread_local! {
    /// A loop that lives as long as its thread, dropped by the thread-local destructors.
    static LOOP: Executor = Executor::new();
}

/// A loop kept in a thread-local, with parked tasks holding a socket, a pending accept,
/// timers, a child process and destructors that spawn, is dropped when its thread exits:
/// every future is dropped there, nothing panics or aborts, and the socket's fd is closed.
#[test]
fn a_loop_in_a_thread_local_is_dropped_at_thread_exit() {
    /// Spawns onto the dying loop from its destructor (the loop drops that task too).
    struct SpawnsOnDrop(Guard);
    impl Drop for SpawnsOnDrop {
        fn drop(&mut self) {
            let guard = self.0.census.guard();
            if let Ok(task) = looplet::try_spawn(async move {
                let _guard = guard;
                pending::<()>().await
            }) {
                task.detach();
            }
        }
    }
    let census = Census::default();
    let c = census.clone();
    let (listener_fd, listener_inode, child_pid) = thread::spawn(move || {
        LOOP.with(|ex| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
            let inode = fd_target(fd).expect("the listener's fd is open");
            let listener = looplet::net::TcpListener::from_std(listener).unwrap();
            let guard = c.guard();
            ex.spawn(async move {
                let _guard = guard;
                let _ = listener.accept().await;
            })
            .detach();
            let child = looplet::process::Command::new("sleep")
                .arg("30")
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let pid = child.id().unwrap();
            let guard = c.guard();
            ex.spawn(async move {
                let _guard = guard;
                let mut child = child;
                let _ = child.wait().await;
            })
            .detach();
            let guard = SpawnsOnDrop(c.guard());
            ex.spawn(async move {
                let _guard = guard;
                looplet::sleep(Duration::from_secs(3600)).await;
            })
            .detach();
            let guard = c.guard();
            ex.block_on(async move {
                looplet::call_later(Duration::from_secs(3600), move || drop(guard));
                looplet::yield_now().await;
            });
            assert_eq!(c.live(), 4);
            (fd, inode, pid)
        })
    })
    .join()
    .expect("the thread and its loop's drop did not panic");
    assert_eq!(census.live(), 0, "every future and callback was dropped");
    assert_eq!(census.dropped_off_thread(), 0);
    assert_ne!(
        fd_target(listener_fd),
        Some(listener_inode),
        "the listener's fd was closed with its loop"
    );
    // The killed child is reaped by the next child operation, or stays a zombie of ours
    // until then: either way it no longer runs `sleep 30`.
    let deadline = Instant::now() + PATIENCE;
    while std::fs::read_to_string(format!("/proc/{child_pid}/stat"))
        .is_ok_and(|stat| !stat.contains(") Z ") && !stat.contains(") X "))
    {
        assert!(Instant::now() < deadline, "the child was never killed");
        thread::sleep(Duration::from_millis(5));
    }
}

/// What `fd` names (`socket:[inode]`, ...), if it is open.
fn fd_target(fd: i32) -> Option<String> {
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    Some(target.to_string_lossy().into_owned())
}
