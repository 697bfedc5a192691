//! File descriptors: none leak, and a server at its descriptor limit backs off and recovers.
//!
//! This file is its own test binary, and its tests run one after another (they share a lock),
//! so the process's descriptor count is theirs alone.

#[allow(dead_code)]
#[path = "../examples/echo_server.rs"]
mod echo_server;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::{AsyncReadExt, AsyncWriteExt};
use looplet::net::{TcpListener, TcpStream};

static SERIAL: Mutex<()> = Mutex::new(());

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

#[test]
fn descriptors_return_to_baseline_after_a_thousand_connections() -> io::Result<()> {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Warm up once (thread-locals, the allocator's first mappings), then measure.
    looplet::block_on(async { looplet::sleep(Duration::from_millis(1)).await });
    let baseline = open_fds();
    looplet::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = looplet::spawn(async move {
            for _ in 0..1000 {
                let (conn, _) = listener.accept().await?;
                looplet::spawn(async move { echo_server::communicate(conn).await.ok() }).detach();
            }
            io::Result::Ok(())
        });
        // Ten waves of a hundred concurrent clients.
        for wave in 0..10 {
            let clients: Vec<_> = (0..100)
                .map(|i| {
                    looplet::spawn(async move {
                        let mut conn = TcpStream::connect(addr).await?;
                        let msg = format!("wave {wave} client {i}");
                        conn.write_all(msg.as_bytes()).await?;
                        let mut reply = vec![0u8; msg.len()];
                        conn.read_exact(&mut reply).await?;
                        assert_eq!(reply, msg.to_ascii_uppercase().as_bytes());
                        io::Result::Ok(())
                    })
                })
                .collect();
            for c in clients {
                c.await?;
            }
        }
        server.await?;
        // Let the server's connection tasks see their clients' EOF and drop their sockets.
        looplet::sleep(Duration::from_millis(50)).await;
        io::Result::Ok(())
    })?;
    assert_eq!(
        open_fds(),
        baseline,
        "every socket, and the loop's own fds, were closed"
    );
    Ok(())
}

/// The child side of the next test: serve until stdin closes, under the parent's `ulimit`.
fn run_limited_server() -> io::Result<()> {
    looplet::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("{}", listener.local_addr()?);
        io::stdout().flush()?;
        echo_server::serve(listener, |_| {}).await
    })
}

/// The seeds' server under `ulimit -n 64` with 200 clients at once: `accept` hits `EMFILE`
/// again and again. The server must stay up, must not spin a core while it waits for
/// descriptors, and must serve every client once earlier ones close theirs.
#[test]
fn a_server_at_its_descriptor_limit_backs_off_and_serves_everyone() -> io::Result<()> {
    if std::env::var_os("LOOPLET_LIMITED_SERVER").is_some() {
        return run_limited_server();
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let exe = std::env::current_exe()?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" --exact a_server_at_its_descriptor_limit_backs_off_and_serves_everyone --nocapture --test-threads 1")
        .arg(&exe)
        .env("LOOPLET_LIMITED_SERVER", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: std::net::SocketAddr = loop {
        // The test harness may print its own text before the address, on the same line.
        let line = lines.next().expect("the server prints its address")?;
        if let Some(Ok(addr)) = line.split_whitespace().last().map(str::parse) {
            break addr;
        }
    };
    let pid = child.id();
    let cpu_before = cpu_ticks(pid)?;
    let started = Instant::now();

    // 200 clients connect at once (the kernel queues them); each holds its connection while
    // it waits for its reply, so the server runs out of descriptors and must back off.
    let served = looplet::block_on(async {
        let clients: Vec<_> = (0..200)
            .map(|i| {
                looplet::spawn(async move {
                    let mut conn = TcpStream::connect(addr).await?;
                    let msg = format!("client {i} say hello");
                    conn.write_all(msg.as_bytes()).await?;
                    let mut reply = vec![0u8; msg.len()];
                    conn.read_exact(&mut reply).await?;
                    assert_eq!(reply, msg.to_ascii_uppercase().as_bytes(), "client {i}");
                    // Hold the descriptor a moment, so the limit is really reached.
                    looplet::sleep(Duration::from_millis(100)).await;
                    io::Result::Ok(())
                })
            })
            .collect();
        let mut served = 0;
        for c in clients {
            looplet::timeout(Duration::from_secs(60), c).await??;
            served += 1;
        }
        io::Result::Ok(served)
    });
    let wall = started.elapsed();
    let cpu = Duration::from_millis((cpu_ticks(pid)? - cpu_before) * 10);
    let still_up = child.try_wait()?.is_none();
    drop(child.stdin.take()); // the child is killed below either way
    child.kill().ok();
    child.wait()?;

    assert_eq!(served?, 200, "every client was served");
    assert!(still_up, "the server stayed up");
    // A server spinning on EMFILE burns a core for the whole run; backing off costs little.
    assert!(
        cpu < wall / 2,
        "the server used {cpu:?} of CPU over {wall:?}: it spins instead of backing off"
    );
    Ok(())
}

/// User plus system CPU time of a process, in clock ticks (10 ms on Linux).
fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let mut stat = String::new();
    std::fs::File::open(format!("/proc/{pid}/stat"))?.read_to_string(&mut stat)?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').expect("stat has a command") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (u64, u64) = (fields[11].parse().unwrap(), fields[12].parse().unwrap());
    Ok(utime + stime)
}

/// A waker that outlives its loop keeps only the eventfd it needs to notify; the loop's epoll
/// instance and timerfd close with the loop. (Both used to stay open: 200 fds for 100 loops.)
#[test]
fn wakers_kept_past_their_loop_keep_one_fd_each() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    looplet::block_on(async {});
    let baseline = open_fds();
    let mut kept = Vec::new();
    for _ in 0..100 {
        let waker = looplet::block_on(std::future::poll_fn(|cx| {
            std::task::Poll::Ready(cx.waker().clone())
        }));
        kept.push(waker);
    }
    let held = open_fds() - baseline;
    assert!(
        held <= 100,
        "100 dead loops hold {held} fds through their wakers"
    );
    for waker in kept.drain(..) {
        waker.wake(); // does nothing harmful
    }
    assert_eq!(open_fds(), baseline, "dropping the wakers closes the rest");
}
