//! Sockets on the loop: TCP, UDP and Unix domain sockets.
//!
//! gevent's patched `socket` module, without the patching: code reads like blocking socket
//! code, and every call that would block lets the loop run other tasks meanwhile. Streams
//! implement [`AsyncRead`] and [`AsyncWrite`] (use `futures_util::io::{AsyncReadExt,
//! AsyncWriteExt}` for `read`, `write_all` and friends), and so do shared references to them,
//! so one task can read a socket while another writes it.
//!
//! Binding is a plain call (it never blocks, as in std and async-io); connecting and
//! accepting are `async`. Every operation returns an [`io::Result`], and a failed one leaves
//! the loop running:
//!
//! - a refused connect gives `ConnectionRefused`;
//! - a peer that resets the connection gives `ConnectionReset` (or `BrokenPipe` on a write);
//! - a write after the peer closed gives `BrokenPipe`: writes use `MSG_NOSIGNAL`, so there is
//!   no `SIGPIPE` to kill the process;
//! - after the peer shuts down its write side, reads return `Ok(0)` (end of stream) while
//!   writes still work;
//! - `accept` at the descriptor limit gives the `EMFILE` error (`raw_os_error() == Some(24)`):
//!   the pending connection stays queued, so back off (a short [`sleep`](crate::sleep)) and
//!   accept again once descriptors are free, rather than retrying in a tight loop.
//!
//! Listeners are created with the deepest accept backlog the system allows (the kernel caps
//! the request at `net.core.somaxconn`), so a burst of hundreds of connects is queued instead
//! of being dropped and retried by the clients a second later. std's fixed 128 is not enough.
//!
//! Name resolution in `bind`/`connect` (`"localhost:80"`) goes through
//! [`ToSocketAddrs`] and blocks the loop while it runs; pass a [`SocketAddr`] to avoid it.
//!
//! Like every looplet IO object, a socket is registered with the loop that first waits on it,
//! and moves to another loop if it is used there (see [`Async`]).

mod unix;

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use futures_io::{AsyncRead, AsyncWrite};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::io::Async;
use crate::reactor::{Kind, READ, WRITE};

pub use unix::{UnixIncoming, UnixListener, UnixStream};

/// The accept backlog asked for; Linux caps it at `net.core.somaxconn` (4096 by default).
const BACKLOG: i32 = i32::MAX;

/// Flags for every socket looplet creates: non-blocking from the start, closed on exec.
const FLAGS: SocketFlags = SocketFlags::NONBLOCK.union(SocketFlags::CLOEXEC);

fn family(addr: &SocketAddr) -> AddressFamily {
    match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    }
}

/// Tries `f` on every address `addrs` resolves to; the first success, or the last error.
fn each_addr<T>(
    addrs: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addrs.to_socket_addrs()? {
        match f(addr) {
            Ok(done) => return Ok(done),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(no_address))
}

fn no_address() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any address",
    )
}

/// Waits for a non-blocking connect on `socket` to finish; its outcome is in `SO_ERROR`.
async fn finish_connect<T: AsFd>(socket: &Async<T>) -> io::Result<()> {
    // Optimistic readiness would let `writable` return at once: wait for a real edge.
    socket.clear_ready(WRITE);
    socket.writable().await?;
    match rustix::net::sockopt::socket_error(socket.get_ref().as_fd())? {
        Ok(()) => Ok(()),
        Err(errno) => Err(errno.into()),
    }
}

/// A TCP socket listening for connections.
///
/// # Examples
///
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
/// use looplet::net::{TcpListener, TcpStream};
///
/// looplet::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let server = looplet::spawn(async move {
///         let (mut conn, _peer) = listener.accept().await?;
///         let mut buf = [0; 5];
///         conn.read_exact(&mut buf).await?;
///         conn.write_all(&buf.to_ascii_uppercase()).await?;
///         std::io::Result::Ok(())
///     });
///     let mut client = TcpStream::connect(addr).await?;
///     client.write_all(b"hello").await?;
///     let mut reply = [0; 5];
///     client.read_exact(&mut reply).await?;
///     assert_eq!(&reply, b"HELLO");
///     server.await
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct TcpListener {
    inner: Async<std::net::TcpListener>,
}

