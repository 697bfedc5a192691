//! Unix domain datagram sockets.

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;

use rustix::net::{AddressFamily, SocketAddrUnix, SocketType};

use super::socket;
use crate::io::Async;
use crate::reactor::Kind;

/// A Unix domain datagram socket: messages kept whole, between processes on one machine.
///
/// `send` and `recv` wait while the peer's queue is full or empty; like every looplet socket
/// it never raises `SIGPIPE`.
///
/// # Examples
///
/// ```
/// use looplet::net::UnixDatagram;
///
/// looplet::block_on(async {
///     let (a, b) = UnixDatagram::pair()?;
///     a.send(b"one message").await?;
///     let mut buf = [0; 32];
///     let n = b.recv(&mut buf).await?;
///     assert_eq!(&buf[..n], b"one message");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// It stays on its thread, like every looplet socket:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::net::UnixDatagram>();
/// ```
pub struct UnixDatagram {
    inner: Async<std::os::unix::net::UnixDatagram>,
}

impl UnixDatagram {
    fn from_fd(fd: std::os::fd::OwnedFd) -> UnixDatagram {
        UnixDatagram {
            inner: Async::new_nonblocking(std::os::unix::net::UnixDatagram::from(fd), Kind::Socket),
        }
    }

    /// A socket bound to the path `path`, where other sockets can send to it.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the file exists (remove a stale one first), and the like.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::UnixDatagram;
    ///
    /// let dir = std::env::temp_dir().join(format!("looplet-doc-ud-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("d");
    /// # let _ = std::fs::remove_file(&path);
    /// looplet::block_on(async {
    ///     let server = UnixDatagram::bind(&path)?;
    ///     let client = UnixDatagram::unbound()?;
    ///     client.send_to(b"hello", &path).await?;
    ///     let mut buf = [0; 8];
    ///     let (n, from) = server.recv_from(&mut buf).await?;
    ///     assert_eq!(&buf[..n], b"hello");
    ///     assert!(from.is_unnamed(), "the client has no address");
    ///     std::io::Result::Ok(())
    /// })?;
    /// std::fs::remove_dir_all(&dir)?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let addr = SocketAddrUnix::new(path.as_ref())?;
        let fd = socket::socket(AddressFamily::UNIX, SocketType::DGRAM)?;
        rustix::net::bind(&fd, &addr)?;
        Ok(UnixDatagram::from_fd(fd))
    }

    /// A socket bound to no address: it can send, and receive replies only if connected to a
    /// bound peer (or through a pair).
    ///
    /// # Errors
    ///
    /// The `socket` error, such as `EMFILE`.
    ///
    /// # Examples
    ///
    /// See [`UnixDatagram::bind`].
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram::from_fd(socket::socket(
            AddressFamily::UNIX,
            SocketType::DGRAM,
        )?))
    }

    /// A connected pair of sockets.
    ///
    /// # Errors
    ///
    /// The `socketpair` error, such as `EMFILE`.
    ///
    /// # Examples
    ///
    /// See [`UnixDatagram`].
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = socket::socketpair(SocketType::DGRAM)?;
        Ok((UnixDatagram::from_fd(a), UnixDatagram::from_fd(b)))
    }

    /// Sets the only peer `send` sends to and `recv` receives from. Never blocks.
    ///
    /// # Errors
    ///
    /// `NotFound` if nothing is at `path`, `ConnectionRefused` if nothing is bound there.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::UnixDatagram;
    ///
    /// let dir = std::env::temp_dir().join(format!("looplet-doc-udc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("d");
    /// # let _ = std::fs::remove_file(&path);
    /// looplet::block_on(async {
    ///     let server = UnixDatagram::bind(&path)?;
    ///     let client = UnixDatagram::unbound()?;
    ///     client.connect(&path)?;
    ///     client.send(b"hi").await?;
    ///     let mut buf = [0; 2];
    ///     assert_eq!(server.recv(&mut buf).await?, 2);
    ///     assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
    ///     std::io::Result::Ok(())
    /// })?;
    /// std::fs::remove_dir_all(&dir)?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.inner.get_ref().connect(path)
    }

    /// Sends a datagram to the connected peer; returns the bytes sent.
    ///
    /// # Errors
    ///
    /// `NotConnected` if not connected, `ConnectionRefused` once the peer is gone.
    ///
    /// # Examples
    ///
    /// See [`UnixDatagram`].
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_with(|s| s.send(buf)).await
    }

    /// Receives a datagram from the connected peer (a longer one is truncated to `buf`).
    ///
    /// # Errors
    ///
    /// The `recv` error.
    ///
    /// # Examples
    ///
    /// See [`UnixDatagram`].
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_with(|s| s.recv(buf)).await
    }

    /// Sends a datagram to the socket bound at `path`.
    ///
    /// # Errors
    ///
    /// `NotFound` if nothing is at `path`; `WouldBlock` never (the send waits instead).
    ///
    /// # Examples
    ///
    /// See [`UnixDatagram::bind`].
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.inner.write_with(|s| s.send_to(buf, path)).await
    }

    /// Receives a datagram and its sender's address.
    ///
    /// # Errors
    ///
    /// The `recvfrom` error.
    ///
    /// # Examples
    ///
    /// See [`UnixDatagram::bind`].
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read_with(|s| s.recv_from(buf)).await
    }

    /// The socket's own address.
    ///
    /// # Errors
    ///
    /// The `getsockname` error.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = looplet::net::UnixDatagram::unbound()?;
    /// assert!(socket.local_addr()?.is_unnamed());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` if not connected.
    ///
    /// # Examples
    ///
    /// See [`UnixDatagram::connect`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Shuts down reading, writing, or both.
    ///
    /// # Errors
    ///
    /// The `shutdown` error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Shutdown;
    ///
    /// let (a, _b) = looplet::net::UnixDatagram::pair()?;
    /// a.shutdown(Shutdown::Both)?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }

    /// Wraps a std socket (switching it to non-blocking mode).
    ///
    /// # Errors
    ///
    /// If it cannot be made non-blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixDatagram::pair()?;
    /// let socket = looplet::net::UnixDatagram::from_std(a)?;
    /// let back: std::os::unix::net::UnixDatagram = socket.into_std()?;
    /// # drop(back);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        rustix::io::ioctl_fionbio(&socket, true)?;
        Ok(UnixDatagram {
            inner: Async::new_nonblocking(socket, Kind::Socket),
        })
    }

    /// Unwraps the std socket, out of the loop; it stays non-blocking (tokio's rule).
    ///
    /// # Errors
    ///
    /// None today on Linux; the `Result` leaves room for a backend where leaving the poller
    /// can fail.
    ///
    /// # Examples
    ///
    /// See [`UnixDatagram::from_std`].
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixDatagram> {
        self.inner.into_inner()
    }
}

impl AsFd for UnixDatagram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}
