//! `TcpSocket`: a TCP socket not yet bound or connected, to set options first (tokio's).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use rustix::net::{AddressFamily, SocketType};
use socket2::SockRef;

use super::{TcpListener, TcpStream, options, socket};

/// A TCP socket before `bind`/`listen` or `connect`: for the options that must be set first
/// (`SO_REUSEPORT` to share a port between listeners, buffer sizes, a backlog of your own).
///
/// Made non-blocking and closed on exec, like every looplet socket. `listen` turns it into a
/// [`TcpListener`], `connect` into a [`TcpStream`].
///
/// # Examples
///
/// ```
/// use looplet::net::{TcpSocket, TcpStream};
///
/// looplet::block_on(async {
///     // Two listeners on one port: the kernel spreads connections between them.
///     let first = TcpSocket::new_v4()?;
///     first.set_reuseport(true)?;
///     first.bind("127.0.0.1:0".parse().unwrap())?;
///     let addr = first.local_addr()?;
///     let second = TcpSocket::new_v4()?;
///     second.set_reuseport(true)?;
///     second.bind(addr)?;
///     let (a, b) = (first.listen(1024)?, second.listen(1024)?);
///     let _client = TcpStream::connect(addr).await?;
///     assert_eq!(a.local_addr()?, b.local_addr()?);
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct TcpSocket {
    fd: OwnedFd,
}

