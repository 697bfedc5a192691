//! The workloads, each written once, generic over the `Runtime` trait.

use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use crate::runtimes::Runtime;

// ------------------------------------------------------------------------------------------
// The workloads, written once
// ------------------------------------------------------------------------------------------

fn ns_per(elapsed: Duration, ops: usize) -> f64 {
    elapsed.as_nanos() as f64 / ops as f64
}

/// spawn: `n` trivial tasks spawned from inside the loop, every handle awaited.
pub(crate) async fn spawn_many<R: Runtime>(n: usize) -> f64 {
    let mut handles = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        handles.push(R::spawn(async move { i }));
    }
    let mut sum = 0;
    for h in handles {
        sum += h.await;
    }
    let elapsed = start.elapsed();
    assert_eq!(sum, n * (n - 1) / 2);
    ns_per(elapsed, n)
}

/// taskgroup: `n` trivial tasks spawned into one task set from inside the loop, every output
/// taken in completion order: the `spawn` workload through a group.
pub(crate) async fn taskgroup<R: Runtime>(n: usize) -> f64 {
    let mut group = R::group::<usize>();
    let start = Instant::now();
    for i in 0..n {
        R::group_spawn(&mut group, async move { i });
    }
    let mut sum = 0;
    let mut count = 0;
    while let Some(i) = R::group_next(&mut group).await {
        sum += i;
        count += 1;
    }
    let elapsed = start.elapsed();
    assert_eq!((count, sum), (n, n * (n - 1) / 2));
    ns_per(elapsed, n)
}

/// yield: `tasks` tasks each yield `yields` times.
pub(crate) async fn yield_many<R: Runtime>(tasks: usize, yields: usize) -> f64 {
    let mut handles = Vec::with_capacity(tasks);
    let start = Instant::now();
    for _ in 0..tasks {
        handles.push(R::spawn(async move {
            for _ in 0..yields {
                R::yield_now().await;
            }
        }));
    }
    for h in handles {
        h.await;
    }
    ns_per(start.elapsed(), tasks * yields)
}

/// pingpong: two tasks bounce a u64 over two capacity-1 channels, `trips` round trips.
pub(crate) async fn pingpong<R: Runtime>(trips: usize) -> f64 {
    let (ping_tx, mut ping_rx) = R::channel::<u64>(1);
    let (pong_tx, mut pong_rx) = R::channel::<u64>(1);
    let start = Instant::now();
    let ponger = R::spawn(async move {
        while let Some(v) = R::recv(&mut ping_rx).await {
            if !R::send(&pong_tx, v + 1).await {
                break;
            }
        }
    });
    let pinger = R::spawn(async move {
        let mut v = 0u64;
        for _ in 0..trips {
            assert!(R::send(&ping_tx, v).await);
            v = R::recv(&mut pong_rx).await.expect("ponger gone");
        }
        v
    });
    let v = pinger.await;
    ponger.await;
    let elapsed = start.elapsed();
    assert_eq!(v, trips as u64);
    ns_per(elapsed, trips)
}

/// A tiny xorshift64 so every runtime sleeps the same durations.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

const TIMERS_SPAN: Duration = Duration::from_millis(100);

/// timers: `n` tasks each sleep a random 0..=100 ms (task 0 exactly 100 ms); returns the ns of
/// overhead per timer beyond the 100 ms.
pub(crate) async fn timers<R: Runtime>(n: usize) -> f64 {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let span_us = TIMERS_SPAN.as_micros() as u64;
    let durations: Vec<Duration> = (0..n)
        .map(|i| {
            let us = if i == 0 {
                span_us
            } else {
                rng.next() % (span_us + 1)
            };
            Duration::from_micros(us)
        })
        .collect();
    let mut handles = Vec::with_capacity(n);
    let start = Instant::now();
    for d in durations {
        handles.push(R::spawn(R::sleep(d)));
    }
    for h in handles {
        h.await;
    }
    let elapsed = start.elapsed();
    (elapsed.as_nanos() as f64 - TIMERS_SPAN.as_nanos() as f64) / n as f64
}

/// timeouts: `n` sequential `timeout(1 s, f)` where `f` is pending once, then ready, so the
/// timer is armed and then cancelled.
pub(crate) async fn timeouts<R: Runtime>(n: usize) -> f64 {
    R::spawn(async move {
        let start = Instant::now();
        for _ in 0..n {
            let out = R::timeout(Duration::from_secs(1), R::yield_now()).await;
            assert!(out.is_some(), "a 1 s timeout fired");
        }
        ns_per(start.elapsed(), n)
    })
    .await
}

pub(crate) const LATENESS_SLEEPS: [Duration; 3] = [
    Duration::from_micros(100),
    Duration::from_millis(1),
    Duration::from_millis(10),
];

