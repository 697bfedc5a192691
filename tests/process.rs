//! Child processes on the pidfd path (the fallback runs the same checks in
//! `tests/process_fallback.rs`; descriptor counts are in `tests/process_fds.rs`).

mod process_core;

#[allow(dead_code)]
#[path = "../examples/subprocess.rs"]
mod subprocess;

use std::future::Future;
use std::io;
use std::time::Duration;

use looplet::process::{Command, Stdio};
use process_core::bounded;

macro_rules! core_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                process_core::$name();
            }
        )*
    };
}

core_tests!(
    output_of_echo,
    exit_codes,
    a_mebibyte_through_cat_both_ways,
    kill_ends_a_sleeping_child,
    a_hundred_concurrent_children,
    stderr_flood_does_not_deadlock,
    no_zombie_after_wait,
    no_zombie_after_dropping_a_running_child,
    kill_on_drop_kills_and_reaps,
    dropped_without_a_loop_is_reaped_by_the_next_spawn,
    dropped_loop_hands_its_reapers_to_the_orphan_list,
    a_child_held_by_a_task_of_a_dropped_loop_is_reaped,
    writing_to_an_exited_child_is_broken_pipe,
    spawning_a_missing_program_is_not_found,
    wait_is_cancel_safe,
    output_defaults_and_reuse,
    children_waited_from_many_tasks,
);

/// This kernel has pidfds (5.3+), so children use them: no SIGCHLD handler, no thread.
#[test]
fn children_are_watched_through_a_pidfd() {
    let mut child = Command::new("true").spawn().unwrap();
    let shown = format!("{child:?}");
    assert!(shown.contains("pidfd"), "{shown}");
    looplet::block_on(async { bounded("true", child.wait()).await }).unwrap();
    assert!(format!("{child:?}").contains("reaped"));
}

/// The loop keeps running other tasks while a child runs: waiting costs no blocking.
#[test]
fn the_loop_runs_while_a_child_sleeps() {
    looplet::block_on(async {
        let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let counter = ticks.clone();
        let ticker = looplet::spawn(async move {
            loop {
                looplet::sleep(Duration::from_millis(10)).await;
                counter.set(counter.get() + 1);
            }
        });
        let status = bounded("sleep", Command::new("sleep").arg("0.2").status()).await?;
        assert!(status.success());
        drop(ticker);
        // A wait that blocked the thread would leave the ticker no turn at all.
        assert!(
            ticks.get() >= 2,
            "only {} ticks while the child slept",
            ticks.get()
        );
        io::Result::Ok(())
    })
    .unwrap();
}

/// Two children chained like `echo | tr`, the first one's stdout handed to the second.
#[test]
fn a_pipeline_between_two_children() {
    looplet::block_on(async {
        let mut first = Command::new("echo")
            .arg("pipeline")
            .stdout(Stdio::piped())
            .spawn()?;
        let piped: Stdio = first.stdout.take().unwrap().try_into()?;
        let out = Command::new("tr")
            .args(["a-z", "A-Z"])
            .stdin(piped)
            .output();
        let output = bounded("echo | tr", out).await?;
        assert_eq!(output.stdout, b"PIPELINE\n");
        assert!(bounded("echo", first.wait()).await?.success());
        io::Result::Ok(())
    })
    .unwrap();
}

