//! The reactor: the loop's epoll instance and the sources registered with it.
//!
//! The loop sleeps here, in [`Reactor::wait`], when it has nothing to run; an IO event, the
//! next timer's deadline or a notification from another thread ([`Notifier::notify`]) ends the
//! wait. The epoll calls themselves are in [`crate::sys`].
//!
//! # Edge-triggered, readiness tracked here
//!
//! Every source is registered once, in edge-triggered mode, for both directions, and stays
//! registered until it is dropped. The kernel reports a direction when it *becomes* ready; the
//! source remembers that in a flag, and an operation clears the flag when it fails with
//! `WouldBlock`, or when a read or write comes back short on an fd whose [`Kind`] says that a
//! short transfer means the receive buffer was drained or the send buffer is full: the next
//! edge will say when that changes. So a ready socket costs just the syscall that reads or
//! writes it. [`Kind`] is the one place that rule is written; every read and write path asks
//! it.
//!
//! One exception keeps that sound: once the peer has shut down its write side (`EPOLLRDHUP`,
//! or `EPOLLHUP` for a dead connection), the read side is marked closed and stays ready for
//! good. Otherwise a short read of the last data would clear readiness while the
//! FIN is still queued behind it, its edge already spent, and the reader would wait forever
//! for the end of the stream.
//!
//! One case the short-read rule gets wrong, as tokio's identical rule does: a TCP read stops
//! short at the urgent mark when the peer sends out-of-band data (`MSG_OOB`), and the bytes
//! after it wait until the peer sends more or closes. Only that peer's own connection stalls;
//! std has no way to send or receive urgent data, so looplet does not handle it.
//!
//! A oneshot registration would instead re-arm the source with an `epoll_ctl` after every
//! event, and each message would also pay a failed read before waiting: measured on this
//! machine, 4.3 syscalls per echoed message against tokio's 2.1. Edge mode needs neither.
//!
//! A flag that starts `true` makes the first operation on a new source try the syscall at
//! once; the source is registered only when an operation has to wait, with the loop that is
//! running then.
//!
//! # Readiness handed to the user
//!
//! `Async::readable()` and `writable()` (and their `poll_*` forms) hand the loop's belief to
//! code that then does its own syscall, which looplet never sees: if that syscall returns
//! `WouldBlock`, nobody clears the flag. So once a direction's readiness has been handed out,
//! the next `readable()` does not trust the flag until an event or a looplet operation has
//! refreshed it: it asks the kernel with a zero-timeout `poll(2)`, and, if the fd is not ready
//! after all, clears the flag and waits for the next edge. The usual
//! `loop { readable().await; match raw_read() { WouldBlock => continue, .. } }` therefore
//! parks, at the cost of one `poll` per handed-out readiness not refreshed by an event.

mod source;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::rc::Rc;
use std::time::Instant;

use crate::slab::{Key, Slab};
use crate::sys::{Notifier, Poller};

pub(crate) use source::{Kind, Source};

/// The two directions of a source, as indices into [`Source::directions`].
pub(crate) const READ: usize = 0;
pub(crate) const WRITE: usize = 1;

/// What the loop knows about the poller's events.
pub(crate) struct Reactor {
    /// The epoll instance, its timerfd and its event buffer, reused by every wait.
    poller: Poller,
    /// Every source registered with this loop's poller; the key is the event key.
    sources: RefCell<Slab<Rc<Source>>>,
    /// Source events reported, ever (a metric).
    events: Cell<u64>,
}

impl Reactor {
    /// Creates the loop's poller, which `notifier` wakes.
    ///
    /// # Errors
    ///
    /// If the epoll instance or its timerfd cannot be created or registered.
    pub(crate) fn new(notifier: &Notifier) -> io::Result<Reactor> {
        Ok(Reactor {
            poller: Poller::new(notifier)?,
            sources: RefCell::new(Slab::new()),
            events: Cell::new(0),
        })
    }

    /// How many source events the poller has reported.
    pub(crate) fn events(&self) -> u64 {
        self.events.get()
    }

    /// Whether any source is registered, so that a busy loop must still poll for IO.
    pub(crate) fn has_sources(&self) -> bool {
        !self.sources.borrow().is_empty()
    }

    /// Waits for events or a notification, until `deadline` if there is one, or not at all
    /// if `block` is false; marks the sources that became ready, waking their tasks.
    ///
    /// # Errors
    ///
    /// If epoll itself fails (`EINTR` is retried).
    pub(crate) fn wait(
        &self,
        notifier: &Notifier,
        deadline: Option<Instant>,
        block: bool,
    ) -> io::Result<()> {
        self.poller.wait(notifier, deadline, block, |event| {
            self.events.set(self.events.get() + 1);
            // A stale key (the source was dropped after the event was queued) finds nothing.
            let source = self.sources.borrow().get(Key::from_u64(event.key)).cloned();
            if let Some(source) = source {
                source.ready(event.readable, event.writable, event.read_closed);
                if self.poller.is_oneshot() {
                    source.wake_all();
                }
            }
        })
    }

    /// Whether sources must be re-armed after each event (a oneshot poller).
    fn is_oneshot(&self) -> bool {
        self.poller.is_oneshot()
    }

    /// Re-arms the source registered as `key` for the directions that have waiters.
    ///
    /// # Errors
    ///
    /// The poller's error.
    fn rearm(&self, key: Key, fd: BorrowedFd<'_>, read: bool, write: bool) -> io::Result<()> {
        self.poller.rearm(fd, key.to_u64(), read, write)
    }

    /// Registers `source`, whose fd is `fd`, with this loop's poller; returns its key.
    ///
    /// # Errors
    ///
    /// The `epoll_ctl` error; nothing is registered then.
    fn add(&self, source: &Rc<Source>, fd: BorrowedFd<'_>) -> io::Result<Key> {
        let key = self.sources.borrow_mut().insert(source.clone());
        // The `Async` that owns the fd deregisters it (in `Drop` and `into_inner`) before the fd
        // closes, so the poller never names a closed or reused fd.
        if let Err(err) = self.poller.add(fd, key.to_u64()) {
            self.sources.borrow_mut().remove(key);
            return Err(err);
        }
        Ok(key)
    }

    /// Removes the source registered as `key`, whose fd is `fd`.
    fn remove(&self, key: Key, fd: BorrowedFd<'_>) {
        let source = self.sources.borrow_mut().remove(key);
        // Fails only if the fd is no longer in the poller, which leaves nothing to undo.
        let _ = self.poller.delete(fd);
        drop(source);
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("sources", &self.sources.borrow().len())
            .finish()
    }
}
