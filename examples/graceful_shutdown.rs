//! The echo server again, now stopping cleanly: on Ctrl-C (`SIGINT`) or `SIGTERM` it stops
//! accepting, lets the connections it has finish, and exits.
//!
//! ```python
//! loop.add_signal_handler(signal.SIGINT, stop.set)
//! loop.add_signal_handler(signal.SIGTERM, stop.set)
//! await stop.wait()
//! server.close()                     # no new connections
//! await asyncio.gather(*connections) # the ones we have finish
//! ```
//!
//! Run with `cargo run --example graceful_shutdown` (127.0.0.1:9090, `--port` changes it),
//! talk to it (`cargo run --example echo_client`), then press Ctrl-C.
//!
//! `--self-test` runs unattended (CI): it serves on a free port, starts clients that each
//! exchange several messages, sends itself `SIGINT` once every client is mid-conversation,
//! and checks that every one of them still completed, every byte echoed, and that the port
//! refuses connections afterwards. It exits with status 1 if any check fails.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::future::{Either, select};
use futures_util::{AsyncReadExt, AsyncWriteExt, StreamExt};
use looplet::Task;
use looplet::net::{TcpListener, TcpStream};
use looplet::signal::{SIGINT, SIGTERM, Signals};
use rustix::process::{Signal, getpid, kill_process};

/// How long connections in flight get to finish once the shutdown starts.
const GRACE: Duration = Duration::from_secs(10);

/// How a served run ended.
#[derive(Debug)]
pub struct Served {
    /// Connections still open when the shutdown began: the ones that were let finish.
    pub in_flight: usize,
    /// Connections that ended cleanly, over the whole run.
    pub completed: usize,
    /// Connections still open when the grace period ran out (dropped).
    pub abandoned: usize,
}

/// Echoes one connection, upper-cased, until the client closes it.
async fn communicate(mut conn: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 1024];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        buf[..n].make_ascii_uppercase();
        conn.write_all(&buf[..n]).await?;
    }
}

/// Serves until `shutdown` completes, then stops accepting (the listener is dropped, so
/// the port refuses new connections) and waits up to [`GRACE`] for open connections.
pub async fn serve_until(listener: TcpListener, shutdown: impl Future<Output = ()>) -> Served {
    let mut shutdown = pin!(shutdown);
    let completed = Rc::new(Cell::new(0));
    let mut connections: Vec<Task<()>> = Vec::new();
    loop {
        let accept = pin!(listener.accept());
        match select(shutdown.as_mut(), accept).await {
            Either::Left(((), _)) => break,
            Either::Right((Ok((conn, _)), _)) => {
                let completed = completed.clone();
                connections.push(looplet::spawn(async move {
                    if communicate(conn).await.is_ok() {
                        completed.set(completed.get() + 1);
                    }
                }));
            }
            // Out of descriptors or memory: back off (see echo_server.rs), or the client
            // gave up before we accepted it.
            Either::Right((Err(_), _)) => looplet::sleep(Duration::from_millis(10)).await,
        }
        connections.retain(|task| !task.is_finished());
    }
    drop(listener);
    connections.retain(|task| !task.is_finished());
    let in_flight = connections.len();
    let finish = futures_util::future::join_all(connections.iter_mut());
    let abandoned = match looplet::timeout(GRACE, finish).await {
        Ok(_) => 0,
        Err(_) => connections.iter().filter(|t| !t.is_finished()).count(),
    };
    Served {
        in_flight,
        completed: completed.get(),
        abandoned,
    }
}

/// The first of `SIGINT` and `SIGTERM`. The listener is made now, so a signal that comes
/// before the future is first polled is not lost (and does not kill the process).
pub fn shutdown_signal(announce: impl Fn(i32)) -> io::Result<impl Future<Output = ()>> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    Ok(async move {
        if let Some(signal) = signals.next().await {
            announce(signal);
        }
    })
}

/// What the self-test saw.
#[derive(Debug)]
pub struct SelfTest {
    pub clients: usize,
    /// Clients that sent every message and got every reply right.
    pub clients_ok: usize,
    pub served: Served,
    /// Whether a connection attempt after the shutdown was refused.
    pub refused_after: bool,
    pub elapsed: Duration,
}

