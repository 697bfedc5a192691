//! The process's stdin, stdout and stderr, through the blocking pool.
//!
//! The descriptors 0, 1 and 2 are usually shared with a parent shell (or whoever started the
//! process), and their `O_NONBLOCK` flag lives in the open file, not in the process: setting
//! it, as registering them with epoll would need, would break the shell's own reads after
//! the process exits. So they are never registered and their flags never touched: a pool
//! thread does the blocking `read(2)`s and `write(2)`s, through std's own handles, and bytes
//! move between it and the loop through an in-memory pipe (the
//! [`blocking`](https://docs.rs/blocking) crate's `Unblock`, smol's way).
//!
//! Each stream has one such pipe for the whole process, shared by every handle to it, so
//! dropping a handle loses nothing: input read ahead waits for the next [`stdin`] handle, and
//! output keeps flowing to the descriptor.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use ::blocking::Unblock;
use futures_io::{AsyncRead, AsyncWrite};

use crate::blocking::poll_write_unblock;

/// How many bytes may wait between the loop and a stream's pool thread: how far stdin reads
/// ahead of its readers, and how far a writer may get ahead of the terminal before it waits.
///
/// 64 KiB is a pipe's capacity on Linux: enough to write a screenful without waiting, while
/// read-ahead takes little more from stdin than a `BufReader` would.
const PIPE_CAPACITY: usize = 64 * 1024;

static STDIN: LazyLock<Stream<io::Stdin>> = LazyLock::new(|| Stream::new(io::stdin()));
static STDOUT: LazyLock<Stream<io::Stdout>> = LazyLock::new(|| Stream::new(io::stdout()));
static STDERR: LazyLock<Stream<io::Stderr>> = LazyLock::new(|| Stream::new(io::stderr()));

/// Names each handle, so that it can take its waker back out of its stream's waiters.
fn next_handle() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One of the process's streams, shared by all of its handles, on any thread.
struct Stream<T> {
    unblock: Mutex<Unblock<T>>,
    /// The tasks waiting on the stream.
    waiters: Arc<Waiters>,
    /// The waker the `Unblock` is polled with: it wakes every task in `waiters`.
    waker: Waker,
}

impl<T> Stream<T> {
    fn new(io: T) -> Stream<T> {
        let waiters = Arc::new(Waiters::default());
        Stream {
            unblock: Mutex::new(Unblock::with_capacity(PIPE_CAPACITY, io)),
            waker: Waker::from(waiters.clone()),
            waiters,
        }
    }

    /// Runs one poll of the shared `Unblock` for handle `handle`, polled by `cx`.
    ///
    /// An `Unblock` keeps only the waker it was last polled with, so two tasks waiting on it
    /// through two handles would lose one wake. It is polled with the stream's own waker
    /// instead, which wakes every task waiting; the handle's waker joins the waiters before
    /// the poll, so no wake can slip between the poll and the joining. It leaves when the
    /// poll is ready, or when the handle is dropped: a waker left behind by a future dropped
    /// mid-read would keep its task, and its loop's descriptors, alive.
    fn poll<R>(
        &self,
        handle: u64,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut Unblock<T>>, &mut Context<'_>) -> Poll<R>,
    ) -> Poll<R> {
        self.waiters.join(handle, cx.waker());
        let poll = {
            let mut unblock = self.unblock.lock().unwrap_or_else(PoisonError::into_inner);
            op(
                Pin::new(&mut *unblock),
                &mut Context::from_waker(&self.waker),
            )
        };
        if poll.is_ready() {
            self.waiters.leave(handle);
        }
        poll
    }
}

/// The wakers of the handles waiting on a stream; waking it wakes them all, once.
#[derive(Default)]
struct Waiters(Mutex<Vec<(u64, Waker)>>);

impl Waiters {
    fn join(&self, handle: u64, waker: &Waker) {
        let mut wakers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match wakers.iter_mut().find(|(h, _)| *h == handle) {
            Some((_, w)) => w.clone_from(waker),
            None => wakers.push((handle, waker.clone())),
        }
    }

    fn leave(&self, handle: u64) {
        let mut wakers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = wakers.iter().position(|(h, _)| *h == handle) {
            wakers.swap_remove(i);
        }
    }
}

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        for (_, waker) in wakers {
            waker.wake();
        }
    }
}

/// The process's standard input, as futures' [`AsyncRead`].
///
/// A pool thread reads stdin ahead (up to 64 KiB) into a pipe that every `Stdin` handle
/// shares, so handles can come and go without losing input. Read it by lines through a
/// `futures_util::io::BufReader` and `AsyncBufReadExt::lines` (the `BufReader`'s own buffer
/// is the `BufReader`'s: keep one for as long as you read lines). The descriptor is never
/// made non-blocking.
///
/// Since it reads ahead, do not mix it with `std::io::stdin()`, nor hand stdin to a child
/// process after using it: the bytes already read ahead are this handle's.
///
/// # Examples
///
/// ```no_run
/// use futures_util::io::{AsyncBufReadExt, BufReader};
/// use futures_util::StreamExt;
///
/// looplet::block_on(async {
///     let mut lines = BufReader::new(looplet::io::stdin()).lines();
///     while let Some(line) = lines.next().await {
///         println!("you said: {}", line?);
///     }
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct Stdin {
    handle: u64,
}

