//! The portable backend: `polling::Poller` (kqueue on macOS and the BSDs, event ports on
//! illumos, epoll on Linux with the `polling` feature).
//!
//! Sources are registered in edge mode where the poller supports it ([`polling::Poller::
//! supports_edge`]), as on Linux; elsewhere in oneshot mode, where an event disarms the fd and
//! the reactor re-arms the directions that still have waiters ([`Poller::rearm`]), as async-io
//! does. polling cannot ask for, nor report, the peer's shutdown (`EPOLLRDHUP`, kqueue's
//! `EV_EOF`) as such, so short reads prove nothing here ([`super::SHORT_READS_DRAIN`]); a
//! hang-up (`EPOLLHUP`, `POLLHUP`) still closes the read side.
//!
//! For testing the oneshot path on Linux, `LOOPLET_POLLING_ONESHOT=1` in the environment makes
//! the backend use oneshot mode even where edge mode is supported.

// Source keys carry a slot's generation in their top 32 bits, so they need a 64-bit `usize`
// to pass through polling.
#[cfg(not(target_pointer_width = "64"))]
compile_error!("looplet's polling backend needs a 64-bit target (its event keys are 64 bits)");

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Instant;

use polling::{Event, Events, PollMode};

use super::{EVENTS_PER_WAIT, NOTIFY_KEY, Notifier, Readiness};

/// One loop's `polling::Poller` and its event buffer; used only on its thread.
pub(crate) struct Poller {
    poller: polling::Poller,
    events: RefCell<Events>,
    mode: PollMode,
}

/// The interest of a source's registration: both directions, and hang-ups.
fn interest(key: u64, read: bool, write: bool) -> Event {
    let key = usize::try_from(key).expect("source keys fit a usize");
    let mut event = Event::new(key, read, write);
    event.set_interrupt(true);
    event
}

impl Poller {
    /// Creates the poller and registers `notifier` with it.
    ///
    /// # Errors
    ///
    /// The errors of `polling::Poller::new` and of registering the notifier.
    pub(crate) fn new(notifier: &Notifier) -> io::Result<Poller> {
        let poller = polling::Poller::new()?;
        let forced = std::env::var_os("LOOPLET_POLLING_ONESHOT").is_some_and(|v| v == "1");
        let mode = if poller.supports_edge() && !forced {
            PollMode::Edge
        } else {
            PollMode::Oneshot
        };
        let this = Poller {
            poller,
            events: RefCell::new(Events::with_capacity(
                NonZeroUsize::new(EVENTS_PER_WAIT).expect("a non-zero capacity"),
            )),
            mode,
        };
        this.register(notifier.fd(), NOTIFY_KEY, true, false)?;
        Ok(this)
    }

    /// Whether a source must be re-armed after each event.
    pub(crate) fn is_oneshot(&self) -> bool {
        self.mode == PollMode::Oneshot
    }

    /// Registers `fd` as `key`: for both directions in edge mode; in oneshot mode for none,
    /// until [`Poller::rearm`] asks for the directions that have waiters.
    ///
    /// # Errors
    ///
    /// The poller's error (for example for a regular file, which epoll cannot watch).
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, key: u64) -> io::Result<()> {
        let wanted = !self.is_oneshot();
        self.register(fd, key, wanted, wanted)
    }

    fn register(&self, fd: BorrowedFd<'_>, key: u64, read: bool, write: bool) -> io::Result<()> {
        // SAFETY: polling requires the fd to be deleted from the poller before it is closed.
        // Every fd registered here belongs to an `Async` (or is the loop's own notifier, which
        // outlives the poller), and `Async` deletes its fd in `Drop` and `into_inner` before
        // the fd can close (`Source::deregister`), through `T::as_fd()`, which `Async`'s docs
        // require to name the same fd for as long as `T` is wrapped (as every std and looplet
        // type does). A `T` breaking that leaves a closed fd in epoll or kqueue, which both
        // drop on their own at close: polling's other backends are not used for it.
        unsafe {
            self.poller
                .add_with_mode(fd.as_raw_fd(), interest(key, read, write), self.mode)
        }
    }

    /// Re-arms `fd` for the directions still wanted (oneshot mode); nothing in edge mode.
    ///
    /// # Errors
    ///
    /// The poller's error.
    pub(crate) fn rearm(
        &self,
        fd: BorrowedFd<'_>,
        key: u64,
        read: bool,
        write: bool,
    ) -> io::Result<()> {
        if !self.is_oneshot() {
            return Ok(());
        }
        self.poller
            .modify_with_mode(fd, interest(key, read, write), self.mode)
    }

    /// Deregisters `fd`.
    ///
    /// # Errors
    ///
    /// The poller's error, if it was not registered.
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.poller.delete(fd)
    }

    /// Waits until an event, a notification or `deadline` (`None`: no deadline), or not at
    /// all unless `block`; then calls `ready` for each source event. `EINTR` is retried (by
    /// polling).
    ///
    /// # Errors
    ///
    /// The poller's error.
    pub(crate) fn wait(
        &self,
        notifier: &Notifier,
        deadline: Option<Instant>,
        block: bool,
        mut ready: impl FnMut(Readiness),
    ) -> io::Result<()> {
        let mut events = self.events.take();
        events.clear();
        let waited = match (block, deadline) {
            (false, _) => self
                .poller
                .wait(&mut events, Some(std::time::Duration::ZERO)),
            (true, None) => self.poller.wait(&mut events, None),
            (true, Some(deadline)) => self.poller.wait_deadline(&mut events, deadline),
        };
        let mut rearm_notifier = false;
        for event in events.iter() {
            let key = event.key as u64;
            if key == NOTIFY_KEY {
                notifier.clear();
                rearm_notifier = true;
                continue;
            }
            let hup = event.is_interrupt();
            ready(Readiness {
                key,
                readable: event.readable || hup,
                writable: event.writable || hup,
                read_closed: hup,
            });
        }
        *self.events.borrow_mut() = events;
        if rearm_notifier {
            self.rearm(notifier.fd(), NOTIFY_KEY, true, false)?;
        }
        waited.map(drop)
    }
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}
