//! The graceful-shutdown example's self-test, run unattended: `SIGINT` mid-traffic, every
//! open connection completes, the port refuses new ones. A binary of its own, because the
//! signal goes to the whole process.

#[allow(dead_code)]
#[path = "../examples/graceful_shutdown.rs"]
mod graceful_shutdown;

use std::sync::Mutex;

use rustix::process::Signal;

/// Each server listens for both signals, so the tests take turns.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn sigint_mid_traffic_lets_every_open_connection_finish() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let report = looplet::block_on(graceful_shutdown::self_test(20, Signal::INT, |line| {
        println!("{line}")
    }))
    .unwrap();
    assert!(report.passed(), "{report:#?}");
}

#[test]
fn sigterm_does_the_same() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let report = looplet::block_on(graceful_shutdown::self_test(5, Signal::TERM, |line| {
        println!("{line}")
    }))
    .unwrap();
    assert!(report.passed(), "{report:#?}");
}
