//! A chat server: every line a client sends goes to every other client.
//!
//! ```text
//! cargo run --example chat -- --port 9000      # then, in other terminals: nc 127.0.0.1 9000
//! cargo run --example chat -- --self-test      # 100 clients talk at once, every line checked
//! ```
//!
//! Each connection is split into owned halves: one task reads lines from the client
//! (futures' `BufReader::lines`) and publishes them on a `looplet::sync::broadcast` channel;
//! another takes every published line and writes those of other clients back. A client too
//! slow to keep up is told how many lines it missed instead of holding everyone else up.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use looplet::io::{BufReader, prelude::*};
use looplet::net::{TcpListener, TcpStream};
use looplet::sync::Event;
use looplet::sync::broadcast::{self, RecvError};

/// Lines kept for slow readers before they are told they missed some.
const BACKLOG: usize = 4096;

/// One published line: who said it, and what.
#[derive(Clone)]
struct Said {
    from: u64,
    line: Rc<str>,
}

/// Serves `listener` forever (until the task is dropped): each client joins the chat.
pub async fn serve(listener: TcpListener) -> io::Result<()> {
    let (tx, _) = broadcast::channel::<Said>(BACKLOG);
    let next_id = Cell::new(0u64);
    loop {
        let (conn, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors: wait for some to free up (see looplet::net's docs).
            Err(_) => {
                looplet::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let id = next_id.get();
        next_id.set(id + 1);
        let (reader, mut writer) = conn.into_split();
        let mut inbox = tx.subscribe();
        let outbox = tx.clone();
        // The writing half: a welcome, then every line from someone else, as it comes.
        let writing = looplet::spawn(async move {
            let welcome = format!("welcome, you are {id}\n");
            if writer.write_all(welcome.as_bytes()).await.is_err() {
                return;
            }
            loop {
                let text = match inbox.recv().await {
                    Ok(said) if said.from == id => continue,
                    Ok(said) => format!("{}: {}\n", said.from, said.line),
                    Err(RecvError::Lagged(n)) => format!("[you missed {n} lines]\n"),
                    Err(RecvError::Closed) => break,
                };
                if writer.write_all(text.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        // The reading half: publish each line; when the client leaves, stop its writer too.
        looplet::spawn(async move {
            let mut lines = BufReader::new(reader).lines();
            while let Some(Ok(line)) = lines.next().await {
                let _ = outbox.send(Said {
                    from: id,
                    line: line.into(),
                });
            }
            drop(writing);
        })
        .detach();
    }
}

/// What the self-test saw.
#[derive(Debug)]
pub struct Report {
    pub clients: usize,
    pub lines_sent: usize,
    /// Lines each client received from the others (all of them, if nobody lagged).
    pub lines_received: Vec<usize>,
}

impl Report {
    pub fn passed(&self) -> bool {
        let each = self.lines_sent / self.clients * (self.clients - 1);
        self.lines_received.iter().all(|&n| n == each)
    }
}

/// Runs a chat server and `clients` clients that each send `lines` lines and read until they
/// have every other client's lines. Nobody speaks before everyone has been welcomed (the
/// broadcast reaches only those who have joined).
pub async fn self_test(clients: usize, lines: usize) -> io::Result<Report> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = looplet::spawn(serve(listener));
    let everyone_in = Rc::new(Barrier {
        left: Cell::new(clients),
        event: Event::new(),
    });
    let mut tasks = Vec::new();
    for c in 0..clients {
        let everyone_in = everyone_in.clone();
        tasks.push(looplet::spawn(client(addr, c, clients, lines, everyone_in)));
    }
    let mut lines_received = Vec::new();
    for task in tasks {
        lines_received.push(task.await?);
    }
    drop(server);
    Ok(Report {
        clients,
        lines_sent: clients * lines,
        lines_received,
    })
}

/// The clients of the self-test wait at it until all of them have been welcomed.
struct Barrier {
    left: Cell<usize>,
    event: Event,
}

/// One client: joins, waits until everyone has been welcomed, sends its lines, and counts the
/// others' lines it receives.
async fn client(
    addr: SocketAddr,
    me: usize,
    clients: usize,
    lines: usize,
    everyone_in: Rc<Barrier>,
) -> io::Result<usize> {
    let conn = TcpStream::connect(addr).await?;
    let (reader, mut writer) = conn.into_split();
    let mut incoming = BufReader::new(reader).lines();
    match incoming.next().await {
        Some(Ok(line)) if line.starts_with("welcome") => {}
        other => {
            return Err(io::Error::other(format!(
                "client {me}: no welcome: {other:?}"
            )));
        }
    }
    everyone_in.left.set(everyone_in.left.get() - 1);
    if everyone_in.left.get() == 0 {
        everyone_in.event.set();
    }
    everyone_in.event.wait().await;
    let expected = (clients - 1) * lines;
    let sending = looplet::spawn(async move {
        for n in 0..lines {
            writer
                .write_all(format!("client {me} says {n}\n").as_bytes())
                .await?;
        }
        io::Result::Ok(writer) // kept open until we have read everything
    });
    let mut got = 0;
    while got < expected {
        let Some(line) = incoming.next().await else {
            break;
        };
        let line = line?;
        if !line.contains(" says ") || line.contains(&format!("client {me} says")) {
            return Err(io::Error::other(format!("client {me} got {line:?}")));
        }
        got += 1;
    }
    let _writer = sending.await?;
    Ok(got)
}

#[allow(dead_code)]
fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut port = 9000u16;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("--port takes a port")
            }
            "--self-test" => {
                let report = looplet::block_on(self_test(100, 20))?;
                let least = report.lines_received.iter().min().copied().unwrap_or(0);
                println!(
                    "{} clients each sent {} lines; each received at least {least} of the \
                     others' lines",
                    report.clients,
                    report.lines_sent / report.clients,
                );
                if !report.passed() {
                    eprintln!("FAILED: {report:?}");
                    std::process::exit(1);
                }
                println!("every line reached every other client");
                return Ok(());
            }
            _ => {
                eprintln!("usage: chat [--port 9000] | --self-test");
                std::process::exit(2);
            }
        }
    }
    looplet::block_on(async {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        println!(
            "chat on {}: connect with `nc 127.0.0.1 {port}`",
            listener.local_addr()?
        );
        serve(listener).await
    })
}