/// A handle to the process's standard input; see [`Stdin`].
///
/// # Examples
///
/// ```
/// let stdin = looplet::io::stdin(); // starts no thread until it is read
/// # drop(stdin);
/// ```
pub fn stdin() -> Stdin {
    Stdin {
        handle: next_handle(),
    }
}

impl AsyncRead for Stdin {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        STDIN.poll(self.handle, cx, |unblock, cx| unblock.poll_read(cx, buf))
    }
}

impl Drop for Stdin {
    fn drop(&mut self) {
        STDIN.waiters.leave(self.handle);
    }
}

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stdin").finish_non_exhaustive()
    }
}

/// The process's standard output, as futures' [`AsyncWrite`].
///
/// A write returns once its bytes are in a pipe (64 KiB, shared by every `Stdout` handle;
/// a write waits while it is full) that a pool thread drains into std's `Stdout`, in order.
/// std's handle is line-buffered, so a complete line shows up soon after it is written, and
/// the end of an unfinished one when the stream is flushed. Awaiting `flush` (or `close`,
/// which only flushes: the process's stdout stays open) waits until every byte written has
/// reached the descriptor, and returns the error of a write that failed on the way. A
/// failed write stops the pool's writing: a write after it returns that error too, so
/// `write_all` to a stdout whose reader has gone fails with `BrokenPipe` (not `WriteZero`).
///
/// Dropping a `Stdout` loses nothing: the pool keeps writing what the pipe holds. But the
/// process does not wait for the pool when it exits, so flush before returning from `main`.
/// Output through `println!` goes to the same descriptor but not through the pipe: flush
/// between the two to keep them in order. The descriptor is never made non-blocking.
///
/// # Examples
///
/// ```
/// use futures_util::AsyncWriteExt;
///
/// looplet::block_on(async {
///     let mut out = looplet::io::stdout();
///     out.write_all(b"hello from the loop\n").await?;
///     out.flush().await // before exiting: the pool thread may still be writing
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct Stdout {
    handle: u64,
}

/// A handle to the process's standard output; see [`Stdout`].
///
/// # Examples
///
/// ```
/// use futures_util::AsyncWriteExt;
///
/// looplet::block_on(async {
///     let mut out = looplet::io::stdout();
///     out.write_all(b"42\n").await?;
///     out.flush().await
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub fn stdout() -> Stdout {
    Stdout {
        handle: next_handle(),
    }
}

impl AsyncWrite for Stdout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        STDOUT.poll(self.handle, cx, |unblock, cx| {
            poll_write_unblock(unblock, cx, buf)
        })
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        STDOUT.poll(self.handle, cx, |unblock, cx| unblock.poll_flush(cx))
    }

    /// Flushes; the process's stdout stays open for the other handles.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl Drop for Stdout {
    fn drop(&mut self) {
        STDOUT.waiters.leave(self.handle);
    }
}

impl fmt::Debug for Stdout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stdout").finish_non_exhaustive()
    }
}

/// The process's standard error, as futures' [`AsyncWrite`].
///
/// The same as [`Stdout`], on descriptor 2: writes go through a shared pipe to a pool
/// thread, and reach the descriptor in the background, so flush to be sure they are there
/// (std's `Stderr` has no buffer of its own, so no line waits for a newline). Dropping a
/// handle loses nothing while the process lives; flush before exiting.
///
/// # Examples
///
/// ```
/// use futures_util::AsyncWriteExt;
///
/// looplet::block_on(async {
///     let mut err = looplet::io::stderr();
///     err.write_all(b"warning: nothing is wrong\n").await?;
///     err.flush().await
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct Stderr {
    handle: u64,
}

/// A handle to the process's standard error; see [`Stderr`].
///
/// # Examples
///
/// ```
/// use futures_util::AsyncWriteExt;
///
/// looplet::block_on(async { looplet::io::stderr().write_all(b"oops\n").await })?;
/// # std::io::Result::Ok(())
/// ```
pub fn stderr() -> Stderr {
    Stderr {
        handle: next_handle(),
    }
}

impl AsyncWrite for Stderr {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        STDERR.poll(self.handle, cx, |unblock, cx| {
            poll_write_unblock(unblock, cx, buf)
        })
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        STDERR.poll(self.handle, cx, |unblock, cx| unblock.poll_flush(cx))
    }

    /// Flushes; the process's stderr stays open for the other handles.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl Drop for Stderr {
    fn drop(&mut self) {
        STDERR.waiters.leave(self.handle);
    }
}

impl fmt::Debug for Stderr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stderr").finish_non_exhaustive()
    }
}
