//! Hostile peers on loopback: one that stops reading while the server writes, slowloris
//! clients dribbling a byte at a time beside normal ones, thousands of idle connections hoarded
//! then dropped, and a flood of connections reset mid-way. The server stays up, serves the
//! well-behaved clients, keeps its memory bounded, and gives back every descriptor.
//!
//! This file is its own test binary, and its tests take turns (they share a lock), so the
//! process's descriptor count and resident memory are theirs alone. Nothing here asserts how
//! long anything took; every wait is bounded, so a lost wake fails instead of hanging.

#[allow(dead_code)]
#[path = "../examples/echo_client.rs"]
mod echo_client;
#[allow(dead_code)]
#[path = "../examples/echo_server.rs"]
mod echo_server;

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use looplet::net::{TcpListener, TcpStream};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

static SERIAL: Mutex<()> = Mutex::new(());

/// Long enough for a loaded CI machine or a sanitizer; only ever reached when something is lost.
const PATIENCE: Duration = Duration::from_secs(30);

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// This process's resident memory, in bytes (`VmRSS`).
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS");
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

const MIB: usize = 1 << 20;

/// Awaits `fut`, failing the test with `what` if it takes longer than [`PATIENCE`].
async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match looplet::timeout(PATIENCE, fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: not done after {PATIENCE:?}"),
    }
}

/// Waits on the loop, checking every few milliseconds, until `done()` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    bounded(what, async {
        while !done() {
            looplet::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
}

/// Waits until the process has `n` descriptors open again.
async fn until_fds_are(n: usize, what: &str) {
    until(what, || open_fds() == n).await
}

/// Starts the seeds' echo server on the running loop; returns its address, a count of the
/// connections it accepted, and its task (which ends only if `serve` fails).
async fn start_echo_server() -> io::Result<(SocketAddr, Rc<Cell<usize>>, looplet::Task<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let accepted = Rc::new(Cell::new(0));
    let count = accepted.clone();
    let server = looplet::spawn(async move {
        let err = echo_server::serve(listener, |_| count.set(count.get() + 1)).await;
        panic!("the echo server stopped: {err:?}");
    });
    Ok((addr, accepted, server))
}

/// Makes `stream`'s close a reset (`RST`), not an orderly `FIN`.
fn reset_on_close(stream: &TcpStream) -> io::Result<()> {
    rustix::net::sockopt::set_socket_linger(stream, Some(Duration::ZERO))?;
    Ok(())
}

/// Warms up the thread's first loop (thread-locals, the allocator's first mappings).
fn warm_up() {
    looplet::block_on(async { looplet::sleep(Duration::from_millis(1)).await });
}

/// The byte at `offset` of the stream the stalled-reader test sends: a 251-byte cycle.
const CYCLE: usize = 251;

/// `len` bytes of the cycle, starting at `offset`.
fn cycle_bytes(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len).map(|i| (i % CYCLE) as u8).collect()
}

