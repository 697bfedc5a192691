//! IO on the loop: [`Async<T>`] for any file descriptor, the process's stdio, and the
//! futures-io traits and helpers every stream here uses.
//!
//! looplet's streams implement [futures-io](futures_io)'s `AsyncRead`, `AsyncWrite`,
//! `AsyncBufRead` and `AsyncSeek` (the traits smol and the futures ecosystem use; tokio has its
//! own). Their methods (`read`, `write_all`, `read_line`, `lines`, `seek`, ...) live in the
//! extension traits of futures-util; `use looplet::io::prelude::*;` brings them all in, with no
//! dependency of your own. The buffering and copying helpers are futures-util's too,
//! re-exported here: [`BufReader`], [`BufWriter`], [`copy`], ...
//!
//! ```
//! use looplet::io::prelude::*;
//! use looplet::io::BufReader;
//!
//! looplet::block_on(async {
//!     let (a, mut b) = looplet::net::UnixStream::pair()?;
//!     b.write_all(b"first line\nsecond line\n").await?;
//!     drop(b);
//!     let mut lines = BufReader::new(a).lines();
//!     assert_eq!(lines.next().await.transpose()?.as_deref(), Some("first line"));
//!     assert_eq!(lines.next().await.transpose()?.as_deref(), Some("second line"));
//!     assert!(lines.next().await.is_none());
//!     std::io::Result::Ok(())
//! })?;
//! # std::io::Result::Ok(())
//! ```

use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Mutex;
use std::task::{Context, Poll, ready};

use futures_core::FusedFuture;
use futures_io::{AsyncRead, AsyncWrite};
use rustix::fs::OFlags;

use crate::net::socket;
use crate::reactor::{Kind, READ, Source, WRITE};
use crate::slab::Key;

// The process's stdio lives in stdio.rs, next to this file; `looplet::io` is its home.
mod stdio;

pub use stdio::{Stderr, Stdin, Stdout, stderr, stdin, stdout};

pub use futures_util::io::{
    AllowStdIo, BufReader, BufWriter, Chain, Cursor, Empty, LineWriter, Lines, ReadToString,
    Repeat, Sink, Take, copy, copy_buf, empty, repeat, sink,
};

/// The IO traits and their extension traits, for `use looplet::io::prelude::*;`.
///
/// The futures-io traits (`AsyncRead`, `AsyncWrite`, `AsyncBufRead`, `AsyncSeek`) and
/// futures-util's extensions that give them their methods: `read`, `read_exact`,
/// `read_to_end` (`AsyncReadExt`), `write_all`, `flush`, `close` (`AsyncWriteExt`),
/// `read_line`, `lines` (`AsyncBufReadExt`), `seek` (`AsyncSeekExt`). Also `StreamExt`, for
/// `next()` on streams such as `lines` and `incoming`.
///
/// # Examples
///
/// ```
/// use looplet::io::prelude::*;
///
/// looplet::block_on(async {
///     let (mut a, mut b) = looplet::net::UnixStream::pair()?;
///     a.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     b.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub mod prelude {
    pub use futures_io::{AsyncBufRead, AsyncRead, AsyncSeek, AsyncWrite};
    pub use futures_util::StreamExt;
    pub use futures_util::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
}

