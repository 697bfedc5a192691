//! The reactor: the loop's epoll instance and the sources registered with it.
//!
//! The loop sleeps here, in [`Reactor::wait`], when it has nothing to run; an IO event, the
//! timeout (the next timer) or a notification from another thread (`Poller::notify`) ends the
//! wait.
//!
//! # Edge-triggered, readiness tracked here
//!
//! Every source is registered once, in edge-triggered mode, for both directions, and stays
//! registered until it is dropped. The kernel reports a direction when it *becomes* ready; the
//! source remembers that in a flag, and an operation clears the flag when it fails with
//! `WouldBlock`, or, on stream sockets, when a write comes back short (the send buffer is
//! full: an `EPOLLOUT` edge follows when it drains). So a ready socket costs the syscall that
//! reads or writes it, and a waiting one costs a failed attempt and a share of one wait.
//!
//! A short *read* does not clear the flag: the peer's FIN may already be queued behind the
//! data, and its edge was spent on the event that reported the data. Only the next read,
//! returning 0, can tell; without `EPOLLRDHUP` (which polling does not expose) clearing here
//! would leave a reader waiting for an edge that never comes.
//!
//! polling's default, oneshot mode, would instead re-arm the source with an `epoll_ctl` after
//! every event, and each message would also pay a failed read before waiting: measured on
//! this machine, 4.3 syscalls per echoed message against tokio's 2.1. Edge mode needs neither.
//!
//! A flag that starts `true` makes the first operation on a new source try the syscall at
//! once; the source is registered only when an operation has to wait, with the loop that is
//! running then.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use polling::{Event, Events, PollMode, Poller};

use crate::executor::{Local, current_rc};
use crate::slab::{Key, Slab};

/// The two directions of a source, as indices into [`Source::directions`].
pub(crate) const READ: usize = 0;
pub(crate) const WRITE: usize = 1;

/// What the loop knows about the poller's events.
pub(crate) struct Reactor {
    /// Reused by every wait, so waiting allocates nothing.
    events: RefCell<Events>,
    /// Every source registered with this loop's poller; the key is the event key.
    sources: RefCell<Slab<Rc<Source>>>,
}

impl Reactor {
    pub(crate) fn new() -> Reactor {
        Reactor {
            events: RefCell::new(Events::new()),
            sources: RefCell::new(Slab::new()),
        }
    }

    /// Whether any source is registered, so that a busy loop must still poll for IO.
    pub(crate) fn has_sources(&self) -> bool {
        !self.sources.borrow().is_empty()
    }