/// Waiting outside any loop is an error, not a hang or a panic.
#[test]
fn waiting_with_no_loop_is_an_error() {
    let mut child = Command::new("sleep")
        .arg("30")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    {
        let mut wait = std::pin::pin!(child.wait());
        match wait.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Err(err)) => {
                assert!(err.to_string().contains("no looplet loop"), "{err}")
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
    drop(child); // killed, and with no loop put on the orphan list
    process_core::block_until("the killed orphan to be reaped by a spawn", || {
        let _ = Command::new("true").spawn().map(drop);
        process_core::reaped(pid)
    });
}

/// The subprocess example: three children, the loop ticking meanwhile.
#[test]
fn the_subprocess_example() {
    let report = looplet::block_on(bounded("the example", subprocess::run(|_| {}))).unwrap();
    let codes: Vec<_> = report.children.iter().map(|(_, code)| *code).collect();
    assert_eq!(codes, [Some(0), Some(3), Some(0)]);
    assert_eq!(report.children[0].0, "done");
    assert_eq!(report.children[2].0, "WRITTEN TO A CHILD'S STDIN");
    assert!(report.ticks >= 2, "{} ticks", report.ticks);
}

#[cfg(target_os = "linux")] // pidfds and /proc/self/status
const SIG_IGN_CHILD_ENV: &str = "LOOPLET_PROCESS_SIG_IGN_CHILD";

/// Whether this process ignores `SIGCHLD` (`/proc/self/status`'s `SigIgn` mask).
#[cfg(target_os = "linux")]
fn sigchld_ignored() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .expect("a SigIgn line");
    let mask = u64::from_str_radix(mask.trim(), 16).unwrap();
    mask & (1 << (libc::SIGCHLD - 1)) != 0
}

/// The child of [`a_host_that_ignores_sigchld_keeps_its_auto_reaping`].
#[cfg(target_os = "linux")]
fn sig_ign_host() {
    // SAFETY: SIG_IGN runs no code; nothing in this process has a SIGCHLD handler yet.
    let old = unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    assert_ne!(old, libc::SIG_ERR);
    assert!(sigchld_ignored());
    let pidfds = rustix::process::pidfd_open(
        rustix::process::getpid(),
        rustix::process::PidfdFlags::empty(),
    )
    .is_ok();
    if !pidfds {
        eprintln!("no pidfds on this kernel: the fallback installs its handler, by design");
        return;
    }
    looplet::block_on(async {
        for _ in 0..100 {
            let mut child = Command::new("true").spawn()?;
            // A pidfd, or none if the kernel reaped it before pidfd_open: never SIGCHLD.
            let shown = format!("{child:?}");
            assert!(!shown.contains("SIGCHLD"), "{shown}");
            // The kernel reaps it: the wait says ECHILD, as std's would.
            let err = bounded("true", child.wait()).await.unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ECHILD), "{err}");
        }
        io::Result::Ok(())
    })
    .unwrap();
    assert!(sigchld_ignored(), "SIGCHLD no longer ignored");
    // And the host's own children are still reaped by the kernel, waited for or not.
    let std_child = std::process::Command::new("true").spawn().unwrap();
    let pid = std_child.id();
    drop(std_child);
    process_core::block_until("the kernel to reap a std child", || {
        process_core::reaped(pid)
    });
}