/// lateness: sequential `sleep(d)`, `samples` times per d; µs late for each.
pub(crate) async fn lateness<R: Runtime>(samples: usize) -> [Vec<f64>; 3] {
    R::spawn(async move {
        let mut out: [Vec<f64>; 3] = Default::default();
        for (i, d) in LATENESS_SLEEPS.into_iter().enumerate() {
            for _ in 0..samples {
                let start = Instant::now();
                R::sleep(d).await;
                let late = start.elapsed().saturating_sub(d);
                out[i].push(late.as_nanos() as f64 / 1e3);
            }
        }
        out
    })
    .await
}

/// memory (run in a fresh child process): RSS growth per task for `n` tasks parked on a
/// one-hour sleep.
pub(crate) fn memory_child<R: Runtime>(n: usize) -> f64 {
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    R::block_on(async move {
        // Let the runtime set up its timer machinery before the baseline.
        R::sleep(Duration::from_millis(1)).await;
        let before = rss_bytes();
        for _ in 0..n {
            R::spawn_detached(async {
                STARTED.fetch_add(1, Ordering::Relaxed);
                // Polled right after the increment, in the same poll: the timer is armed.
                R::sleep(Duration::from_secs(3600)).await;
            });
        }
        while STARTED.load(Ordering::Relaxed) < n {
            R::yield_now().await;
        }
        let after = rss_bytes();
        (after as f64 - before as f64) / n as f64
    })
}

fn rss_bytes() -> u64 {
    // Resident pages are the second field of /proc/self/statm; 4 KiB pages on x86-64 Linux.
    const PAGE: u64 = 4096;
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let resident: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("statm resident field");
    resident * PAGE
}

// --- echo --------------------------------------------------------------------------------

pub(crate) const ECHO_MSG: usize = 64;
/// Any one round (a message on every connection, every reply read) slower than this aborts.
const ECHO_ROUND_LIMIT: Duration = Duration::from_secs(10);

