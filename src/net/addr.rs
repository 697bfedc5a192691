//! Socket addresses that resolve without blocking the loop.
//!
//! [`ToSocketAddrs`] is std's trait of the same name, asynchronous: an address that is
//! already an address (a [`SocketAddr`], an `(IpAddr, u16)`, or a string such as
//! `"127.0.0.1:80"` or `"[::1]:80"`) resolves at once, with no thread; a name
//! (`"localhost:80"`, `("example.com", 443)`) is looked up with the system resolver
//! (`getaddrinfo`) on the blocking pool ([`unblock`](crate::unblock)), never on the loop.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::Task;

/// Something that names one or more socket addresses: std's `ToSocketAddrs`, resolved off the
/// loop.
///
/// Implemented for the same types as std's: [`SocketAddr`] (and `V4`/`V6`), `(IpAddr, u16)`
/// (and the `Ipv4Addr`/`Ipv6Addr` forms), `(&str, u16)`, `(String, u16)`, `&str`, `String`,
/// `&[SocketAddr]`, and references to these. Names are resolved on the blocking pool;
/// addresses written out in full never leave the loop's thread.
///
/// It is sealed: looplet's types are the only implementors.
///
/// # Examples
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddr};
/// use looplet::net::{TcpListener, TcpStream};
///
/// looplet::block_on(async {
///     // A string, a tuple or a SocketAddr: whatever std's connect takes.
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let port = listener.local_addr()?.port();
///     let _a = TcpStream::connect(("127.0.0.1", port)).await?;
///     let _b = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
///     let _c = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).await?;
///     let _d = TcpStream::connect(format!("localhost:{port}")).await?; // resolved off the loop
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub trait ToSocketAddrs: sealed::Sealed {}

pub(crate) mod sealed {
    use super::Resolve;

    /// What [`ToSocketAddrs`](super::ToSocketAddrs) does, hidden from users.
    pub trait Sealed {
        /// Starts resolving.
        fn resolve(self) -> Resolve;
    }
}

/// A resolution in progress: done at once for a literal address, on the pool for a name.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Resolve(State);

#[derive(Debug)]
enum State {
    Done(Option<io::Result<Vec<SocketAddr>>>),
    Pool(Task<io::Result<Vec<SocketAddr>>>),
}

impl Resolve {
    fn ready(addrs: Vec<SocketAddr>) -> Resolve {
        Resolve(State::Done(Some(Ok(addrs))))
    }

    /// Resolves `name` (a `host:port` string, or a host and a port) with the system resolver,
    /// on the blocking pool; a name that parses as an address needs no thread.
    fn name(host: &str, port: Option<u16>) -> Resolve {
        let literal = match port {
            None => host.parse::<SocketAddr>().ok(),
            Some(port) => host
                .parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, port)),
        };
        if let Some(addr) = literal {
            return Resolve::ready(vec![addr]);
        }
        let host = host.to_owned();
        Resolve(State::Pool(crate::unblock(move || {
            let addrs = match port {
                None => std::net::ToSocketAddrs::to_socket_addrs(&host)?,
                Some(port) => std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))?,
            };
            Ok(addrs.collect())
        })))
    }
}

impl Future for Resolve {
    type Output = io::Result<Vec<SocketAddr>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            State::Done(result) => Poll::Ready(
                result
                    .take()
                    .expect("a Resolve is not polled after it is done"),
            ),
            State::Pool(task) => Pin::new(task).poll(cx),
        }
    }
}

/// Resolves `host` to its socket addresses, off the loop: tokio's `lookup_host`.
///
/// A literal address resolves at once; a name goes to the system resolver on the blocking
/// pool, so the loop keeps running while it waits.
///
/// # Errors
///
/// The resolver's error (an unknown host is an `io::Error` whose kind depends on the system,
/// usually `Other` or `NotFound`), or `InvalidInput` for a string that is neither an address
/// nor `host:port`.
///
/// # Examples
///
/// ```
/// looplet::block_on(async {
///     let addrs = looplet::net::lookup_host("localhost:80").await?;
///     assert!(addrs.iter().all(|a| a.port() == 80 && a.ip().is_loopback()));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub async fn lookup_host(host: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    sealed::Sealed::resolve(host).await
}

/// The addresses `addr` names, resolved off the loop; an error if there are none.
pub(crate) async fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs = sealed::Sealed::resolve(addr).await?;
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        ));
    }
    Ok(addrs)
}

macro_rules! literal {
    ($($ty:ty => |$a:ident| $addrs:expr;)*) => {$(
        impl sealed::Sealed for $ty {
            fn resolve(self) -> Resolve {
                let $a = self;
                Resolve::ready($addrs)
            }
        }
        impl ToSocketAddrs for $ty {}
    )*};
}

literal! {
    SocketAddr => |a| vec![a];
    SocketAddrV4 => |a| vec![SocketAddr::V4(a)];
    SocketAddrV6 => |a| vec![SocketAddr::V6(a)];
    (IpAddr, u16) => |a| vec![SocketAddr::new(a.0, a.1)];
    (Ipv4Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V4(a.0), a.1)];
    (Ipv6Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V6(a.0), a.1)];
    &[SocketAddr] => |a| a.to_vec();
    Vec<SocketAddr> => |a| a;
}

impl sealed::Sealed for &str {
    fn resolve(self) -> Resolve {
        Resolve::name(self, None)
    }
}
impl ToSocketAddrs for &str {}

impl sealed::Sealed for String {
    fn resolve(self) -> Resolve {
        Resolve::name(&self, None)
    }
}
impl ToSocketAddrs for String {}

impl sealed::Sealed for (&str, u16) {
    fn resolve(self) -> Resolve {
        Resolve::name(self.0, Some(self.1))
    }
}
impl ToSocketAddrs for (&str, u16) {}

impl sealed::Sealed for (String, u16) {
    fn resolve(self) -> Resolve {
        Resolve::name(&self.0, Some(self.1))
    }
}
impl ToSocketAddrs for (String, u16) {}

impl<T: sealed::Sealed + Clone> sealed::Sealed for &T {
    fn resolve(self) -> Resolve {
        self.clone().resolve()
    }
}
impl<T: ToSocketAddrs + Clone> ToSocketAddrs for &T {}
