//! Out of file descriptors outside `accept` (which tests/fd_limits.rs covers): every call that
//! makes descriptors returns `EMFILE` as an `io::Error`, leaks none of those it made before
//! running out, and the loop goes on working, then works fully again once descriptors free up.
//!
//! The test re-executes this binary in a child process, which lowers its own descriptor limit
//! and uses every descriptor up, so nothing else in the parent is disturbed. In the child, a
//! "sweep" runs each call with exactly k descriptors free, for k = 0, 1, 2, ..., until it
//! succeeds; after each try it counts the descriptors still free by filling them up again
//! (counting needs no descriptor of its own), so a leak of even one shows.

use std::fs::File;
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use looplet::Executor;
use looplet::net::{TcpStream, UnixStream};
use looplet::process::{Command, Stdio};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Set in the child's environment.
const CHILD_ENV: &str = "LOOPLET_FD_EXHAUSTION_CHILD";
const EMFILE: i32 = 24;
/// The most descriptors any call here needs; a call still failing with this many free fails.
const MOST: usize = 16;
/// Long enough for a loaded CI machine; only ever reached when a wake is lost.
const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn out_of_descriptors_each_call_fails_cleanly_and_the_loop_recovers() -> io::Result<()> {
    if std::env::var_os(CHILD_ENV).is_some() {
        return in_child();
    }
    // Once as it is, once with the SIGCHLD fallback for child exits instead of pidfds.
    for no_pidfd in ["0", "1"] {
        let output = std::process::Command::new(std::env::current_exe()?)
            .args([
                "--exact",
                "out_of_descriptors_each_call_fails_cleanly_and_the_loop_recovers",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, "1")
            .env("LOOPLET_NO_PIDFD", no_pidfd)
            .stdin(std::process::Stdio::null())
            .output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "the child (LOOPLET_NO_PIDFD={no_pidfd}) failed ({}):\n{stdout}\n{stderr}",
            output.status
        );
        for call in [
            "Executor::try_new",
            "TcpStream::connect",
            "UnixStream::pair",
            "Signals::new",
            "fs::read",
            "Command::spawn",
            "Command::spawn (inherited stdio)",
        ] {
            assert!(
                stdout.contains(&format!("{call} succeeds with")),
                "the child's sweep of {call} did not finish:\n{stdout}"
            );
        }
    }
    Ok(())
}

/// Awaits `fut`, failing the test with `what` if it takes longer than [`PATIENCE`].
async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match looplet::timeout(PATIENCE, fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: not done after {PATIENCE:?}"),
    }
}

/// Descriptors held to use the process's limit up.
struct Fillers(Vec<File>);

impl Fillers {
    /// Opens descriptors until none is left; returns how many that took.
    fn fill(&mut self) -> usize {
        let mut opened = 0;
        loop {
            let next = match self.0.first() {
                Some(file) => file.try_clone(),
                None => File::open("/dev/null"),
            };
            match next {
                Ok(file) => self.0.push(file),
                Err(err) => {
                    assert_eq!(err.raw_os_error(), Some(EMFILE), "filling: {err}");
                    return opened;
                }
            }
            opened += 1;
        }
    }

    /// Leaves exactly `k` descriptors free.
    fn leave_free(&mut self, k: usize) {
        self.fill();
        assert!(self.0.len() >= k, "not enough fillers to free {k}");
        self.0.truncate(self.0.len() - k);
    }
}

/// What a sweep learnt: how many free descriptors the call needed.
struct Sweep {
    call: &'static str,
    needs: usize,
}

/// Tries `call` with k = 0, 1, 2, ... descriptors free, until it succeeds; checks that each
/// failure is `EMFILE` and that no try, failed or successful (its result dropped), leaves a
/// descriptor behind.
async fn sweep<T, F: Future<Output = io::Result<T>>>(
    call: &'static str,
    fillers: &mut Fillers,
    mut attempt: impl FnMut() -> F,
) -> Sweep {
    for k in 0..=MOST {
        fillers.leave_free(k);
        let result = attempt().await;
        let succeeded = match &result {
            Ok(_) => true,
            Err(err) => {
                assert_eq!(
                    err.raw_os_error(),
                    Some(EMFILE),
                    "{call} with {k} descriptors free: {err} (expected EMFILE)"
                );
                false
            }
        };
        drop(result);
        // Leaked descriptors would be missing here; let dropped sockets' tasks run first.
        looplet::yield_now().await;
        let free = fillers.fill();
        assert_eq!(
            free,
            k,
            "{call} with {k} descriptors free left {} of them open",
            k.saturating_sub(free)
        );
        if succeeded {
            println!("{call} succeeds with {k} descriptors free");
            return Sweep { call, needs: k };
        }
    }
    panic!("{call} still fails with {MOST} descriptors free")
}

