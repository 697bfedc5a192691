//! TCP: listeners and connections.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use futures_io::{AsyncRead, AsyncWrite};
use rustix::net::SocketType;

use super::{
    BACKLOG, each_addr, family, finish_connect, forward_io_to_ref, no_address, socket, stream_io,
};
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
            let fd = socket::socket(family(&addr), SocketType::STREAM)?;
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
    /// The accept error, notably `EMFILE` (see the [module docs](super)); the listener stays
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
        let fd = socket::socket(family(&addr), SocketType::STREAM)?;
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

stream_io!(TcpStream);
