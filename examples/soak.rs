//! A soak run: many concurrent TCP connections on loopback, every byte checked, descriptors
//! and memory watched, round after round. It stops by itself.
//!
//! ```sh
//! cargo run --release --example soak                       # 10,000 connections, 3 rounds
//! cargo run --release --example soak -- --conns 19000 --rounds 5 --messages 20
//! ```
//!
//! The echo server runs in a child process (this binary again, with `--serve`), on its own
//! looplet loop; the clients run on the parent's loop. So each process holds one end of every
//! connection, and each can hold as many as its descriptor limit allows: the soft
//! `RLIMIT_NOFILE` is raised to the hard limit first (the child inherits it), and `--conns` is
//! clamped to what that leaves, with a note. The child exits when its stdin closes, so it never
//! outlives the parent.
//!
//! Each round, every client connects (at most [`CONNECTING`] at a time, so the accept queue
//! never overflows into SYN retries), waits until all are connected, so that all are held at
//! once, then sends `--messages` framed messages of 1 to 2,048 bytes whose content depends on
//! the client, the message and the byte, and checks each echo byte for byte. Then it asks the
//! server to close (a zero-length frame: the server closes first, so the client's ports are
//! not left in `TIME_WAIT`), reads the end of stream and drops its socket. After the round
//! both processes must be back to the descriptor count they had before it.
//!
//! Per round it prints the connections held (both ends), the bytes verified, and each
//! process's descriptors and resident memory (`/proc/<pid>/fd`, `VmRSS`) before, during (all
//! connections open) and after. It exits 1 on the first wrong byte, error, lost connection,
//! descriptor not given back, or a round that takes longer than [`ROUND_LIMIT`].

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::io::BufReader;
use futures_util::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use looplet::net::{TcpListener, TcpStream};
use looplet::process::{Command, Stdio};
use looplet::sync::{Event, Semaphore};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Connections being set up at once (the rest wait their turn): below the accept backlog.
const CONNECTING: usize = 512;
/// The longest a round may take, set-up and tear-down included, before the soak fails.
const ROUND_LIMIT: Duration = Duration::from_secs(300);
/// How long the descriptor counts may take to come back after a round.
const SETTLE: Duration = Duration::from_secs(20);
/// Descriptors each process keeps for itself beyond its connections.
const RESERVE: usize = 64;
/// The largest message a client sends.
const MAX_MESSAGE: usize = 2048;

struct Options {
    conns: usize,
    rounds: usize,
    messages: usize,
}

fn parse_args() -> Options {
    let mut options = Options {
        conns: 10_000,
        rounds: 3,
        messages: 10,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> usize {
            args.next()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or_else(|| usage(&format!("{name} takes a number")))
        };
        match arg.as_str() {
            "--conns" => options.conns = value("--conns"),
            "--rounds" => options.rounds = value("--rounds"),
            "--messages" => options.messages = value("--messages"),
            _ => usage(&format!("unknown argument {arg:?}")),
        }
    }
    if options.conns == 0 || options.rounds == 0 {
        usage("--conns and --rounds must be at least 1");
    }
    options
}

fn usage(why: &str) -> ! {
    eprintln!("soak: {why}");
    eprintln!("usage: soak [--conns 10000] [--rounds 3] [--messages 10]");
    std::process::exit(2);
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--serve") {
        if let Err(err) = looplet::block_on(serve()) {
            eprintln!("soak server: {err}");
            std::process::exit(1);
        }
        return;
    }
    let options = parse_args();
    match looplet::block_on(soak(options)) {
        Ok(()) => {}
        Err(err) => {
            eprintln!("soak: FAILED: {err}");
            std::process::exit(1);
        }
    }
}

// ---- the server (the child process) ----

/// Echoes framed messages until stdin closes; prints its address first.
async fn serve() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    looplet::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((conn, _)) => looplet::spawn(async move { echo(conn).await.ok() }).detach(),
                // Out of descriptors (the parent asked for too many): back off and retry.
                Err(err) if matches!(err.raw_os_error(), Some(23 | 24)) => {
                    looplet::sleep(Duration::from_millis(10)).await
                }
                Err(err) if err.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(err) => {
                    eprintln!("soak server: accept: {err}");
                    std::process::exit(1);
                }
            }
        }
    })
    .detach();
    // The parent holds our stdin: its end of stream, however the parent ended, ends us.
    let mut stdin = looplet::io::stdin();
    let mut buf = [0u8; 64];
    while stdin.read(&mut buf).await? > 0 {}
    Ok(())
}

