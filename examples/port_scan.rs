//! A port scanner: connects to every port in a range with a timeout, 50 at a time.
//!
//! ```text
//! cargo run --example port_scan -- --host 127.0.0.1 --ports 1-1024
//! cargo run --example port_scan -- --self-test   # opens a few ports itself and finds them
//! ```
//!
//! `futures`' `buffer_unordered(50)` keeps 50 connects in flight; each is bounded by
//! `looplet::timeout`, so a port that drops packets (a firewall) costs the timeout, not the
//! kernel's minutes of retries. Only 127.0.0.1 and other loopback addresses are scanned.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use looplet::net::{TcpListener, TcpStream};

/// Connects in flight at once.
pub const IN_FLIGHT: usize = 50;

/// What a scan found.
#[derive(Debug)]
pub struct Scan {
    /// Ports that accepted a connection, in ascending order.
    pub open: Vec<u16>,
    /// Ports that refused it (the usual answer for a closed port on loopback).
    pub refused: usize,
    /// Ports that did not answer within the timeout, or failed otherwise.
    pub silent: usize,
    pub elapsed: Duration,
}

/// Scans `ports` on `host` (a loopback address), `IN_FLIGHT` at a time, `limit` each.
///
/// # Errors
///
/// `InvalidInput` for a host that is not a loopback address.
pub async fn scan(host: IpAddr, ports: RangeInclusive<u16>, limit: Duration) -> io::Result<Scan> {
    if !host.is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "this example scans loopback addresses only",
        ));
    }
    let start = Instant::now();
    let mut results: Vec<(u16, Result<(), io::ErrorKind>)> = futures_util::stream::iter(ports)
        .map(|port| async move {
            let addr = SocketAddr::new(host, port);
            let outcome = match looplet::timeout(limit, TcpStream::connect(addr)).await {
                Ok(Ok(_stream)) => Ok(()),
                Ok(Err(err)) => Err(err.kind()),
                Err(_elapsed) => Err(io::ErrorKind::TimedOut),
            };
            (port, outcome)
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    results.sort_by_key(|(port, _)| *port);
    let open = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(p, _)| *p)
        .collect();
    let refused = results
        .iter()
        .filter(|(_, r)| *r == Err(io::ErrorKind::ConnectionRefused))
        .count();
    Ok(Scan {
        open,
        refused,
        silent: results.len() - refused - results.iter().filter(|(_, r)| r.is_ok()).count(),
        elapsed: start.elapsed(),
    })
}

/// Opens `n` listeners on free ports, scans a range around them, and returns (opened, scan).
pub async fn self_test(n: usize) -> io::Result<(Vec<u16>, Scan)> {
    let mut listeners = Vec::new();
    for _ in 0..n {
        listeners.push(TcpListener::bind("127.0.0.1:0").await?);
    }
    let mut opened: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<io::Result<_>>()?;
    opened.sort_unstable();
    let low = opened[0].saturating_sub(100).max(1);
    let high = opened[opened.len() - 1].saturating_add(100);
    let scan = scan(
        "127.0.0.1".parse().unwrap(),
        low..=high,
        Duration::from_secs(2),
    )
    .await?;
    drop(listeners);
    Ok((opened, scan))
}

#[allow(dead_code)]
fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut host: IpAddr = "127.0.0.1".parse().unwrap();
    let mut ports = 1..=1024u16;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--host" => {
                host = args
                    .next()
                    .and_then(|h| h.parse().ok())
                    .expect("--host takes an IP")
            }
            "--ports" => {
                let spec = args.next().expect("--ports takes LOW-HIGH");
                let (low, high) = spec.split_once('-').expect("--ports takes LOW-HIGH");
                ports = low.parse().expect("a port")..=high.parse().expect("a port");
            }
            "--self-test" => {
                let (opened, scan) = looplet::block_on(self_test(5))?;
                println!(
                    "opened {opened:?}; the scan found {:?} in {:?}",
                    scan.open, scan.elapsed
                );
                // Other programs may listen in the range too: ours must all be found.
                if !opened.iter().all(|p| scan.open.contains(p)) {
                    eprintln!("FAILED: {scan:?}");
                    std::process::exit(1);
                }
                return Ok(());
            }
            _ => {
                eprintln!("usage: port_scan [--host 127.0.0.1] [--ports 1-1024] | --self-test");
                std::process::exit(2);
            }
        }
    }
    let scan = looplet::block_on(scan(host, ports, Duration::from_secs(1)))?;
    for port in &scan.open {
        println!("{host}:{port} open");
    }
    println!(
        "{} open, {} refused, {} silent, in {:.2} s ({IN_FLIGHT} connects in flight)",
        scan.open.len(),
        scan.refused,
        scan.silent,
        scan.elapsed.as_secs_f64()
    );
    Ok(())
}
