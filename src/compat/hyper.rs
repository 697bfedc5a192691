//! hyper on looplet: [`LoopletIo`], [`FuturesIo`], [`LoopletExecutor`] and [`LoopletTimer`],
//! what hyper-util's `TokioIo`, `TokioExecutor` and `TokioTimer` are for tokio (and
//! smol-hyper's types for smol).
//!
//! - **IO.** hyper reads and writes through its own `rt::Read` and `rt::Write`.
//!   [`LoopletIo`] gives them to looplet's [`TcpStream`](crate::net::TcpStream),
//!   [`UnixStream`](crate::net::UnixStream) and [`Async<T>`](crate::io::Async), and reads
//!   straight into hyper's uninitialised buffer (one `read(2)`, nothing zeroed first).
//!   [`FuturesIo`] wraps any futures-io stream (a TLS stream from futures-rustls, say); since
//!   futures-io reads only into initialised memory, it zeroes the part of hyper's buffer it
//!   reads into.
//! - **Tasks.** [`LoopletExecutor`] spawns what hyper hands it (HTTP/2's per-stream tasks, a
//!   client connection's background task) on the running loop with [`spawn`](crate::spawn).
//!   The futures need not be `Send`: hyper's HTTP/2 works with `!Send` bodies on it.
//! - **Time.** [`LoopletTimer`] gives hyper looplet's timers, for `header_read_timeout`,
//!   keep-alive timeouts and HTTP/2 pings. It reads [`time::now`](crate::time::now), so
//!   hyper's timeouts follow a paused clock in tests.
//!
//! Not here: the other direction, hyper's `rt::Read`/`rt::Write` as futures-io (what a
//! `hyper::upgrade::Upgraded` connection needs to run a websocket or a `CONNECT` tunnel
//! through a futures-io crate). hyper-util's `TokioIo` wraps both ways; smol-hyper does not
//! either.
//!
//! Everything here runs on the loop's thread: hyper's connection futures are polled by a
//! looplet task. hyper asks that its timers' futures be `Send + Sync`; looplet's timers are
//! not (they point into their loop's timer wheel), so [`LoopletSleep`] is sent and shared in
//! name only: it checks, whenever it is polled, reset or dropped, that this happens on the
//! thread that made it, and panics otherwise (see its docs for the argument).
//!
//! # Examples
//!
//! A hello-world server (with hyper's `server` and `http1` features, and `http-body-util`):
//!
//! ```ignore
//! use looplet::compat::hyper::{LoopletIo, LoopletTimer};
//! use hyper::{server::conn::http1, service::service_fn, Response};
//! use http_body_util::Full;
//!
//! looplet::block_on(async {
//!     let listener = looplet::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         looplet::spawn(async move {
//!             let service = service_fn(|_req| async {
//!                 Ok::<_, std::convert::Infallible>(Response::new(Full::from("hello\n")))
//!             });
//!             let _ = http1::Builder::new()
//!                 .timer(LoopletTimer::new())
//!                 .serve_connection(LoopletIo::new(stream), service)
//!                 .await;
//!         })
//!         .detach();
//!     }
//! })
//! ```
//!
//! The `compat/hyper-tests` workspace member has this as the `http_server` example, an
//! `http_client`, and the tests: keep-alive, many connections, a 1 MiB body echoed, a `!Send`
//! body fed from a channel, `header_read_timeout`, HTTP/2 multiplexing, clients that vanish
//! mid-request (`cargo test -p looplet-hyper-tests`).
//!
//! # Crates that want `Send`
//!
//! hyper itself does not: its connections, bodies and services may be `!Send` when driven by
//! a single-threaded executor, and that is how they run here. Crates built to move work
//! between threads do: hyper-util's pooled legacy `Client` spawns its connections with a
//! `Send` executor bound, and axum's `Router` wants `Send` handlers and services. Those cannot
//! use looplet's `!Send` sockets inside a `Send` future. The pattern that works is to keep
//! the `!Send` part in a looplet task and hand over only its result: a [`Task<T>`](crate::Task)
//! is `Send` when `T` is, so an axum handler can `looplet::spawn` the work that touches
//! looplet's sockets or `Rc` state and `.await` the task. The `axum_server` example of
//! `compat/hyper-tests` serves an axum `Router` this way (through hyper-util's
//! `TowerToHyperService`; axum's own `serve` needs tokio).

