//! Unix domain stream sockets.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_core::Stream;
use futures_io::{AsyncRead, AsyncWrite};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketType};

use super::split::{self, OwnedReadHalf, OwnedWriteHalf, ReadHalf, SplitStream, WriteHalf};
use super::{BACKLOG, finish_connect, forward_io_to_ref, socket, stream_io};
use crate::io::Async;
use crate::reactor::{Kind, READ};

/// A Unix domain socket listening for connections.
///
/// # Examples
///
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
/// use looplet::net::{UnixListener, UnixStream};
///
/// let dir = std::env::temp_dir().join(format!("looplet-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("listener.sock");
/// # let _ = std::fs::remove_file(&path);
/// looplet::block_on(async {
///     let listener = UnixListener::bind(&path)?;
///     let mut client = UnixStream::connect(&path).await?;
///     let (mut server, _) = listener.accept().await?;
///     client.write_all(b"over a unix socket").await?;
///     let mut buf = [0; 18];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"over a unix socket");
///     std::io::Result::Ok(())
/// })?;
/// std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(())
/// ```
pub struct UnixListener {
    inner: Async<std::os::unix::net::UnixListener>,
}

impl UnixListener {
    /// Binds a listener to the socket file at `path`, with the system's deepest backlog.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the file exists (remove a stale one first), and the like.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("looplet-doc-bind-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("s");
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = looplet::net::UnixListener::bind(&path)?;
    /// let err = looplet::net::UnixListener::bind(&path).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    /// drop(listener);
    /// std::fs::remove_dir_all(&dir)?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let addr = SocketAddrUnix::new(path.as_ref())?;
        let fd = socket::socket(AddressFamily::UNIX, SocketType::STREAM)?;
        rustix::net::bind(&fd, &addr)?;
        rustix::net::listen(&fd, BACKLOG)?;
        Ok(UnixListener {
            inner: Async::new_nonblocking(std::os::unix::net::UnixListener::from(fd), Kind::Socket),
        })
    }

    /// Waits for a connection; returns it and the peer's address.
    ///
    /// # Errors
    ///
    /// The accept error, notably `EMFILE` (see the [module docs](super)).
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("looplet-doc-accept-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("s");
    /// # let _ = std::fs::remove_file(&path);
    /// use looplet::net::{UnixListener, UnixStream};
    ///
    /// looplet::block_on(async {
    ///     let listener = UnixListener::bind(&path)?;
    ///     let _client = UnixStream::connect(&path).await?;
    ///     let (conn, peer) = listener.accept().await?;
    ///     assert!(peer.is_unnamed());
    ///     # drop(conn);
    ///     std::io::Result::Ok(())
    /// })?;
    /// std::fs::remove_dir_all(&dir)?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let fd = ready!(self.inner.poll_with(
            READ,
            cx,
            |listener| Ok(socket::accept(listener.as_fd())?.0),
            |_| None,
        ))?;
        let stream = UnixStream::from_fd(fd);
        let peer = stream.peer_addr()?;
        Poll::Ready(Ok((stream, peer)))
    }

    /// A stream of incoming connections; see [`TcpListener::incoming`](super::TcpListener::incoming).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use looplet::net::{UnixListener, UnixStream};
    ///
    /// let dir = std::env::temp_dir().join(format!("looplet-doc-inc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("s");
    /// # let _ = std::fs::remove_file(&path);
    /// looplet::block_on(async {
    ///     let listener = UnixListener::bind(&path)?;
    ///     let _client = UnixStream::connect(&path).await?;
    ///     assert!(listener.incoming().next().await.unwrap().is_ok());
    ///     std::io::Result::Ok(())
    /// })?;
    /// std::fs::remove_dir_all(&dir)?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
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
    /// let dir = std::env::temp_dir().join(format!("looplet-doc-la-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("s");
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = looplet::net::UnixListener::bind(&path)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_dir_all(&dir)?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
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
    /// let dir = std::env::temp_dir().join(format!("looplet-doc-ufs-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("s");
    /// # let _ = std::fs::remove_file(&path);
    /// let std_listener = std::os::unix::net::UnixListener::bind(&path)?;
    /// let listener = looplet::net::UnixListener::from_std(std_listener)?;
    /// let back: std::os::unix::net::UnixListener = listener.into_std()?;
    /// # drop(back);
    /// std::fs::remove_dir_all(&dir)?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        rustix::io::ioctl_fionbio(&listener, true)?;
        Ok(UnixListener {
            inner: Async::new_nonblocking(listener, Kind::Socket),
        })
    }

    /// Unwraps the std listener, out of the loop; it stays non-blocking (tokio's rule).
    ///
    /// # Errors
    ///
    /// None today on Linux; the `Result` leaves room for a backend where leaving the poller
    /// can fail.
    ///
    /// # Examples
    ///
    /// See [`UnixListener::from_std`].
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        self.inner.into_inner()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}

/// The stream of [`UnixListener::incoming`]; like [`Incoming`](super::Incoming), it never ends.
///
/// # Examples
///
/// ```
/// use futures_util::StreamExt;
/// use looplet::net::{UnixIncoming, UnixListener, UnixStream};
///
/// let dir = std::env::temp_dir().join(format!("looplet-doc-ui-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("s");
/// # let _ = std::fs::remove_file(&path);
/// looplet::block_on(async {
///     let listener = UnixListener::bind(&path)?;
///     let _client = UnixStream::connect(&path).await?;
///     let mut incoming: UnixIncoming<'_> = listener.incoming();
///     assert!(incoming.next().await.expect("it never ends").is_ok());
///     std::io::Result::Ok(())
/// })?;
/// std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Stream for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let accepted = ready!(self.listener.poll_accept(cx));
        Poll::Ready(Some(accepted.map(|(stream, _)| stream)))
    }
}

