//! Unix signals, delivered on the loop: [`ctrl_c`] and a [`Signals`] stream.
//!
//! asyncio's `loop.add_signal_handler`, as futures: `looplet::signal::ctrl_c().await` waits
//! for one `SIGINT`, and [`Signals`] is a [`Stream`] of the signals it was made for.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use looplet::signal::{SIGHUP, SIGTERM, Signals};
//!
//! looplet::block_on(async {
//!     let mut signals = Signals::new([SIGTERM, SIGHUP])?;
//!     while let Some(signal) = signals.next().await {
//!         match signal {
//!             SIGHUP => println!("reloading the configuration"),
//!             _ => break, // SIGTERM: shut down
//!         }
//!     }
//!     std::io::Result::Ok(())
//! })?;
//! # std::io::Result::Ok(())
//! ```
//!
//! # How a signal reaches the loop
//!
//! A signal handler may run on any thread, at any instruction, so it can do almost nothing:
//! no allocation, no lock. Each listener owns a non-blocking Unix socket pair. Its read end
//! is on the loop like any socket ([`Async`]); its write end belongs to the action it
//! registered with [signal-hook-registry] (tokio's choice: one process-wide handler per
//! signal that runs every registered action, and chains to a handler installed before it).
//! The action sets the listener's pending flag for that signal (an atomic swap) and, if the
//! flag was clear, sends one byte with `MSG_DONTWAIT | MSG_NOSIGNAL`: async-signal-safe, and
//! it never blocks. The byte wakes the loop through its reactor, like any socket event: no
//! thread, no polling.
//!
//! So every listener hears every delivery: two [`Signals`] for `SIGUSR1` on one loop, or on
//! loops in two threads, each get it.
//!
//! # Coalescing
//!
//! A signal delivered again before the stream has yielded the previous delivery of it is
//! merged with it: the stream yields it once, as the kernel itself merges a standard signal
//! that is already pending. Different signals never hide each other (each has its own flag),
//! and a listener's socket never holds more than one byte per signal, so it cannot fill up.
//! A signal delivered after the stream yielded it is yielded again. Count deliveries with
//! this and you count "at least one since the last item", which is all Unix promises anyway.
//!
//! # What stays behind
//!
//! Dropping a listener unregisters its actions (and closes its socket pair once no handler
//! can still be using it). It does **not** give the signal its old disposition back:
//! signal-hook-registry keeps its process-wide handler installed for good, and that handler
//! calls the previous one only if it was a real handler, never the default action. So once
//! any listener of `SIGINT` (or `SIGTERM`, `SIGHUP`, ...) has existed, a later `SIGINT` that
//! no listener hears is **ignored**: Ctrl-C no longer ends the process. tokio has the same
//! caveat. Keep a listener for as long as you want to react to the signal, and end the
//! process yourself when it comes.
//!
//! # Refused signals
//!
//! `SIGKILL` and `SIGSTOP` cannot be caught; `SIGSEGV`, `SIGBUS`, `SIGILL` and `SIGFPE`
//! report a fault in the thread that took it, and a handler that only sets a flag and returns
//! would run the faulting instruction again, forever. [`Signals::new`] refuses them, and any
//! number that is not a signal, with `InvalidInput`.
//!
//! [signal-hook-registry]: https://docs.rs/signal-hook-registry
//! [`Async`]: crate::Async

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use rustix::net::{RecvFlags, SendFlags, SocketType};
use rustix::process::Signal;
use signal_hook_registry::SigId;

use crate::io::Async;
use crate::reactor::{Kind, READ};

/// `SIGHUP`: the terminal hung up; daemons take it as "reload your configuration".
pub const SIGHUP: i32 = Signal::HUP.as_raw();
/// `SIGINT`: Ctrl-C at the terminal; see [`ctrl_c`].
pub const SIGINT: i32 = Signal::INT.as_raw();
/// `SIGQUIT`: Ctrl-\ at the terminal.
pub const SIGQUIT: i32 = Signal::QUIT.as_raw();
/// `SIGUSR1`: for the program to define.
pub const SIGUSR1: i32 = Signal::USR1.as_raw();
/// `SIGUSR2`: for the program to define.
pub const SIGUSR2: i32 = Signal::USR2.as_raw();
/// `SIGPIPE`: a write to a pipe or socket whose reader is gone.
pub const SIGPIPE: i32 = Signal::PIPE.as_raw();
/// `SIGALRM`: an `alarm(2)` timer expired.
pub const SIGALRM: i32 = Signal::ALARM.as_raw();
/// `SIGTERM`: the polite request to terminate (what `kill` and service managers send).
pub const SIGTERM: i32 = Signal::TERM.as_raw();
/// `SIGCHLD`: a child process stopped, continued or exited.
pub const SIGCHLD: i32 = Signal::CHILD.as_raw();
/// `SIGCONT`: continue after a stop.
pub const SIGCONT: i32 = Signal::CONT.as_raw();
/// `SIGTSTP`: Ctrl-Z at the terminal.
pub const SIGTSTP: i32 = Signal::TSTP.as_raw();
/// `SIGWINCH`: the terminal window changed size.
pub const SIGWINCH: i32 = Signal::WINCH.as_raw();

