//! The platform seam: Linux's epoll, an eventfd and a timerfd, through rustix.
//!
//! Everything Linux-specific lives here. The reactor asks for four things: register an fd
//! for edge-triggered readiness in both directions, deregister it, wait (with a deadline) for
//! events, and, from any thread, wake a waiting loop. The last is the [`Notifier`] (an
//! eventfd), which wakers share and which may outlive the loop; the rest is the [`Poller`] (the
//! epoll instance and a timerfd), which the loop owns and closes when it is dropped.
//!
//! # Why not `polling::Poller`
//!
//! looplet started on polling, and measured it. polling's `wait` makes five syscalls whatever
//! it returns (re-arming its timerfd and eventfd each time); the loop's echo server paid 0.2
//! of them per message, where tokio's whole wait costs one `epoll_wait`. And polling cannot
//! register or report `EPOLLRDHUP`, so an edge-triggered reader cannot tell that the peer's
//! FIN is queued behind the data it just read: it must pay a failing `read` after every short
//! one to find out. Here a wait is one `epoll_wait`, the timerfd is re-armed only when the
//! earliest deadline moves, and `EPOLLRDHUP` marks a source's read side closed.
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

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, IoSlice};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::event::{EventfdFlags, eventfd};
use rustix::net::{SendAncillaryBuffer, SendFlags};
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};

#[cfg(not(target_os = "linux"))]
compile_error!("looplet's reactor is built on Linux's epoll: this platform is not supported");

/// The event key of the eventfd.
const NOTIFY_KEY: u64 = u64::MAX;
/// The event key of the timerfd.
const TIMER_KEY: u64 = u64::MAX - 1;

/// How many events one wait can return; more stay queued in the kernel for the next wait.
const EVENTS_PER_WAIT: usize = 1024;

/// The eventfd that wakes a loop: the one part of a loop other threads hold.
///
/// Shared (in an `Arc`) with every waker of the loop's tasks, so it can outlive the loop; the
/// epoll instance cannot, and lives in [`Poller`], which the loop alone owns.
pub(crate) struct Notifier {
    fd: OwnedFd,
    /// Set by the first `notify` since the loop last drained the eventfd.
    notified: AtomicBool,
}

impl Notifier {
    /// Creates the eventfd.
    ///
    /// # Errors
    ///
    /// `EMFILE` and the like, from `eventfd`.
    pub(crate) fn new() -> io::Result<Notifier> {
        Ok(Notifier {
            fd: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
            notified: AtomicBool::new(false),
        })
    }

    /// Wakes the loop if it waits, or makes its next wait return at once. Any thread.
    pub(crate) fn notify(&self) {
        if !self.notified.swap(true, Ordering::SeqCst) {
            // Fails only if the counter would overflow, which a pending 1 cannot make it do.
            let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
        }
    }

    /// Consumes a notification (the eventfd reported readable): drain, then clear the flag.
    fn clear(&self) {
        let mut count = [0u8; 8];
        // EAGAIN only if nothing is left to drain.
        let _ = rustix::io::read(&self.fd, &mut count);
        self.notified.swap(false, Ordering::AcqRel);
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("notified", &self.notified.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// One loop's epoll instance, with its timerfd and event buffer: used only on its thread, and
/// closed with the loop.
pub(crate) struct Poller {
    epoll: OwnedFd,
    timer: OwnedFd,
    events: RefCell<Vec<epoll::Event>>,
    /// The deadline the timerfd is set for, if it is set and has not fired.
    armed: Cell<Option<Instant>>,
}

/// What an event says about a source.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Readiness {
    pub(crate) key: u64,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// The peer shut down its write side, or the connection hung up: reads will not block
    /// again (they return data, then 0 or an error). An error condition alone (`EPOLLERR`)
    /// does not say so: it makes both directions ready, so that the next operation reports it.
    pub(crate) read_closed: bool,
}

impl Readiness {
    /// What epoll's `flags` for the source `key` say. An error (`EPOLLERR`) makes both
    /// directions ready, so the next operation reports it, but does not close the read side:
    /// only the peer's shutdown (`EPOLLRDHUP`) or a hang-up (`EPOLLHUP`) does (mio's rule; a
    /// UDP socket's ICMP error, for one, leaves it usable).
    fn of(key: u64, flags: EventFlags) -> Readiness {
        let (hup, err) = (EventFlags::HUP, EventFlags::ERR);
        Readiness {
            key,
            readable: flags.intersects(EventFlags::IN | EventFlags::RDHUP | hup | err),
            writable: flags.intersects(EventFlags::OUT | hup | err),
            read_closed: flags.intersects(EventFlags::RDHUP | hup),
        }
    }
}

impl Poller {
    /// Creates the epoll instance and its timerfd, and registers `notifier` and the timerfd.
    ///
    /// # Errors
    ///
    /// `EMFILE` and the like, from `epoll_create1`, `timerfd_create` or `epoll_ctl`.
    pub(crate) fn new(notifier: &Notifier) -> io::Result<Poller> {
        let epoll = epoll::create(CreateFlags::CLOEXEC)?;
        epoll::add(
            &epoll,
            &notifier.fd,
            EventData::new_u64(NOTIFY_KEY),
            EventFlags::IN | EventFlags::ET,
        )?;
        let timer = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
        )?;
        epoll::add(
            &epoll,
            &timer,
            EventData::new_u64(TIMER_KEY),
            EventFlags::IN | EventFlags::ET,
        )?;
        Ok(Poller {
            epoll,
            timer,
            events: RefCell::new(Vec::with_capacity(EVENTS_PER_WAIT)),
            armed: Cell::new(None),
        })
    }

    /// Registers `fd` for edge-triggered read, write and read-closed events, as `key`.
    ///
    /// # Errors
    ///
    /// The `epoll_ctl` error (for example `EPERM` for a regular file, which epoll cannot
    /// watch).
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, key: u64) -> io::Result<()> {
        debug_assert!(
            key < TIMER_KEY,
            "key {key} collides with the loop's own fds"
        );
        let flags = EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET;
        Ok(epoll::add(&self.epoll, fd, EventData::new_u64(key), flags)?)
    }

