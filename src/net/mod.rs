//! Sockets on the loop: TCP, UDP and Unix domain sockets.
//!
//! gevent's patched `socket` module, without the patching: code reads like blocking socket
//! code, and every call that would block lets the loop run other tasks meanwhile. Streams
//! implement [`AsyncRead`](futures_io::AsyncRead) and [`AsyncWrite`](futures_io::AsyncWrite) (use `futures_util::io::{AsyncReadExt,
//! AsyncWriteExt}` for `read`, `write_all` and friends), and so do shared references to them,
//! so one task can read a socket while another writes it.
//!
//! Binding, connecting and accepting are `async`, as in tokio and smol: an address that is
//! written out (`"127.0.0.1:8080"`, a [`SocketAddr`], an `(IpAddr, u16)`) resolves at once,
//! and a name (`"localhost:8080"`) is resolved with the system resolver on the blocking pool,
//! never on the loop (see [`ToSocketAddrs`]). Every operation returns an [`io::Result`], and a
//! failed one leaves the loop running:
//!
//! - a refused connect gives `ConnectionRefused`;
//! - a peer that resets the connection gives `ConnectionReset` (or `BrokenPipe` on a write);
//! - a write after the peer closed gives `BrokenPipe`: writes use `MSG_NOSIGNAL`
//!   (`SO_NOSIGPIPE` on macOS), so there is no `SIGPIPE` to kill the process;
//! - after the peer shuts down its write side, reads return `Ok(0)` (end of stream) while
//!   writes still work;
//! - `accept` at the descriptor limit gives the `EMFILE` error (`raw_os_error() == Some(24)`):
//!   the pending connection stays queued, so back off (a short [`sleep`](crate::sleep)) and
//!   accept again once descriptors are free, rather than retrying in a tight loop.
//!
//! Listeners are created with the deepest accept backlog the system allows (the kernel caps
//! the request at `net.core.somaxconn`), so a burst of hundreds of connects is queued instead
//! of being dropped and retried by the clients a second later. std's fixed 128 is not enough.
//! [`TcpSocket`] sets options before `bind` or `connect` (`SO_REUSEPORT`, buffer sizes, a
//! backlog of your choosing).
//!
//! A stream splits into a reading and a writing half, borrowed ([`TcpStream::split_ref`]) or
//! owned ([`TcpStream::into_split`], to hand each half to its own task); dropping an owned
//! write half shuts down the write side, as in tokio. Sharing through `&TcpStream` works too:
//! both `&TcpStream` and `TcpStream` implement the IO traits.
//!
//! Like every looplet IO object, a socket is registered with the loop that first waits on it,
//! and moves to another loop if it is used there (see [`Async`]).

mod addr;
mod options;
pub(crate) mod socket;
mod split;
mod tcp;
mod tcp_socket;
mod udp;
mod unix;
mod unix_datagram;

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

use rustix::net::AddressFamily;

use crate::io::Async;
use crate::reactor::WRITE;

pub use addr::{Resolve, ToSocketAddrs, lookup_host};
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, SplitStream, WriteHalf};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use tcp_socket::TcpSocket;
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};
pub use unix_datagram::UnixDatagram;

/// The accept backlog asked for; Linux caps it at `net.core.somaxconn` (4096 by default).
const BACKLOG: i32 = i32::MAX;

fn family(addr: &SocketAddr) -> AddressFamily {
    match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    }
}

/// Tries `f` on every address `addrs` names (resolved off the loop); the first success, or
/// the last error.
async fn each_addr<T>(
    addrs: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addr::resolve(addrs).await? {
        match f(addr) {
            Ok(done) => return Ok(done),
            Err(err) => last = Some(err),
        }
    }
    Err(last.expect("resolve gives at least one address"))
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

/// `AsyncRead`/`AsyncWrite` on `&Stream` through its `inner: Async<_>`, and on `Stream`
/// through `&Stream`. Flushing does nothing (a socket has no buffer of ours); closing shuts
/// down the write side, so the peer reads to the end of the stream. A close that finds the
/// peer already gone (`NotConnected` from `shutdown(2)`) has nothing left to do and succeeds,
/// as tokio's `poll_shutdown` does: a graceful close (hyper's HTTP/2 one, a TLS close_notify)
/// after the peer left is not an error.
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
                Poll::Ready(match self.shutdown(Shutdown::Write) {
                    Err(err) if err.kind() == io::ErrorKind::NotConnected => Ok(()),
                    other => other,
                })
            }
        }

        forward_io_to_ref!($stream);

        #[cfg(feature = "hyper")]
        impl crate::compat::hyper::sealed::ReadUninit for $stream {
            fn poll_read_uninit(
                &self,
                cx: &mut Context<'_>,
                buf: &mut [std::mem::MaybeUninit<u8>],
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_read_uninit(cx, buf)
            }
        }
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