/// A peer connects and stops reading while the server writes 64 MiB to it. The write parks
/// (the kernel's buffers are full), the server's memory does not grow with what is still to
/// send, the loop serves another client meanwhile, and once the peer reads it gets every byte,
/// in order.
#[test]
fn a_peer_that_stops_reading_costs_the_server_no_memory_and_gets_every_byte() -> io::Result<()> {
    const TOTAL: usize = 64 * MIB;
    const CHUNK: usize = 64 * 1024;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    warm_up();
    looplet::block_on(async {
        let (echo_addr, _, _echo) = start_echo_server().await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let written = Rc::new(Cell::new(0usize));
        let w = written.clone();
        let writer = looplet::spawn(async move {
            let (mut conn, _) = listener.accept().await?;
            // One chunk-sized window into a repeating pattern: nothing grows with TOTAL.
            let pattern = cycle_bytes(0, CHUNK + CYCLE);
            while w.get() < TOTAL {
                let start = w.get() % CYCLE;
                let len = CHUNK.min(TOTAL - w.get());
                conn.write_all(&pattern[start..start + len]).await?;
                w.set(w.get() + len);
            }
            io::Result::Ok(())
        });
        let mut peer = TcpStream::connect(addr).await?;
        let rss_before = rss();

        // The peer reads nothing: wait until the writer has stopped making progress.
        bounded("the writer stalls", async {
            loop {
                let seen = written.get();
                looplet::sleep(Duration::from_millis(20)).await;
                if seen > 0 && written.get() == seen {
                    break;
                }
            }
        })
        .await;
        let stalled_at = written.get();
        assert!(
            stalled_at < TOTAL,
            "the kernel took all {TOTAL} bytes: the peer never stalled the writer"
        );
        // The loop is not stuck behind the parked write.
        let echoed = bounded(
            "an echo beside the stall",
            echo_client::client(0, echo_addr, 10),
        );
        assert!(echoed.await? > 0);
        let rss_stalled = rss();

        // Now the peer reads it all, checking every byte against the pattern.
        let mut buf = vec![0u8; CHUNK];
        let mut received = 0usize;
        let expected = cycle_bytes(0, CHUNK + CYCLE);
        bounded("reading the 64 MiB", async {
            loop {
                let n = peer.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                let start = received % CYCLE;
                assert!(
                    buf[..n] == expected[start..start + n],
                    "bytes {received}..{} differ from what was sent",
                    received + n
                );
                received += n;
            }
            io::Result::Ok(())
        })
        .await?;
        writer.await?;
        assert_eq!(received, TOTAL, "every byte arrived, once");
        let rss_after = rss();
        let grew = rss_stalled.saturating_sub(rss_before);
        assert!(
            grew < 16 * MIB,
            "memory grew by {} KiB while {} MiB waited to be sent to a peer that did not read",
            grew / 1024,
            (TOTAL - stalled_at) / MIB
        );
        assert!(
            rss_after.saturating_sub(rss_before) < 16 * MIB,
            "memory grew by {} KiB over the whole transfer",
            rss_after.saturating_sub(rss_before) / 1024
        );
        io::Result::Ok(())
    })
}

/// Slowloris: 64 clients each send one byte every few milliseconds and wait for its echo,
/// for as long as the test runs, while 200 normal clients make 10 round trips each. Every
/// normal client is served while every slow one is still connected and dribbling, and every
/// byte either kind sent comes back upper-cased.
#[test]
fn slowloris_clients_do_not_keep_normal_clients_from_being_served() -> io::Result<()> {
    const SLOW: usize = 64;
    const NORMAL: usize = 200;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    warm_up();
    looplet::block_on(async {
        let (addr, _, _server) = start_echo_server().await?;
        let normal_done = Rc::new(Cell::new(false));
        let dribbling = Rc::new(Cell::new(0usize));
        let slow: Vec<_> = (0..SLOW)
            .map(|i| {
                let (normal_done, dribbling) = (normal_done.clone(), dribbling.clone());
                looplet::spawn(async move {
                    let mut conn = TcpStream::connect(addr).await?;
                    conn.set_nodelay(true)?;
                    let message = format!("slow client {i} takes its time; ");
                    let mut bytes = 0usize;
                    let mut counted = false;
                    for &byte in message.as_bytes().iter().cycle() {
                        if normal_done.get() && bytes > 0 {
                            break;
                        }
                        conn.write_all(&[byte]).await?;
                        let mut echo = [0u8];
                        conn.read_exact(&mut echo).await?;
                        assert_eq!(echo[0], byte.to_ascii_uppercase(), "slow client {i}");
                        bytes += 1;
                        if !counted {
                            counted = true;
                            dribbling.set(dribbling.get() + 1);
                        }
                        looplet::sleep(Duration::from_millis(3 + (i % 4) as u64)).await;
                    }
                    io::Result::Ok(bytes)
                })
            })
            .collect();
        // Every slow client is connected and has had its first byte echoed.
        until("the slow clients start dribbling", || {
            dribbling.get() == SLOW
        })
        .await;
        let report = echo_client::run(addr, NORMAL, 10, PATIENCE).await?;
        assert_eq!(report.messages, NORMAL * 10);
        let still_dribbling = slow.iter().filter(|t| !t.is_finished()).count();
        assert_eq!(
            still_dribbling, SLOW,
            "the normal clients were served while every slow client was connected"
        );
        normal_done.set(true);
        for task in slow {
            assert!(bounded("a slow client finishing", task).await? > 0);
        }
        io::Result::Ok(())
    })
}

