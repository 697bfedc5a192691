//! Child processes leak no file descriptor, on any path: spawned, waited, dropped, failed.
//!
//! This file is its own test binary and its tests take turns (they share a lock), so the
//! process's descriptor count is theirs alone. The fallback's test re-runs this binary with
//! `LOOPLET_NO_PIDFD=1`, for that one test.

mod process_core;

use std::io;
use std::sync::Mutex;

use looplet::process::{Command, Stdio};
use process_core::{bounded, until_reaped};

static SERIAL: Mutex<()> = Mutex::new(());

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Spawns, waits, pipes, kills and drops children; returns once every one is reaped.
fn a_bit_of_everything() {
    looplet::block_on(async {
        // Every stream piped, collected concurrently.
        let outputs: Vec<_> = (0..20)
            .map(|i| {
                looplet::spawn(
                    Command::new("sh")
                        .args(["-c", "cat; echo $0 >&2", &i.to_string()])
                        .stdin(Stdio::piped())
                        .output(),
                )
            })
            .collect();
        for output in outputs {
            assert!(bounded("outputs", output).await?.status.success());
        }
        // Dropped while running, with and without kill_on_drop: reaper tasks on this loop.
        let mut pids = Vec::new();
        for kill in [true, false] {
            let child = Command::new("sleep")
                .arg(if kill { "30" } else { "0.05" })
                .stdout(Stdio::piped())
                .kill_on_drop(kill)
                .spawn()?;
            pids.push(child.id().unwrap());
        }
        for pid in pids {
            until_reaped(pid).await;
        }
        // Killed and waited.
        let mut child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::piped())
            .spawn()?;
        child.kill()?;
        bounded("killed sleep", child.wait()).await?;
        drop(child);
        // Spawns that fail, with pipes asked for.
        for _ in 0..20 {
            let err = Command::new("/no/such/program/looplet")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound);
        }
        io::Result::Ok(())
    })
    .unwrap();
}

fn check_descriptors_return_to_baseline() {
    // Warm up once (the first spawn reads the environment, the first loop its thread-locals).
    looplet::block_on(async { bounded("warm up", Command::new("true").status()).await }).unwrap();
    let baseline = open_fds();
    a_bit_of_everything();
    assert_eq!(open_fds(), baseline, "descriptors leaked");
    a_bit_of_everything();
    assert_eq!(
        open_fds(),
        baseline,
        "descriptors leaked on the second round"
    );
}

#[test]
fn descriptors_return_to_baseline() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    check_descriptors_return_to_baseline();
}

/// Without pidfds: the thread's SIGCHLD listener (a socket pair) goes once no child waits.
#[test]
fn descriptors_return_to_baseline_without_pidfd() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    process_core::without_pidfd(
        "descriptors_return_to_baseline_without_pidfd",
        check_descriptors_return_to_baseline,
    );
}