/// Our children that have not been reaped, from every thread of ours.
fn children() -> usize {
    let mut count = 0;
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let path = task.expect("a task").path().join("children");
        let mut list = String::new();
        if let Ok(mut file) = File::open(path) {
            file.read_to_string(&mut list).ok();
        }
        count += list.split_whitespace().count();
    }
    count
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn in_child() -> io::Result<()> {
    // Warm up what allocates descriptors once per process (a first loop, a first spawn).
    looplet::block_on(async { Command::new("true").status().await })?;
    let baseline = open_fds();
    let Rlimit { maximum, .. } = getrlimit(Resource::Nofile);
    let low = (baseline + 64) as u64;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(low),
            maximum,
        },
    )?;
    println!("descriptor limit {low}, {baseline} open");

    let ex = Executor::try_new()?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut fillers = Fillers(Vec::new());
    ex.block_on(async {
        let sweeps = [
            sweep("Executor::try_new", &mut fillers, || async {
                Executor::try_new()
            })
            .await,
            // Each successful connect stays queued on the listener, never accepted.
            sweep("TcpStream::connect", &mut fillers, || {
                TcpStream::connect(addr)
            })
            .await,
            sweep("UnixStream::pair", &mut fillers, || async {
                UnixStream::pair()
            })
            .await,
            sweep("Signals::new", &mut fillers, || async {
                looplet::signal::Signals::new([looplet::signal::SIGUSR1])
            })
            .await,
            sweep("fs::read", &mut fillers, || looplet::fs::read("/dev/null")).await,
            sweep("Command::spawn", &mut fillers, || async {
                // Three pipes, then the wait: a failed pidfd falls back to SIGCHLD, whose
                // listener needs descriptors too.
                let mut child = Command::new("true")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()?;
                bounded("a child's wait at the limit", child.wait()).await
            })
            .await,
            sweep("Command::spawn (inherited stdio)", &mut fillers, || async {
                // std's spawn needs no descriptor here; the pidfd (or the SIGCHLD listener it
                // falls back to) does, and a failed wait must still reap the child.
                let mut child = Command::new("true").kill_on_drop(true).spawn()?;
                bounded("a child's wait at the limit", child.wait()).await
            })
            .await,
        ];
        for Sweep { call, needs } in &sweeps {
            assert!(*needs >= 1, "{call} needs no descriptor?");
        }

        // Still at the limit, the loop itself goes on: timers, tasks, a wake from a thread.
        fillers.leave_free(0);
        looplet::sleep(Duration::from_millis(1)).await;
        assert_eq!(looplet::spawn(async { 7 }).await, 7);
        let (tx, rx) = looplet::sync::oneshot::channel::<u8>();
        drop(tx);
        assert!(rx.await.is_err());
        assert_eq!(bounded("unblock", looplet::unblock(|| 8)).await, 8);
    });

    // Descriptors free up: everything works again, and nothing was left behind.
    drop(fillers);
    drop(listener); // with the sweep's one connection still queued on it
    ex.block_on(async {
        let (mut a, mut b) = UnixStream::pair()?;
        a.write_all(b"pair").await?;
        let mut got = [0u8; 4];
        bounded("a read on a pair", b.read_exact(&mut got)).await?;
        assert_eq!(&got, b"pair");

        let listener = looplet::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut conn = bounded("connect", TcpStream::connect(addr)).await?;
        let (mut served, _) = bounded("accept", listener.accept()).await?;
        conn.write_all(b"ping").await?;
        conn.shutdown(Shutdown::Write)?;
        let mut ping = String::new();
        bounded("the server's read", served.read_to_string(&mut ping)).await?;
        served.write_all(ping.to_uppercase().as_bytes()).await?;
        drop(served);
        let mut pong = String::new();
        bounded("the client's read", conn.read_to_string(&mut pong)).await?;
        assert_eq!(pong, "PING");

        let output = bounded("echo", Command::new("echo").arg("back").output()).await?;
        assert_eq!(output.stdout, b"back\n");
        io::Result::Ok(())
    })?;
    drop(ex);
    assert_eq!(Executor::try_new()?.block_on(async { 9 }), 9);
    // Every child of the sweep has been reaped (by its waiter, a reaper or the orphan list).
    let deadline = std::time::Instant::now() + PATIENCE;
    while children() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} children were never reaped",
            children()
        );
        looplet::block_on(async { Command::new("true").status().await })?;
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(open_fds(), baseline, "descriptors leaked");
    io::stdout().flush()
}