/// An IO object (a socket, a pipe: anything with a file descriptor) driven by the loop.
///
/// gevent's patched socket, done with futures: an operation that would block makes the task
/// wait, and the loop runs other tasks until the fd is ready. [`Async::new`] switches the fd
/// to non-blocking mode; [`read_with`](Async::read_with) and [`write_with`](Async::write_with)
/// retry any non-blocking operation until it stops returning `WouldBlock` (an `Interrupted`
/// error is retried too, never returned). `Async<T>` implements
/// [`AsyncRead`]/[`AsyncWrite`] when `T` implements `Read`/`Write`, and so does `&Async<T>`
/// when `&T` does, so one task can read while another writes.
///
/// # What kind of fd
///
/// [`Async::new`] learns once what the fd is (`fstat`, and the socket type, family and
/// protocol), and that decides two things. Whether a short read or write means that the
/// kernel buffer is drained or full (a TCP socket: both; a Unix stream socket or a pipe: for
/// writes only; datagrams, terminals and the rest: neither), which saves a failing syscall
/// per message where it holds. And, for those kinds, that looplet moves the bytes with its own
/// syscalls on the fd rather than through `T`'s `Read`/`Write`, so the rule sees exactly what
/// one syscall did (at most 1,024 slices per vectored call, the kernel's limit): `read`,
/// `readv`, and for writes `send`/`sendmsg` with `MSG_NOSIGNAL` on a stream socket (a peer that
/// has gone gives `BrokenPipe`, never a `SIGPIPE`, which kills a process that does not ignore
/// it, such as a C host) or `write`/`writev` on a pipe. Other fds go through `T`.
///
/// # Blocking mode
///
/// The fd's file description is switched to non-blocking mode, and every process that shares
/// it (a shell sharing your terminal, siblings sharing a pipe) sees that mode while the `Async`
/// lives. So for anything but a socket, the `Async` puts the mode back as it found it when it
/// is dropped or unwrapped with [`into_inner`](Async::into_inner). A process that exits without
/// dropping it (`std::process::exit`, a crash) leaves the mode switched: for the process's
/// standard input and output, prefer the blocking-pool based stdio types, which never touch the
/// mode. A socket stays non-blocking (its fd is rarely shared, and switching it back on every
/// close would cost a syscall per connection).
///
/// Several `Async`s of one file in this process (a pipe end and its `try_clone`, stdin wrapped
/// twice) share its mode: it goes back to blocking only when the last of them is dropped, so
/// the others never find themselves blocking the loop. A pipe has no `MSG_NOSIGNAL`: an
/// `Async` wrapping a pipe you made yourself installs no `SIGPIPE` protection, unlike
/// [`ChildStdin`](crate::process::ChildStdin), whose first spawn installs a do-nothing
/// `SIGPIPE` action for the whole process. A Rust program ignores `SIGPIPE` already; in a
/// host that keeps it at its default, and where no such spawn has happened, a write to a
/// wrapped pipe whose reader has gone kills the process.
///
/// `T`'s [`AsFd`] must name the same fd for as long as it is wrapped (every std and looplet
/// type does): the `Async` removes that fd from the poller before it closes.
///
/// # Which loop
///
/// An `Async` can be made anywhere, even before any loop runs. It is registered with the loop
/// that first has to wait on it, and if it is later awaited on another loop it moves there
/// (one `epoll_ctl` to leave, one to join). Awaiting it with no loop running on the thread
/// returns an `io::Error` saying so. Like the loop, it stays on its thread (`!Send`).
///
/// # Readiness
///
/// The fd is registered once, edge-triggered, and stays registered until the `Async` is
/// dropped (which removes it from the poller before closing the fd). [`readable`] and
/// [`writable`] complete when the loop believes the direction is ready; that belief can be
/// stale, so they may complete spuriously: the next operation may still return `WouldBlock`.
/// Use [`read_with`](Async::read_with) / [`write_with`](Async::write_with), which handle that.
///
/// A readiness that `readable()` has handed out is not trusted twice: unless an event or one of
/// looplet's own operations has refreshed it since, the next `readable()` asks the kernel
/// (a zero-timeout `poll(2)`) and waits for the next event if the fd is not ready after all.
/// So the pattern below, which does its own `read` and sees `WouldBlock` where looplet cannot,
/// parks instead of spinning:
///
/// ```
/// use std::io::{ErrorKind, Read, Write};
/// use std::os::unix::net::UnixStream;
/// use looplet::Async;
///
/// looplet::block_on(async {
///     let (mut a, b) = UnixStream::pair()?;
///     let b = Async::new(b)?;
///     let writer = looplet::spawn(async move {
///         looplet::sleep(std::time::Duration::from_millis(5)).await;
///         a.write_all(b"late")
///     });
///     let mut buf = [0; 4];
///     let n = loop {
///         b.readable().await?;
///         match b.get_ref().read(&mut buf) {
///             Err(e) if e.kind() == ErrorKind::WouldBlock => continue, // parks, no spin
///             other => break other?,
///         }
///     };
///     assert_eq!(&buf[..n], b"late");
///     writer.await
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// [`readable`]: Async::readable
/// [`writable`]: Async::writable
///
/// # Examples
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
/// use looplet::Async;
///
/// looplet::block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     let (mut a, mut b) = (Async::new(a)?, Async::new(b)?);
///     a.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     b.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct Async<T: AsFd> {
    source: Rc<Source>,
    /// Always `Some` until `into_inner` takes it.
    io: Option<T>,
    /// The file (device, inode) of a non-socket fd that [`Async::new`] made non-blocking:
    /// counted in [`SHARED_MODES`] until this `Async` goes.
    file: Option<(u64, u64)>,
}