use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::mem::{ManuallyDrop, MaybeUninit};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};
use hyper::rt::{Executor, ReadBufCursor, Sleep, Timer};

pub(crate) mod sealed {
    use std::io;
    use std::mem::MaybeUninit;
    use std::task::{Context, Poll};

    /// A looplet stream that can read into uninitialised memory.
    pub trait ReadUninit {
        /// Reads into `buf`, returning how many bytes at its front are now initialised.
        fn poll_read_uninit(
            &self,
            cx: &mut Context<'_>,
            buf: &mut [MaybeUninit<u8>],
        ) -> Poll<io::Result<usize>>;
    }
}

/// A looplet stream that [`LoopletIo`] can hand to hyper: [`TcpStream`](crate::net::TcpStream),
/// [`UnixStream`](crate::net::UnixStream) and [`Async<T>`](crate::io::Async) (sealed).
///
/// # Examples
///
/// ```
/// use looplet::compat::hyper::{LoopletIo, LoopletStream};
///
/// fn for_hyper<S: LoopletStream>(stream: S) -> LoopletIo<S> {
///     LoopletIo::new(stream)
/// }
/// let (a, _b) = looplet::net::UnixStream::pair()?;
/// let _io = for_hyper(a);
/// # std::io::Result::Ok(())
/// ```
pub trait LoopletStream: sealed::ReadUninit + AsyncWrite + Unpin {}

impl<T: sealed::ReadUninit + AsyncWrite + Unpin> LoopletStream for T {}

impl<T: std::os::fd::AsFd> sealed::ReadUninit for crate::io::Async<T>
where
    for<'a> &'a T: io::Read,
{
    fn poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        crate::io::Async::poll_read_uninit(self, cx, buf)
    }
}

/// What [`LoopletIo`] and [`FuturesIo`] share: wrapping, the accessors, `Debug`. `$what` says
/// what they wrap in the docs; `$make` makes one in the examples and `$inner` is its type.
macro_rules! io_wrapper {
    ($wrapper:ident, $what:literal, $make:literal, $inner:literal) => {
        impl<T> $wrapper<T> {
            #[doc = concat!("Wraps ", $what, ".")]
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let io = looplet::compat::hyper::", stringify!($wrapper), "::new(", $make, ");")]
            #[doc = concat!("let _inner: ", $inner, " = io.into_inner();")]
            /// ```
            pub fn new(inner: T) -> $wrapper<T> {
                $wrapper { inner }
            }

            /// The stream.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let io = looplet::compat::hyper::", stringify!($wrapper), "::new(", $make, ");")]
            #[doc = concat!("let _inner: &", $inner, " = io.inner();")]
            /// ```
            pub fn inner(&self) -> &T {
                &self.inner
            }

            /// The stream, mutably.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let mut io = looplet::compat::hyper::", stringify!($wrapper), "::new(", $make, ");")]
            #[doc = concat!("let _inner: &mut ", $inner, " = io.inner_mut();")]
            /// ```
            pub fn inner_mut(&mut self) -> &mut T {
                &mut self.inner
            }

            /// Unwraps the stream.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let io = looplet::compat::hyper::", stringify!($wrapper), "::new(", $make, ");")]
            #[doc = concat!("let _inner: ", $inner, " = io.into_inner();")]
            /// ```
            pub fn into_inner(self) -> T {
                self.inner
            }
        }

        impl<T: fmt::Debug> fmt::Debug for $wrapper<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($wrapper)).field(&self.inner).finish()
            }
        }
    };
}

