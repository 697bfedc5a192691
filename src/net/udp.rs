//! UDP sockets.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use rustix::net::SocketType;
use socket2::SockRef;

use super::addr::{ToSocketAddrs, resolve};
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
///     let a = UdpSocket::bind("127.0.0.1:0").await?;
///     let b = UdpSocket::bind("127.0.0.1:0").await?;
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
    /// Binds a socket to `addr` (port 0 picks a free port); a name is resolved off the loop.
    ///
    /// # Errors
    ///
    /// As for [`TcpListener::bind`](super::TcpListener::bind).
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let socket = looplet::net::UdpSocket::bind("127.0.0.1:0").await?;
    ///     assert_ne!(socket.local_addr()?.port(), 0);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |addr| {
            let fd = socket::socket(family(&addr), SocketType::DGRAM)?;
            rustix::net::bind(&fd, &addr)?;
            Ok(UdpSocket {
                inner: Async::new_nonblocking(std::net::UdpSocket::from(fd), Kind::Socket),
            })
        })
        .await
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
    /// let std_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let socket = looplet::net::UdpSocket::from_std(std_socket)?;
    /// # drop(socket);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        rustix::io::ioctl_fionbio(&socket, true)?;
        Ok(UdpSocket {
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
    /// ```
    /// looplet::block_on(async {
    ///     let socket = looplet::net::UdpSocket::bind("127.0.0.1:0").await?;
    ///     let std_socket: std::net::UdpSocket = socket.into_std()?;
    ///     std_socket.set_nonblocking(false)?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        self.inner.into_inner()
    }

    /// Sends a datagram to `addr` (the first address a name resolves to, off the loop);
    /// returns the number of bytes sent.
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
    ///     let a = UdpSocket::bind("127.0.0.1:0").await?;
    ///     let b = UdpSocket::bind("127.0.0.1:0").await?;
    ///     let n = a.send_to(b"ping", b.local_addr()?).await?;
    ///     assert_eq!(n, 4);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let addr = resolve(addr).await?[0];
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
    ///     let a = UdpSocket::bind("127.0.0.1:0").await?;
    ///     let b = UdpSocket::bind("127.0.0.1:0").await?;
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
    /// [`recv`](UdpSocket::recv) accepts (a name is resolved off the loop; each of its
    /// addresses is tried in turn).
    ///
    /// # Errors
    ///
    /// The `connect` error for the last address tried, or the resolver's.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::net::UdpSocket;
    ///
    /// looplet::block_on(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0").await?;
    ///     let b = UdpSocket::bind("127.0.0.1:0").await?;
    ///     a.connect(b.local_addr()?).await?;
    ///     b.connect(a.local_addr()?).await?;
    ///     a.send(b"hi").await?;
    ///     let mut buf = [0; 2];
    ///     assert_eq!(b.recv(&mut buf).await?, 2);
    ///     assert_eq!(a.peer_addr()?, b.local_addr()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(addr, |addr| self.inner.get_ref().connect(addr)).await
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
    ///     let a = UdpSocket::bind("127.0.0.1:0").await?;
    ///     let b = UdpSocket::bind("127.0.0.1:0").await?;
    ///     a.connect(b.local_addr()?).await?;
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
    ///     let a = UdpSocket::bind("127.0.0.1:0").await?;
    ///     let b = UdpSocket::bind("127.0.0.1:0").await?;
    ///     b.connect(a.local_addr()?).await?;
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
    /// looplet::block_on(async {
    ///     let socket = looplet::net::UdpSocket::bind("127.0.0.1:0").await?;
    ///     assert!(socket.local_addr()?.ip().is_loopback());
    ///     std::io::Result::Ok(())
    /// })?;
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
    /// looplet::block_on(async {
    ///     let socket = looplet::net::UdpSocket::bind("127.0.0.1:0").await?;
    ///     assert_eq!(socket.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
    ///     socket.connect("127.0.0.1:9").await?;
    ///     assert_eq!(socket.peer_addr()?.port(), 9);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Receives a datagram without taking it off the queue; returns its length and sender.
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
    ///     let a = UdpSocket::bind("127.0.0.1:0").await?;
    ///     let b = UdpSocket::bind("127.0.0.1:0").await?;
    ///     a.send_to(b"twice", b.local_addr()?).await?;
    ///     let mut buf = [0; 8];
    ///     let (n, from) = b.peek_from(&mut buf).await?;
    ///     assert_eq!((n, from), (5, a.local_addr()?));
    ///     assert_eq!(b.recv_from(&mut buf).await?.0, 5, "still queued");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.read_with(|s| s.peek_from(buf)).await
    }

    /// Sets `IP_TTL`, the time-to-live of outgoing datagrams.
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let socket = looplet::net::UdpSocket::bind("127.0.0.1:0").await?;
    ///     socket.set_ttl(3)?;
    ///     assert_eq!(socket.ttl()?, 3);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_ttl(ttl)
    }

    /// `IP_TTL`; see [`UdpSocket::set_ttl`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket::set_ttl`].
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get_ref().ttl()
    }

    /// Sets `SO_BROADCAST`: whether datagrams may go to a broadcast address.
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let socket = looplet::net::UdpSocket::bind("0.0.0.0:0").await?;
    ///     socket.set_broadcast(true)?;
    ///     assert!(socket.broadcast()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        self.inner.get_ref().set_broadcast(broadcast)
    }

    /// `SO_BROADCAST`; see [`UdpSocket::set_broadcast`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket::set_broadcast`].
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.get_ref().broadcast()
    }

    /// Joins the IPv4 multicast group `group` on the interface with address `interface`
    /// (`Ipv4Addr::UNSPECIFIED`: the system's choice).
    ///
    /// # Errors
    ///
    /// The `setsockopt` error (`EADDRNOTAVAIL` for an interface that does not exist).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    ///
    /// looplet::block_on(async {
    ///     let socket = looplet::net::UdpSocket::bind("0.0.0.0:0").await?;
    ///     let group = Ipv4Addr::new(239, 255, 0, 1);
    ///     socket.join_multicast_v4(group, Ipv4Addr::LOCALHOST)?;
    ///     socket.set_multicast_loop_v4(true)?;
    ///     assert!(socket.multicast_loop_v4()?);
    ///     socket.set_multicast_ttl_v4(1)?;
    ///     assert_eq!(socket.multicast_ttl_v4()?, 1);
    ///     socket.leave_multicast_v4(group, Ipv4Addr::LOCALHOST)?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.inner.get_ref().join_multicast_v4(&group, &interface)
    }

    /// Leaves an IPv4 multicast group; see [`UdpSocket::join_multicast_v4`].
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket::join_multicast_v4`].
    pub fn leave_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.inner.get_ref().leave_multicast_v4(&group, &interface)
    }

    /// Joins the IPv6 multicast group `group` on the interface with index `interface` (0:
    /// the system's choice).
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv6Addr;
    ///
    /// looplet::block_on(async {
    ///     if let Ok(socket) = looplet::net::UdpSocket::bind("[::1]:0").await {
    ///         let group: Ipv6Addr = "ff02::1234".parse().unwrap();
    ///         if socket.join_multicast_v6(&group, 0).is_ok() {
    ///             socket.leave_multicast_v6(&group, 0)?;
    ///         }
    ///     }
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn join_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.get_ref().join_multicast_v6(group, interface)
    }

    /// Leaves an IPv6 multicast group; see [`UdpSocket::join_multicast_v6`].
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket::join_multicast_v6`].
    pub fn leave_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.get_ref().leave_multicast_v6(group, interface)
    }

    /// Sets `IP_MULTICAST_LOOP`: whether this host's own multicast datagrams come back.
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket::join_multicast_v4`].
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.inner.get_ref().set_multicast_loop_v4(on)
    }

    /// `IP_MULTICAST_LOOP`; see [`UdpSocket::set_multicast_loop_v4`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket::join_multicast_v4`].
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.inner.get_ref().multicast_loop_v4()
    }

    /// Sets `IP_MULTICAST_TTL`: how many hops multicast datagrams may travel (1: this link).
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket::join_multicast_v4`].
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_multicast_ttl_v4(ttl)
    }

    /// `IP_MULTICAST_TTL`; see [`UdpSocket::set_multicast_ttl_v4`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket::join_multicast_v4`].
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.inner.get_ref().multicast_ttl_v4()
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
    /// looplet::block_on(async {
    ///     let socket = looplet::net::UdpSocket::bind("127.0.0.1:0").await?;
    ///     socket.set_recv_buffer_size(1 << 16)?;
    ///     assert!(socket.recv_buffer_size()? >= 1 << 16);
    ///     socket.set_send_buffer_size(1 << 16)?;
    ///     assert!(socket.send_buffer_size()? >= 1 << 16);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        SockRef::from(self).set_recv_buffer_size(size)
    }

    /// `SO_RCVBUF`; see [`UdpSocket::set_recv_buffer_size`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket::set_recv_buffer_size`].
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        SockRef::from(self).recv_buffer_size()
    }

    /// Sets `SO_SNDBUF`; see [`UdpSocket::set_recv_buffer_size`].
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket::set_recv_buffer_size`].
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        SockRef::from(self).set_send_buffer_size(size)
    }

    /// `SO_SNDBUF`; see [`UdpSocket::set_recv_buffer_size`].
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    ///
    /// # Examples
    ///
    /// See [`UdpSocket::set_recv_buffer_size`].
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        SockRef::from(self).send_buffer_size()
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

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}
