//! One registered fd: its readiness per direction, the tasks waiting on it, and the rule that
//! says what a short transfer means on it ([`Kind`]).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::ptr;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::FileType;
use rustix::net::{AddressFamily, SocketType};

use super::{READ, Reactor, WRITE};
use crate::context::current_reactor;
use crate::slab::{Key, Slab};
use crate::sys;

/// What a short read or write means on an fd; learnt once, when its source is made.
///
/// This is the short-transfer rule, written once: every read and write path asks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A TCP (or MPTCP) socket: a short read means the receive buffer is drained, a short
    /// write that the send buffer is full.
    Tcp,
    /// A Unix stream socket. A short write means the send buffer is full; a short read proves
    /// nothing, because Linux ends a read at a message that carried file descriptors
    /// (`SCM_RIGHTS`) with data still queued behind it.
    UnixStream,
    /// A pipe or FIFO. A short write means it is full; a short read proves nothing, because a
    /// packet-mode pipe (`O_DIRECT` on its write end, which the read end cannot see) returns
    /// one packet per read with more queued behind it. So a pipe reader pays one failing
    /// read per burst, and never hangs.
    Pipe,
    /// Any other socket (datagram, seqpacket): a short transfer proves nothing, since a
    /// datagram is read and written whole.
    Socket,
    /// Terminals, eventfds, pidfds and everything else: a short transfer proves nothing (a
    /// terminal returns a line at a time).
    Other,
}

impl Kind {
    /// Learns the kind of `fd` (`fstat`, then `SO_TYPE` and `SO_DOMAIN` for a socket).
    ///
    /// An fd whose kind cannot be read is [`Kind::Other`], the kind that assumes nothing.
    pub(crate) fn of(fd: BorrowedFd<'_>) -> Kind {
        let Ok(stat) = rustix::fs::fstat(fd) else {
            return Kind::Other;
        };
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Fifo => Kind::Pipe,
            FileType::Socket => match rustix::net::sockopt::socket_type(fd) {
                Ok(SocketType::STREAM) => Kind::of_stream(fd),
                _ => Kind::Socket,
            },
            _ => Kind::Other,
        }
    }

    /// The kind of a stream socket, by its address family (and, on Linux, its protocol: an
    /// internet stream socket that is not TCP, such as SCTP, reads a message at a time).
    pub(crate) fn of_stream(fd: BorrowedFd<'_>) -> Kind {
        match crate::net::socket::family_of(fd) {
            Ok(AddressFamily::UNIX) => Kind::UnixStream,
            Ok(AddressFamily::INET | AddressFamily::INET6) if is_tcp(fd) => Kind::Tcp,
            _ => Kind::Socket,
        }
    }

    /// Whether the fd is a socket of any kind.
    pub(crate) fn is_socket(self) -> bool {
        matches!(self, Kind::Tcp | Kind::UnixStream | Kind::Socket)
    }

    /// Whether the fd is a stream socket, written with `send(MSG_NOSIGNAL)`.
    #[cfg_attr(not(target_vendor = "apple"), allow(dead_code))]
    pub(crate) fn is_stream_socket(self) -> bool {
        matches!(self, Kind::Tcp | Kind::UnixStream)
    }

    /// Whether a read of `n` bytes out of `want` means the receive buffer is now empty.
    fn read_drained(self, n: usize, want: usize) -> bool {
        sys::SHORT_READS_DRAIN && self == Kind::Tcp && n > 0 && n < want
    }

    /// Whether a write of `n` bytes out of `want` means the send buffer is now full.
    fn write_filled(self, n: usize, want: usize) -> bool {
        matches!(self, Kind::Tcp | Kind::UnixStream | Kind::Pipe) && n < want
    }
}

/// An fd's readiness and its waiting tasks; shared by the `Async` that owns the fd and the
/// reactor it is registered with.
pub(crate) struct Source {
    /// What a short transfer means on this fd.
    pub(crate) kind: Kind,
    /// The reactor this source is registered with, and its key there.
    registration: RefCell<Option<(Weak<Reactor>, Key)>>,
    /// Set for good once the peer shut down its write side (or the connection died): reads
    /// no longer block, so a short read must not clear readiness.
    read_closed: Cell<bool>,
    pub(crate) directions: [Direction; 2],
}