/// A host that set `SIGCHLD` to `SIG_IGN` (so that the kernel reaps its children) keeps
/// that after looplet spawns and waits: with pidfds no `SIGCHLD` handler is installed. In a
/// child, since the disposition is the whole process's.
#[cfg(target_os = "linux")]
#[test]
fn a_host_that_ignores_sigchld_keeps_its_auto_reaping() {
    if std::env::var_os(SIG_IGN_CHILD_ENV).is_some() {
        return sig_ign_host();
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_host_that_ignores_sigchld_keeps_its_auto_reaping",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(SIG_IGN_CHILD_ENV, "1")
        .env_remove("LOOPLET_NO_PIDFD")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What `From<std::process::Command>` and `output()` promise about stdio set on the std
/// command: it holds for `spawn` and `status` until the first `output()`, which captures
/// instead and then leaves the streams at inherit (a std command's stdio cannot be read
/// back). Stdio set through looplet's `Command` is kept.
#[test]
fn output_resets_stdio_set_on_the_std_command_to_inherit() {
    let path = std::env::temp_dir().join(format!("looplet-process-{}-from", std::process::id()));
    // The last status() inherits the test's stdout: this line shows in the test's output.
    const LINE: &str = "looplet test: a line on inherited stdout, as expected";
    let mut std_command = std::process::Command::new("echo");
    std_command
        .arg(LINE)
        .stdout(std::fs::File::create(&path).unwrap());
    let mut command = Command::from(std_command);
    looplet::block_on(async {
        assert!(bounded("status", command.status()).await?.success());
        let output = bounded("output", command.output()).await?;
        assert_eq!(
            output.stdout,
            format!("{LINE}\n").as_bytes(),
            "output() captures"
        );
        assert!(bounded("status again", command.status()).await?.success());
        io::Result::Ok(())
    })
    .unwrap();
    let in_file = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(
        in_file,
        format!("{LINE}\n").as_bytes(),
        "only the status() before output() wrote to the file"
    );

    let path = std::env::temp_dir().join(format!("looplet-process-{}-set", std::process::id()));
    let mut command = Command::new("echo");
    command
        .arg("line")
        .stdout(std::fs::File::create(&path).unwrap());
    looplet::block_on(async {
        let output = bounded("output", command.output()).await?;
        assert!(output.stdout.is_empty(), "a stdout set here is kept");
        assert!(bounded("status", command.status()).await?.success());
        io::Result::Ok(())
    })
    .unwrap();
    let in_file = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(in_file, b"line\nline\n");
}

/// A wait cut short has closed stdin (`Child::wait`'s docs); one never polled has not.
#[test]
fn a_cancelled_wait_has_closed_stdin() {
    looplet::block_on(async {
        let mut child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        drop(child.wait()); // never polled
        assert!(child.stdin.is_some());
        let early = looplet::timeout(Duration::from_millis(20), child.wait()).await;
        assert!(early.is_err(), "sleep 30 exited early: {early:?}");
        assert!(child.stdin.is_none(), "the cancelled wait closed stdin");
        assert!(child.id().is_some(), "and left the child to be waited on");
        child.kill()?;
        bounded("killed sleep", child.wait()).await?;
        io::Result::Ok(())
    })
    .unwrap();
}

const SIGPIPE_CHILD_ENV: &str = "LOOPLET_PROCESS_SIGPIPE_CHILD";

/// The child of [`a_piped_stdin_ends_sigpipe_for_the_whole_process`]: `SIGPIPE` at its
/// default, as a CLI tool sets it; after a spawn with a piped stdin (in `"spawn"` mode), a
/// write to a pipe of its own whose reader has gone.
fn sigpipe_host(mode: &str) {
    // SAFETY: SIG_DFL runs no code; nothing in this process has a SIGPIPE handler yet.
    let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(old, libc::SIG_ERR);
    if mode == "spawn" {
        let mut child = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
        looplet::block_on(async { bounded("true", child.wait()).await }).unwrap();
    }
    let (reader, mut writer) = io::pipe().unwrap();
    drop(reader);
    let err = io::Write::write(&mut writer, b"nobody reads this\n").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
}

/// `Command::spawn`'s docs: the first spawn with a piped stdin installs a do-nothing
/// `SIGPIPE` action for the whole process, for good. A host that had the default is
/// ended by a write to a broken pipe before, and gets `EPIPE` after.
#[test]
fn a_piped_stdin_ends_sigpipe_for_the_whole_process() {
    use std::os::unix::process::ExitStatusExt;
    if let Some(mode) = std::env::var_os(SIGPIPE_CHILD_ENV) {
        return sigpipe_host(mode.to_str().unwrap());
    }
    for mode in ["plain", "spawn"] {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_piped_stdin_ends_sigpipe_for_the_whole_process",
                "--test-threads",
                "1",
            ])
            .env(SIGPIPE_CHILD_ENV, mode)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let expected = if mode == "plain" {
            Some(libc::SIGPIPE)
        } else {
            None
        };
        assert_eq!(
            (
                output.status.signal(),
                mode == "plain" || output.status.success()
            ),
            (expected, true),
            "{mode}: {:?}\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