/// Non-socket files wrapped by [`Async::new`] in this process, by (device, inode): how many
/// `Async`s wrap them, and whether one of them found the file blocking (then the last one to
/// go switches it back). Touched only when such an `Async` is made or dropped.
static SHARED_MODES: Mutex<Vec<SharedMode>> = Mutex::new(Vec::new());

/// One entry of [`SHARED_MODES`]: the file, its `Async`s, whether to switch it back.
type SharedMode = ((u64, u64), usize, bool);

/// Counts one more `Async` of `file`.
fn share_mode(file: (u64, u64), was_blocking: bool) {
    let mut modes = SHARED_MODES.lock().unwrap_or_else(|e| e.into_inner());
    match modes.iter_mut().find(|(f, _, _)| *f == file) {
        Some((_, count, restore)) => {
            *count += 1;
            *restore |= was_blocking;
        }
        None => modes.push((file, 1, was_blocking)),
    }
}

/// Counts one `Async` of `file` less; whether it was the last, and the file must be switched
/// back to blocking mode.
fn unshare_mode(file: (u64, u64)) -> bool {
    let mut modes = SHARED_MODES.lock().unwrap_or_else(|e| e.into_inner());
    let Some(at) = modes.iter().position(|(f, _, _)| *f == file) else {
        return false;
    };
    modes[at].1 -= 1;
    if modes[at].1 > 0 {
        return false;
    }
    modes.swap_remove(at).2
}