impl TcpListener {
    /// Binds a listener to `addr`, with the system's deepest accept backlog.
    ///
    /// Binding never blocks (name resolution aside); port 0 picks a free port.
    ///
    /// # Errors
    ///
    /// `AddrInUse`, `PermissionDenied`, `AddrNotAvailable` and the like, for the last address
    /// tried.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = looplet::net::TcpListener::bind("127.0.0.1:0")?;
    /// assert_ne!(listener.local_addr()?.port(), 0);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |addr| {
            let fd = rustix::net::socket_with(family(&addr), SocketType::STREAM, FLAGS, None)?;
            rustix::net::sockopt::set_socket_reuseaddr(&fd, true)?;
            rustix::net::bind(&fd, &addr)?;
            rustix::net::listen(&fd, BACKLOG)?;
            Ok(TcpListener {
                inner: Async::new_nonblocking(std::net::TcpListener::from(fd), Kind::Socket),
            })
        })
    }

    /// Wraps a std listener (switching it to non-blocking mode).
    ///
    /// # Errors
    ///
    /// If it cannot be made non-blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let listener = looplet::net::TcpListener::from_std(std_listener)?;
    /// # drop(listener);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: Async::new(listener)?,
        })
    }

    /// Waits for a connection; returns it and the peer's address.
    ///
    /// # Errors
    ///
    /// The accept error, notably `EMFILE` (see the [module docs](self)); the listener stays
    /// usable.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (_conn, peer) = listener.accept().await?;
    ///     assert_eq!(peer, client.local_addr()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// The low-level form of [`TcpListener::accept`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let _client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (_conn, _peer) = poll_fn(|cx| listener.poll_accept(cx)).await?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (fd, addr) = ready!(self.inner.poll_with(
            READ,
            cx,
            |listener| Ok(rustix::net::acceptfrom_with(listener, FLAGS)?),
            |_| None,
        ))?;
        let stream = TcpStream::from_fd(fd);
        let peer = match addr.and_then(|a| SocketAddr::try_from(a).ok()) {
            Some(peer) => peer,
            None => stream.peer_addr()?,
        };
        Poll::Ready(Ok((stream, peer)))
    }

    /// A stream of incoming connections, for `while let Some(conn) = incoming.next().await`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let addr = listener.local_addr()?;
    ///     let _clients = (TcpStream::connect(addr).await?, TcpStream::connect(addr).await?);
    ///     let conns: Vec<_> = listener.incoming().take(2).collect().await;
    ///     assert!(conns.iter().all(|c| c.is_ok()));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The `getsockname` error.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = looplet::net::TcpListener::bind("127.0.0.1:0")?;
    /// assert!(listener.local_addr()?.ip().is_loopback());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}

/// The stream of [`TcpListener::incoming`]: every item is one `accept`.
///
/// It never ends. An error item (such as `EMFILE`) does not end it either: the next poll
/// accepts again, so back off before polling again after an error.
///
/// # Examples
///
/// ```
/// use futures_util::StreamExt;
/// use looplet::net::{Incoming, TcpListener, TcpStream};
///
/// looplet::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let _client = TcpStream::connect(listener.local_addr()?).await?;
///     let mut incoming: Incoming<'_> = listener.incoming();
///     let conn = incoming.next().await.expect("it never ends")?;
///     assert!(conn.peer_addr()?.ip().is_loopback());
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let accepted = ready!(self.listener.poll_accept(cx));
        Poll::Ready(Some(accepted.map(|(stream, _)| stream)))
    }
}

/// A TCP connection.
///
/// Reads and writes through [`AsyncRead`] and [`AsyncWrite`], on `TcpStream` and on
/// `&TcpStream` (so a reader task and a writer task can share one stream). Closing it
/// (`AsyncWriteExt::close` from futures-util) shuts down the write side;
/// dropping it closes the socket.
///
/// # Examples
///
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
/// use looplet::net::{TcpListener, TcpStream};
///
/// looplet::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     client.write_all(b"one way").await?;
///     client.close().await?; // shutdown(Write): the server reads to the end
///     let mut got = String::new();
///     (&server).read_to_string(&mut got).await?;
///     assert_eq!(got, "one way");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct TcpStream {
    inner: Async<std::net::TcpStream>,
}

impl TcpStream {
    fn from_fd(fd: OwnedFd) -> TcpStream {
        TcpStream {
            inner: Async::new_nonblocking(std::net::TcpStream::from(fd), Kind::Tcp),
        }
    }