/// hyper's `rt::Write` on a wrapper, forwarded to the wrapped stream's futures-io
/// `AsyncWrite` (`poll_shutdown` is its `poll_close`); `$vectored` is what
/// `is_write_vectored` answers.
macro_rules! forward_write {
    ($wrapper:ident, $bound:path, $vectored:literal) => {
        impl<T: $bound + Unpin> hyper::rt::Write for $wrapper<T> {
            fn poll_write(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                $vectored
            }

            fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.inner).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<()>> {
                Pin::new(&mut self.inner).poll_close(cx)
            }
        }
    };
}

/// A looplet stream as hyper's `rt::Read` + `rt::Write`: hyper-util's `TokioIo`.
///
/// Reads go straight into hyper's buffer, uninitialised as it is (`read(2)` on TCP and Unix
/// streams and pipes; an `Async<T>` of another kind of fd zeroes up to 64 KiB of it first).
/// Writes are the stream's own, vectored included. `poll_shutdown` is the stream's
/// `poll_close`: on a looplet `TcpStream` or `UnixStream` it shuts the write side down (and
/// a peer already gone is not an error); on an `Async<T>` it only flushes, as
/// `Async::poll_close` does, so wrap std's `TcpStream` in a looplet one (`from_std`) to get
/// the FIN.
///
/// # Examples
///
/// ```
/// use looplet::compat::hyper::LoopletIo;
///
/// looplet::block_on(async {
///     let (a, _b) = looplet::net::UnixStream::pair()?;
///     let io = LoopletIo::new(a);
///     let _stream: &looplet::net::UnixStream = io.inner();
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct LoopletIo<T> {
    inner: T,
}

io_wrapper!(
    LoopletIo,
    "a looplet stream",
    "looplet::net::UnixStream::pair().unwrap().0",
    "looplet::net::UnixStream"
);

impl<T: LoopletStream> hyper::rt::Read for LoopletIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: `as_mut` asks that no initialised byte be de-initialised: the read writes
        // bytes into the slice (read(2), or zeroes and then a read), never uninitialised ones.
        let unfilled = unsafe { buf.as_mut() };
        let len = unfilled.len();
        let n = ready!(self.inner.poll_read_uninit(cx, unfilled))?;
        // SAFETY: `advance(n)` asks that the first `n` bytes be initialised: `n` is the count
        // the read reports as written at the front of the slice, never more than its length
        // (`poll_read_uninit` clamps what a `Read` impl claims; checked again here).
        unsafe { buf.advance(n.min(len)) };
        Poll::Ready(Ok(()))
    }
}

forward_write!(LoopletIo, LoopletStream, true);

/// Any futures-io stream as hyper's `rt::Read` + `rt::Write`: for a TLS stream, or any
/// stream that is not looplet's own.
///
/// futures-io reads only into initialised memory, so each read zeroes the part of hyper's
/// buffer it offers the stream (up to 64 KiB) first; [`LoopletIo`] avoids that for looplet's
/// streams.
///
/// # Examples
///
/// ```
/// use looplet::compat::hyper::FuturesIo;
///
/// let io = FuturesIo::new(futures_util::io::Cursor::new(Vec::<u8>::new()));
/// assert!(io.inner().get_ref().is_empty());
/// ```
pub struct FuturesIo<T> {
    inner: T,
}

io_wrapper!(
    FuturesIo,
    "a futures-io stream",
    "futures_util::io::Cursor::new(vec![1u8])",
    "futures_util::io::Cursor<Vec<u8>>"
);

impl<T: AsyncRead + Unpin> hyper::rt::Read for FuturesIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: as in `LoopletIo`'s: only zeroes, then the stream's bytes, are written.
        let unfilled = unsafe { buf.as_mut() };
        let bytes = crate::io::zeroed_front(unfilled);
        let len = bytes.len();
        let n = ready!(Pin::new(&mut self.inner).poll_read(cx, bytes))?;
        // A stream that claims more than it was given is broken; never advance past it.
        let n = n.min(len);
        // SAFETY: the first `n <= len` bytes are initialised (all `len` are).
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