/// Signals that [`Signals::new`] refuses, and why.
const REFUSED: &[(i32, &str)] = &[
    (Signal::KILL.as_raw(), "SIGKILL cannot be caught"),
    (Signal::STOP.as_raw(), "SIGSTOP cannot be caught"),
    (
        Signal::SEGV.as_raw(),
        "SIGSEGV reports a fault; a handler that returns re-runs it",
    ),
    (
        Signal::BUS.as_raw(),
        "SIGBUS reports a fault; a handler that returns re-runs it",
    ),
    (
        Signal::ILL.as_raw(),
        "SIGILL reports a fault; a handler that returns re-runs it",
    ),
    (
        Signal::FPE.as_raw(),
        "SIGFPE reports a fault; a handler that returns re-runs it",
    ),
];

/// What a listener's actions share with it: the socket's write end and a flag per signal.
struct Delivery {
    /// # Invariant
    ///
    /// Open for as long as any action can run: the actions own this `Delivery` (through an
    /// `Arc`), and signal-hook-registry drops an unregistered action only once no handler
    /// still runs it.
    write: OwnedFd,
    /// `pending[i]`: signal `i` of the listener was delivered and not yet yielded. Set by the
    /// action (which sends a byte `i` only when it set it), cleared by the stream after it read
    /// that byte.
    pending: Box<[AtomicBool]>,
}

impl Delivery {
    /// What the signal handler does for signal `index`: async-signal-safe (one atomic swap,
    /// one non-blocking `send`, no allocation, no lock).
    fn deliver(&self, index: usize) {
        if !self.pending[index].swap(true, Ordering::AcqRel) {
            let sent = rustix::net::send(
                &self.write,
                &[index as u8],
                SendFlags::DONTWAIT | crate::net::socket::SEND,
            );
            if sent.is_err() {
                // Cannot happen (one byte per signal at most is in flight); if it did, this
                // delivery is lost but the next one is not.
                self.pending[index].store(false, Ordering::Release);
            }
        }
    }
}

/// A stream of the Unix signals it was made for, delivered on the loop.
///
/// Each listener registers its own handler actions, so several listeners of one signal (on
/// one loop, or on loops in different threads) each receive every delivery; a delivery that
/// comes again before it was yielded is yielded once (see [Coalescing](self#coalescing)).
/// Signals that arrive before the stream is polled wait for it: the handler is in place as
/// soon as [`Signals::new`] returns.
///
/// The stream yields signal numbers ([`SIGTERM`], [`SIGHUP`], ... are constants here, so a
/// `match` reads well). It ends only if the loop cannot watch its socket (no loop is running
/// on the thread, or `epoll_ctl` failed): [`Signals::recv`] returns that error instead.
///
/// Like every loop object it stays on its thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::signal::Signals>();
/// ```
///
/// # Examples
///
/// ```
/// use futures_util::StreamExt;
/// use looplet::signal::{SIGUSR1, Signals};
/// use rustix::process::{Signal, getpid, kill_process};
///
/// looplet::block_on(async {
///     let mut signals = Signals::new([SIGUSR1])?;
///     kill_process(getpid(), Signal::USR1)?; // as `kill -USR1 <our pid>` would
///     assert_eq!(signals.next().await, Some(SIGUSR1));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct Signals {
    /// The socket's read end, on the loop.
    reader: Async<OwnedFd>,
    delivery: Arc<Delivery>,
    /// The signal numbers, by index (the byte an action sends).
    signals: Box<[i32]>,
    /// The registered actions, unregistered on drop.
    ids: Vec<SigId>,
    /// Bytes read from the socket and not yet looked at.
    unread: Vec<u8>,
    /// Set once the loop failed to watch the socket: the stream has ended.
    ended: bool,
}