/// Set by the client thread when it is done (however it ended); awaited by the server loop.
#[derive(Default)]
struct Done {
    flag: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Done {
    fn set(&self) {
        self.flag.store(true, Ordering::Release);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }
}

/// A runtime-agnostic future for [`Done`]: a cross-thread wake, which every runtime supports.
struct DoneWait(Arc<Done>);

impl Future for DoneWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.flag.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.0.flag.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Calls `Done::set` when dropped, so the server stops even if the client panics.
struct SetOnDrop(Arc<Done>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

async fn echo_conn<R: Runtime>(mut stream: R::Stream) {
    // The seeds' `conn.recv(1024)`: larger than a message, so a read that comes back short
    // tells an edge-triggered runtime that the socket is drained.
    let mut buf = [0u8; 1024];
    loop {
        match R::read(&mut stream, &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if R::write_all(&mut stream, &buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn echo_accept_loop<R: Runtime>(listener: R::Listener) {
    loop {
        match R::accept(&listener).await {
            Ok(stream) => R::spawn_detached(echo_conn::<R>(stream)),
            Err(e) => {
                eprintln!("echo ({}): accept failed: {e}", R::NAME);
                return;
            }
        }
    }
}

/// The byte `j` of message `round` on connection `conn`.
fn echo_byte(conn: usize, round: usize, j: usize) -> u8 {
    (conn.wrapping_mul(131) ^ round.wrapping_mul(17) ^ j.wrapping_mul(7)) as u8
}

/// The client: plain blocking std sockets on its own thread, the same for every runtime.
/// Returns the time from the first message to the last reply.
fn echo_client(
    addr: mpsc::Receiver<SocketAddr>,
    conns: usize,
    rounds: usize,
) -> Result<Duration, String> {
    let addr = addr
        .recv_timeout(Duration::from_secs(30))
        .map_err(|e| format!("no server address: {e}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("refusing to talk to non-loopback {addr}"));
    }
    let io_err = |what: &str, e: io::Error| format!("{what}: {e}");
    let mut streams = Vec::with_capacity(conns);
    for _ in 0..conns {
        let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .map_err(|e| io_err("connect", e))?;
        s.set_nodelay(true).map_err(|e| io_err("nodelay", e))?;
        s.set_read_timeout(Some(ECHO_ROUND_LIMIT))
            .map_err(|e| io_err("read timeout", e))?;
        s.set_write_timeout(Some(ECHO_ROUND_LIMIT))
            .map_err(|e| io_err("write timeout", e))?;
        streams.push(s);
    }
    let mut msg = [0u8; ECHO_MSG];
    let mut reply = [0u8; ECHO_MSG];
    let start = Instant::now();
    for round in 0..rounds {
        let round_start = Instant::now();
        for (c, s) in streams.iter_mut().enumerate() {
            for (j, b) in msg.iter_mut().enumerate() {
                *b = echo_byte(c, round, j);
            }
            s.write_all(&msg)
                .map_err(|e| io_err(&format!("write (round {round}, conn {c})"), e))?;
        }
        for (c, s) in streams.iter_mut().enumerate() {
            s.read_exact(&mut reply)
                .map_err(|e| io_err(&format!("read (round {round}, conn {c})"), e))?;
            for (j, &b) in reply.iter().enumerate() {
                if b != echo_byte(c, round, j) {
                    return Err(format!("wrong byte {j} in round {round} on conn {c}"));
                }
            }
        }
        if round_start.elapsed() > ECHO_ROUND_LIMIT {
            return Err(format!("round {round} took over {ECHO_ROUND_LIMIT:?}"));
        }
    }
    Ok(start.elapsed())
}

/// echo: `conns` connections x `rounds` messages; returns messages per second.
pub(crate) fn echo<R: Runtime>(conns: usize, rounds: usize) -> f64 {
    let (addr_tx, addr_rx) = mpsc::channel();
    let done = Arc::new(Done::default());
    let client = {
        let done = SetOnDrop(done.clone());
        thread::Builder::new()
            .name("echo-client".into())
            .spawn(move || {
                let _done = done;
                echo_client(addr_rx, conns, rounds)
            })
            .expect("spawn the echo client thread")
    };
    R::block_on(async move {
        let listener = R::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind 127.0.0.1:0");
        let addr = R::local_addr(&listener).expect("local_addr");
        // If the client is already gone, `DoneWait` below is ready at once.
        let _ = addr_tx.send(addr);
        let server = R::spawn(echo_accept_loop::<R>(listener));
        DoneWait(done).await;
        // The client closed its sockets; everything left is dropped with the runtime.
        drop(server);
    });
    match client.join().expect("echo client panicked") {
        Ok(elapsed) => (conns * rounds) as f64 / elapsed.as_secs_f64(),
        Err(e) => panic!("echo ({}): {e}", R::NAME),
    }
}

// --- sync primitives ---------------------------------------------------------------------

/// mutex: `tasks` tasks each lock a shared mutex `rounds` times, holding it across a yield, so
/// every other task is waiting and each unlock hands the lock to the next in line.
pub(crate) async fn mutex_contended<R: Runtime>(tasks: usize, rounds: usize) -> f64 {
    let mutex = std::rc::Rc::new(R::mutex(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let mutex = mutex.clone();
            R::spawn(async move {
                for _ in 0..rounds {
                    let mut guard = R::lock(&mutex).await;
                    *guard += 1;
                    R::yield_now().await;
                    drop(guard);
                }
            })
        })
        .collect();
    for h in handles {
        h.await;
    }
    let elapsed = start.elapsed();
    assert_eq!(*R::lock(&mutex).await, (tasks * rounds) as u64);
    ns_per(elapsed, tasks * rounds)
}

/// semaphore: `tasks` tasks share `permits` permits, each acquiring one `rounds` times and
/// holding it across a yield: most acquires wait, and each release serves the next in line.
pub(crate) async fn semaphore_contended<R: Runtime>(
    tasks: usize,
    permits: usize,
    rounds: usize,
) -> f64 {
    let semaphore = std::rc::Rc::new(R::semaphore(permits));
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let semaphore = semaphore.clone();
            R::spawn(async move {
                for _ in 0..rounds {
                    let permit = R::acquire(&semaphore).await;
                    R::yield_now().await;
                    drop(permit);
                }
            })
        })
        .collect();
    for h in handles {
        h.await;
    }
    ns_per(start.elapsed(), tasks * rounds)
}

/// oneshot: `n` times create a one-value channel, send on it and await the receiver.
pub(crate) async fn oneshot_round_trips<R: Runtime>(n: usize) -> f64 {
    R::spawn(async move {
        let start = Instant::now();
        let mut sum = 0;
        for i in 0..n {
            let (tx, rx) = R::oneshot();
            assert!(R::oneshot_send(tx, i));
            sum += R::oneshot_recv(rx).await.expect("sent");
        }
        let elapsed = start.elapsed();
        assert_eq!(sum, n * (n - 1) / 2);
        ns_per(elapsed, n)
    })
    .await
}

/// notify: two tasks take turns through two notifications, `trips` round trips (two wakes
/// each).
pub(crate) async fn notify_pingpong<R: Runtime>(trips: usize) -> f64 {
    let ping = std::rc::Rc::new(R::notify());
    let pong = std::rc::Rc::new(R::notify());
    let start = Instant::now();
    let ponger = {
        let (ping, pong) = (ping.clone(), pong.clone());
        R::spawn(async move {
            for _ in 0..trips {
                R::notified(&ping).await;
                R::notify_one(&pong);
            }
        })
    };
    let pinger = R::spawn(async move {
        for _ in 0..trips {
            R::notify_one(&ping);
            R::notified(&pong).await;
        }
    });
    pinger.await;
    ponger.await;
    ns_per(start.elapsed(), trips)
}