// futures-io cannot say whether a stream writes vectored, and its default writes only the
// first buffer: hyper then flattens its buffers itself.
forward_write!(FuturesIo, AsyncWrite, false);

/// hyper's `rt::Executor` on looplet: spawns each future on the running loop with
/// [`spawn`](crate::spawn) and detaches it. hyper-util's `TokioExecutor`, without the `Send`
/// bound: HTTP/2's stream tasks may hold `!Send` bodies.
///
/// # Panics
///
/// Like [`spawn`](crate::spawn), when hyper hands it a future with no looplet loop running
/// on this thread (hyper spawns from inside the connection future, which runs on the loop).
///
/// # Examples
///
/// ```
/// use hyper::rt::Executor;
/// use looplet::compat::hyper::LoopletExecutor;
///
/// looplet::block_on(async {
///     let (tx, rx) = looplet::sync::oneshot::channel();
///     LoopletExecutor::new().execute(async move { tx.send(7).unwrap() });
///     assert_eq!(rx.await, Ok(7));
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct LoopletExecutor {
    _private: (),
}

impl LoopletExecutor {
    /// The executor.
    pub fn new() -> LoopletExecutor {
        LoopletExecutor { _private: () }
    }
}

impl<F> Executor<F> for LoopletExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    #[track_caller]
    fn execute(&self, future: F) {
        crate::spawn(future).detach();
    }
}

/// hyper's `rt::Timer` on looplet's timers: hyper-util's `TokioTimer`.
///
/// Its sleeps are [`LoopletSleep`]s, made on the loop's thread; `now()` is
/// [`time::now`](crate::time::now), the loop's clock, virtual while paused.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hyper::rt::Timer;
/// use looplet::compat::hyper::LoopletTimer;
///
/// looplet::block_on(async {
///     looplet::time::pause();
///     let start = looplet::time::now();
///     LoopletTimer::new().sleep(Duration::from_secs(30)).await;
///     assert_eq!(looplet::time::now() - start, Duration::from_secs(30));
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct LoopletTimer {
    _private: (),
}

impl LoopletTimer {
    /// The timer.
    pub fn new() -> LoopletTimer {
        LoopletTimer { _private: () }
    }
}

