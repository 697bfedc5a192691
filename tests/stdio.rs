//! `looplet::io::{stdin, stdout, stderr}` in a child copy of this test binary, fed and read by
//! the parent through pipes whose other ends the parent keeps, as a shell would: the child
//! echoes lines, and nobody's descriptor is left non-blocking.

use std::io::{self, BufRead, Read, Write};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use futures_util::io::{AsyncBufReadExt, BufReader};
use futures_util::{AsyncReadExt, AsyncWriteExt, StreamExt};
use rustix::fs::{OFlags, fcntl_getfl};

const CHILD_ENV: &str = "LOOPLET_STDIO_CHILD";

/// How long either side waits for the other, before it fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(20);

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn nonblocking(fd: impl AsFd) -> bool {
    fcntl_getfl(fd).unwrap().contains(OFlags::NONBLOCK)
}

/// Waits until the process has `fds` descriptors open again. The pool thread that woke a
/// loop last may hold its waker (and so the loop's epoll and eventfd) a moment after the
/// loop has gone.
fn wait_for_fds(fds: usize) {
    let start = Instant::now();
    while open_fds() != fds {
        assert!(
            start.elapsed() < PATIENCE,
            "stdio through the pool left a descriptor open"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// The child: a read given up on, two tasks waiting on stdin at once, a handle dropped
/// mid-stream, then lines echoed to stdout.
fn child() -> io::Result<()> {
    assert!(!nonblocking(io::stdin()) && !nonblocking(io::stdout()));
    let fds = open_fds();

    // A read given up on (no input yet: the parent waits for "ready") takes its waker with
    // it, so the loop it ran on closes its descriptors.
    let mut byte = [0; 1];
    let gave_up = looplet::block_on(looplet::timeout(Duration::from_millis(50), async {
        looplet::io::stdin().read(&mut byte).await
    }));
    assert!(
        gave_up.is_err(),
        "stdin had input before the parent sent any"
    );
    wait_for_fds(fds);
    eprintln!("ready");

    looplet::block_on(looplet::timeout(PATIENCE, async {
        // Two tasks, two handles, both waiting when the first bytes come: both must wake.
        let read_four = || {
            looplet::spawn(async {
                let mut buf = [0; 4];
                looplet::io::stdin().read_exact(&mut buf).await?;
                io::Result::Ok(buf)
            })
        };
        let (a, b) = (read_four(), read_four());
        let mut got = [a.await?, b.await?];
        got.sort();
        assert_eq!(got, [*b"abc\n", *b"def\n"]);

        // A handle dropped after a line loses nothing read ahead behind it.
        let mut out = looplet::io::stdout();
        {
            let mut stdin = looplet::io::stdin();
            let mut line = Vec::new();
            let mut byte = [0; 1];
            while line.last() != Some(&b'\n') {
                stdin.read_exact(&mut byte).await?;
                line.push(byte[0]);
            }
            out.write_all(b"echo: ").await?;
            out.write_all(&line).await?;
        }

        let mut lines = BufReader::new(looplet::io::stdin()).lines();
        while let Some(line) = lines.next().await {
            out.write_all(format!("echo: {}\n", line?).as_bytes())
                .await?;
        }
        {
            // Written through a handle dropped unflushed: the shared pipe still delivers it,
            // and the flush below, through another handle, waits for it.
            let mut dropped = looplet::io::stdout();
            dropped.write_all(b"echo: from a dropped handle\n").await?;
        }
        out.flush().await?;
        let mut err = looplet::io::stderr();
        err.write_all(b"child: stdin closed\n").await?;
        err.close().await // flushes; stderr stays open
    }))??;
    assert!(!nonblocking(io::stdin()), "stdin was left non-blocking");
    assert!(!nonblocking(io::stdout()), "stdout was left non-blocking");
    wait_for_fds(fds);
    Ok(())
}

#[test]
fn a_child_echoes_stdin_lines_to_stdout_and_leaves_the_fds_blocking() -> io::Result<()> {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child();
    }
    // The parent keeps the child's end of each pipe open too, as a shell shares its terminal:
    // the O_NONBLOCK flag lives in that shared open file, so the parent can see it.
    let (stdin_r, mut stdin_w) = io::pipe()?;
    let (mut stdout_r, stdout_w) = io::pipe()?;
    let (stderr_r, stderr_w) = io::pipe()?;
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "a_child_echoes_stdin_lines_to_stdout_and_leaves_the_fds_blocking",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::from(stdin_r.try_clone()?))
        .stdout(Stdio::from(stdout_w.try_clone()?))
        .stderr(Stdio::from(stderr_w.try_clone()?))
        .spawn()?;
    drop(stderr_w); // so that a child dying early ends the parent's reads

    // Nothing for stdin until the child has given up on a first read.
    let mut stderr_lines = io::BufReader::new(stderr_r);
    let mut ready = String::new();
    stderr_lines.read_line(&mut ready)?;
    assert_eq!(ready, "ready\n", "the child's first words");
    stdin_w.write_all(b"abc\n")?;
    // Give both child tasks time to wait on stdin (if they have not, the test is weaker,
    // not wrong).
    thread::sleep(Duration::from_millis(200));
    stdin_w.write_all(b"def\nfirst line\nsecond\nthird, no newline")?;
    drop(stdin_w);

    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > PATIENCE {
            child.kill().ok();
            child.wait()?;
            panic!("the child did not finish");
        }
        thread::sleep(Duration::from_millis(5));
    };
    assert!(
        !nonblocking(&stdin_r),
        "the child left the shared stdin non-blocking"
    );
    assert!(
        !nonblocking(&stdout_w),
        "the child left the shared stdout non-blocking"
    );
    drop((stdin_r, stdout_w));

    let (mut out, mut err) = (String::new(), String::new());
    stdout_r.read_to_string(&mut out)?;
    stderr_lines.read_to_string(&mut err)?;
    assert!(status.success(), "the child failed: {status}\n{out}\n{err}");
    // The test harness prints its own words too, some on the same line as the child's.
    let echoed: Vec<&str> = out
        .lines()
        .filter_map(|l| l.find("echo: ").map(|i| &l[i..]))
        .collect();
    assert_eq!(
        echoed,
        [
            "echo: first line",
            "echo: second",
            "echo: third, no newline",
            "echo: from a dropped handle",
        ]
    );
    assert!(err.contains("child: stdin closed"), "{err}");
    Ok(())
}