impl Signals {
    /// Starts listening for `signals`.
    ///
    /// The handler is installed before this returns, so a signal sent afterwards is never
    /// lost, even if the stream is polled later. Repeated numbers count once.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a signal that cannot be handled (see
    /// [Refused signals](self#refused-signals)) or a number that is no signal; an error from
    /// creating the socket pair (out of file descriptors) or installing the handler.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::signal::{SIGHUP, SIGTERM, Signals};
    ///
    /// let signals = Signals::new(&[SIGTERM, SIGHUP])?;
    /// # drop(signals);
    /// let sigkill = rustix::process::Signal::KILL.as_raw();
    /// let err = Signals::new([sigkill]).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn new<I, S>(signals: I) -> io::Result<Signals>
    where
        I: IntoIterator<Item = S>,
        S: Borrow<i32>,
    {
        let mut numbers: Vec<i32> = Vec::new();
        for signal in signals {
            let signal = *signal.borrow();
            check(signal)?;
            if !numbers.contains(&signal) {
                numbers.push(signal);
            }
        }
        if numbers.len() > usize::from(u8::MAX) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "looplet::signal: more than 255 signals in one listener",
            ));
        }
        let (read, write) = crate::net::socket::socketpair(SocketType::STREAM)?;
        let delivery = Arc::new(Delivery {
            write,
            pending: numbers.iter().map(|_| AtomicBool::new(false)).collect(),
        });
        let mut listener = Signals {
            reader: Async::new_nonblocking(read, Kind::UnixStream),
            delivery,
            signals: numbers.into_boxed_slice(),
            ids: Vec::new(),
            unread: Vec::new(),
            ended: false,
        };
        for (index, &signal) in listener.signals.iter().enumerate() {
            let delivery = listener.delivery.clone();
            let action = move || delivery.deliver(index);
            // SAFETY: the action is async-signal-safe: `deliver` does one atomic swap and one
            // non-blocking `send(2)` (a raw syscall) on an fd the action itself keeps open; it
            // neither allocates nor locks, and cannot panic. `check` ruled out the signals
            // signal-hook-registry would panic on.
            let id = unsafe { signal_hook_registry::register(signal, action) };
            // On error, dropping `listener` unregisters what was registered so far.
            listener.ids.push(id?);
        }
        Ok(listener)
    }

    /// Waits for the next signal and returns its number.
    ///
    /// # Errors
    ///
    /// If no loop is running on this thread, or the loop cannot watch the socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::signal::{SIGUSR2, Signals};
    /// use rustix::process::{Signal, getpid, kill_process};
    ///
    /// looplet::block_on(async {
    ///     let mut signals = Signals::new([SIGUSR2])?;
    ///     kill_process(getpid(), Signal::USR2)?;
    ///     assert_eq!(signals.recv().await?, SIGUSR2);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn recv(&mut self) -> io::Result<i32> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The low-level form of [`Signals::recv`].
    ///
    /// # Errors
    ///
    /// As for [`Signals::recv`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use looplet::signal::{SIGUSR2, Signals};
    /// use rustix::process::{Signal, getpid, kill_process};
    ///
    /// looplet::block_on(async {
    ///     let mut signals = Signals::new([SIGUSR2])?;
    ///     kill_process(getpid(), Signal::USR2)?;
    ///     assert_eq!(poll_fn(|cx| signals.poll_recv(cx)).await?, SIGUSR2);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<i32>> {
        loop {
            // Oldest byte first, so signals come out in the order they were first delivered.
            while !self.unread.is_empty() {
                let index = usize::from(self.unread.remove(0));
                // The byte was sent when the flag was set, so the flag is set; clearing it
                // *after* reading the byte means a delivery from here on sends a new byte.
                let pending = self.delivery.pending.get(index);
                if pending.is_some_and(|flag| flag.swap(false, Ordering::AcqRel)) {
                    return Poll::Ready(Ok(self.signals[index]));
                }
            }
            let mut buf = [0u8; 64];
            let n = ready!(self.reader.poll_with(
                READ,
                cx,
                |fd| Ok(rustix::net::recv(fd, &mut buf[..], RecvFlags::DONTWAIT)?.0),
                |_| None,
            ))?;
            if n == 0 {
                // The write end is ours until we drop: this cannot happen.
                return Poll::Ready(Err(io::Error::other(
                    "looplet::signal: the signal socket was closed",
                )));
            }
            self.unread.extend_from_slice(&buf[..n]);
        }
    }

    /// The signal numbers this listener receives.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::signal::{SIGINT, SIGTERM, Signals};
    ///
    /// let signals = Signals::new([SIGTERM, SIGINT, SIGTERM])?;
    /// assert_eq!(signals.signals(), &[SIGTERM, SIGINT]);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn signals(&self) -> &[i32] {
        &self.signals
    }
}

/// Refuses what cannot be handled; the kernel judges the rest (`EINVAL` from `sigaction`).
fn check(signal: i32) -> io::Result<()> {
    let refused = REFUSED.iter().find(|(number, _)| *number == signal);
    if let Some((_, why)) = refused {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("looplet::signal: refusing signal {signal}: {why}"),
        ));
    }
    // signal-hook-registry panics on its own forbidden list; make sure it never gets to.
    if signal <= 0 || signal_hook_registry::FORBIDDEN.contains(&signal) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("looplet::signal: {signal} is not a signal that can be handled"),
        ));
    }
    Ok(())
}