/// One connection: `len: u32 LE, bytes` frames, each sent back as it came; a zero length
/// means goodbye, and the server closes first.
async fn echo(mut conn: TcpStream) -> io::Result<()> {
    conn.set_nodelay(true)?;
    let mut frame = vec![0u8; 4 + MAX_MESSAGE];
    loop {
        conn.read_exact(&mut frame[..4]).await?;
        let n = u32::from_le_bytes(frame[..4].try_into().expect("4 bytes")) as usize;
        if n == 0 {
            return Ok(());
        }
        if n > MAX_MESSAGE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "frame too long"));
        }
        conn.read_exact(&mut frame[4..4 + n]).await?;
        conn.write_all(&frame[..4 + n]).await?;
    }
}

// ---- the clients (the parent process) ----

/// A process's open descriptors, resident memory and its high-water mark.
#[derive(Clone, Copy)]
struct Usage {
    fds: usize,
    rss: usize,
    peak: usize,
}

fn usage_of(pid: u32) -> io::Result<Usage> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |field: &str| -> usize {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Ok(Usage {
        fds,
        rss: kib("VmRSS:") * 1024,
        peak: kib("VmHWM:") * 1024,
    })
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// Raises the soft descriptor limit to the hard one; returns the soft limit now in force.
fn raise_fd_limit() -> usize {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: maximum,
        maximum,
    };
    let soft = match setrlimit(Resource::Nofile, raised) {
        Ok(()) => maximum,
        Err(_) => current,
    };
    soft.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Byte `i` of message `m` of client `id`.
fn byte(id: usize, m: usize, i: usize) -> u8 {
    (id.wrapping_mul(131) ^ m.wrapping_mul(31) ^ i.wrapping_mul(7)) as u8
}

/// The length of message `m` of client `id`: 1 to [`MAX_MESSAGE`] bytes.
fn length(id: usize, m: usize) -> usize {
    1 + (id.wrapping_mul(7919) + m.wrapping_mul(104_729)) % MAX_MESSAGE
}

fn error(what: String) -> io::Error {
    io::Error::other(what)
}

/// One client: connect, wait for everyone, `messages` checked echoes, goodbye. Returns the
/// bytes it verified.
async fn client(
    id: usize,
    addr: SocketAddr,
    messages: usize,
    gate: Rc<Semaphore>,
    connected: Rc<Cell<usize>>,
    all_connected: Rc<Event>,
) -> io::Result<usize> {
    let permit = gate
        .acquire()
        .await
        .map_err(|_| error("the gate closed".into()))?;
    let mut conn = TcpStream::connect(addr)
        .await
        .map_err(|e| error(format!("client {id}: connect: {e}")))?;
    drop(permit);
    conn.set_nodelay(true)?;
    connected.set(connected.get() + 1);
    all_connected.wait().await;
    let mut sent = vec![0u8; 4 + MAX_MESSAGE];
    let mut got = vec![0u8; 4 + MAX_MESSAGE];
    let mut verified = 0;
    for m in 0..messages {
        let n = length(id, m);
        sent[..4].copy_from_slice(&(n as u32).to_le_bytes());
        for (i, b) in sent[4..4 + n].iter_mut().enumerate() {
            *b = byte(id, m, i);
        }
        conn.write_all(&sent[..4 + n]).await?;
        conn.read_exact(&mut got[..4 + n])
            .await
            .map_err(|e| error(format!("client {id}, message {m}: {e}")))?;
        if got[..4 + n] != sent[..4 + n] {
            let at = (0..4 + n).find(|&i| got[i] != sent[i]).unwrap_or(0);
            return Err(error(format!(
                "client {id}, message {m}: byte {at} of {} came back wrong",
                4 + n
            )));
        }
        verified += n;
    }
    conn.write_all(&0u32.to_le_bytes()).await?;
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).await?;
    if !rest.is_empty() {
        return Err(error(format!(
            "client {id}: {} bytes after goodbye",
            rest.len()
        )));
    }
    Ok(verified)
}

/// Waits until both processes are back to their descriptor counts.
async fn settle(me: u32, server: u32, mine: usize, theirs: usize) -> io::Result<()> {
    let start = Instant::now();
    loop {
        let (a, b) = (usage_of(me)?.fds, usage_of(server)?.fds);
        if a == mine && b == theirs {
            return Ok(());
        }
        if start.elapsed() > SETTLE {
            return Err(error(format!(
                "descriptors not given back after {SETTLE:?}: client {a} (was {mine}), \
                 server {b} (was {theirs})"
            )));
        }
        looplet::sleep(Duration::from_millis(10)).await;
    }
}