    /// Connects to `addr`, trying each address it resolves to in turn.
    ///
    /// The connect is non-blocking: other tasks run until it completes.
    ///
    /// # Errors
    ///
    /// `ConnectionRefused`, `TimedOut`, `NetworkUnreachable` and the like, for the last
    /// address tried. Wrap it in [`timeout`](crate::timeout) to bound the wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let addr = listener.local_addr()?;
    ///     drop(listener); // nothing listens there any more
    ///     let err = TcpStream::connect(addr).await.unwrap_err();
    ///     assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for addr in addr.to_socket_addrs()? {
            match TcpStream::connect_one(addr).await {
                Ok(stream) => return Ok(stream),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(no_address))
    }

    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let fd = rustix::net::socket_with(family(&addr), SocketType::STREAM, FLAGS, None)?;
        let in_progress = match rustix::net::connect(&fd, &addr) {
            Ok(()) => false,
            Err(rustix::io::Errno::INPROGRESS) => true,
            Err(errno) => return Err(errno.into()),
        };
        let stream = TcpStream::from_fd(fd);
        if in_progress {
            finish_connect(&stream.inner).await?;
        }
        Ok(stream)
    }

    /// Wraps a connected std stream (switching it to non-blocking mode).
    ///
    /// # Errors
    ///
    /// If it cannot be made non-blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let std_stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let stream = looplet::net::TcpStream::from_std(std_stream)?;
    /// # drop(stream);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        rustix::io::ioctl_fionbio(&stream, true)?;
        Ok(TcpStream {
            inner: Async::new_nonblocking(stream, Kind::Tcp),
        })
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the connection is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let stream = TcpStream::connect(listener.local_addr()?).await?;
    ///     assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The `getsockname` error.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let stream = TcpStream::connect(listener.local_addr()?).await?;
    ///     assert!(stream.local_addr()?.ip().is_loopback());
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Sets `TCP_NODELAY` (no Nagle batching: small writes go out at once).
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let stream = TcpStream::connect(listener.local_addr()?).await?;
    ///     stream.set_nodelay(true)?;
    ///     assert!(stream.nodelay()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.get_ref().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let stream = TcpStream::connect(listener.local_addr()?).await?;
    ///     assert!(!stream.nodelay()?, "Nagle's algorithm is on by default");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.get_ref().nodelay()
    }

    /// Shuts down the read side, the write side, or both.
    ///
    /// After `Shutdown::Write` the peer reads to the end of the stream while this side can
    /// still read what the peer sends.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Shutdown;
    /// use futures_util::AsyncReadExt;
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0")?;
    ///     let client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (mut server, _) = listener.accept().await?;
    ///     client.shutdown(Shutdown::Write)?;
    ///     let mut rest = Vec::new();
    ///     assert_eq!(server.read_to_end(&mut rest).await?, 0);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}

/// `AsyncRead`/`AsyncWrite` on `&Stream` through its `inner: Async<_>`, and on `Stream`
/// through `&Stream`. Flushing does nothing (a socket has no buffer of ours); closing shuts
/// down the write side, so the peer reads to the end of the stream.
macro_rules! stream_io {
    ($stream:ty) => {
        impl AsyncRead for &$stream {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &self.inner).poll_read(cx, buf)
            }

            fn poll_read_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &mut [IoSliceMut<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &self.inner).poll_read_vectored(cx, bufs)
            }
        }

        impl AsyncWrite for &$stream {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &self.inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &self.inner).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.shutdown(Shutdown::Write))
            }
        }

        forward_io_to_ref!($stream);
    };
}

pub(crate) use stream_io;

/// Forwards `AsyncRead`/`AsyncWrite` on an owned stream to the impls on `&Stream`.
macro_rules! forward_io_to_ref {
    ($stream:ty) => {
        impl AsyncRead for $stream {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &*self).poll_read(cx, buf)
            }

            fn poll_read_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &mut [IoSliceMut<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &*self).poll_read_vectored(cx, bufs)
            }
        }

        impl AsyncWrite for $stream {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &*self).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut &*self).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut &*self).poll_flush(cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut &*self).poll_close(cx)
            }
        }
    };
}

pub(crate) use forward_io_to_ref;

stream_io!(TcpStream);

