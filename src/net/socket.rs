//! Platform socket calls: the flags every socket is made with, and writes that never raise
//! `SIGPIPE`.
//!
//! Linux (and the BSDs but macOS) can ask for `SOCK_NONBLOCK | SOCK_CLOEXEC` when a socket is
//! made or accepted, and `MSG_NOSIGNAL` on each send. macOS has neither: there a socket is
//! switched to non-blocking and close-on-exec with `fcntl` after it is made, and
//! `SO_NOSIGPIPE` is set on it once, so a plain `send` cannot raise `SIGPIPE` either.

use std::io::{self, IoSlice};
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::net::{AddressFamily, SendAncillaryBuffer, SendFlags, SocketAddrAny, SocketType};

/// Flags for sends: `MSG_NOSIGNAL` where it exists (elsewhere `SO_NOSIGPIPE` does its job).
#[cfg(not(target_vendor = "apple"))]
pub(crate) const SEND: SendFlags = SendFlags::NOSIGNAL;
/// Flags for sends: `MSG_NOSIGNAL` where it exists (elsewhere `SO_NOSIGPIPE` does its job).
#[cfg(target_vendor = "apple")]
pub(crate) const SEND: SendFlags = SendFlags::empty();

/// The most slices one `readv`, `writev` or `sendmsg` takes (`UIO_MAXIOV` on Linux, `IOV_MAX`
/// on macOS and the BSDs: 1024 everywhere looplet runs). More gives `EMSGSIZE` or `EINVAL`;
/// looplet passes at most this many and leaves the rest for the next call, as std does.
pub(crate) const IOV_MAX: usize = 1024;

/// `SOCK_NONBLOCK | SOCK_CLOEXEC`, where a socket can be made with them.
#[cfg(not(target_vendor = "apple"))]
const FLAGS: rustix::net::SocketFlags =
    rustix::net::SocketFlags::NONBLOCK.union(rustix::net::SocketFlags::CLOEXEC);

/// A new socket: non-blocking, closed on exec, and (on macOS) with `SO_NOSIGPIPE`.
///
/// # Errors
///
/// The `socket` (or `fcntl`, `setsockopt`) error, such as `EMFILE`.
pub(crate) fn socket(family: AddressFamily, ty: SocketType) -> io::Result<OwnedFd> {
    #[cfg(not(target_vendor = "apple"))]
    let fd = rustix::net::socket_with(family, ty, FLAGS, None)?;
    #[cfg(target_vendor = "apple")]
    let fd = prepared(rustix::net::socket(family, ty, None)?)?;
    Ok(fd)
}

/// Accepts a connection on a non-blocking `listener`; the new socket is made like
/// [`socket`]'s. Returns the peer's address where the system gives it.
///
/// # Errors
///
/// The `accept` error: `WouldBlock` when nothing is queued, `EMFILE` at the descriptor limit.
pub(crate) fn accept(listener: BorrowedFd<'_>) -> io::Result<(OwnedFd, Option<SocketAddrAny>)> {
    #[cfg(not(target_vendor = "apple"))]
    let (fd, addr) = rustix::net::acceptfrom_with(listener, FLAGS)?;
    #[cfg(target_vendor = "apple")]
    let (fd, addr) = {
        let (fd, addr) = rustix::net::acceptfrom(listener)?;
        (prepared(fd)?, addr)
    };
    Ok((fd, addr))
}

/// A connected pair of Unix sockets of type `ty`, each made like [`socket`]'s.
///
/// # Errors
///
/// The `socketpair` error, such as `EMFILE`.
pub(crate) fn socketpair(ty: SocketType) -> io::Result<(OwnedFd, OwnedFd)> {
    #[cfg(not(target_vendor = "apple"))]
    let pair = rustix::net::socketpair(AddressFamily::UNIX, ty, FLAGS, None)?;
    #[cfg(target_vendor = "apple")]
    let pair = {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            ty,
            rustix::net::SocketFlags::empty(),
            None,
        )?;
        (prepared(a)?, prepared(b)?)
    };
    Ok(pair)
}

/// Makes a socket non-blocking and closed on exec, and sets `SO_NOSIGPIPE`: what the flags
/// of `socket`, `accept4` and `MSG_NOSIGNAL` do where they exist.
#[cfg(target_vendor = "apple")]
fn prepared(fd: OwnedFd) -> io::Result<OwnedFd> {
    rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
    rustix::io::ioctl_fionbio(&fd, true)?;
    rustix::net::sockopt::set_socket_nosigpipe(&fd, true)?;
    Ok(fd)
}

/// The address family of a socket (from `getsockname`, which every platform has).
pub(crate) fn family_of(fd: BorrowedFd<'_>) -> io::Result<AddressFamily> {
    Ok(rustix::net::getsockname(fd)?.address_family())
}

/// Writes `buf` to a stream socket with `send(MSG_NOSIGNAL)`: a peer that has gone gives
/// `BrokenPipe`, never a `SIGPIPE` that would kill a process which does not ignore it.
///
/// # Errors
///
/// The `send` error.
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    Ok(rustix::net::send(fd, buf, SEND)?)
}

/// Writes every buffer of `bufs`, in order, to a stream socket with one
/// `sendmsg(MSG_NOSIGNAL)`; see [`send`].
///
/// # Errors
///
/// The `sendmsg` error.
pub(crate) fn send_vectored(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let bufs = &bufs[..bufs.len().min(IOV_MAX)];
    let mut control = SendAncillaryBuffer::default();
    Ok(rustix::net::sendmsg(fd, bufs, &mut control, SEND)?)
}