impl Timer for LoopletTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(LoopletSleep::new(crate::time::Timer::after(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(LoopletSleep::new(crate::time::Timer::at(deadline)))
    }

    fn now(&self) -> Instant {
        crate::time::now()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<LoopletSleep>() {
            Some(ours) => ours.get_mut().timer_mut().set_at(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

thread_local! {
    /// This thread's id, read without touching the `Thread` handle's reference count.
    static THREAD: ThreadId = thread::current().id();
}

fn this_thread() -> ThreadId {
    THREAD.with(|id| *id)
}

/// A looplet [`Timer`](crate::time::Timer) as hyper's `rt::Sleep`, which must be `Send +
/// Sync`: it may be sent and shared, but only used on the thread that made it.
///
/// Polling it or resetting it (through [`LoopletTimer`]) on another thread panics with a
/// message saying so. Dropped there, the timer inside is leaked rather than touched, and the
/// message is printed to stderr instead (a panic in a destructor can abort the process, in
/// a thread-local's destructor it always does). hyper polls, resets and drops its sleeps inside the connection future, on
/// the loop's thread, so this never happens when hyper is driven by a looplet task.
///
/// # Why `Send` and `Sync` are sound
///
/// The timer inside is `!Send` because it holds `Rc`/`Weak` pointers into its loop's timer
/// wheel and a `Cell`: touching those from two threads would race. Every path that touches
/// the timer is one of `poll`, [`LoopletTimer`]'s `reset` and `drop`, and each compares this
/// thread's [`ThreadId`] (unique for the life of the process, never reused) with the maker's
/// before it touches anything; on a mismatch it panics (or, in `drop`, leaks the timer). No
/// `&self` method reads the timer (`Debug` shows only the owning thread). So the `!Send`
/// state is only ever touched on one thread, whichever threads the value visits.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hyper::rt::Timer;
/// use looplet::compat::hyper::LoopletTimer;
///
/// looplet::block_on(async {
///     let sleep = LoopletTimer::new().sleep(Duration::from_millis(1));
///     // Made here, polled here: fine. Polled on another thread, it would panic.
///     sleep.await;
/// });
/// ```
pub struct LoopletSleep {
    timer: ManuallyDrop<crate::time::Timer>,
    owner: ThreadId,
}

// SAFETY: see "Why `Send` and `Sync` are sound" above: the `!Send` timer is only touched on
// `owner`, checked at every access.
unsafe impl Send for LoopletSleep {}
// SAFETY: as for `Send`; no `&self` method reads the timer.
unsafe impl Sync for LoopletSleep {}

impl LoopletSleep {
    fn new(timer: crate::time::Timer) -> LoopletSleep {
        LoopletSleep {
            timer: ManuallyDrop::new(timer),
            owner: this_thread(),
        }
    }

    #[track_caller]
    fn check_thread(&self, what: &str) {
        if this_thread() != self.owner {
            panic!(
                "looplet::compat::hyper: a LoopletSleep was {what} on a thread other than the \
                 one that made it (looplet's timers belong to their loop's thread; drive hyper \
                 from a looplet task)"
            );
        }
    }

    fn timer_mut(&mut self) -> &mut crate::time::Timer {
        self.check_thread("reset");
        &mut self.timer
    }
}

impl Future for LoopletSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.check_thread("polled");
        // `Timer` is `Unpin`.
        Pin::new(&mut *self.timer).poll(cx).map(|_| ())
    }
}

impl Sleep for LoopletSleep {}

impl Drop for LoopletSleep {
    fn drop(&mut self) {
        if this_thread() == self.owner {
            // SAFETY: dropped once, here, and never used again.
            unsafe { ManuallyDrop::drop(&mut self.timer) };
            return;
        }
        // Not ours to touch: leak the timer (its loop fires and forgets it, or drops it with
        // the wheel: the wheel holds keys, not pointers into the timer). No panic: this may
        // run in a thread-local's destructor, where a panic aborts.
        eprintln!(
            "looplet::compat::hyper: a LoopletSleep was dropped on a thread other than the one \
             that made it; its timer is leaked (drive hyper from a looplet task)"
        );
    }
}

impl fmt::Debug for LoopletSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopletSleep")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polled on another thread, a sleep panics with its message; dropped there, it leaks
    /// its timer without touching it, and does not panic.
    #[test]
    fn a_sleep_used_on_another_thread_panics_loudly() {
        crate::block_on(async {
            let sleep = LoopletTimer::new().sleep(Duration::from_secs(3600));
            let message = thread::spawn(move || {
                let mut sleep = sleep;
                let waker = std::task::Waker::noop();
                let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let _ = sleep.as_mut().poll(&mut Context::from_waker(waker));
                }));
                let polled = *polled.unwrap_err().downcast::<String>().unwrap();
                drop(sleep); // prints, leaks, does not panic
                polled
            })
            .join()
            .unwrap();
            assert!(message.contains("polled on a thread other"), "{message}");
            // The loop is unharmed: its own timers still fire.
            crate::sleep(Duration::from_millis(1)).await;
        });
    }

    /// `reset` moves a looplet sleep's deadline in place, and replaces a foreign one.
    #[test]
    fn reset_moves_the_deadline() {
        crate::block_on(async {
            crate::time::pause();
            let timer = LoopletTimer::new();
            let start = crate::time::now();
            let mut sleep = timer.sleep(Duration::from_secs(3600));
            timer.reset(&mut sleep, start + Duration::from_secs(5));
            sleep.await;
            assert_eq!(crate::time::now() - start, Duration::from_secs(5));
        });
    }
}
