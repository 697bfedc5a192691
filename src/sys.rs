//! The platform seam: Linux's epoll, an eventfd and a timerfd, through rustix.
//!
//! Everything Linux-specific lives here. The reactor asks for four things: register an fd
//! for edge-triggered readiness in both directions, deregister it, wait (with a deadline) for
//! events, and, from any thread, wake a waiting loop.
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
//! [`Poller::notify`] writes the eventfd once per sleep: an atomic flag keeps further
//! notifications from writing again until the loop has consumed the first. The loop drains
//! the eventfd, *then* clears the flag (a read-modify-write), then looks at its remote queue.
//! A notification that still finds the flag set has its work made visible to the loop by that
//! swap; one that finds it cleared writes again and makes a new edge. (The other order loses
//! wakeups for good: a notify between clearing and draining has its write drained away, and
//! leaves the flag set with nothing left to read, so no later notify writes again.)

use std::fmt;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::event::{EventfdFlags, eventfd};
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

/// One loop's epoll instance, and the eventfd that wakes it.
///
/// Shared (in an `Arc`) with every thread that may wake the loop.
pub(crate) struct Poller {
    epoll: OwnedFd,
    notifier: OwnedFd,
    /// Set by the first `notify` since the loop last drained the eventfd.
    notified: AtomicBool,
}

impl Poller {
    /// Creates the epoll instance and its eventfd.
    ///
    /// # Errors
    ///
    /// `EMFILE` and the like, from `epoll_create1`, `eventfd` or `epoll_ctl`.
    pub(crate) fn new() -> io::Result<Poller> {
        let epoll = epoll::create(CreateFlags::CLOEXEC)?;
        let notifier = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(
            &epoll,
            &notifier,
            EventData::new_u64(NOTIFY_KEY),
            EventFlags::IN | EventFlags::ET,
        )?;
        Ok(Poller {
            epoll,
            notifier,
            notified: AtomicBool::new(false),
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

    /// Wakes the loop if it waits, or makes its next wait return at once. Any thread.
    pub(crate) fn notify(&self) {
        if !self.notified.swap(true, Ordering::SeqCst) {
            // Fails only if the counter would overflow, which a pending 1 cannot make it do.
            let _ = rustix::io::write(&self.notifier, &1u64.to_ne_bytes());
        }
    }

    /// Consumes a notification (the eventfd reported readable): drain, then clear the flag.
    fn clear_notification(&self) {
        let mut count = [0u8; 8];
        // EAGAIN only if nothing is left to drain.
        let _ = rustix::io::read(&self.notifier, &mut count);
        self.notified.swap(false, Ordering::AcqRel);
    }
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("notified", &self.notified.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The loop's side of waiting: the event buffer and the timerfd, used only on its thread.
pub(crate) struct Waiter {
    events: Vec<epoll::Event>,
    timer: OwnedFd,
    /// The deadline the timerfd is set for, if it is set and has not fired.
    armed: Option<Instant>,
}

/// What an event says about a source.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Readiness {
    pub(crate) key: u64,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// The peer shut down its write side, or the connection is gone: reads will not block
    /// again (they return data, then 0 or an error).
    pub(crate) read_closed: bool,
}

impl Waiter {
    /// Creates the timerfd and registers it with `poller`.
    ///
    /// # Errors
    ///
    /// `EMFILE` and the like.
    pub(crate) fn new(poller: &Poller) -> io::Result<Waiter> {
        let timer = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
        )?;
        epoll::add(
            &poller.epoll,
            &timer,
            EventData::new_u64(TIMER_KEY),
            EventFlags::IN | EventFlags::ET,
        )?;
        Ok(Waiter {
            events: Vec::with_capacity(EVENTS_PER_WAIT),
            timer,
            armed: None,
        })
    }

    /// Waits until an event, a notification or `deadline` (`None`: no deadline), or not at
    /// all unless `block`; then calls `ready` for each source event. `EINTR` is retried.
    ///
    /// A deadline in the past polls without blocking. Otherwise the timerfd carries it, with
    /// nanosecond precision, and is re-armed only when the deadline differs from the one it
    /// holds: a loop that waits repeatedly for the same next timer pays one syscall a wait.
    ///
    /// # Errors
    ///
    /// A failed `epoll_wait` or `timerfd_settime` (a broken epoll instance).
    pub(crate) fn wait(
        &mut self,
        poller: &Poller,
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
                    if self.armed != Some(deadline) {
                        self.arm(deadline - now)?;
                        self.armed = Some(deadline);
                    }
                    true
                }
            }
        };
        let timeout = (!block).then(Timespec::default);
        self.events.clear();
        loop {
            match epoll::wait(
                &poller.epoll,
                spare_capacity(&mut self.events),
                timeout.as_ref(),
            ) {
                Ok(_) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(errno) => return Err(errno.into()),
            }
        }
        for event in &self.events {
            let flags = event.flags;
            match event.data.u64() {
                NOTIFY_KEY => poller.clear_notification(),
                TIMER_KEY => self.armed = None,
                key => {
                    let gone = EventFlags::HUP | EventFlags::ERR;
                    ready(Readiness {
                        key,
                        readable: flags.intersects(EventFlags::IN | EventFlags::RDHUP | gone),
                        writable: flags.intersects(EventFlags::OUT | gone),
                        read_closed: flags.intersects(EventFlags::RDHUP | gone),
                    });
                }
            }
        }
        Ok(())
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

impl fmt::Debug for Waiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter")
            .field("armed", &self.armed)
            .finish_non_exhaustive()
    }
}
