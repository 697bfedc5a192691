//! UDP sockets.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};

use rustix::net::SocketType;

use super::{each_addr, family, socket};
use crate::io::Async;
use crate::reactor::Kind;

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
    /// As for [`TcpListener::bind`](super::TcpListener::bind).
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
            let fd = socket::socket(family(&addr), SocketType::DGRAM)?;
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