/// One direction (read or write) of a source.
pub(crate) struct Direction {
    /// Set by an event; cleared when an operation finds the fd not ready after all.
    ready: Cell<bool>,
    /// `ready` was handed to the user by `readable()`/`writable()` and not refreshed since by
    /// an event or a looplet operation: it must be checked with the kernel before it is
    /// handed out again (see the module docs).
    handed_out: Cell<bool>,
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
            handed_out: Cell::new(false),
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
        self.handed_out.set(false);
    }

    /// Whether a task waits on this direction.
    fn is_wanted(&self) -> bool {
        self.io_waiting.get() || !self.waiters.borrow().is_empty()
    }

    /// Marks the direction ready and wakes every task waiting on it.
    fn set_ready(&self) {
        self.ready.set(true);
        self.handed_out.set(false);
        self.wake();
    }

    /// Wakes every task waiting on this direction, with no borrow held: a waker (another
    /// executor's, say) may poll this very source again.
    fn wake(&self) {
        if self.io_waiting.replace(false) {
            let waker = self.io.borrow().clone();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
        if self.waiters.borrow().is_empty() {
            return;
        }
        // Draining (not replacing) the slab keeps generations, so a waiting future's key
        // goes stale and can never match a later waiter.
        let mut woken = Vec::new();
        self.waiters.borrow_mut().drain(|waker| woken.push(waker));
        woken.into_iter().for_each(Waker::wake);
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
    /// Records what an event said: the directions that became ready, and whether the read side
    /// closed for good.
    pub(super) fn ready(&self, readable: bool, writable: bool, read_closed: bool) {
        if read_closed {
            self.read_closed.set(true);
        }
        if readable {
            self.directions[READ].set_ready();
        }
        if writable {
            self.directions[WRITE].set_ready();
        }
    }

    pub(crate) fn new(kind: Kind) -> Rc<Source> {
        Rc::new(Source {
            kind,
            registration: RefCell::new(None),
            read_closed: Cell::new(false),
            directions: [Direction::new(), Direction::new()],
        })
    }

    /// Makes sure the source is registered with the loop running on this thread.
    ///
    /// A source registers with the first loop that has to wait on it, and moves if it is
    /// later waited on from another loop (deregistered there, registered here). Tasks still
    /// waiting on it through the old loop would then wait for events that loop no longer
    /// receives: a move wakes them all, with both directions marked ready, so each retries
    /// its operation and, if it must wait again, takes the source back to its own loop.
    ///
    /// # Errors
    ///
    /// If no loop is running on this thread, or `epoll_ctl` fails.
    fn register(self: &Rc<Self>, fd: BorrowedFd<'_>) -> io::Result<()> {
        let reactor = current_reactor().ok_or_else(|| io::Error::other(NO_LOOP))?;
        if let Some((registered, _)) = &*self.registration.borrow()
            && ptr::eq(registered.as_ptr(), Rc::as_ptr(&reactor))
        {
            return Ok(());
        }
        if self.deregister(fd) {
            // Left behind on the old loop: wake every waiter, whatever happens next, so that
            // each retries and, if it must wait, takes the source back to its own loop.
            for direction in &self.directions {
                direction.set_ready();
            }
        }
        let key = reactor.add(self, fd)?;
        *self.registration.borrow_mut() = Some((Rc::downgrade(&reactor), key));
        Ok(())
    }

    /// Removes the source from the poller it is registered with, if that loop still exists;
    /// returns whether it did.
    pub(crate) fn deregister(&self, fd: BorrowedFd<'_>) -> bool {
        let Some((reactor, key)) = self.registration.borrow_mut().take() else {
            return false;
        };
        let Some(reactor) = reactor.upgrade() else {
            return false;
        };
        reactor.remove(key, fd);
        true
    }

    /// `Ready` if `direction` may be ready; otherwise registers and parks the task as the
    /// direction's IO waiter. For looplet's own operations, which report their outcome.
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
        self.arm(fd)
    }

    /// Like [`Source::poll_io_ready`], for user code that does its own syscall after it
    /// (`Async::poll_readable`): readiness is handed out (see the module docs).
    pub(crate) fn poll_user_ready(
        self: &Rc<Self>,
        direction: usize,
        fd: BorrowedFd<'_>,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        if self.hand_out(direction, fd) {
            return Poll::Ready(Ok(()));
        }
        if let Err(err) = self.register(fd) {
            return Poll::Ready(Err(err));
        }
        self.directions[direction].park_io(cx);
        self.arm(fd)
    }

    /// Whether `direction` is ready to hand to user code; marks it handed out if so.
    ///
    /// Readiness already handed out and not refreshed since is checked with a zero-timeout
    /// `poll(2)`; if the kernel says the fd is not ready, the flag is cleared.
    fn hand_out(&self, direction: usize, fd: BorrowedFd<'_>) -> bool {
        let dir = &self.directions[direction];
        if !dir.is_ready() {
            return false;
        }
        if dir.handed_out.get() && !level_ready(fd, direction) {
            dir.clear_ready();
            return false;
        }
        dir.handed_out.set(true);
        true
    }

    /// Like [`Source::poll_user_ready`], for a `readable()` / `writable()` future that holds
    /// `waiter`, its place among the direction's waiters.
    pub(crate) fn poll_waiter_ready(
        self: &Rc<Self>,
        direction: usize,
        fd: BorrowedFd<'_>,
        waiter: &mut Option<Key>,
        cx: &Context<'_>,
    ) -> Poll<io::Result<()>> {
        if self.hand_out(direction, fd) {
            self.remove_waiter(direction, waiter);
            return Poll::Ready(Ok(()));
        }
        let dir = &self.directions[direction];
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
        drop(waiters);
        self.arm(fd)
    }

    /// After a task parked: a oneshot poller must be re-armed for the directions that have
    /// waiters (an edge-triggered one never needs it). `Pending`, or the error of re-arming.
    fn arm(&self, fd: BorrowedFd<'_>) -> Poll<io::Result<()>> {
        let registration = self.registration.borrow();
        let Some((reactor, key)) = &*registration else {
            return Poll::Pending;
        };
        let Some(reactor) = reactor.upgrade() else {
            return Poll::Pending;
        };
        if !reactor.is_oneshot() {
            return Poll::Pending;
        }
        let [read, write] = &self.directions;
        match reactor.rearm(*key, fd, read.is_wanted(), write.is_wanted()) {
            Ok(()) => Poll::Pending,
            Err(err) => Poll::Ready(Err(err)),
        }
    }

    /// Wakes every task waiting on the source, in either direction, without marking either
    /// ready: after an event on a oneshot poller, which disarmed the fd, so that each retries
    /// and re-arms what it still waits for.
    pub(super) fn wake_all(&self) {
        for direction in &self.directions {
            direction.wake();
        }
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
    /// retried. `transfer`, for a byte transfer, is `(done, wanted)`: if the fd's [`Kind`] says
    /// that a transfer that short drained or filled the kernel buffer, readiness is cleared too,
    /// except for a read on a source whose read side is closed.
    pub(crate) fn retry<R>(
        &self,
        direction: usize,
        result: &io::Result<R>,
        transfer: impl FnOnce(&R) -> Option<(usize, usize)>,
    ) -> bool {
        let dir = &self.directions[direction];
        dir.handed_out.set(false);
        match result {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                dir.clear_ready();
                true
            }
            Err(err) => err.kind() == io::ErrorKind::Interrupted,
            Ok(done) => {
                if let Some((n, want)) = transfer(done) {
                    let short = if direction == READ {
                        !self.read_closed.get() && self.kind.read_drained(n, want)
                    } else {
                        self.kind.write_filled(n, want)
                    };
                    if short {
                        dir.clear_ready();
                    }
                }
                false
            }
        }
    }
}