impl SelfTest {
    pub fn passed(&self) -> bool {
        self.clients_ok == self.clients
            && self.served.in_flight == self.clients
            && self.served.completed == self.clients
            && self.served.abandoned == 0
            && self.refused_after
    }
}

/// One client: `messages` round trips, a pause between them so the shutdown lands mid-way.
async fn client(addr: SocketAddr, id: usize, messages: usize, replied: Rc<Cell<usize>>) -> bool {
    let Ok(mut conn) = TcpStream::connect(addr).await else {
        return false;
    };
    for m in 0..messages {
        let msg = format!("client {id} message {m}");
        let mut reply = vec![0u8; msg.len()];
        if conn.write_all(msg.as_bytes()).await.is_err()
            || conn.read_exact(&mut reply).await.is_err()
            || reply != msg.to_ascii_uppercase().as_bytes()
        {
            return false;
        }
        if m == 0 {
            replied.set(replied.get() + 1);
        }
        looplet::sleep(Duration::from_millis(20)).await;
    }
    true // dropping `conn` closes it: the server's side of it completes
}

/// Serves `clients` clients, sends this process `signal` once all of them are talking, and
/// checks the shutdown let every one finish. `print` sees what happens.
pub async fn self_test(
    clients: usize,
    signal: Signal,
    print: impl Fn(&str) + 'static,
) -> io::Result<SelfTest> {
    let start = Instant::now();
    let print = Rc::new(print);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = shutdown_signal({
        let print = print.clone();
        move |signal| {
            print(&format!(
                "signal {signal}: no new connections; letting the open ones finish"
            ))
        }
    })?;
    let server = looplet::spawn(serve_until(listener, shutdown));

    let replied = Rc::new(Cell::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|id| looplet::spawn(client(addr, id, 10, replied.clone())))
        .collect();
    // Every client is mid-conversation: now the signal, as `kill -INT <pid>` would send it.
    let all_talking = async {
        while replied.get() < clients {
            looplet::sleep(Duration::from_millis(5)).await;
        }
    };
    if looplet::timeout(GRACE, all_talking).await.is_err() {
        return Err(io::Error::other("the clients never all got a first reply"));
    }
    print(&format!(
        "{clients} clients mid-conversation; sending ourselves signal {0} (kill -{0} {1})",
        signal.as_raw(),
        std::process::id()
    ));
    kill_process(getpid(), signal)?;

    let served = server.await;
    let mut clients_ok = 0;
    for task in tasks {
        clients_ok += usize::from(task.await);
    }
    let refused_after = TcpStream::connect(addr).await.is_err();
    print(&format!(
        "{clients_ok}/{clients} clients completed; {} connections were in flight at the \
         signal, {} completed, {} abandoned; a new connection afterwards was {}",
        served.in_flight,
        served.completed,
        served.abandoned,
        if refused_after {
            "refused"
        } else {
            "accepted (wrong)"
        },
    ));
    Ok(SelfTest {
        clients,
        clients_ok,
        served,
        refused_after,
        elapsed: start.elapsed(),
    })
}

#[allow(dead_code)] // the demo includes this file for `self_test`
fn main() -> io::Result<()> {
    let mut port = 9090u16;
    let mut self_testing = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("--port takes a port")
            }
            "--self-test" => self_testing = true,
            _ => {
                eprintln!("usage: graceful_shutdown [--port 9090] [--self-test]");
                std::process::exit(2);
            }
        }
    }
    if self_testing {
        let report = looplet::block_on(self_test(20, Signal::INT, |line| println!("{line}")))?;
        let verdict = if report.passed() { "passed" } else { "FAILED" };
        println!("self-test {verdict} in {:.2?}", report.elapsed);
        if !report.passed() {
            std::process::exit(1);
        }
        return Ok(());
    }
    looplet::block_on(async {
        // Listen for the signals first: from here on Ctrl-C is ours to handle.
        let shutdown = shutdown_signal(|signal| {
            println!("signal {signal}: no new connections; letting the open ones finish")
        })?;
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on {}; Ctrl-C to stop", listener.local_addr()?);
        let served = serve_until(listener, shutdown).await;
        println!(
            "stopped: {} connections were open, {} abandoned after {GRACE:?}",
            served.in_flight, served.abandoned
        );
        io::Result::Ok(())
    })
}
