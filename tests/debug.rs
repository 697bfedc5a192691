//! Seeing inside a loop: the task dump, slow-poll reports (through the hook, and on stderr
//! with `LOOPLET_DEBUG=1` in a child process), and metrics that match a known workload.

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use looplet::task::{self, TaskState};
use looplet::{Executor, sleep};

#[test]
fn the_dump_lists_a_parked_task_with_its_name_and_spawn_location() {
    looplet::block_on(async {
        let line = line!() + 1;
        let plain = looplet::spawn(sleep(Duration::from_secs(60)));
        let named = task::Builder::new()
            .name("conn 42")
            .spawn(std::future::pending::<()>());
        looplet::yield_now().await; // both run once and park
        let tasks = looplet::all_tasks();
        assert_eq!(tasks.len(), 2);
        let plain_info = tasks.iter().find(|t| t.name.is_none()).unwrap();
        assert_eq!(plain_info.location.file(), file!());
        assert_eq!(plain_info.location.line(), line);
        assert_eq!(plain_info.state, TaskState::Waiting);
        assert_eq!((plain_info.polls, plain_info.age), (None, None));
        let named_info = tasks.iter().find(|t| t.name.is_some()).unwrap();
        assert_eq!(named_info.name.as_deref(), Some("conn 42"));
        // A method chain's location is the line of its `.spawn(`.
        assert_eq!(named_info.location.line(), line + 3);
        assert!(named_info.age.is_some());
        let table = tasks.to_string();
        assert!(table.contains("conn 42"), "{table}");
        assert!(
            table.contains(&format!("{}:{}", file!(), line + 3)),
            "{table}"
        );
        assert!(table.starts_with("looplet: 2 tasks (0 queued, 0 running, 2 waiting)"));
        drop((plain, named));
    });
}

#[test]
fn queued_tasks_show_as_queued_and_unpolled_ones_are_counted() {
    let ex = Executor::new();
    let waiting = ex.spawn(std::future::pending::<()>());
    let named = ex.handle().spawn(async {});
    assert_eq!(ex.all_tasks().len(), 0);
    assert_eq!(ex.all_tasks().unpolled(), 2);
    assert!(ex.try_tick() && ex.try_tick());
    let woken = ex.spawn(async {
        looplet::yield_now().await; // wakes itself: queued, and registered
        std::future::pending::<()>().await
    });
    assert!(ex.try_tick());
    let tasks = ex.all_tasks();
    let states: Vec<TaskState> = tasks.iter().map(|t| t.state).collect();
    assert_eq!(states.len(), 2);
    assert!(states.contains(&TaskState::Waiting) && states.contains(&TaskState::Queued));
    assert_eq!(tasks.unpolled(), 0);
    assert!(named.is_finished());
    drop((waiting, woken));
    ex.try_tick();
}

#[test]
fn under_the_debug_option_tasks_carry_their_polls_and_the_caller_shows_as_running() {
    let ex = Executor::builder().debug(true).build().unwrap();
    ex.block_on(async {
        let sleeper = task::Builder::new()
            .name("sleeper")
            .spawn(sleep(Duration::from_secs(60)));
        let me = looplet::spawn(async {
            looplet::yield_now().await; // parks once: registered
            let tasks = looplet::all_tasks();
            let me = tasks.iter().find(|t| t.state == TaskState::Running);
            assert!(me.is_some(), "the caller is known to be running:\n{tasks}");
            tasks.len()
        });
        let tasks = looplet::all_tasks();
        assert_eq!(tasks.len(), 1, "the named task, from its spawn");
        assert_eq!(tasks.unpolled(), 1);
        assert_eq!(tasks[0].polls, Some(0));
        assert_eq!(me.await, 2);
        let tasks = looplet::all_tasks();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].name.as_deref(), Some("sleeper"));
        assert_eq!(tasks[0].polls, Some(1));
        drop(sleeper);
    });
}

