//! TCP: listeners and connections.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_core::Stream;
use futures_io::{AsyncRead, AsyncWrite};
use rustix::net::SocketType;

use super::addr::{ToSocketAddrs, resolve};
use super::split::{self, OwnedReadHalf, OwnedWriteHalf, ReadHalf, SplitStream, WriteHalf};
use super::{BACKLOG, each_addr, family, finish_connect, forward_io_to_ref, socket, stream_io};
use crate::io::Async;
use crate::reactor::{Kind, READ};

/// A TCP socket listening for connections.
///
/// # Examples
///
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
/// use looplet::net::{TcpListener, TcpStream};
///
/// looplet::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
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
    /// Binds a listener to `addr`, with `SO_REUSEADDR` and the system's deepest accept backlog.
    ///
    /// `addr` is anything [`ToSocketAddrs`] takes; a name is resolved off the loop, and each of
    /// its addresses is tried in turn. Port 0 picks a free port. For other options (a backlog
    /// of your own, `SO_REUSEPORT`), bind through a [`TcpSocket`](super::TcpSocket).
    ///
    /// # Errors
    ///
    /// `AddrInUse`, `PermissionDenied`, `AddrNotAvailable` and the like, for the last address
    /// tried; a resolver error for a name.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let listener = looplet::net::TcpListener::bind("127.0.0.1:0").await?;
    ///     assert_ne!(listener.local_addr()?.port(), 0);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |addr| {
            let fd = socket::socket(family(&addr), SocketType::STREAM)?;
            rustix::net::sockopt::set_socket_reuseaddr(&fd, true)?;
            rustix::net::bind(&fd, &addr)?;
            rustix::net::listen(&fd, BACKLOG)?;
            Ok(TcpListener::from_fd(fd))
        })
        .await
    }

    /// Wraps a listening, non-blocking socket.
    pub(super) fn from_fd(fd: OwnedFd) -> TcpListener {
        TcpListener {
            inner: Async::new_nonblocking(std::net::TcpListener::from(fd), Kind::Socket),
        }
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

    /// Unwraps the std listener, out of the loop. It stays in non-blocking mode (tokio's
    /// rule): call `set_nonblocking(false)` on it to use it blocking.
    ///
    /// # Errors
    ///
    /// None today on Linux; the `Result` leaves room for a backend where leaving the poller
    /// can fail.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let listener = looplet::net::TcpListener::bind("127.0.0.1:0").await?;
    ///     let std_listener: std::net::TcpListener = listener.into_std()?;
    ///     std_listener.set_nonblocking(false)?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        self.inner.into_inner()
    }

    /// Sets `IP_TTL`, the time-to-live of the packets of accepted connections.
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let listener = looplet::net::TcpListener::bind("127.0.0.1:0").await?;
    ///     listener.set_ttl(42)?;
    ///     assert_eq!(listener.ttl()?, 42);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_ttl(ttl)
    }

    /// `IP_TTL`; see [`TcpListener::set_ttl`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`TcpListener::set_ttl`].
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get_ref().ttl()
    }

    /// Waits for a connection; returns it and the peer's address.
    ///
    /// # Errors
    ///
    /// The accept error, notably `EMFILE` (see the [module docs](super)); the listener stays
    /// usable.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
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
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
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
            |listener| socket::accept(listener.as_fd()),
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
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
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
    /// looplet::block_on(async {
    ///     let listener = looplet::net::TcpListener::bind("127.0.0.1:0").await?;
    ///     assert!(listener.local_addr()?.ip().is_loopback());
    ///     std::io::Result::Ok(())
    /// })?;
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

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
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
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
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
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
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
    /// `addr` is anything [`ToSocketAddrs`] takes; a name is resolved off the loop. The connect
    /// is non-blocking: other tasks run until it completes.
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
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
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
        for addr in resolve(addr).await? {
            let attempt = async {
                let fd = socket::socket(family(&addr), SocketType::STREAM)?;
                TcpStream::connect_fd(fd, addr).await
            };
            match attempt.await {
                Ok(stream) => return Ok(stream),
                Err(err) => last = Some(err),
            }
        }
        Err(last.expect("resolve gives at least one address"))
    }

    /// Connects the non-blocking socket `fd` to `addr`.
    pub(super) async fn connect_fd(fd: OwnedFd, addr: SocketAddr) -> io::Result<TcpStream> {
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
        Ok(TcpStream {
            inner: Async::new(stream)?,
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
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
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
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
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
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
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
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
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
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
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

    /// Unwraps the std stream, out of the loop. It stays in non-blocking mode (tokio's
    /// rule): call `set_nonblocking(false)` on it to use it blocking.
    ///
    /// # Errors
    ///
    /// None today on Linux; the `Result` leaves room for a backend where leaving the poller
    /// can fail.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let stream = TcpStream::connect(listener.local_addr()?).await?;
    ///     let std_stream: std::net::TcpStream = stream.into_std()?;
    ///     std_stream.set_nonblocking(false)?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        self.inner.into_inner()
    }

    /// Reads what the peer sent without taking it off the receive queue (`MSG_PEEK`): the next
    /// read returns the same bytes. Waits until some arrive; `Ok(0)` at the end of the stream.
    ///
    /// # Errors
    ///
    /// The `recv` error, such as `ConnectionReset`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::{AsyncReadExt, AsyncWriteExt};
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (mut server, _) = listener.accept().await?;
    ///     client.write_all(b"peek").await?;
    ///     let mut buf = [0; 4];
    ///     let n = server.peek(&mut buf).await?;
    ///     assert_eq!(&buf[..n], &b"peek"[..n]);
    ///     server.read_exact(&mut buf).await?; // still there
    ///     assert_eq!(&buf, b"peek");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_with(|s| s.peek(buf)).await
    }

    /// Sets `IP_TTL`, the time-to-live of outgoing packets.
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
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let stream = TcpStream::connect(listener.local_addr()?).await?;
    ///     stream.set_ttl(7)?;
    ///     assert_eq!(stream.ttl()?, 7);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_ttl(ttl)
    }

    /// `IP_TTL`; see [`TcpStream::set_ttl`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`TcpStream::set_ttl`].
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get_ref().ttl()
    }

    /// Sets `SO_LINGER`: with `Some(d)`, closing the socket waits up to `d` for unsent data
    /// (in the kernel, not in the loop); `Some(Duration::ZERO)` makes a close send a reset.
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let stream = TcpStream::connect(listener.local_addr()?).await?;
    ///     stream.set_linger(Some(Duration::from_secs(1)))?;
    ///     assert_eq!(stream.linger()?, Some(Duration::from_secs(1)));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        socket2::SockRef::from(self).set_linger(linger)
    }

    /// `SO_LINGER`; see [`TcpStream::set_linger`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`TcpStream::set_linger`].
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        socket2::SockRef::from(self).linger()
    }

    /// Turns TCP keepalive probes on, after `idle` without traffic (`SO_KEEPALIVE` and
    /// `TCP_KEEPIDLE`), or off with `None`.
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let stream = TcpStream::connect(listener.local_addr()?).await?;
    ///     stream.set_keepalive(Some(Duration::from_secs(60)))?;
    ///     assert_eq!(stream.keepalive()?, Some(Duration::from_secs(60)));
    ///     stream.set_keepalive(None)?;
    ///     assert_eq!(stream.keepalive()?, None);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        super::options::set_keepalive(self, idle)
    }

    /// The keepalive idle time, if keepalive is on; see [`TcpStream::set_keepalive`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`TcpStream::set_keepalive`].
    pub fn keepalive(&self) -> io::Result<Option<Duration>> {
        super::options::keepalive(self)
    }

    /// Sets `SO_RCVBUF`, the size of the kernel's receive buffer (Linux doubles the value, for
    /// its bookkeeping, and reports the doubled size).
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
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let stream = TcpStream::connect(listener.local_addr()?).await?;
    ///     stream.set_recv_buffer_size(64 * 1024)?;
    ///     assert!(stream.recv_buffer_size()? >= 64 * 1024);
    ///     stream.set_send_buffer_size(64 * 1024)?;
    ///     assert!(stream.send_buffer_size()? >= 64 * 1024);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        socket2::SockRef::from(self).set_recv_buffer_size(size)
    }

    /// `SO_RCVBUF`; see [`TcpStream::set_recv_buffer_size`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`TcpStream::set_recv_buffer_size`].
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        socket2::SockRef::from(self).recv_buffer_size()
    }

    /// Sets `SO_SNDBUF`, the size of the kernel's send buffer (doubled on Linux, as for
    /// [`TcpStream::set_recv_buffer_size`]).
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`TcpStream::set_recv_buffer_size`].
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        socket2::SockRef::from(self).set_send_buffer_size(size)
    }

    /// `SO_SNDBUF`; see [`TcpStream::set_send_buffer_size`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`TcpStream::set_recv_buffer_size`].
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        socket2::SockRef::from(self).send_buffer_size()
    }

    /// Borrows the stream as a reading half and a writing half, for two futures of one task
    /// (`futures::join!`); `&TcpStream` does the same job. Dropping a borrowed [`WriteHalf`]
    /// does not shut anything down; closing it does.
    ///
    /// It is not called `split` (tokio's name) because futures' `AsyncReadExt`, which the
    /// [prelude](crate::io::prelude) brings in, has a `split` of its own that a method call
    /// would pick first: `stream.split()` gives futures' halves (they share the stream behind
    /// a lock). looplet's halves are `split_ref` and [`into_split`](TcpStream::into_split).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::{AsyncReadExt, AsyncWriteExt};
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (server, _) = listener.accept().await?;
    ///     let (mut reader, mut writer) = server.split_ref();
    ///     client.write_all(b"ping").await?;
    ///     let mut buf = [0; 4];
    ///     reader.read_exact(&mut buf).await?;
    ///     writer.write_all(&buf).await?;
    ///     client.read_exact(&mut buf).await?;
    ///     assert_eq!(&buf, b"ping");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn split_ref(&self) -> (ReadHalf<'_, TcpStream>, WriteHalf<'_, TcpStream>) {
        split::split(self)
    }

    /// Splits the stream into owned halves, to move into two tasks: tokio's `into_split`.
    ///
    /// Dropping the [`OwnedWriteHalf`] shuts down the write side, so the peer reads the end of
    /// the stream (use [`OwnedWriteHalf::forget`] to keep it open); the socket closes when both
    /// halves are gone. [`OwnedReadHalf::reunite`] puts the stream back together.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::{AsyncReadExt, AsyncWriteExt};
    /// use looplet::net::{TcpListener, TcpStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (server, _) = listener.accept().await?;
    ///     let (mut reader, mut writer) = server.into_split();
    ///     let echo = looplet::spawn(async move {
    ///         let mut buf = [0; 4];
    ///         reader.read_exact(&mut buf).await?;
    ///         std::io::Result::Ok(buf)
    ///     });
    ///     client.write_all(b"half").await?;
    ///     let got = echo.await?;
    ///     writer.write_all(&got).await?;
    ///     drop(writer); // shuts down the write side: the client reads to the end
    ///     let mut back = Vec::new();
    ///     client.read_to_end(&mut back).await?;
    ///     assert_eq!(back, b"half");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf<TcpStream>, OwnedWriteHalf<TcpStream>) {
        split::into_split(self)
    }
}

impl split::sealed::Sealed for TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl SplitStream for TcpStream {}

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

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

stream_io!(TcpStream);
