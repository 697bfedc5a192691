//! Socket options that take more than one `setsockopt`, through socket2.

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

/// Keepalive probes after `idle` without traffic, or none.
pub(super) fn set_keepalive(socket: &impl AsFd, idle: Option<Duration>) -> io::Result<()> {
    let socket = SockRef::from(socket);
    match idle {
        Some(idle) => socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(idle)),
        None => socket.set_keepalive(false),
    }
}

/// The keepalive idle time, if keepalive is on.
pub(super) fn keepalive(socket: &impl AsFd) -> io::Result<Option<Duration>> {
    let socket = SockRef::from(socket);
    if !socket.keepalive()? {
        return Ok(None);
    }
    Ok(Some(socket.tcp_keepalive_time()?))
}