/// A Unix domain stream socket; reads and writes like [`TcpStream`](super::TcpStream).
///
/// # Examples
///
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
///
/// looplet::block_on(async {
///     let (mut a, mut b) = looplet::net::UnixStream::pair()?;
///     a.write_all(b"pair").await?;
///     let mut buf = [0; 4];
///     b.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"pair");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct UnixStream {
    inner: Async<std::os::unix::net::UnixStream>,
}

impl UnixStream {
    fn from_fd(fd: OwnedFd) -> UnixStream {
        UnixStream {
            inner: Async::new_nonblocking(
                std::os::unix::net::UnixStream::from(fd),
                Kind::UnixStream,
            ),
        }
    }

    /// Connects to the socket file at `path`.
    ///
    /// If the listener's backlog is full, it retries every millisecond until there is room
    /// (bound it with [`timeout`](crate::timeout) if needed).
    ///
    /// # Errors
    ///
    /// `NotFound` if nothing is at `path`, `ConnectionRefused` if nothing listens there.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    ///
    /// looplet::block_on(async {
    ///     let err = looplet::net::UnixStream::connect("/nonexistent/looplet.sock").await.unwrap_err();
    ///     assert_eq!(err.kind(), ErrorKind::NotFound);
    /// });
    /// ```
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = SocketAddrUnix::new(path.as_ref())?;
        loop {
            let fd = socket::socket(AddressFamily::UNIX, SocketType::STREAM)?;
            match rustix::net::connect(&fd, &addr) {
                Ok(()) => return Ok(UnixStream::from_fd(fd)),
                Err(rustix::io::Errno::INPROGRESS) => {
                    let stream = UnixStream::from_fd(fd);
                    finish_connect(&stream.inner).await?;
                    return Ok(stream);
                }
                // The listener's backlog is full; a Unix socket cannot wait for room.
                Err(rustix::io::Errno::AGAIN) => crate::sleep(Duration::from_millis(1)).await,
                Err(errno) => return Err(errno.into()),
            }
        }
    }

    /// A connected pair of sockets.
    ///
    /// # Errors
    ///
    /// The `socketpair` error (out of descriptors).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::{AsyncReadExt, AsyncWriteExt};
    ///
    /// looplet::block_on(async {
    ///     let (mut a, mut b) = looplet::net::UnixStream::pair()?;
    ///     b.write_all(b"back").await?;
    ///     let mut buf = [0; 4];
    ///     a.read_exact(&mut buf).await?;
    ///     assert_eq!(&buf, b"back");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = socket::socketpair(SocketType::STREAM)?;
        Ok((UnixStream::from_fd(a), UnixStream::from_fd(b)))
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The `getpeername` error.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = looplet::net::UnixStream::pair()?;
    /// assert!(a.peer_addr()?.is_unnamed());
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
    /// let (a, _b) = looplet::net::UnixStream::pair()?;
    /// assert!(a.local_addr()?.is_unnamed());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Shuts down the read side, the write side, or both; see
    /// [`TcpStream::shutdown`](super::TcpStream::shutdown).
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
    ///
    /// looplet::block_on(async {
    ///     let (a, mut b) = looplet::net::UnixStream::pair()?;
    ///     a.shutdown(Shutdown::Write)?;
    ///     let mut rest = Vec::new();
    ///     assert_eq!(b.read_to_end(&mut rest).await?, 0);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
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
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let stream = looplet::net::UnixStream::from_std(a)?;
    /// let back: std::os::unix::net::UnixStream = stream.into_std()?;
    /// # drop(back);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: Async::new(stream)?,
        })
    }

    /// Unwraps the std stream, out of the loop; it stays non-blocking (tokio's rule).
    ///
    /// # Errors
    ///
    /// None today on Linux; the `Result` leaves room for a backend where leaving the poller
    /// can fail.
    ///
    /// # Examples
    ///
    /// See [`UnixStream::from_std`].
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        self.inner.into_inner()
    }

    /// Borrows the stream as a reading and a writing half; see
    /// [`TcpStream::split_ref`](super::TcpStream::split_ref).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::{AsyncReadExt, AsyncWriteExt};
    ///
    /// looplet::block_on(async {
    ///     let (a, mut b) = looplet::net::UnixStream::pair()?;
    ///     let (mut reader, mut writer) = a.split_ref();
    ///     writer.write_all(b"to b").await?;
    ///     b.write_all(b"to a").await?;
    ///     let mut buf = [0; 4];
    ///     reader.read_exact(&mut buf).await?;
    ///     assert_eq!(&buf, b"to a");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn split_ref(&self) -> (ReadHalf<'_, UnixStream>, WriteHalf<'_, UnixStream>) {
        split::split(self)
    }

    /// Splits the stream into owned halves, for two tasks; see
    /// [`TcpStream::into_split`](super::TcpStream::into_split). Dropping the write half shuts
    /// down the write side.
    ///
    /// # Examples
    ///
    /// See [`OwnedReadHalf`].
    pub fn into_split(self) -> (OwnedReadHalf<UnixStream>, OwnedWriteHalf<UnixStream>) {
        split::into_split(self)
    }
}

impl split::sealed::Sealed for UnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl SplitStream for UnixStream {}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}

stream_io!(UnixStream);
