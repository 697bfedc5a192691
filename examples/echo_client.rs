//! The seeds' 500 echo clients, as 500 tasks on one loop instead of 500 threads.
//!
//! ```python
//! def client():
//!     client.connect(('127.0.0.1', 9090))
//!     while True:
//!         client.send(('%s say hello' % current_thread().getName()).encode('utf-8'))
//!         data = client.recv(1024)
//! for i in range(500):
//!     Thread(target=client).start()
//! ```
//!
//! Each client sends `--messages` messages `"<n> say hello"` and checks that every reply is
//! the message upper-cased, byte for byte. It prints messages per second, and exits non-zero
//! on any mismatch, lost byte or error. Start `echo_server` first, then run
//! `cargo run --release --example echo_client -- --clients 500 --messages 100`.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{AsyncReadExt, AsyncWriteExt};
use looplet::net::TcpStream;

/// One client: `messages` round trips, each reply checked. Returns the bytes echoed.
pub async fn client(id: usize, addr: SocketAddr, messages: usize) -> io::Result<usize> {
    let mut conn = TcpStream::connect(addr).await?;
    conn.set_nodelay(true)?;
    let message = format!("{id} say hello");
    let expected = message.to_ascii_uppercase();
    let mut reply = vec![0u8; message.len()];
    for _ in 0..messages {
        conn.write_all(message.as_bytes()).await?;
        conn.read_exact(&mut reply).await?;
        if reply != expected.as_bytes() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "client {id}: sent {message:?}, got back {:?}",
                    String::from_utf8_lossy(&reply)
                ),
            ));
        }
    }
    Ok(messages * message.len())
}

/// The outcome of a load run.
pub struct Report {
    pub messages: usize,
    pub bytes: usize,
    pub elapsed: Duration,
}

/// Runs `clients` clients at once on the current loop; fails on the first error, or if the
/// whole run takes longer than `limit`.
pub async fn run(
    addr: SocketAddr,
    clients: usize,
    messages: usize,
    limit: Duration,
) -> io::Result<Report> {
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|id| looplet::spawn(client(id, addr, messages)))
        .collect();
    let all = async {
        let mut bytes = 0;
        for task in tasks {
            bytes += task.await?;
        }
        io::Result::Ok(bytes)
    };
    let bytes = looplet::timeout(limit, all).await??;
    Ok(Report {
        messages: clients * messages,
        bytes,
        elapsed: start.elapsed(),
    })
}

#[allow(dead_code)] // the demo and the tests include this file for `run`
fn main() {
    let (mut addr, mut port) = (String::from("127.0.0.1"), 9090u16);
    let (mut clients, mut messages) = (500usize, 100usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("every flag takes a value");
        match arg.as_str() {
            "--addr" => addr = value(),
            "--port" => port = value().parse().expect("--port takes a port"),
            "--clients" => clients = value().parse().expect("--clients takes a number"),
            "--messages" => messages = value().parse().expect("--messages takes a number"),
            _ => {
                eprintln!("usage: echo_client [--addr A] [--port P] [--clients N] [--messages M]");
                std::process::exit(2);
            }
        }
    }
    let addr: SocketAddr = format!("{addr}:{port}").parse().expect("a valid address");
    match looplet::block_on(run(addr, clients, messages, Duration::from_secs(600))) {
        Ok(report) => println!(
            "{} clients x {} messages: {} messages, {} bytes checked in {:.3} s: {:.0} messages/s",
            clients,
            messages,
            report.messages,
            report.bytes,
            report.elapsed.as_secs_f64(),
            report.messages as f64 / report.elapsed.as_secs_f64()
        ),
        Err(err) => {
            eprintln!("echo_client failed: {err}");
            std::process::exit(1);
        }
    }
}