/// Whether an internet stream socket speaks TCP (or MPTCP, which reads like it).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn is_tcp(fd: BorrowedFd<'_>) -> bool {
    use rustix::net::ipproto;
    match rustix::net::sockopt::socket_protocol(fd) {
        Ok(Some(protocol)) => protocol == ipproto::TCP || protocol == ipproto::MPTCP,
        _ => false,
    }
}

/// Elsewhere an internet stream socket is taken to be TCP (`SO_PROTOCOL` is Linux's).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn is_tcp(_fd: BorrowedFd<'_>) -> bool {
    true
}

/// Whether the kernel says `fd` is ready in `direction` now (a zero-timeout `poll(2)`).
///
/// An error from `poll` counts as ready: the operation that follows will report it.
fn level_ready(fd: BorrowedFd<'_>, direction: usize) -> bool {
    let wanted = if direction == READ {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let closed = PollFlags::RDHUP;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let closed = PollFlags::empty();
        PollFlags::IN | closed
    } else {
        PollFlags::OUT
    };
    let mut fds = [PollFd::new(&fd, wanted)];
    let zero = rustix::event::Timespec::default();
    match rustix::event::poll(&mut fds, Some(&zero)) {
        Ok(_) => fds[0]
            .revents()
            .intersects(wanted | PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL),
        Err(_) => true,
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("kind", &self.kind)
            .field("registered", &self.registration.borrow().is_some())
            .field("readable", &self.directions[READ].is_ready())
            .field("writable", &self.directions[WRITE].is_ready())
            .finish()
    }
}