impl Stream for Signals {
    type Item = i32;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<i32>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match ready!(self.poll_recv(cx)) {
            Ok(signal) => Poll::Ready(Some(signal)),
            Err(_) => {
                self.ended = true;
                Poll::Ready(None)
            }
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            // Returns false only for an id that is not registered, which cannot be ours.
            signal_hook_registry::unregister(id);
        }
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("signals", &self.signals)
            .field("ended", &self.ended)
            .finish()
    }
}

/// Waits for Ctrl-C (`SIGINT`): tokio's and asyncio's `ctrl_c`.
///
/// The handler is installed when `ctrl_c()` is called, not when the future is first polled,
/// so a Ctrl-C in between is not lost. Every pending `ctrl_c` future (on any loop) completes
/// on the same Ctrl-C.
///
/// Once called, Ctrl-C never again terminates the process by itself, even after the future
/// is dropped (see [What stays behind](self#what-stays-behind)): exit yourself when it comes.
///
/// # Errors
///
/// The future completes with the error if the handler cannot be installed or the loop cannot
/// watch its socket (see [`Signals::new`] and [`Signals::recv`]).
///
/// # Examples
///
/// ```
/// use rustix::process::{Signal, getpid, kill_process};
///
/// looplet::block_on(async {
///     let ctrl_c = looplet::signal::ctrl_c();
///     kill_process(getpid(), Signal::INT)?; // as pressing Ctrl-C would
///     ctrl_c.await?;
///     println!("shutting down");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub fn ctrl_c() -> CtrlC {
    CtrlC {
        signals: Some(Signals::new([SIGINT])),
    }
}

/// The future of [`ctrl_c`]: completes on the first `SIGINT` after [`ctrl_c`] was called.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// looplet::block_on(async {
///     let ctrl_c: looplet::signal::CtrlC = looplet::signal::ctrl_c();
///     // Nobody pressed Ctrl-C: the wait times out, and dropping it removes the listener.
///     assert!(looplet::timeout(Duration::from_millis(10), ctrl_c).await.is_err());
/// });
/// ```
#[must_use = "futures do nothing unless awaited; the Ctrl-C handler is removed on drop"]
pub struct CtrlC {
    /// `None` once the future has completed.
    signals: Option<io::Result<Signals>>,
}

impl Future for CtrlC {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(Err(_)) = &self.signals {
            let Some(Err(err)) = self.signals.take() else {
                unreachable!("matched just above")
            };
            return Poll::Ready(Err(err));
        }
        let Some(Ok(signals)) = &mut self.signals else {
            panic!("looplet::signal::CtrlC polled after it completed");
        };
        let result = ready!(signals.poll_recv(cx)).map(drop);
        self.signals = None;
        Poll::Ready(result)
    }
}

impl fmt::Debug for CtrlC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtrlC")
            .field("done", &self.signals.is_none())
            .finish()
    }
}

/// Makes a write to a pipe whose reader is gone fail with `EPIPE` instead of killing the
/// process, even in a host program that left `SIGPIPE` at its default (Rust's runtime ignores
/// it already; C programs often do not): installs a do-nothing action, once per process.
///
/// Called before the first write to a child's stdin can happen. Pipes, unlike sockets, have
/// no `MSG_NOSIGNAL`, and blocking the signal around each write would cost three syscalls a
/// write. signal-hook-registry chains to a real handler the host installed, so that one still
/// runs; only the default action (terminate) is replaced.
pub(crate) fn no_sigpipe() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: the action does nothing, which is async-signal-safe.
        let registered = unsafe { signal_hook_registry::register(SIGPIPE, || {}) };
        // If it fails, SIGPIPE keeps the disposition the host gave it; nothing else to do.
        drop(registered);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls the action directly, as the handler would, so the coalescing is deterministic.
    #[test]
    fn deliveries_before_a_read_coalesce_per_signal() {
        crate::block_on(async {
            let mut signals = Signals::new([SIGUSR1, SIGUSR2]).unwrap();
            for _ in 0..3 {
                signals.delivery.deliver(0);
            }
            signals.delivery.deliver(1);
            signals.delivery.deliver(0);
            assert_eq!(signals.recv().await.unwrap(), SIGUSR1);
            assert_eq!(signals.recv().await.unwrap(), SIGUSR2);
            // Nothing more is pending: the five deliveries were two items.
            let more = crate::timeout(std::time::Duration::from_millis(20), signals.recv());
            assert!(more.await.is_err());
            // A delivery after the item was yielded is yielded again.
            signals.delivery.deliver(0);
            assert_eq!(signals.recv().await.unwrap(), SIGUSR1);
        });
    }

    #[test]
    fn refuses_what_cannot_be_handled() {
        for signal in [0, -1, Signal::KILL.as_raw(), Signal::SEGV.as_raw(), 100_000] {
            let err = Signals::new([signal]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "signal {signal}");
        }
    }
}