    /// Deregisters `fd`.
    ///
    /// # Errors
    ///
    /// `ENOENT` if it was not registered.
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        Ok(epoll::delete(&self.epoll, fd)?)
    }

    /// Waits until an event, a notification or `deadline` (`None`: no deadline), or not at
    /// all unless `block`; then calls `ready` for each source event. `EINTR` is retried.
    ///
    /// A deadline in the past polls without blocking. Otherwise the timerfd carries it, with
    /// nanosecond precision, and is re-armed only when the deadline differs from the one it
    /// holds: a loop that waits repeatedly for the same next timer pays one syscall a wait.
    /// `ready` runs after the event buffer is released, so it may register and deregister
    /// sources.
    ///
    /// # Errors
    ///
    /// A failed `epoll_wait` or `timerfd_settime` (a broken epoll instance).
    pub(crate) fn wait(
        &self,
        notifier: &Notifier,
        deadline: Option<Instant>,
        block: bool,
        mut ready: impl FnMut(Readiness),
    ) -> io::Result<()> {
        let block = match deadline {
            _ if !block => false,
            None => true,
            Some(deadline) => {
                let now = Instant::now();
                if deadline <= now {
                    false
                } else {
                    if self.armed.get() != Some(deadline) {
                        self.arm(deadline - now)?;
                        self.armed.set(Some(deadline));
                    }
                    true
                }
            }
        };
        let timeout = (!block).then(Timespec::default);
        let mut events = self.events.take();
        events.clear();
        let waited = loop {
            match epoll::wait(&self.epoll, spare_capacity(&mut events), timeout.as_ref()) {
                Ok(_) => break Ok(()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(errno) => break Err(errno.into()),
            }
        };
        for event in &events {
            let flags = event.flags;
            match event.data.u64() {
                NOTIFY_KEY => notifier.clear(),
                TIMER_KEY => self.armed.set(None),
                key => ready(Readiness::of(key, flags)),
            }
        }
        *self.events.borrow_mut() = events;
        waited
    }

    /// Sets the timerfd to fire once, `after` from now.
    fn arm(&self, after: Duration) -> io::Result<()> {
        let value = Timespec {
            tv_sec: i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(after.subsec_nanos()),
        };
        let spec = Itimerspec {
            it_interval: Timespec::default(),
            it_value: value,
        };
        timerfd_settime(&self.timer, TimerfdTimerFlags::empty(), &spec)?;
        Ok(())
    }
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("armed", &self.armed.get())
            .finish_non_exhaustive()
    }
}

/// Writes `buf` to a stream socket with `send(MSG_NOSIGNAL)`: a peer that has gone gives
/// `BrokenPipe`, never a `SIGPIPE` that would kill a process which does not ignore it.
///
/// # Errors
///
/// The `send` error.
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    Ok(rustix::net::send(fd, buf, SendFlags::NOSIGNAL)?)
}

/// Writes every buffer of `bufs`, in order, to a stream socket with one
/// `sendmsg(MSG_NOSIGNAL)`; see [`send`].
///
/// # Errors
///
/// The `sendmsg` error.
pub(crate) fn send_vectored(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let mut control = SendAncillaryBuffer::default();
    Ok(rustix::net::sendmsg(
        fd,
        bufs,
        &mut control,
        SendFlags::NOSIGNAL,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_alone_readies_both_directions_but_does_not_close_reading() {
        let err = Readiness::of(1, EventFlags::ERR);
        assert!(err.readable && err.writable && !err.read_closed);
        let rdhup = Readiness::of(1, EventFlags::IN | EventFlags::RDHUP);
        assert!(rdhup.readable && !rdhup.writable && rdhup.read_closed);
        let hup = Readiness::of(1, EventFlags::HUP | EventFlags::ERR);
        assert!(hup.readable && hup.writable && hup.read_closed);
        let out = Readiness::of(1, EventFlags::OUT);
        assert!(!out.readable && out.writable && !out.read_closed);
    }
}