/// A UDP socket.
///
/// # Examples
///
/// ```
/// use looplet::net::UdpSocket;
///
/// looplet::block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0")?;
///     let b = UdpSocket::bind("127.0.0.1:0")?;
///     a.send_to(b"ping", b.local_addr()?).await?;
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct UdpSocket {
    inner: Async<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds a socket to `addr` (port 0 picks a free port). Never blocks.
    ///
    /// # Errors
    ///
    /// As for [`TcpListener::bind`].
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = looplet::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert_ne!(socket.local_addr()?.port(), 0);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |addr| {
            let fd = rustix::net::socket_with(family(&addr), SocketType::DGRAM, FLAGS, None)?;
            rustix::net::bind(&fd, &addr)?;
            Ok(UdpSocket {
                inner: Async::new_nonblocking(std::net::UdpSocket::from(fd), Kind::Socket),
            })
        })
    }

    /// Sends a datagram to `addr`; returns the number of bytes sent.
    ///
    /// # Errors
    ///
    /// The `sendto` error, such as `MessageTooLong`-style `EMSGSIZE`.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::UdpSocket;
    ///
    /// looplet::block_on(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0")?;
    ///     let b = UdpSocket::bind("127.0.0.1:0")?;
    ///     let n = a.send_to(b"ping", b.local_addr()?).await?;
    ///     assert_eq!(n, 4);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        self.inner.write_with(|s| s.send_to(buf, addr)).await
    }

    /// Receives a datagram; returns its length and sender. A datagram longer than `buf` is
    /// truncated.
    ///
    /// # Errors
    ///
    /// The `recvfrom` error.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::UdpSocket;
    ///
    /// looplet::block_on(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0")?;
    ///     let b = UdpSocket::bind("127.0.0.1:0")?;
    ///     a.send_to(b"a long datagram", b.local_addr()?).await?;
    ///     let mut small = [0; 6];
    ///     let (n, from) = b.recv_from(&mut small).await?;
    ///     assert_eq!((&small[..n], from), (&b"a long"[..], a.local_addr()?)); // truncated
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read_with(|s| s.recv_from(buf)).await
    }

    /// Sets the default destination for [`send`](UdpSocket::send) and the only source
    /// [`recv`](UdpSocket::recv) accepts. Never blocks.
    ///
    /// # Errors
    ///
    /// The `connect` error.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::UdpSocket;
    ///
    /// looplet::block_on(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0")?;
    ///     let b = UdpSocket::bind("127.0.0.1:0")?;
    ///     a.connect(b.local_addr()?)?;
    ///     b.connect(a.local_addr()?)?;
    ///     a.send(b"hi").await?;
    ///     let mut buf = [0; 2];
    ///     assert_eq!(b.recv(&mut buf).await?, 2);
    ///     assert_eq!(a.peer_addr()?, b.local_addr()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        self.inner.get_ref().connect(addr)
    }

    /// Sends a datagram to the connected address.
    ///
    /// # Errors
    ///
    /// `NotConnected` if not connected; `ConnectionRefused` if an earlier datagram was
    /// refused by the peer.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::UdpSocket;
    ///
    /// looplet::block_on(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0")?;
    ///     let b = UdpSocket::bind("127.0.0.1:0")?;
    ///     a.connect(b.local_addr()?)?;
    ///     assert_eq!(a.send(b"to b").await?, 4);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_with(|s| s.send(buf)).await
    }

    /// Receives a datagram from the connected address.
    ///
    /// # Errors
    ///
    /// As for [`UdpSocket::send`].
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::UdpSocket;
    ///
    /// looplet::block_on(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0")?;
    ///     let b = UdpSocket::bind("127.0.0.1:0")?;
    ///     b.connect(a.local_addr()?)?;
    ///     a.send_to(b"from a", b.local_addr()?).await?;
    ///     let mut buf = [0; 16];
    ///     let n = b.recv(&mut buf).await?;
    ///     assert_eq!(&buf[..n], b"from a");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_with(|s| s.recv(buf)).await
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The `getsockname` error.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = looplet::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert!(socket.local_addr()?.ip().is_loopback());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The connected address.
    ///
    /// # Errors
    ///
    /// `NotConnected` if not connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    ///
    /// let socket = looplet::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert_eq!(socket.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
    /// socket.connect("127.0.0.1:9")?;
    /// assert_eq!(socket.peer_addr()?.port(), 9);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}