impl<T: AsFd> Async<T> {
    /// Wraps `io`, switching its fd to non-blocking mode (see
    /// [Blocking mode](Async#blocking-mode)) and learning what kind of fd it is (see
    /// [What kind of fd](Async#what-kind-of-fd)).
    ///
    /// # Errors
    ///
    /// If the fd's flags cannot be read or it cannot be switched to non-blocking mode.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use looplet::Async;
    ///
    /// let listener = Async::new(TcpListener::bind("127.0.0.1:0")?)?;
    /// # drop(listener);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn new(io: T) -> io::Result<Async<T>> {
        let fd = io.as_fd();
        let kind = Kind::of(fd);
        let flags = rustix::fs::fcntl_getfl(fd)?;
        let was_blocking = !flags.contains(OFlags::NONBLOCK);
        if was_blocking {
            rustix::fs::fcntl_setfl(fd, flags | OFlags::NONBLOCK)?;
        }
        #[cfg(target_vendor = "apple")]
        if kind.is_stream_socket() {
            // No MSG_NOSIGNAL there: the socket itself must not raise SIGPIPE.
            rustix::net::sockopt::set_socket_nosigpipe(fd, true)?;
        }
        let file = match kind.is_socket() {
            true => None,
            false => {
                let stat = rustix::fs::fstat(fd)?;
                let file = (stat.st_dev as u64, stat.st_ino as u64);
                share_mode(file, was_blocking);
                Some(file)
            }
        };
        let mut wrapped = Async::new_nonblocking(io, kind);
        wrapped.file = file;
        Ok(wrapped)
    }

    /// Wraps an fd that is already non-blocking, of a known kind.
    pub(crate) fn new_nonblocking(io: T, kind: Kind) -> Async<T> {
        Async {
            source: Source::new(kind),
            io: Some(io),
            file: None,
        }
    }

    /// The inner IO object.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::UdpSocket;
    ///
    /// let socket = looplet::Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// let addr = socket.get_ref().local_addr()?;
    /// assert!(addr.ip().is_loopback());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn get_ref(&self) -> &T {
        self.io.as_ref().expect("io is present until into_inner")
    }

    /// Unwraps the IO object, removing it from the loop.
    ///
    /// A socket stays non-blocking; any other fd that [`Async::new`] switched goes back to
    /// blocking mode (see [Blocking mode](Async#blocking-mode)).
    ///
    /// # Errors
    ///
    /// If the fd cannot be switched back to blocking mode (the `Async` is consumed either way).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::UdpSocket;
    ///
    /// let socket = looplet::Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    /// let std_socket: UdpSocket = socket.into_inner()?;
    /// # drop(std_socket);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn into_inner(mut self) -> io::Result<T> {
        let io = self.io.take().expect("io is present until into_inner");
        let _ = self.source.deregister(io.as_fd());
        if let Some(file) = self.file.take()
            && unshare_mode(file)
        {
            rustix::io::ioctl_fionbio(io.as_fd(), false)?;
        }
        Ok(io)
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.get_ref().as_fd()
    }

    /// Waits until the fd may be readable (see [Readiness](Async#readiness)).
    ///
    /// Every task waiting on `readable()` is woken when the fd becomes readable.
    ///
    /// # Errors
    ///
    /// If no loop runs on this thread, or the fd cannot be registered with the poller.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::unix::net::UnixStream;
    /// use looplet::Async;
    ///
    /// looplet::block_on(async {
    ///     let (mut a, b) = UnixStream::pair()?;
    ///     let b = Async::new(b)?;
    ///     a.write_all(b"x")?;
    ///     b.readable().await?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn readable(&self) -> Ready<'_, T> {
        Ready {
            io: self,
            direction: READ,
            waiter: None,
            done: false,
        }
    }

    /// Waits until the fd may be writable (see [Readiness](Async#readiness)).
    ///
    /// # Errors
    ///
    /// As for [`Async::readable`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    ///
    /// looplet::block_on(async {
    ///     let (a, _b) = UnixStream::pair()?;
    ///     looplet::Async::new(a)?.writable().await?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn writable(&self) -> Ready<'_, T> {
        Ready {
            io: self,
            direction: WRITE,
            waiter: None,
            done: false,
        }
    }

    /// The low-level form of [`Async::readable`], for the task polling it (one task per
    /// direction: a second task polling the same direction replaces the first's waker). It
    /// hands out readiness as `readable()` does (see [Readiness](Async#readiness)).
    ///
    /// # Errors
    ///
    /// As for [`Async::readable`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use std::io::Write;
    /// use std::os::unix::net::UnixStream;
    ///
    /// looplet::block_on(async {
    ///     let (mut a, b) = UnixStream::pair()?;
    ///     let b = looplet::Async::new(b)?;
    ///     a.write_all(b"x")?;
    ///     poll_fn(|cx| b.poll_readable(cx)).await?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.source.poll_user_ready(READ, self.fd(), cx)
    }

    /// The low-level form of [`Async::writable`]; see [`Async::poll_readable`].
    ///
    /// # Errors
    ///
    /// As for [`Async::readable`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use std::os::unix::net::UnixStream;
    ///
    /// looplet::block_on(async {
    ///     let (a, _b) = UnixStream::pair()?;
    ///     let a = looplet::Async::new(a)?;
    ///     poll_fn(|cx| a.poll_writable(cx)).await?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.source.poll_user_ready(WRITE, self.fd(), cx)
    }

    /// Runs a non-blocking read-side operation until it does not return `WouldBlock`.
    ///
    /// `op` runs at once if the fd may be readable, and again each time it becomes readable.
    /// `Interrupted` errors are retried; every other result is returned.
    ///
    /// # Errors
    ///
    /// Whatever `op` returns, and the errors of [`Async::readable`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::UdpSocket;
    /// use looplet::Async;
    ///
    /// looplet::block_on(async {
    ///     let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    ///     let me = socket.get_ref().local_addr()?;
    ///     socket.get_ref().send_to(b"hi", me)?;
    ///     let mut buf = [0; 2];
    ///     let (n, from) = socket.read_with(|s| s.recv_from(&mut buf)).await?;
    ///     assert_eq!((n, from, &buf), (2, me, b"hi"));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn read_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io_with(READ, op).await
    }

    /// Runs a non-blocking write-side operation until it does not return `WouldBlock`.
    ///
    /// # Errors
    ///
    /// Whatever `op` returns, and the errors of [`Async::writable`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::UdpSocket;
    /// use looplet::Async;
    ///
    /// looplet::block_on(async {
    ///     let socket = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    ///     let me = socket.get_ref().local_addr()?;
    ///     let n = socket.write_with(|s| s.send_to(b"hello", me)).await?;
    ///     assert_eq!(n, 5);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn write_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.io_with(WRITE, op).await
    }

    async fn io_with<R>(
        &self,
        direction: usize,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        std::future::poll_fn(|cx| self.poll_with(direction, cx, &mut op, |_| None)).await
    }

    /// Polls `op` in `direction`: runs it while the direction may be ready, waits otherwise.
    /// `transfer` gives `(done, wanted)` for a byte transfer (see [`Source::retry`]).
    pub(crate) fn poll_with<R>(
        &self,
        direction: usize,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
        transfer: impl Fn(&R) -> Option<(usize, usize)>,
    ) -> Poll<io::Result<R>> {
        let mut io = self.get_ref();
        poll_mut(&self.source, &mut io, direction, cx, |io| op(io), transfer)
    }

    /// Makes the next wait in `direction` wait for a fresh event (for example after starting
    /// a non-blocking connect, whose completion is signalled by writability).
    pub(crate) fn clear_ready(&self, direction: usize) {
        self.source.directions[direction].clear_ready();
    }

    /// What kind of fd this is.
    pub(crate) fn kind(&self) -> Kind {
        self.source.kind
    }

    /// Reads into memory that may be uninitialised, without zeroing it first where looplet
    /// makes the syscall itself (TCP, Unix streams, pipes): what hyper's read buffer wants.
    /// Returns how many bytes at the front of `buf` are now initialised (0 at the end of
    /// the stream).
    #[cfg(feature = "hyper")]
    pub(crate) fn poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>>
    where
        for<'a> &'a T: Read,
    {
        let kind = self.kind();
        let read = |mut io: &T| read_uninit_once(kind, &mut io, buf, |io, buf| io.read(buf));
        moved(self.poll_with(READ, cx, read, rule))
    }
}