/// Raises this process's soft descriptor limit to its hard limit; returns the soft limit.
fn raise_fd_limit() -> usize {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: maximum,
        maximum,
    };
    if setrlimit(Resource::Nofile, raised).is_ok() {
        maximum.or(current).unwrap_or(u64::MAX) as usize
    } else {
        current.unwrap_or(u64::MAX) as usize
    }
}

/// 2,000 clients connect and then do nothing, holding their connections (4,000 descriptors
/// in this process, both ends). A new client is still served; once they all close, every
/// descriptor is given back.
#[test]
fn hoarded_idle_connections_are_all_given_back() -> io::Result<()> {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Both ends of each connection live in this process; leave room for the rest.
    let hoard = 2000.min(raise_fd_limit().saturating_sub(200) / 2);
    assert!(
        hoard >= 100,
        "the descriptor limit is too low for this test"
    );
    warm_up();
    let baseline = open_fds();
    looplet::block_on(async {
        let (addr, accepted, _server) = start_echo_server().await?;
        let in_loop = open_fds();
        let idle: Vec<_> = (0..hoard)
            .map(|_| looplet::spawn(TcpStream::connect(addr)))
            .collect();
        let mut held = Vec::with_capacity(hoard);
        for task in idle {
            held.push(bounded("an idle client connecting", task).await?);
        }
        until("the server accepts every idle client", || {
            accepted.get() == hoard
        })
        .await;
        assert!(
            open_fds() >= in_loop + 2 * hoard,
            "both ends of every idle connection are open"
        );
        // Hoarded, yet a newcomer is served.
        let echoed = bounded("a newcomer", echo_client::client(1, addr, 5)).await?;
        assert!(echoed > 0);
        drop(held);
        until_fds_are(in_loop, "the server closes the idle connections").await;
        io::Result::Ok(())
    })?;
    assert_eq!(open_fds(), baseline, "every descriptor was given back");
    Ok(())
}

/// 1,000 connections, each reset (`SO_LINGER` 0) at a different point: before the server can
/// accept it, after half a message, and after a full message with its reply half read. The
/// server stays up, serves a normal client afterwards, and gives back every descriptor.
#[test]
fn a_connect_flood_with_resets_leaves_the_server_running() -> io::Result<()> {
    const FLOOD: usize = 1000;
    const WAVE: usize = 100;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    warm_up();
    let baseline = open_fds();
    looplet::block_on(async {
        let (addr, accepted, server) = start_echo_server().await?;
        let in_loop = open_fds();
        for wave in 0..FLOOD / WAVE {
            let clients: Vec<_> = (0..WAVE)
                .map(|i| {
                    looplet::spawn(async move {
                        let mut conn = TcpStream::connect(addr).await?;
                        reset_on_close(&conn)?;
                        let message = format!("wave {wave} client {i} resets");
                        match i % 3 {
                            0 => {} // reset at once, maybe before the accept
                            1 => conn.write_all(&message.as_bytes()[..8]).await?,
                            _ => {
                                conn.write_all(message.as_bytes()).await?;
                                let mut half = vec![0u8; message.len() / 2];
                                conn.read_exact(&mut half).await?;
                                let upper = message.to_ascii_uppercase();
                                assert_eq!(half, &upper.as_bytes()[..half.len()]);
                            }
                        }
                        drop(conn); // RST
                        io::Result::Ok(())
                    })
                })
                .collect();
            for client in clients {
                bounded("a resetting client", client).await?;
            }
        }
        // The accept queue is first in, first out: once a newcomer is served, every
        // connection of the flood has been accepted (or refused by the kernel as aborted).
        let echoed = bounded("a client after the flood", echo_client::client(2, addr, 5)).await?;
        assert!(echoed > 0);
        assert!(!server.is_finished(), "the server stayed up");
        assert!(
            accepted.get() > FLOOD / 3,
            "only {} of {FLOOD} accepted: at least the clients that read a reply were",
            accepted.get()
        );
        until_fds_are(in_loop, "the server drops every reset connection").await;
        io::Result::Ok(())
    })?;
    assert_eq!(open_fds(), baseline, "every descriptor was given back");
    Ok(())
}