const BROKEN_PIPE_CHILD_ENV: &str = "LOOPLET_STDIO_BROKEN_PIPE_CHILD";

/// Points descriptor 1 (`"stdout"`) or 2 at a pipe nobody reads, runs `write_all` through
/// looplet's handle until it fails, and puts the descriptor back.
fn write_all_to_a_broken_pipe(stream: &str) -> io::Result<io::Error> {
    let (reader, writer) = io::pipe()?;
    drop(reader); // as `tool | head` after head has exited
    let chunk = vec![b'x'; 64 * 1024];
    let err = if stream == "stdout" {
        let saved = rustix::io::dup(io::stdout())?;
        rustix::stdio::dup2_stdout(&writer)?;
        let mut out = looplet::io::stdout();
        let err = looplet::block_on(async {
            loop {
                if let Err(err) = out.write_all(&chunk).await {
                    break err;
                }
            }
        });
        rustix::stdio::dup2_stdout(&saved)?;
        err
    } else {
        let saved = rustix::io::dup(io::stderr())?;
        rustix::stdio::dup2_stderr(&writer)?;
        let mut out = looplet::io::stderr();
        let err = looplet::block_on(async {
            loop {
                if let Err(err) = out.write_all(&chunk).await {
                    break err;
                }
            }
        });
        rustix::stdio::dup2_stderr(&saved)?;
        err
    };
    Ok(err)
}

/// Once the pool's write(2) has failed with `EPIPE`, its job ends and closes the in-memory
/// pipe; `write_all` must then report `BrokenPipe`, not `WriteZero` (the `Ok(0)` of the
/// closed pipe). In a child, since the stream's state is the whole process's.
#[test]
fn write_all_to_a_closed_stdout_or_stderr_reports_broken_pipe() -> io::Result<()> {
    if let Some(stream) = std::env::var_os(BROKEN_PIPE_CHILD_ENV) {
        let err = write_all_to_a_broken_pipe(stream.to_str().unwrap())?;
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{stream:?}: {err:?}");
        return Ok(());
    }
    for stream in ["stdout", "stderr"] {
        let output = Command::new(std::env::current_exe()?)
            .args([
                "--exact",
                "write_all_to_a_closed_stdout_or_stderr_reports_broken_pipe",
                "--test-threads",
                "1",
            ])
            .env(BROKEN_PIPE_CHILD_ENV, stream)
            .stdin(Stdio::null())
            .output()?;
        assert!(
            output.status.success(),
            "{stream}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