// Nothing in an `Async` is pinned structurally: `T` is only ever used through `&T`/`&mut T`.
impl<T: AsFd> Unpin for Async<T> {}

impl<T: AsFd> Drop for Async<T> {
    fn drop(&mut self) {
        if let Some(io) = &self.io {
            // Out of the poller before the fd closes (when `io` drops after this).
            let _ = self.source.deregister(io.as_fd());
            if let Some(file) = self.file.take()
                && unshare_mode(file)
            {
                // Nothing to do if it fails: the fd is about to close.
                let _ = rustix::io::ioctl_fionbio(io.as_fd(), false);
            }
        }
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async")
            .field("io", &self.io)
            .field("source", &self.source)
            .finish()
    }
}

/// The future of [`Async::readable`] and [`Async::writable`].
///
/// Every task waiting on the same direction of the same fd is woken when it becomes ready.
/// It is a [`FusedFuture`].
///
/// # Examples
///
/// ```
/// use std::os::unix::net::UnixStream;
///
/// looplet::block_on(async {
///     let (a, _b) = UnixStream::pair()?;
///     let a = looplet::Async::new(a)?;
///     let ready: looplet::Ready<'_, UnixStream> = a.writable();
///     ready.await?;
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Ready<'a, T: AsFd> {
    io: &'a Async<T>,
    direction: usize,
    /// Our place among the direction's waiters.
    waiter: Option<Key>,
    done: bool,
}

