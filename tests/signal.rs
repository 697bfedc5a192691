//! Signals: every listener hears every delivery, on one loop or several, and a dropped
//! listener is gone for good.
//!
//! Signals belong to the whole process, so this is a test binary of its own, its tests take
//! turns (they share a lock), and each test uses signals no other test sends. Every wait is
//! bounded, so a lost wake fails with a message instead of hanging.

use std::future::Future;
use std::io;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use futures_util::StreamExt;
use looplet::signal::{
    SIGALRM, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, Signals, ctrl_c,
};
use rustix::process::{Signal, getpid, kill_process};

static SERIAL: Mutex<()> = Mutex::new(());

const BOUND: Duration = Duration::from_secs(20);

async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match looplet::timeout(BOUND, fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: not done after {BOUND:?} (a lost wake?)"),
    }
}

/// Sends `signal` to this process, as `kill -<signal> <our pid>` would.
fn raise(signal: Signal) {
    kill_process(getpid(), signal).expect("kill(2) on our own pid");
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

#[test]
fn ctrl_c_is_woken_by_sigint() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    looplet::block_on(async {
        let first = ctrl_c();
        raise(Signal::INT);
        bounded("ctrl_c", first).await?;
        // And again: the handler stays, and a new listener hears the next one.
        let second = ctrl_c();
        let mut stream = Signals::new([SIGINT])?;
        raise(Signal::INT);
        bounded("second ctrl_c", second).await?;
        assert_eq!(
            bounded("stream of SIGINT", stream.next()).await,
            Some(SIGINT)
        );
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn two_listeners_on_one_loop_both_hear_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    looplet::block_on(async {
        let mut a = Signals::new([SIGUSR1])?;
        let mut b = Signals::new([SIGUSR1])?;
        let a = looplet::spawn(async move { a.recv().await });
        let b = looplet::spawn(async move { b.recv().await });
        looplet::yield_now().await; // both tasks wait now
        raise(Signal::USR1);
        assert_eq!(bounded("first listener", a).await?, SIGUSR1);
        assert_eq!(bounded("second listener", b).await?, SIGUSR1);
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn listeners_on_two_loops_both_hear_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (ready_tx, ready_rx) = mpsc::channel();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let ready = ready_tx.clone();
            std::thread::spawn(move || {
                let mut signals = Signals::new([SIGUSR2]).unwrap();
                ready.send(()).unwrap();
                // Each thread its own loop.
                looplet::block_on(async { bounded("a loop's listener", signals.recv()).await })
            })
        })
        .collect();
    for _ in 0..2 {
        ready_rx.recv().unwrap();
    }
    raise(Signal::USR2);
    for thread in threads {
        assert_eq!(thread.join().unwrap().unwrap(), SIGUSR2);
    }
}

#[test]
fn a_stream_receives_several_deliveries() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    looplet::block_on(async {
        let mut hups = Signals::new([SIGHUP])?;
        for round in 0..5 {
            raise(Signal::HUP);
            let got = bounded(&format!("SIGHUP number {round}"), hups.next()).await;
            assert_eq!(got, Some(SIGHUP));
        }
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn one_stream_of_several_signals() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    looplet::block_on(async {
        let wanted: &[i32] = &[SIGTERM, SIGALRM]; // a slice works as well as an array
        let mut signals = Signals::new(wanted)?;
        assert_eq!(signals.signals(), &[SIGTERM, SIGALRM]);
        raise(Signal::ALARM);
        raise(Signal::TERM);
        let mut got = vec![
            bounded("first", signals.next()).await.unwrap(),
            bounded("second", signals.next()).await.unwrap(),
        ];
        got.sort();
        let mut want = vec![SIGTERM, SIGALRM];
        want.sort();
        assert_eq!(got, want);
        io::Result::Ok(())
    })
    .unwrap();
}

/// After a listener is dropped its action is gone: its socket pair is closed, the signal
/// writes into no descriptor (not even one that reused its number), and others still hear it.
#[test]
fn dropping_a_listener_unregisters_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    looplet::block_on(async {
        let mut stays = Signals::new([SIGWINCH])?;
        let baseline = open_fds();
        let goes = Signals::new([SIGWINCH])?;
        assert_eq!(open_fds(), baseline + 2, "a listener is one socket pair");
        drop(goes);
        assert_eq!(
            open_fds(),
            baseline,
            "the dropped listener's socket pair is closed"
        );
        // Likely the same descriptor numbers the dropped listener had.
        let (reused, _other) = std::os::unix::net::UnixStream::pair()?;
        reused.set_nonblocking(true)?;
        raise(Signal::WINCH);
        assert_eq!(
            bounded("the listener that stays", stays.recv()).await?,
            SIGWINCH
        );
        let mut buf = [0u8; 8];
        let read = std::io::Read::read(&mut &reused, &mut buf);
        assert_eq!(read.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn signals_that_cannot_be_handled_are_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let baseline = open_fds();
    for signal in [
        Signal::KILL,
        Signal::STOP,
        Signal::SEGV,
        Signal::BUS,
        Signal::ILL,
    ] {
        let err = Signals::new([signal.as_raw()]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{signal:?}: {err}");
    }
    for number in [0, -3, 4096] {
        let err = Signals::new([number]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{number}: {err}");
    }
    // A good signal next to a bad one registers nothing and leaks nothing.
    let err = Signals::new([SIGUSR1, Signal::KILL.as_raw()]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(open_fds(), baseline);
}

/// A stream polled outside any loop ends, and `recv` says why.
#[test]
fn a_listener_outside_a_loop_reports_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut signals = Signals::new([SIGUSR1]).unwrap();
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match signals.poll_recv(&mut cx) {
        std::task::Poll::Ready(Err(err)) => assert!(err.to_string().contains("no looplet loop")),
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(
        signals.poll_next_unpin(&mut cx),
        std::task::Poll::Ready(None)
    );
}