async fn soak(options: Options) -> io::Result<()> {
    let soft = raise_fd_limit();
    let fits = soft.saturating_sub(RESERVE);
    let conns = options.conns.min(fits);
    if conns < options.conns {
        println!(
            "soak: --conns {} clamped to {conns}: the descriptor limit is {soft} per process",
            options.conns
        );
    }
    let mut server = Command::new(std::env::current_exe()?)
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let server_pid = server.id().expect("running");
    let mut lines = BufReader::new(server.stdout.take().expect("piped"));
    let mut line = String::new();
    looplet::timeout(Duration::from_secs(20), lines.read_line(&mut line))
        .await
        .map_err(|_| error("the server did not start".into()))??;
    let addr: SocketAddr = line
        .trim()
        .parse()
        .map_err(|e| error(format!("the server printed {line:?}: {e}")))?;
    let me = std::process::id();
    println!(
        "soak: {conns} connections x {} rounds x {} messages (1..{MAX_MESSAGE} bytes), \
         echo server pid {server_pid} on {addr}, client pid {me}, fd limit {soft}",
        options.rounds, options.messages
    );
    // One warm-up connection, so that first-use allocations don't count as a round's.
    client_round(addr, 1, 1).await?;
    let (mut total_conns, mut total_bytes) = (0usize, 0usize);
    let started = Instant::now();
    for round in 1..=options.rounds {
        let (before_me, before_server) = (usage_of(me)?, usage_of(server_pid)?);
        let round_start = Instant::now();
        let result = looplet::timeout(ROUND_LIMIT, async {
            let gate = Rc::new(Semaphore::new(CONNECTING));
            let connected = Rc::new(Cell::new(0usize));
            let all_connected = Rc::new(Event::new());
            let tasks: Vec<_> = (0..conns)
                .map(|id| {
                    looplet::spawn(client(
                        id,
                        addr,
                        options.messages,
                        gate.clone(),
                        connected.clone(),
                        all_connected.clone(),
                    ))
                })
                .collect();
            // Everyone connected: the peak. Measure both processes while they hold it all.
            while connected.get() < conns {
                if let Some(failed) = tasks.iter().position(|t| t.is_finished()) {
                    return Err(error(format!("client {failed} ended before connecting")));
                }
                looplet::sleep(Duration::from_millis(5)).await;
            }
            let server_held = loop {
                let held = usage_of(server_pid)?.fds.saturating_sub(before_server.fds);
                if held >= conns {
                    break held;
                }
                looplet::sleep(Duration::from_millis(5)).await;
            };
            let during = (usage_of(me)?, usage_of(server_pid)?);
            let connecting = round_start.elapsed();
            all_connected.set();
            let mut bytes = 0;
            for task in tasks {
                bytes += task.await?;
            }
            io::Result::Ok((server_held, during, connecting, bytes))
        })
        .await;
        let (server_held, (during_me, during_server), connecting, bytes) = match result {
            Ok(round) => round?,
            Err(_) => return Err(error(format!("round {round} took over {ROUND_LIMIT:?}"))),
        };
        let elapsed = round_start.elapsed();
        settle(me, server_pid, before_me.fds, before_server.fds).await?;
        let (after_me, after_server) = (usage_of(me)?, usage_of(server_pid)?);
        total_conns += conns;
        total_bytes += bytes;
        println!(
            "round {round}/{}: {conns} connections held at once (server end: {server_held}), \
             {} payload bytes echoed and checked ({} on the wire each way), {:.2} s \
             ({:.2} s connecting, {:.2} s echoing and closing)",
            options.rounds,
            bytes,
            mib(bytes + 4 * (options.messages + 1) * conns),
            elapsed.as_secs_f64(),
            connecting.as_secs_f64(),
            (elapsed - connecting).as_secs_f64()
        );
        for (who, before, during, after) in [
            ("client", before_me, during_me, after_me),
            ("server", before_server, during_server, after_server),
        ] {
            println!(
                "  {who}: fds {} / {} / {} (before / all held / after), \
                 rss {} / {} / {}, peak so far {}",
                before.fds,
                during.fds,
                after.fds,
                mib(before.rss),
                mib(during.rss),
                mib(after.rss),
                mib(after.peak)
            );
        }
    }
    drop(server.stdin.take()); // the server's end of stream: it exits
    let status = looplet::timeout(Duration::from_secs(20), server.wait())
        .await
        .map_err(|_| error("the server did not exit".into()))??;
    if !status.success() {
        return Err(error(format!("the server exited with {status}")));
    }
    println!(
        "soak: PASS: {total_conns} connections in {} rounds, {total_bytes} bytes verified, \
         descriptors back to baseline after every round, {:.1} s",
        options.rounds,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A small round outside the figures (the warm-up).
async fn client_round(addr: SocketAddr, conns: usize, messages: usize) -> io::Result<usize> {
    let gate = Rc::new(Semaphore::new(CONNECTING));
    let connected = Rc::new(Cell::new(0));
    let all = Rc::new(Event::new());
    all.set();
    let mut bytes = 0;
    for id in 0..conns {
        bytes += client(
            id,
            addr,
            messages,
            gate.clone(),
            connected.clone(),
            all.clone(),
        )
        .await?;
    }
    Ok(bytes)
}