impl TcpSocket {
    /// A new IPv4 TCP socket.
    ///
    /// # Errors
    ///
    /// The `socket` error, such as `EMFILE`.
    ///
    /// # Examples
    ///
    /// See [`TcpSocket`].
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(AddressFamily::INET)
    }

    /// A new IPv6 TCP socket.
    ///
    /// # Errors
    ///
    /// The `socket` error, such as `EMFILE`, or `EAFNOSUPPORT` without IPv6.
    ///
    /// # Examples
    ///
    /// ```
    /// if let Ok(socket) = looplet::net::TcpSocket::new_v6() {
    ///     socket.set_reuseaddr(true)?;
    /// }
    /// # std::io::Result::Ok(())
    /// ```
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(AddressFamily::INET6)
    }

    /// A new socket of the family of `addr`.
    ///
    /// # Errors
    ///
    /// As for [`TcpSocket::new_v4`].
    ///
    /// # Examples
    ///
    /// ```
    /// let addr = "127.0.0.1:0".parse().unwrap();
    /// let socket = looplet::net::TcpSocket::new_for(&addr)?;
    /// socket.bind(addr)?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn new_for(addr: &SocketAddr) -> io::Result<TcpSocket> {
        TcpSocket::new(super::family(addr))
    }

    fn new(family: AddressFamily) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            fd: socket::socket(family, SocketType::STREAM)?,
        })
    }

    /// Sets `SO_REUSEADDR` (bind to a port whose old connections linger in `TIME_WAIT`).
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = looplet::net::TcpSocket::new_v4()?;
    /// socket.set_reuseaddr(true)?;
    /// assert!(socket.reuseaddr()?);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_reuseaddr(&self, reuse: bool) -> io::Result<()> {
        SockRef::from(self).set_reuse_address(reuse)
    }

    /// `SO_REUSEADDR`; see [`TcpSocket::set_reuseaddr`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`TcpSocket::set_reuseaddr`].
    pub fn reuseaddr(&self) -> io::Result<bool> {
        SockRef::from(self).reuse_address()
    }

    /// Sets `SO_REUSEPORT` (several sockets bound to one port; the kernel balances
    /// connections between listeners).
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`TcpSocket`].
    pub fn set_reuseport(&self, reuse: bool) -> io::Result<()> {
        SockRef::from(self).set_reuse_port(reuse)
    }

    /// `SO_REUSEPORT`; see [`TcpSocket::set_reuseport`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = looplet::net::TcpSocket::new_v4()?;
    /// assert!(!socket.reuseport()?);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn reuseport(&self) -> io::Result<bool> {
        SockRef::from(self).reuse_port()
    }

    /// Sets `SO_RCVBUF` (Linux doubles it and reports the doubled size).
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = looplet::net::TcpSocket::new_v4()?;
    /// socket.set_recv_buffer_size(1 << 16)?;
    /// assert!(socket.recv_buffer_size()? >= 1 << 16);
    /// socket.set_send_buffer_size(1 << 16)?;
    /// assert!(socket.send_buffer_size()? >= 1 << 16);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        SockRef::from(self).set_recv_buffer_size(size)
    }

    /// `SO_RCVBUF`; see [`TcpSocket::set_recv_buffer_size`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`TcpSocket::set_recv_buffer_size`].
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        SockRef::from(self).recv_buffer_size()
    }

    /// Sets `SO_SNDBUF`; see [`TcpSocket::set_recv_buffer_size`].
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`TcpSocket::set_recv_buffer_size`].
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        SockRef::from(self).set_send_buffer_size(size)
    }

    /// `SO_SNDBUF`; see [`TcpSocket::set_recv_buffer_size`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`TcpSocket::set_recv_buffer_size`].
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        SockRef::from(self).send_buffer_size()
    }

    /// Sets `TCP_NODELAY` on the connection to come.
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = looplet::net::TcpSocket::new_v4()?;
    /// socket.set_nodelay(true)?;
    /// assert!(socket.nodelay()?);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        SockRef::from(self).set_tcp_nodelay(nodelay)
    }

    /// `TCP_NODELAY`; see [`TcpSocket::set_nodelay`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`TcpSocket::set_nodelay`].
    pub fn nodelay(&self) -> io::Result<bool> {
        SockRef::from(self).tcp_nodelay()
    }

    /// Keepalive probes after `idle` without traffic, or none; see
    /// [`TcpStream::set_keepalive`].
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let socket = looplet::net::TcpSocket::new_v4()?;
    /// socket.set_keepalive(Some(Duration::from_secs(30)))?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        options::set_keepalive(self, idle)
    }

    /// `SO_LINGER`; see [`TcpStream::set_linger`].
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = looplet::net::TcpSocket::new_v4()?;
    /// socket.set_linger(None)?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        SockRef::from(self).set_linger(linger)
    }

    /// Binds the socket to `addr` (port 0: a free port). Never blocks.
    ///
    /// # Errors
    ///
    /// `AddrInUse`, `AddrNotAvailable`, `PermissionDenied` and the like.
    ///
    /// # Examples
    ///
    /// See [`TcpSocket`].
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        Ok(rustix::net::bind(&self.fd, &addr)?)
    }

    /// The address the socket is bound to.
    ///
    /// # Errors
    ///
    /// The `getsockname` error.
    ///
    /// # Examples
    ///
    /// See [`TcpSocket`].
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        SockRef::from(self)
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an internet socket address"))
    }

    /// Starts listening, with `backlog` connections queued at most (the kernel caps it at
    /// `net.core.somaxconn`).
    ///
    /// # Errors
    ///
    /// The `listen` error.
    ///
    /// # Examples
    ///
    /// See [`TcpSocket`].
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        rustix::net::listen(&self.fd, i32::try_from(backlog).unwrap_or(i32::MAX))?;
        Ok(TcpListener::from_fd(self.fd))
    }

    /// Connects to `addr`, letting other tasks run until the connection is made.
    ///
    /// # Errors
    ///
    /// `ConnectionRefused`, `TimedOut` and the like.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::{TcpListener, TcpSocket};
    ///
    /// looplet::block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let socket = TcpSocket::new_v4()?;
    ///     socket.set_nodelay(true)?;
    ///     let stream = socket.connect(listener.local_addr()?).await?;
    ///     assert!(stream.nodelay()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_fd(self.fd, addr).await
    }
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocket")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}