impl<T: AsFd> Future for Ready<'_, T> {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let poll =
            this.io
                .source
                .poll_waiter_ready(this.direction, this.io.fd(), &mut this.waiter, cx);
        this.done = poll.is_ready();
        poll
    }
}

impl<T: AsFd> FusedFuture for Ready<'_, T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T: AsFd> Drop for Ready<'_, T> {
    fn drop(&mut self) {
        self.io
            .source
            .remove_waiter(self.direction, &mut self.waiter);
    }
}

impl<T: AsFd> fmt::Debug for Ready<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ready")
            .field("direction", &["read", "write"][self.direction])
            .finish()
    }
}

/// Whether looplet moves an fd's bytes with its own syscalls rather than `T`'s `Read`/`Write`:
/// for the kinds that have a short-transfer rule (TCP and Unix stream sockets, pipes), so
/// the rule sees exactly what one syscall did. `T`'s `read_vectored` may use only its first
/// slice, or stop at the kernel's limit of slices; a short result from it proves nothing.
fn own_syscalls(kind: Kind) -> bool {
    matches!(kind, Kind::Tcp | Kind::UnixStream | Kind::Pipe)
}

/// A transfer's result: bytes moved, and the bytes asked of the kernel where the
/// short-transfer rule applies.
type Moved = (usize, Option<usize>);

/// What [`Source::retry`] needs of a [`Moved`].
fn rule(moved: &Moved) -> Option<(usize, usize)> {
    let &(n, want) = moved;
    want.map(|want| (n, want))
}

/// The slices one `readv`/`writev`/`sendmsg` takes: the kernel's limit (`IOV_MAX`), the rest
/// left for the next call, as std does.
fn capped<T>(bufs: &[T]) -> &[T] {
    &bufs[..bufs.len().min(socket::IOV_MAX)]
}

fn capped_mut<T>(bufs: &mut [T]) -> &mut [T] {
    let len = bufs.len().min(socket::IOV_MAX);
    &mut bufs[..len]
}

/// One read into `buf`: read(2) on the fd for [`own_syscalls`] kinds, else `plain`.
fn read_once<I: AsFd>(
    kind: Kind,
    io: &mut I,
    buf: &mut [u8],
    plain: impl FnOnce(&mut I, &mut [u8]) -> io::Result<usize>,
) -> io::Result<Moved> {
    if own_syscalls(kind) {
        let n = rustix::io::read(io.as_fd(), &mut *buf)?;
        return Ok((n, Some(buf.len())));
    }
    Ok((plain(io, buf)?, None))
}

