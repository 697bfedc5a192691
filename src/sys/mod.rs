//! The platform seam: the poller a loop sleeps in, and the notifier that wakes it.
//!
//! Everything platform-specific about waiting lives here. The reactor asks a [`Poller`] for
//! five things, and the two backends give them the same meaning:
//!
//! - **register** an fd once, for readiness in both directions, under a `u64` key
//!   ([`Poller::add`]); **deregister** it before it closes ([`Poller::delete`]);
//! - **wait** until an event, a notification or a deadline, or not at all
//!   ([`Poller::wait`]), then report each source event as a [`Readiness`]: which directions
//!   became ready, and whether the read side closed for good (the peer shut down its writing,
//!   or the connection hung up);
//! - say whether sources must be **re-armed** after each event ([`Poller::is_oneshot`],
//!   [`Poller::rearm`]); and whether a short read **proves the buffer drained**
//!   ([`SHORT_READS_DRAIN`]: only where the backend reports the peer's shutdown).
//!
//! And from any thread, a [`Notifier`] wakes a waiting loop (an eventfd, or a pipe where there
//! is none). Wakers share it, so it may outlive the loop; the poller cannot, and the loop owns
//! and closes it.
//!
//! | backend | where | mode | wait | peer shutdown seen |
//! | --- | --- | --- | --- | --- |
//! | [`epoll`] | Linux (default) | edge-triggered | one `epoll_wait` (+ a `timerfd_settime` when the earliest deadline moves) | yes (`EPOLLRDHUP`) |
//! | [`polling`](self::polling) | every other unix, and Linux with the `polling` feature | edge where `Poller::supports_edge()`, else oneshot | polling's (one `kevent`/`port_getn`; five syscalls on Linux) | no: short reads prove nothing |
//!
//! # Waking a loop from another thread
//!
//! [`Notifier::notify`] writes the eventfd once per sleep: an atomic flag keeps further
//! notifications from writing again until the loop has consumed the first. The loop drains
//! the eventfd, *then* clears the flag (a read-modify-write), then looks at its remote queue.
//! A notification that still finds the flag set has its work made visible to the loop by that
//! swap; one that finds it cleared writes again and makes a new edge. (The other order loses
//! wakeups for good: a notify between clearing and draining has its write drained away, and
//! leaves the flag set with nothing left to read, so no later notify writes again.)

#[cfg(all(target_os = "linux", not(feature = "polling")))]
mod epoll;
mod notify_flag;
#[cfg(any(not(target_os = "linux"), feature = "polling"))]
mod polling;

#[cfg(any(not(target_os = "linux"), feature = "polling"))]
pub(crate) use self::polling::Poller;
#[cfg(all(target_os = "linux", not(feature = "polling")))]
pub(crate) use epoll::Poller;

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use notify_flag::NotifyFlag;

#[cfg(not(unix))]
compile_error!("looplet runs on unix: Linux (epoll, or polling), macOS, the BSDs and illumos");

/// The event key of the notifier. Source keys (a slab key: its index, which the reactor's
/// slab keeps far below 2^32 - 3, and its generation above) stay below it; `usize::MAX`
/// itself is polling's own.
const NOTIFY_KEY: u64 = u64::MAX - 2;
/// The event key of the timerfd (epoll backend).
#[cfg_attr(any(not(target_os = "linux"), feature = "polling"), allow(dead_code))]
const TIMER_KEY: u64 = u64::MAX - 1;

/// Whether a short read on a stream proves its receive buffer drained.
///
/// Only where the backend reports the peer's shutdown (`EPOLLRDHUP`): otherwise a short read
/// of the last data, with the FIN queued behind it and its edge already spent, would leave
/// the reader waiting for an event that never comes. So the polling backend pays one failing
/// read after each short one instead.
#[cfg(all(target_os = "linux", not(feature = "polling")))]
pub(crate) const SHORT_READS_DRAIN: bool = true;
/// See the epoll backend's constant of the same name.
#[cfg(any(not(target_os = "linux"), feature = "polling"))]
pub(crate) const SHORT_READS_DRAIN: bool = false;

/// How many events one wait can return; more stay queued in the kernel for the next wait.
const EVENTS_PER_WAIT: usize = 1024;

/// The eventfd that wakes a loop: the one part of a loop other threads hold.
///
/// Shared (in an `Arc`) with every waker of the loop's tasks, so it can outlive the loop; the
/// epoll instance cannot, and lives in [`Poller`], which the loop alone owns.
pub(crate) struct Notifier {
    /// The eventfd, or the read end of the pipe.
    fd: OwnedFd,
    /// The write end of the pipe, where there is no eventfd.
    write: Option<OwnedFd>,
    /// Set by the first `notify` since the loop last drained the eventfd.
    notified: NotifyFlag,
}

impl Notifier {
    /// Creates the eventfd (a pipe where there is no eventfd).
    ///
    /// # Errors
    ///
    /// `EMFILE` and the like, from `eventfd` or `pipe`.
    pub(crate) fn new() -> io::Result<Notifier> {
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
        let (fd, write) = {
            use rustix::event::{EventfdFlags, eventfd};
            (
                eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
                None,
            )
        };
        #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
        let (fd, write) = {
            let (read, write) = rustix::pipe::pipe()?;
            for end in [&read, &write] {
                rustix::io::fcntl_setfd(end, rustix::io::FdFlags::CLOEXEC)?;
                let flags = rustix::fs::fcntl_getfl(end)?;
                rustix::fs::fcntl_setfl(end, flags | rustix::fs::OFlags::NONBLOCK)?;
            }
            (read, Some(write))
        };
        Ok(Notifier {
            fd,
            write,
            notified: NotifyFlag::new(),
        })
    }

    /// The fd the loop's poller watches for readability.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Wakes the loop if it waits, or makes its next wait return at once. Any thread.
    pub(crate) fn notify(&self) {
        if self.notified.raise() {
            // Fails only if the counter would overflow (or the pipe is full), which a pending
            // notification cannot make it do: the loop is awake either way.
            let target = self.write.as_ref().unwrap_or(&self.fd);
            let _ = rustix::io::write(target, &1u64.to_ne_bytes());
        }
    }

    /// Consumes a notification (the fd reported readable): drain, then clear the flag.
    pub(crate) fn clear(&self) {
        let mut count = [0u8; 8];
        // An eventfd drains in one read; a pipe holds at most one write per notification, and
        // `notified` keeps that to one at a time. EAGAIN only if nothing is left.
        while let Ok(8) = rustix::io::read(&self.fd, &mut count) {
            if self.write.is_none() {
                break;
            }
        }
        self.notified.lower();
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("notified", &self.notified)
            .finish_non_exhaustive()
    }
}

/// What an event says about a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Readiness {
    pub(crate) key: u64,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// The peer shut down its write side, or the connection hung up: reads will not block
    /// again (they return data, then 0 or an error). An error condition alone (`EPOLLERR`)
    /// does not say so: it makes both directions ready, so that the next operation reports it.
    pub(crate) read_closed: bool,
}
