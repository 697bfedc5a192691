//! The reactor: the loop's epoll instance and what waits on it.
//!
//! The loop sleeps here, in [`Reactor::wait`], when it has nothing to run. A notification from
//! another thread (`Poller::notify`, sent when a waker fires there) ends the wait.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::time::Duration;

use polling::{Events, Poller};

/// What the loop knows about the poller's events.
pub(crate) struct Reactor {
    /// Reused by every wait, so waiting allocates nothing.
    events: RefCell<Events>,
}

impl Reactor {
    pub(crate) fn new() -> Reactor {
        Reactor {
            events: RefCell::new(Events::new()),
        }
    }

    /// Whether any task waits on IO, so that a busy loop must still poll with a zero timeout.
    pub(crate) fn has_waiters(&self) -> bool {
        false
    }

    /// Waits for events (or a notification) for at most `timeout`; `None` waits indefinitely.
    pub(crate) fn wait(&self, poller: &Poller, timeout: Option<Duration>) -> io::Result<()> {
        let mut events = self.events.borrow_mut();
        events.clear();
        poller.wait(&mut events, timeout)?;
        Ok(())
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor").finish_non_exhaustive()
    }
}