/// One vectored read: readv(2) of at most `IOV_MAX` slices for [`own_syscalls`] kinds.
fn read_vectored_once<I: AsFd>(
    kind: Kind,
    io: &mut I,
    bufs: &mut [IoSliceMut<'_>],
    plain: impl FnOnce(&mut I, &mut [IoSliceMut<'_>]) -> io::Result<usize>,
) -> io::Result<Moved> {
    if own_syscalls(kind) {
        let bufs = capped_mut(bufs);
        let want = bufs.iter().map(|b| b.len()).sum();
        let n = rustix::io::readv(io.as_fd(), bufs)?;
        return Ok((n, Some(want)));
    }
    Ok((plain(io, bufs)?, None))
}

/// One write: send(MSG_NOSIGNAL) on a stream socket, write(2) on a pipe, else `plain`.
fn write_once<I: AsFd>(
    kind: Kind,
    io: &mut I,
    buf: &[u8],
    plain: impl FnOnce(&mut I, &[u8]) -> io::Result<usize>,
) -> io::Result<Moved> {
    let n = match kind {
        Kind::Tcp | Kind::UnixStream => socket::send(io.as_fd(), buf)?,
        Kind::Pipe => rustix::io::write(io.as_fd(), buf)?,
        _ => return Ok((plain(io, buf)?, None)),
    };
    Ok((n, Some(buf.len())))
}

/// One vectored write of at most `IOV_MAX` slices: sendmsg(MSG_NOSIGNAL) on a stream socket,
/// writev(2) on a pipe, else `plain`.
fn write_vectored_once<I: AsFd>(
    kind: Kind,
    io: &mut I,
    bufs: &[IoSlice<'_>],
    plain: impl FnOnce(&mut I, &[IoSlice<'_>]) -> io::Result<usize>,
) -> io::Result<Moved> {
    let sent = capped(bufs);
    let want = sent.iter().map(|b| b.len()).sum();
    let n = match kind {
        Kind::Tcp | Kind::UnixStream => socket::send_vectored(io.as_fd(), sent)?,
        Kind::Pipe => rustix::io::writev(io.as_fd(), sent)?,
        _ => return Ok((plain(io, bufs)?, None)),
    };
    Ok((n, Some(want)))
}

/// One read into memory that may be uninitialised: read(2) straight into it for
/// [`own_syscalls`] kinds; else its front is zeroed first ([`zeroed_front`]) and `plain`
/// reads into that.
/// Returns the count of bytes now initialised at its front.
#[cfg(feature = "hyper")]
fn read_uninit_once<I: AsFd>(
    kind: Kind,
    io: &mut I,
    buf: &mut [std::mem::MaybeUninit<u8>],
    plain: impl FnOnce(&mut I, &mut [u8]) -> io::Result<usize>,
) -> io::Result<Moved> {
    if own_syscalls(kind) {
        let (read, _) = rustix::io::read(io.as_fd(), &mut *buf)?;
        return Ok((read.len(), Some(buf.len())));
    }
    let bytes = zeroed_front(buf);
    let len = bytes.len();
    // A `Read` that claims more than it was given (safe code may) is never believed: the
    // count is what the caller will treat as initialised.
    Ok((plain(io, bytes)?.min(len), None))
}

/// The most [`zeroed_front`] zeroes: a huge buffer costs no huge memset per read.
#[cfg(feature = "hyper")]
const ZEROED_READ_MAX: usize = 64 * 1024;

/// The front of `buf` (up to [`ZEROED_READ_MAX`] bytes), zeroed, as initialised memory: for a
/// read through an API that only reads into initialised memory (`std::io::Read`,
/// futures-io).
#[cfg(feature = "hyper")]
pub(crate) fn zeroed_front(buf: &mut [std::mem::MaybeUninit<u8>]) -> &mut [u8] {
    let len = buf.len().min(ZEROED_READ_MAX);
    let front = &mut buf[..len];
    front.fill(std::mem::MaybeUninit::new(0));
    // SAFETY: every byte of `front` was just initialised, and `MaybeUninit<u8>` has `u8`'s
    // layout.
    unsafe { &mut *(front as *mut [std::mem::MaybeUninit<u8>] as *mut [u8]) }
}

/// The bytes of a [`Moved`].
fn moved(poll: Poll<io::Result<Moved>>) -> Poll<io::Result<usize>> {
    poll.map(|result| result.map(|(n, _)| n))
}

impl<T: AsFd> AsyncRead for &Async<T>
where
    for<'a> &'a T: Read,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let kind = self.kind();
        let read = |mut io: &T| read_once(kind, &mut io, buf, |io, buf| io.read(buf));
        moved(self.poll_with(READ, cx, read, rule))
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let kind = self.kind();
        let read =
            |mut io: &T| read_vectored_once(kind, &mut io, bufs, |io, bufs| io.read_vectored(bufs));
        moved(self.poll_with(READ, cx, read, rule))
    }
}

impl<T: AsFd> AsyncWrite for &Async<T>
where
    for<'a> &'a T: Write,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let kind = self.kind();
        let write = |mut io: &T| write_once(kind, &mut io, buf, |io, buf| io.write(buf));
        moved(self.poll_with(WRITE, cx, write, rule))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let kind = self.kind();
        let write = |mut io: &T| {
            write_vectored_once(kind, &mut io, bufs, |io, bufs| io.write_vectored(bufs))
        };
        moved(self.poll_with(WRITE, cx, write, rule))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this: &Async<T> = *self;
        let mut io = this.get_ref();
        poll_flush_with(&this.source, &mut io, cx, |io| io.flush())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl<T: AsFd + Read> AsyncRead for Async<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let kind = this.source.kind;
        let io = this.io.as_mut().expect("io is present until into_inner");
        // `read` needs `&mut T`; readiness is tracked on the shared source.
        let read = |io: &mut T| read_once(kind, io, buf, |io, buf| io.read(buf));
        moved(poll_mut(&this.source, io, READ, cx, read, rule))
    }

    fn poll_read_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let kind = this.source.kind;
        let io = this.io.as_mut().expect("io is present until into_inner");
        let read =
            |io: &mut T| read_vectored_once(kind, io, bufs, |io, bufs| io.read_vectored(bufs));
        moved(poll_mut(&this.source, io, READ, cx, read, rule))
    }
}

impl<T: AsFd + Write> AsyncWrite for Async<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let kind = this.source.kind;
        let io = this.io.as_mut().expect("io is present until into_inner");
        let write = |io: &mut T| write_once(kind, io, buf, |io, buf| io.write(buf));
        moved(poll_mut(&this.source, io, WRITE, cx, write, rule))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let kind = this.source.kind;
        let io = this.io.as_mut().expect("io is present until into_inner");
        let write =
            |io: &mut T| write_vectored_once(kind, io, bufs, |io, bufs| io.write_vectored(bufs));
        moved(poll_mut(&this.source, io, WRITE, cx, write, rule))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let io = this.io.as_mut().expect("io is present until into_inner");
        poll_flush_with(&this.source, io, cx, |io| io.flush())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// [`Async::poll_with`] for operations that need `&mut T`.
fn poll_mut<T: AsFd, R>(
    source: &Rc<Source>,
    io: &mut T,
    direction: usize,
    cx: &mut Context<'_>,
    mut op: impl FnMut(&mut T) -> io::Result<R>,
    transfer: impl Fn(&R) -> Option<(usize, usize)>,
) -> Poll<io::Result<R>> {
    loop {
        ready!(source.poll_io_ready(direction, io.as_fd(), cx))?;
        let result = op(io);
        if !source.retry(direction, &result, &transfer) {
            return Poll::Ready(result);
        }
    }
}

/// Flushes `io`, waiting for writability only if the flush returns `WouldBlock`: most flushes
/// (every socket's) cannot block, and must not wait for a writable edge first.
fn poll_flush_with<T: AsFd>(
    source: &Rc<Source>,
    io: &mut T,
    cx: &mut Context<'_>,
    mut flush: impl FnMut(&mut T) -> io::Result<()>,
) -> Poll<io::Result<()>> {
    loop {
        let result = flush(io);
        if !source.retry(WRITE, &result, |_| None) {
            return Poll::Ready(result);
        }
        ready!(source.poll_io_ready(WRITE, io.as_fd(), cx))?;
    }
}