    /// Waits for events (or a notification) for at most `timeout` (`None`: no limit), and
    /// marks the sources that became ready, waking their tasks.
    ///
    /// polling retries `EINTR` itself.
    pub(crate) fn wait(&self, poller: &Poller, timeout: Option<Duration>) -> io::Result<()> {
        let mut events = self.events.borrow_mut();
        events.clear();
        poller.wait(&mut events, timeout)?;
        for event in events.iter() {
            // A stale key (the source was dropped after the event was queued) finds nothing.
            let key = Key::from_u64(event.key as u64);
            let source = self.sources.borrow().get(key).cloned();
            if let Some(source) = source {
                if event.readable {
                    source.directions[READ].set_ready();
                }
                if event.writable {
                    source.directions[WRITE].set_ready();
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("sources", &self.sources.borrow().len())
            .finish()
    }
}

/// An fd's readiness and its waiting tasks; shared by the `Async` that owns the fd and the
/// reactor it is registered with.
pub(crate) struct Source {
    /// Whether a short write means the send buffer is full (stream sockets and pipes; not
    /// datagrams, not terminals).
    stream: bool,
    /// The loop this source is registered with, and its key there.
    registration: RefCell<Option<(Weak<Local>, Key)>>,
    pub(crate) directions: [Direction; 2],
}

/// One direction (read or write) of a source.
pub(crate) struct Direction {
    /// Set by an event; cleared when an operation finds the fd not ready after all.
    ready: Cell<bool>,
    /// The task in `poll_read` / `poll_write` (one per direction, as in async-io); kept
    /// between waits so re-registering costs no clone.
    io: RefCell<Option<Waker>>,
    io_waiting: Cell<bool>,
    /// Tasks in `readable()` / `writable()`: every one is woken.
    waiters: RefCell<Slab<Waker>>,
}

impl Direction {
    fn new() -> Direction {
        Direction {
            ready: Cell::new(true),
            io: RefCell::new(None),
            io_waiting: Cell::new(false),
            waiters: RefCell::new(Slab::new()),
        }
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.get()
    }

    pub(crate) fn clear_ready(&self) {
        self.ready.set(false);
    }

    /// Marks the direction ready and wakes every task waiting on it.
    fn set_ready(&self) {
        self.ready.set(true);
        if self.io_waiting.replace(false)
            && let Some(waker) = &*self.io.borrow()
        {
            waker.wake_by_ref();
        }
        // Draining (not replacing) the slab keeps generations, so a waiting future's key
        // goes stale and can never match a later waiter.
        self.waiters.borrow_mut().drain(Waker::wake);
    }

    fn park_io(&self, cx: &Context<'_>) {
        let mut io = self.io.borrow_mut();
        match &*io {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => *io = Some(cx.waker().clone()),
        }
        self.io_waiting.set(true);
    }
}

const NO_LOOP: &str = "no looplet loop is running on this thread: socket IO must be awaited \
                       inside looplet::block_on";

impl Source {
    pub(crate) fn new(stream: bool) -> Rc<Source> {
        Rc::new(Source {
            stream,
            registration: RefCell::new(None),
            directions: [Direction::new(), Direction::new()],
        })
    }

    /// Makes sure the source is registered with the loop running on this thread.
    ///
    /// A source registers with the first loop that has to wait on it, and moves if it is
    /// later waited on from another loop (deregistered there, registered here).
    ///
    /// # Errors
    ///
    /// If no loop is running on this thread, or `epoll_ctl` fails.
    fn register(self: &Rc<Self>, fd: BorrowedFd<'_>) -> io::Result<()> {
        let local = current_rc().ok_or_else(|| io::Error::other(NO_LOOP))?;
        if let Some((registered, _)) = &*self.registration.borrow()
            && ptr::eq(registered.as_ptr(), Rc::as_ptr(&local))
        {
            return Ok(());
        }
        self.deregister(fd);
        let key = local.reactor.sources.borrow_mut().insert(self.clone());
        let interest = Event::all(key.to_u64() as usize);
        // SAFETY: polling requires the fd to be deleted from the poller before it is closed.
        // The fd belongs to the `Async` that owns this source, which deregisters it in its
        // `Drop` (and in `into_inner`) before the fd can be closed; a move to another loop
        // deregisters it from the old one first.
        let added = unsafe {
            local
                .shared
                .poller
                .add_with_mode(fd.as_raw_fd(), interest, PollMode::Edge)
        };
        if let Err(err) = added {
            local.reactor.sources.borrow_mut().remove(key);
            return Err(err);
        }
        *self.registration.borrow_mut() = Some((Rc::downgrade(&local), key));
        Ok(())
    }

    /// Removes the source from the poller it is registered with, if that loop still exists.
    pub(crate) fn deregister(&self, fd: BorrowedFd<'_>) {
        let Some((local, key)) = self.registration.borrow_mut().take() else {
            return;
        };
        if let Some(local) = local.upgrade() {
            let source = local.reactor.sources.borrow_mut().remove(key);
            // Fails only if the fd is no longer in the epoll set, which leaves nothing to undo.
            let _ = local.shared.poller.delete(fd);
            drop(source);
        }
    }

    /// `Ready` if `direction` may be ready; otherwise registers and parks the task as the
    /// direction's IO waiter.
    pub(crate) fn poll_io_ready(
        self: &Rc<Self>,
        direction: usize,
        fd: BorrowedFd<'_>,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        let dir = &self.directions[direction];
        if dir.is_ready() {
            return Poll::Ready(Ok(()));
        }
        if let Err(err) = self.register(fd) {
            return Poll::Ready(Err(err));
        }
        dir.park_io(cx);
        Poll::Pending
    }

    /// Like [`Source::poll_io_ready`], for a `readable()` / `writable()` future that holds
    /// `waiter`, its place among the direction's waiters.
    pub(crate) fn poll_waiter_ready(
        self: &Rc<Self>,
        direction: usize,
        fd: BorrowedFd<'_>,
        waiter: &mut Option<Key>,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        let dir = &self.directions[direction];
        if dir.is_ready() {
            self.remove_waiter(direction, waiter);
            return Poll::Ready(Ok(()));
        }
        if let Err(err) = self.register(fd) {
            return Poll::Ready(Err(err));
        }
        let mut waiters = dir.waiters.borrow_mut();
        match waiter.and_then(|key| waiters.get_mut(key)) {
            Some(waker) => {
                if !waker.will_wake(cx.waker()) {
                    *waker = cx.waker().clone();
                }
            }
            None => *waiter = Some(waiters.insert(cx.waker().clone())),
        }
        Poll::Pending
    }

    /// Forgets a `readable()` / `writable()` future's place (it was dropped, or is done).
    pub(crate) fn remove_waiter(&self, direction: usize, waiter: &mut Option<Key>) {
        if let Some(key) = waiter.take() {
            let waker = self.directions[direction].waiters.borrow_mut().remove(key);
            drop(waker);
        }
    }

    /// Records the outcome of an operation in `direction`; `true` if it should be retried.
    ///
    /// `WouldBlock` clears readiness (the task then waits for the next edge); `Interrupted` is
    /// retried; on a stream, a result for which `short` holds (a write that came back short:
    /// the send buffer is full) also clears readiness.
    pub(crate) fn retry<R>(
        &self,
        direction: usize,
        result: &io::Result<R>,
        short: impl FnOnce(&R) -> bool,
    ) -> bool {
        match result {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                self.directions[direction].clear_ready();
                true
            }
            Err(err) => err.kind() == io::ErrorKind::Interrupted,
            Ok(done) => {
                if self.stream && short(done) {
                    self.directions[direction].clear_ready();
                }
                false
            }
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("registered", &self.registration.borrow().is_some())
            .field("readable", &self.directions[READ].is_ready())
            .field("writable", &self.directions[WRITE].is_ready())
            .finish()
    }
}
