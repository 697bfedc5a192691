//! Platform socket calls: the flags every socket is made with, and writes that never raise
//! `SIGPIPE`.
//!
//! Linux (and the BSDs but macOS) can ask for `SOCK_NONBLOCK | SOCK_CLOEXEC` when a socket is
//! made or accepted, and `MSG_NOSIGNAL` on each send. macOS has neither: there a socket is
//! switched to non-blocking and close-on-exec with `fcntl` after it is made, and
//! `SO_NOSIGPIPE` is set on it once, so a plain `send` cannot raise `SIGPIPE` either.

use std::io::{self, IoSlice};
use std::os::fd::BorrowedFd;

use rustix::net::{SendAncillaryBuffer, SendFlags};

/// Flags for sends: `MSG_NOSIGNAL` where it exists (elsewhere `SO_NOSIGPIPE` does its job).
#[cfg(not(target_vendor = "apple"))]
const SEND: SendFlags = SendFlags::NOSIGNAL;
#[cfg(target_vendor = "apple")]
const SEND: SendFlags = SendFlags::empty();

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
    let mut control = SendAncillaryBuffer::default();
    Ok(rustix::net::sendmsg(
        fd,
        bufs,
        &mut control,
        SendFlags::NOSIGNAL,
    )?)
}
