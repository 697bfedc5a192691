//! The child-process checks that must hold on both exit-watching paths (pidfd and SIGCHLD):
//! `tests/process.rs` runs them as they are, `tests/process_fallback.rs` with
//! `LOOPLET_NO_PIDFD=1`. Every wait is bounded, so a lost wake fails with a message.
#![allow(dead_code)] // each test binary uses its own subset

use std::future::Future;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use futures_util::{AsyncReadExt, AsyncWriteExt};
use looplet::process::{Command, Stdio};

/// Long enough for a loaded CI machine; only ever reached when something is lost.
pub const BOUND: Duration = Duration::from_secs(20);

/// Awaits `fut`, failing the test with `what` if it takes longer than [`BOUND`].
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match looplet::timeout(BOUND, fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: not done after {BOUND:?} (a lost wake?)"),
    }
}

/// `/proc/<pid>/stat`'s state letter and parent pid, or `None` if there is no such process.
pub fn proc_state(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ...": comm may hold spaces and parentheses; the last ')' ends it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether our child `pid` is gone: no such process, or the pid now names someone else's.
pub fn reaped(pid: u32) -> bool {
    match proc_state(pid) {
        None => true,
        Some((_, ppid)) => ppid != std::process::id(),
    }
}

/// Polls (on the loop) until our child `pid` has been reaped, within [`BOUND`].
pub async fn until_reaped(pid: u32) {
    bounded(&format!("reaping child {pid}"), async {
        while !reaped(pid) {
            looplet::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// Blocks (no loop) until `check` holds, within [`BOUND`].
pub fn block_until(what: &str, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < BOUND, "{what}: not after {BOUND:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn output_of_echo() {
    looplet::block_on(async {
        let output = bounded("echo", Command::new("echo").arg("hello").output()).await?;
        assert_eq!(output.stdout, b"hello\n");
        assert!(output.stderr.is_empty());
        assert!(output.status.success());
        io::Result::Ok(())
    })
    .unwrap();
}

pub fn exit_codes() {
    looplet::block_on(async {
        let three = Command::new("sh").args(["-c", "exit 3"]).status();
        assert_eq!(bounded("exit 3", three).await?.code(), Some(3));
        let fail = bounded("false", Command::new("false").status()).await?;
        assert_eq!((fail.code(), fail.success()), (Some(1), false));
        assert!(
            bounded("true", Command::new("true").status())
                .await?
                .success()
        );
        io::Result::Ok(())
    })
    .unwrap();
}

/// 1 MiB through `cat`, writing stdin while reading stdout: neither side can finish first.
pub fn a_mebibyte_through_cat_both_ways() {
    looplet::block_on(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let expected = data.clone();
        let writer = looplet::spawn(async move {
            stdin.write_all(&data).await?;
            drop(stdin); // cat's end of input
            io::Result::Ok(())
        });
        let mut echoed = Vec::new();
        bounded("reading cat", stdout.read_to_end(&mut echoed)).await?;
        writer.await?;
        assert_eq!(echoed.len(), expected.len());
        assert!(echoed == expected, "cat gave back different bytes");
        assert!(bounded("cat's exit", child.wait()).await?.success());
        io::Result::Ok(())
    })
    .unwrap();
}

pub fn kill_ends_a_sleeping_child() {
    looplet::block_on(async {
        let mut child = Command::new("sleep").arg("30").spawn()?;
        assert_eq!(child.try_wait()?, None);
        child.kill()?;
        let status = bounded("killed sleep", child.wait()).await?;
        assert_eq!(status.signal(), Some(9), "{status:?}");
        assert_eq!(child.id(), None);
        // A second kill, after the reap, must not signal whatever has that pid now.
        child.kill()?;
        assert_eq!(child.try_wait()?, Some(status));
        io::Result::Ok(())
    })
    .unwrap();
}

pub fn a_hundred_concurrent_children() {
    looplet::block_on(async {
        let children: Vec<_> = (0..100)
            .map(|i| {
                let out = Command::new("sh")
                    .args(["-c", "sleep 0.05; echo $0", &i.to_string()])
                    .output();
                looplet::spawn(out)
            })
            .collect();
        for (i, child) in children.into_iter().enumerate() {
            let output = bounded("a hundred children", child).await?;
            assert_eq!(output.stdout, format!("{i}\n").as_bytes());
            assert!(output.status.success());
        }
        io::Result::Ok(())
    })
    .unwrap();
}

/// A child that fills stderr before it writes stdout: reading one pipe at a time deadlocks.
pub fn stderr_flood_does_not_deadlock() {
    looplet::block_on(async {
        let child = Command::new("sh")
            .args(["-c", "head -c 1000000 /dev/zero >&2; echo out"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let output = bounded("stderr flood", child.wait_with_output()).await?;
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr.len(), 1_000_000);
        assert!(output.stderr.iter().all(|&b| b == 0));
        assert!(output.status.success());
        io::Result::Ok(())
    })
    .unwrap();
}

pub fn no_zombie_after_wait() {
    looplet::block_on(async {
        let mut child = Command::new("true").spawn()?;
        let pid = child.id().unwrap();
        bounded("true", child.wait()).await?;
        assert!(reaped(pid), "child {pid} left as {:?}", proc_state(pid));
        io::Result::Ok(())
    })
    .unwrap();
}

pub fn no_zombie_after_dropping_a_running_child() {
    looplet::block_on(async {
        let child = Command::new("sleep").arg("0.1").spawn()?;
        let pid = child.id().unwrap();
        drop(child);
        // Not killed: it runs to its end, then the reaper task on this loop reaps it.
        assert!(!reaped(pid));
        until_reaped(pid).await;
        io::Result::Ok(())
    })
    .unwrap();
}

pub fn kill_on_drop_kills_and_reaps() {
    looplet::block_on(async {
        let child = Command::new("sleep").arg("30").kill_on_drop(true).spawn()?;
        let pid = child.id().unwrap();
        drop(child);
        until_reaped(pid).await; // long before the 30 s are up
        io::Result::Ok(())
    })
    .unwrap();
}

/// With no loop running, a dropped child goes on the orphan list, which the next spawn sweeps.
pub fn dropped_without_a_loop_is_reaped_by_the_next_spawn() {
    let child = Command::new("true").spawn().unwrap();
    let pid = child.id().unwrap();
    drop(child);
    block_until("the orphan to exit", || {
        reaped(pid) || proc_state(pid).is_some_and(|(state, _)| state == 'Z')
    });
    // Another test's spawn may have reaped it already; if not, this one does.
    let mut next = Command::new("true").spawn().unwrap();
    assert!(reaped(pid), "orphan {pid} left as {:?}", proc_state(pid));
    looplet::block_on(async { bounded("true", next.wait()).await }).unwrap();
}

/// A reaper task whose loop is dropped before the child exits hands it to the orphan list.
pub fn dropped_loop_hands_its_reapers_to_the_orphan_list() {
    let ex = looplet::Executor::new();
    let pid = ex.block_on(async {
        let child = Command::new("sleep").arg("0.05").spawn().unwrap();
        let pid = child.id().unwrap();
        drop(child); // a reaper task is spawned on `ex` ...
        pid
    });
    drop(ex); // ... and dropped with it, the child still running
    block_until("the orphan to exit", || {
        reaped(pid) || proc_state(pid).is_some_and(|(state, _)| state == 'Z')
    });
    let mut next = Command::new("true").spawn().unwrap();
    assert!(reaped(pid), "orphan {pid} left as {:?}", proc_state(pid));
    looplet::block_on(async { bounded("true", next.wait()).await }).unwrap();
}

/// A task that holds a running child, dropped with its loop: the child is still reaped.
pub fn a_child_held_by_a_task_of_a_dropped_loop_is_reaped() {
    let ex = looplet::Executor::new();
    let (pid_tx, pid_rx) = std::sync::mpsc::channel();
    ex.spawn(async move {
        let mut child = Command::new("sleep").arg("0.05").spawn().unwrap();
        pid_tx.send(child.id().unwrap()).unwrap();
        let _ = child.wait().await; // never finishes: the loop is dropped first
    })
    .detach();
    ex.block_on(looplet::yield_now());
    let pid = pid_rx.recv().unwrap();
    drop(ex); // drops the task, so the Child, during the loop's own drop
    block_until("the orphan to exit", || {
        reaped(pid) || proc_state(pid).is_some_and(|(state, _)| state == 'Z')
    });
    let mut next = Command::new("true").spawn().unwrap();
    assert!(reaped(pid), "orphan {pid} left as {:?}", proc_state(pid));
    looplet::block_on(async { bounded("true", next.wait()).await }).unwrap();
}

pub fn writing_to_an_exited_child_is_broken_pipe() {
    looplet::block_on(async {
        let mut child = Command::new("true").stdin(Stdio::piped()).spawn()?;
        let mut stdin = child.stdin.take().unwrap();
        bounded("true", child.wait()).await?;
        // The reader is gone: EPIPE, and no SIGPIPE killing this test process.
        let err = stdin.write_all(&[0; 100_000]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        io::Result::Ok(())
    })
    .unwrap();
}

pub fn spawning_a_missing_program_is_not_found() {
    let err = Command::new("/no/such/program/looplet")
        .spawn()
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    looplet::block_on(async {
        let err = Command::new("no-such-program-looplet")
            .output()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let err = Command::new("true")
            .arg("nul\0byte")
            .status()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    });
}

/// Dropping a `wait` future leaves the child to be waited on again.
pub fn wait_is_cancel_safe() {
    looplet::block_on(async {
        let mut child = Command::new("sleep").arg("30").spawn()?;
        let early = looplet::timeout(Duration::from_millis(20), child.wait()).await;
        assert!(early.is_err(), "sleep 30 exited early: {early:?}");
        assert!(child.id().is_some());
        child.kill()?;
        let status = bounded("killed sleep", child.wait()).await?;
        assert_eq!(status.signal(), Some(9));
        io::Result::Ok(())
    })
    .unwrap();
}

/// `output()` nulls stdin and captures the rest; it leaves the command reusable.
pub fn output_defaults_and_reuse() {
    looplet::block_on(async {
        let mut cat = Command::new("cat");
        let first = bounded("cat with null stdin", cat.output()).await?;
        assert!(first.stdout.is_empty() && first.status.success());
        let again = bounded("cat again", cat.output()).await?;
        assert!(again.status.success());
        let mut echo = Command::new("echo");
        echo.arg("x").stdout(Stdio::null());
        let quiet = bounded("echo to null", echo.output()).await?;
        assert!(quiet.stdout.is_empty(), "a stdout the caller set is kept");
        io::Result::Ok(())
    })
    .unwrap();
}

/// Children waited on from tasks that start and end at different times.
pub fn children_waited_from_many_tasks() {
    looplet::block_on(async {
        let tasks: Vec<_> = [0.3, 0.0, 0.1, 0.2]
            .into_iter()
            .map(|secs| {
                looplet::spawn(async move {
                    let mut child = Command::new("sleep").arg(secs.to_string()).spawn()?;
                    child.wait().await
                })
            })
            .collect();
        for task in tasks {
            assert!(bounded("sleeps", task).await?.success());
        }
        io::Result::Ok(())
    })
    .unwrap();
}

/// Runs `test` in a child process of this test binary with `LOOPLET_NO_PIDFD=1` (the switch
/// is read once per process, so it cannot be flipped in this one), as the test called `name`:
/// the harness there runs just that test, and this one checks that it passed.
pub fn without_pidfd(name: &str, test: fn()) {
    if std::env::var_os("LOOPLET_NO_PIDFD").is_some() {
        // We are the child: make sure the fallback is what runs, then run the test.
        let mut probe = Command::new("true").spawn().unwrap();
        let shown = format!("{probe:?}");
        assert!(shown.contains("SIGCHLD"), "not on the fallback: {shown}");
        looplet::block_on(async { bounded("probe", probe.wait()).await }).unwrap();
        test();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("LOOPLET_NO_PIDFD", "1")
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .output()
        .expect("re-running this test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} without pidfd: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}
