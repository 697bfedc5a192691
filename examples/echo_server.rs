//! The seeds' gevent echo server: one task per connection, every message sent back
//! upper-cased, each client's address printed as it connects.
//!
//! ```python
//! def communicate(conn):
//!     while True:
//!         data = conn.recv(1024)
//!         if not data: break
//!         conn.send(data.upper())
//!
//! def server(ip, port):
//!     ...
//!     while True:
//!         conn, addr = server.accept()
//!         print(addr)
//!         spawn(communicate, conn)
//! ```
//!
//! Run with `cargo run --release --example echo_server` (127.0.0.1:9090; `--addr` and
//! `--port` change that), then `cargo run --release --example echo_client`.
//!
//! At the descriptor limit `accept` fails with `EMFILE` and the pending connection stays
//! queued; the server sleeps 10 ms and accepts again, so it neither spins a core nor stops,
//! and serves the queued clients as soon as finished ones free their descriptors.

use std::io;
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use looplet::net::{TcpListener, TcpStream};

/// How long to back off when accept runs out of descriptors or memory.
const BACKOFF: Duration = Duration::from_millis(10);

/// Echoes one connection, upper-cased, until the client closes it (or it fails).
pub async fn communicate(mut conn: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 1024];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(()); // the client closed its side
        }
        buf[..n].make_ascii_uppercase();
        conn.write_all(&buf[..n]).await?;
    }
}

/// Whether an accept error is a shortage that passes once other connections close.
pub fn is_resource_shortage(err: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM
    matches!(err.raw_os_error(), Some(24 | 23 | 105 | 12))
}

/// Accepts forever, one task per connection; `announce` sees each client's address.
pub async fn serve(
    listener: TcpListener,
    announce: impl Fn(std::net::SocketAddr),
) -> io::Result<()> {
    loop {
        match listener.accept().await {
            Ok((conn, addr)) => {
                announce(addr);
                // A client that resets mid-message ends its own task, nothing more.
                looplet::spawn(async move { communicate(conn).await.ok() }).detach();
            }
            Err(err) if is_resource_shortage(&err) => looplet::sleep(BACKOFF).await,
            // The client gave up before we accepted it: go on.
            Err(err) if err.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(err) => return Err(err),
        }
    }
}

#[allow(dead_code)] // the demo and the tests include this file for `serve`
fn main() -> io::Result<()> {
    let (mut addr, mut port) = (String::from("127.0.0.1"), 9090u16);
    let mut quiet = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr takes an address"),
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("--port takes a port")
            }
            "--quiet" => quiet = true,
            _ => {
                eprintln!("usage: echo_server [--addr 127.0.0.1] [--port 9090] [--quiet]");
                std::process::exit(2);
            }
        }
    }
    looplet::block_on(async {
        let listener = TcpListener::bind((addr.as_str(), port)).await?;
        println!("listening on {}", listener.local_addr()?);
        serve(listener, |peer| {
            if !quiet {
                println!("{peer}");
            }
        })
        .await
    })
}
