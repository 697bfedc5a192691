//! The Linux fast path: epoll, edge-triggered, with `EPOLLRDHUP`, and a timerfd for deadlines.
//!
//! # Why not `polling::Poller` on Linux
//!
//! looplet started on polling, and measured it. polling's `wait` makes five syscalls whatever
//! it returns (re-arming its timerfd and eventfd each time); the loop's echo server paid 0.2
//! of them per message, where tokio's whole wait costs one `epoll_wait`. And polling cannot
//! register or report `EPOLLRDHUP`, so an edge-triggered reader cannot tell that the peer's
//! FIN is queued behind the data it just read: it must pay a failing `read` after every short
//! one to find out. Here a wait is one `epoll_wait`, the timerfd is re-armed only when the
//! earliest deadline moves, and `EPOLLRDHUP` marks a source's read side closed. The `polling`
//! backend ([`super::polling`]) is what every other platform uses, and the `polling` feature
//! builds it here too; BENCHMARKS.md measures the two side by side.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};

use super::{EVENTS_PER_WAIT, NOTIFY_KEY, Notifier, Readiness, TIMER_KEY};

/// One loop's epoll instance, with its timerfd and event buffer: used only on its thread, and
/// closed with the loop.
pub(crate) struct Poller {
    epoll: OwnedFd,
    timer: OwnedFd,
    events: RefCell<Vec<epoll::Event>>,
    /// The deadline the timerfd is set for, if it is set and has not fired.
    armed: Cell<Option<Instant>>,
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
            notifier.fd(),
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

    /// Whether a source must be re-armed after each event ([`Poller::rearm`]): never here.
    pub(crate) fn is_oneshot(&self) -> bool {
        false
    }

    /// Re-arms `fd` for the directions still wanted; edge-triggered sources never need it.
    pub(crate) fn rearm(
        &self,
        _fd: BorrowedFd<'_>,
        _key: u64,
        _read: bool,
        _write: bool,
    ) -> io::Result<()> {
        Ok(())
    }

    /// Registers `fd` for edge-triggered read, write and read-closed events, as `key`.
    ///
    /// # Errors
    ///
    /// The `epoll_ctl` error (for example `EPERM` for a regular file, which epoll cannot
    /// watch).
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, key: u64) -> io::Result<()> {
        debug_assert!(
            key < NOTIFY_KEY,
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