#[test]
fn a_slow_first_poll_that_finishes_the_task_is_reported_without_a_location() {
    let reports = slow_reports(|ex| {
        ex.block_on(ex.spawn(async { std::thread::sleep(Duration::from_millis(150)) }));
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert!(
        reports[0].contains(" spawned at ?> took "),
        "{}",
        reports[0]
    );
}

fn slow_reports(run: impl FnOnce(&Executor)) -> Vec<String> {
    let reports = Rc::new(RefCell::new(Vec::new()));
    let sink = reports.clone();
    let ex = Executor::builder()
        .slow_poll_threshold(Duration::from_millis(100))
        .on_slow_poll(move |slow| sink.borrow_mut().push(slow.to_string()))
        .build()
        .unwrap();
    run(&ex);
    drop(ex);
    Rc::try_unwrap(reports).unwrap().into_inner()
}

#[test]
fn a_150_ms_blocking_poll_is_reported_once_and_100_000_fast_ones_never() {
    let reports = slow_reports(|ex| {
        ex.block_on(async {
            let line = line!() + 1;
            let blocker = task::Builder::new().name("blocker").spawn(async {
                looplet::yield_now().await;
                std::thread::sleep(Duration::from_millis(150)); // blocks the loop
                looplet::yield_now().await;
            });
            let fast = looplet::spawn(async {
                for _ in 0..100_000 {
                    looplet::yield_now().await;
                }
            });
            blocker.await;
            fast.await;
            line
        });
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let report = &reports[0];
    assert!(
        report.starts_with("looplet: executing <Task name='blocker' id=0x"),
        "{report}"
    );
    assert!(
        report.contains(&format!("spawned at {}:", file!())),
        "{report}"
    );
    assert!(report.ends_with(" seconds"), "{report}");
    let seconds: f64 = report
        .rsplit(" took ")
        .next()
        .and_then(|s| s.strip_suffix(" seconds"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(seconds >= 0.150, "{report}");
}

#[test]
fn without_the_debug_option_nothing_is_timed() {
    let reports = Rc::new(RefCell::new(Vec::new()));
    let sink = reports.clone();
    let ex = Executor::builder()
        .slow_poll_threshold(Duration::ZERO)
        .debug(false)
        .on_slow_poll(move |slow| sink.borrow_mut().push(slow.to_string()))
        .build()
        .unwrap();
    ex.block_on(ex.spawn(async { std::thread::sleep(Duration::from_millis(5)) }));
    assert!(reports.borrow().is_empty());
    assert_eq!(ex.metrics().time_asleep, None);
}

/// Not a test on its own: the child process of the next test, which runs with
/// `LOOPLET_DEBUG=1` and blocks its loop once.
#[test]
fn child_blocks_its_loop_once() {
    if std::env::var_os("LOOPLET_DEBUG_TEST_CHILD").is_none() {
        return;
    }
    looplet::block_on(async {
        task::Builder::new()
            .name("child blocker")
            .spawn(async { std::thread::sleep(Duration::from_millis(150)) })
            .await;
        for _ in 0..1000 {
            looplet::spawn(async {}).await;
        }
    });
}

#[test]
fn looplet_debug_1_reports_slow_polls_on_stderr() {
    let run = |debug: &str| {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_blocks_its_loop_once", "--nocapture"])
            .env("LOOPLET_DEBUG_TEST_CHILD", "1")
            .env("LOOPLET_DEBUG", debug)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let stderr = run("1");
    let reports: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("looplet: executing <Task"))
        .collect();
    assert_eq!(reports.len(), 1, "{stderr}");
    assert!(reports[0].contains("name='child blocker'"), "{stderr}");
    assert!(reports[0].contains(file!()), "{stderr}");
    let stderr = run("0");
    assert!(!stderr.contains("looplet: executing"), "{stderr}");
}

#[test]
fn metrics_count_a_known_workload_exactly() {
    let ex = Executor::new();
    ex.block_on(async {
        // 3 tasks, each polled twice (one yield): 6 task polls, 3 local wakes.
        let tasks: Vec<_> = (0..3)
            .map(|_| looplet::spawn(looplet::yield_now()))
            .collect();
        for task in tasks {
            task.await;
        }
        // Two timers that fire, one that is cancelled, one never armed (ready at once).
        sleep(Duration::from_millis(50)).await;
        sleep(Duration::from_millis(1)).await;
        let never = looplet::timeout(Duration::from_secs(60), async { 5 }).await;
        assert_eq!(never, Ok(5));
        let cancelled = looplet::call_later(Duration::from_secs(60), || {});
        assert!(cancelled.cancel());
        // One wake from another thread.
        looplet::unblock(|| ()).await;
    });
    let m = ex.metrics();
    assert_eq!(m.tasks_spawned, 3);
    assert_eq!(m.tasks_alive, 0);
    assert_eq!(m.queue_depth, 0);
    assert_eq!(m.timers_started, 3);
    assert_eq!(m.timers_fired, 2);
    assert_eq!(m.timers_armed, 0);
    assert_eq!(
        m.remote_wakes, 0,
        "the block_on future's own wake is not a task's"
    );
    // Task wakes on the loop's thread: the three yields.
    assert_eq!(m.local_wakes, 3);
    // Jobs: 6 task polls; the block_on future polled at its start, once more when the first
    // task it awaits is done (the other two are done by then), after each sleep, and after
    // the pool job.
    assert_eq!(m.polls, 6 + 1 + 1 + 2 + 1);
    // How often the loop slept depends on timing (under valgrind a 1 ms sleep or the pool's
    // reply can be over before the loop gets to its wait); a 50 ms sleep always needs one.
    assert!(m.waits >= 1, "slept at least for the 50 ms timer: {m:?}");
    assert_eq!(m.io_events, 0);
    assert_eq!(
        (m.queue_depth_max, m.time_asleep, m.time_busy),
        (None, None, None)
    );
}

#[test]
fn debug_metrics_keep_the_clock_readings() {
    let ex = Executor::builder().debug(true).build().unwrap();
    ex.block_on(async {
        let tasks: Vec<_> = (0..4).map(|_| looplet::spawn(async {})).collect();
        for task in tasks {
            task.await;
        }
        sleep(Duration::from_millis(20)).await;
    });
    let m = ex.metrics();
    assert!(m.queue_depth_max.unwrap() >= 3, "{m:?}");
    // The 20 ms sleep counts from the call, so the loop sleeps for less than 20 ms if it was
    // busy in between (much less under valgrind); asleep and busy together cover it.
    let (asleep, busy) = (m.time_asleep.unwrap(), m.time_busy.unwrap());
    assert!(asleep > Duration::ZERO, "{m:?}");
    assert!(asleep + busy >= Duration::from_millis(20), "{m:?}");
}
